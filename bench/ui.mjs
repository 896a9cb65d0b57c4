// Web UI benchmark at 1M spans: loads a day of traffic (4 services calling each other and
// postgresql, redis, rabbitmq and an external API; BENCH_SPANS spans, 10 per transaction) through
// the intake, then times every /api route the views use (HTTP round trip, 30 runs) and every view
// rendered in headless Chromium (hash change → rendered page, 7 runs).
// Run: npm run build && node bench/ui.mjs      (or: node --import tsx bench/ui.mjs)
// Options (env): BENCH_SPANS (default 1000000), BENCH_RUNS (default 30), CHROMIUM_PATH
// (default /usr/bin/chromium; without it only the API is timed), BENCH_KEEP=1 keeps the data dir.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist', 'cjs', 'receiver', 'index.js');
const viaTsx = process.execArgv.some((a) => a.includes('tsx'));
let mod;
if (!viaTsx && existsSync(dist)) mod = await import(pathToFileURL(dist).href);
else {
  try {
    mod = await import(pathToFileURL(join(root, 'receiver', 'index.ts')).href);
  } catch {
    console.error('bench/ui.mjs: run `npm run build` first, or start it with `node --import tsx bench/ui.mjs`');
    process.exit(1);
  }
}
const { startReceiver } = mod.default ?? mod;
const SPANS = Number(process.env.BENCH_SPANS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function post(url, body, headers) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'Content-Type': 'application/x-ndjson', ...headers } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
async function getJson(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  return r.json();
}
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const hex = (n, len) => n.toString(16).padStart(len, '0');
const pct = (a, p) => a.slice().sort((x, y) => x - y)[Math.min(a.length - 1, Math.ceil((p / 100) * a.length) - 1)];

// ------------------------------------------------------------------ traffic
// Each "request" is a trace: frontend → checkout (→ inventory over HTTP), with db, cache, broker and
// external exit spans and a few internal spans: 10 spans per transaction on average.
const SERVICES = ['frontend', 'checkout', 'inventory', 'payments'];
const NAMES = { frontend: ['GET /', 'GET /cart'], checkout: ['GET /api/orders/:id', 'POST /api/orders'], inventory: ['GET /stock/:id'], payments: ['POST /charge'] };
const dir = mkdtempSync(join(tmpdir(), 'sf-bench-ui-'));
const r = await startReceiver({ port: 0, dataDir: dir });
const now = Date.now();
// 9 spans per transaction, plus the downstream call of frontend and checkout: 9.5 on average.
const txCount = Math.ceil(SPANS / 9.5 / 4) * 4;
const expectedSpans = txCount * 9 + txCount / 2;
const meta = (svc, version) => JSON.stringify({ metadata: { service: { name: svc, environment: 'bench', version, agent: { name: 'nodejs', version: '4.0.0' } } } });
let sample = {};
function exit(o, ts, dur, resource, type, subtype, extra) {
  return JSON.stringify({
    span: { ...o, type, subtype, action: 'query', timestamp: ts, duration: dur, outcome: extra.fail ? 'failure' : 'success', context: { ...(extra.context ?? {}), destination: { service: { resource, name: '', type: '' } } } },
  });
}
/** One intake body per service with `n` transactions starting at transaction index `start`. */
function bodies(start, n) {
  const out = Object.fromEntries(SERVICES.map((s) => [s, [meta(s, start < txCount / 2 ? '1.0.0' : '1.1.0')]]));
  for (let t = start; t < Math.min(txCount, start + n); t++) {
    const ts = (now - 24 * 3600_000 + Math.floor((t / txCount) * 24 * 3600_000)) * 1000;
    const svc = SERVICES[t % 4];
    const name = NAMES[svc][t % NAMES[svc].length];
    // frontend (t % 4 == 0) calls checkout (t + 1), which calls inventory (t + 2): one trace.
    const rootIdx = t % 4 === 1 ? t - 1 : t % 4 === 2 ? t - 2 : t;
    const traceId = hex(rootIdx + 1, 32);
    const parentId = t % 4 === 1 || t % 4 === 2 ? hex((t - 1) * 16 + 11, 16) : undefined;
    const txId = hex(t * 16 + 1, 16);
    const fail = t % 23 === 0;
    const dur = 20 + (t % 97);
    if (t === Math.floor(txCount / 2)) sample = { traceId, txId, service: svc, name, spanId: hex(t * 16 + 2, 16) };
    const lines = out[svc];
    lines.push(
      JSON.stringify({
        transaction: {
          id: txId, trace_id: traceId, parent_id: parentId, name, type: 'request', result: fail ? 'HTTP 5xx' : 'HTTP 2xx', outcome: fail ? 'failure' : 'success', timestamp: ts, duration: dur, sampled: true,
          span_count: { started: 10 }, context: { tags: { tenant: `t${t % 50}`, region: t % 2 ? 'eu' : 'us' }, request: { method: 'GET', url: { full: `http://${svc}/x` } } },
        },
      }),
    );
    const base = { trace_id: traceId, transaction_id: txId, parent_id: txId };
    const sid = (k) => hex(t * 16 + k, 16);
    lines.push(
      exit({ ...base, id: sid(2), name: 'SELECT FROM orders' }, ts + 1000, 3 + (t % 5), 'postgresql/test', 'db', 'postgresql', { context: { db: { statement: 'SELECT * FROM orders WHERE id = $1', type: 'sql' } } }),
      exit({ ...base, id: sid(3), name: 'UPDATE orders' }, ts + 5000, 2, 'postgresql/test', 'db', 'postgresql', { context: { db: { statement: 'UPDATE orders SET x = $1', type: 'sql' } } }),
      exit({ ...base, id: sid(4), name: 'GET' }, ts + 8000, 1, 'redis', 'db', 'redis', {}),
      exit({ ...base, id: sid(5), name: 'SET' }, ts + 9000, 1, 'redis', 'db', 'redis', {}),
      exit({ ...base, id: sid(6), name: 'RabbitMQ SEND to orders' }, ts + 10_000, 1, 'rabbitmq/orders', 'messaging', 'rabbitmq', {}),
      exit({ ...base, id: sid(7), name: 'POST api.stripe.com' }, ts + 11_000, 8, 'api.stripe.com:443', 'external', 'http', { fail }),
    );
    for (let k = 8; k < 11; k++) lines.push(JSON.stringify({ span: { ...base, id: sid(k), name: `render ${k}`, type: 'app', subtype: 'internal', timestamp: ts + k * 1000, duration: 1, outcome: 'success' } }));
    // A downstream call: the next service's transaction has this exit span as parent (it counts as that service's transaction).
    if (svc === 'frontend' || svc === 'checkout') {
      const down = svc === 'frontend' ? 'checkout' : 'inventory';
      lines.push(exit({ ...base, id: sid(11), name: `GET ${down}` }, ts + 12_000, 5, `${down}:3000`, 'external', 'http', {}));
    }
    if (t % 100 === 0) {
      lines.push(JSON.stringify({ error: { id: hex(t + 1, 32), trace_id: traceId, transaction_id: txId, parent_id: sid(7), timestamp: ts + 11_500, exception: { type: 'PaymentError', message: `declined ${t}`, handled: false } } }));
    }
  }
  return SERVICES.map((s) => out[s]).filter((l) => l.length > 1).map((l) => gzipSync(l.join('\n') + '\n', { level: 1 }));
}

{
  const t0 = performance.now();
  const url = `${r.url}/intake/v2/events`;
  const PER = 500;
  let next = 0;
  // 4 agents posting at once.
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (;;) {
        const start = next;
        next += PER;
        if (start >= txCount) return;
        for (const b of bodies(start, PER)) {
          const rep = await post(url, b, { 'Content-Encoding': 'gzip' });
          if (rep.status !== 202) throw new Error(`intake answered ${rep.status}: ${rep.text}`);
        }
      }
    }),
  );
  for (;;) {
    const s = await getJson(`${r.url}/api/stats`);
    if (s.spans >= expectedSpans) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const s = (performance.now() - t0) / 1000;
  const st = await getJson(`${r.url}/api/stats`);
  console.log(`loaded ${fmt(st.spans)} spans, ${fmt(st.transactions)} transactions, ${fmt(st.errors)} errors over 24 h in ${s.toFixed(1)} s (${fmt((st.spans + st.transactions + st.errors) / s)} events/s, 4 agents)`);
  // Let the background catch-up of the dependency rollups finish, and say how long it took.
  const t1 = performance.now();
  await getJson(`${r.url}/api/dependencies?from=${now - 86400_000}&to=${now}`);
  console.log(`first /api/dependencies after the load (includes what was left of the dependency catch-up): ${((performance.now() - t1) / 1000).toFixed(2)} s`);
  const size = ['spanforge.db', 'spanforge.db-wal'].map((f) => (existsSync(join(dir, f)) ? statSync(join(dir, f)).size : 0)).reduce((a, b) => a + b, 0);
  console.log(`database: ${(size / 1024 ** 2).toFixed(0)} MiB (file + WAL)`);
}

// ------------------------------------------------------------------ API latency
const day = `from=${now - 86400_000}&to=${now}`;
const hour = `from=${now - 3600_000}&to=${now}`;
const e = encodeURIComponent;
const routes = [
  ['services (24 h)', `/api/services?${day}`],
  ['service charts (24 h)', `/api/services/checkout/charts?${day}`],
  ['transactions table (24 h)', `/api/services/checkout/transactions?${day}`],
  ['service map (24 h)', `/api/service-map?${day}`],
  ['service map (1 h)', `/api/service-map?${hour}`],
  ['dependencies, all (24 h)', `/api/dependencies?${day}`],
  ['dependencies, one service (24 h)', `/api/dependencies?service=checkout&${day}`],
  ['dependency page: postgresql/test (24 h)', `/api/dependency?name=${e('postgresql/test')}&${day}`],
  ['dependency page: postgresql/test (1 h)', `/api/dependency?name=${e('postgresql/test')}&${hour}`],
  ['latency distribution (24 h)', `/api/services/${e(sample.service)}/distribution?name=${e(sample.name)}&${day}`],
  ['distribution range → traces (24 h)', `/api/search?service=${e(sample.service)}&name=${e(sample.name)}&minUs=50000&maxUs=60000&limit=100&${day}`],
  ['search: name + outcome (24 h)', `/api/search?name=${e(sample.name)}&outcome=failure&${day}`],
  ['search: version + environment (24 h)', `/api/search?version=1.1.0&environment=bench&${day}`],
  ['search: label key:value (24 h)', `/api/search?label=${e('tenant:t7')}&${day}`],
  ['search: label, rare value (1 h)', `/api/search?label=${e('tenant:t49')}&result=${e('HTTP 5xx')}&${hour}`],
  ['search: trace id', `/api/search?traceId=${sample.traceId}`],
  ['trace waterfall', `/api/traces/${sample.traceId}`],
  ['event detail (panel)', `/api/events/span/${sample.traceId}/${sample.spanId}`],
  ['error groups (24 h)', `/api/errors?${day}`],
];
console.log(`\nAPI latency with ${fmt(SPANS)} spans stored (HTTP round trip on loopback, ${RUNS} runs):`);
const results = [];
for (const [label, path] of routes) {
  await getJson(r.url + path); // warm
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await getJson(r.url + path);
    times.push(performance.now() - t0);
  }
  results.push({ label, median: pct(times, 50), p95: pct(times, 95) });
  console.log(`  ${label.padEnd(42)} median ${pct(times, 50).toFixed(1).padStart(6)} ms   p95 ${pct(times, 95).toFixed(1).padStart(6)} ms`);
}

// ------------------------------------------------------------------ views in Chromium
if (existsSync(CHROMIUM)) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  await page.goto(`${r.url}/ui/#/services`);
  await page.waitForSelector('main[data-rendered]');
  await page.evaluate(() => localStorage.setItem('spanforge.range', '86400000'));
  await page.reload();
  await page.waitForSelector('main[data-rendered]');
  const views = [
    ['services', '#/services'],
    ['service overview', '#/service/checkout'],
    ['service overview + previous period', '#/service/checkout', 'compare'],
    ['transaction + distribution', `#/service/${e(sample.service)}/tx/${e(sample.name)}`],
    ['trace waterfall', `#/trace/${sample.traceId}`],
    ['service map', '#/map'],
    ['dependencies', '#/dependencies'],
    ['service dependencies', '#/service/checkout/dependencies'],
    ['dependency page', `#/dependency/${e('postgresql/test')}`],
    ['search: label', `#/search?${new URLSearchParams({ label: 'tenant:t7' })}`],
    ['search: version + outcome', `#/search?${new URLSearchParams({ version: '1.1.0', outcome: 'failure' })}`],
    ['errors', '#/errors'],
  ];
  console.log('\nViews in headless Chromium, range 24 h (hash change → page rendered, 7 runs; API + DOM):');
  for (const [label, hash, opt] of views) {
    await page.evaluate((c) => localStorage.setItem('spanforge.compare', c ? '1' : '0'), Boolean(opt));
    await page.reload();
    await page.waitForSelector('main[data-rendered]');
    const times = [];
    for (let i = 0; i < 8; i++) {
      const ms = await page.evaluate(
        (h) =>
          new Promise((resolve) => {
            const before = document.querySelector('main').getAttribute('data-rendered');
            const t0 = performance.now();
            const obs = new MutationObserver(() => {
              if (document.querySelector('main').getAttribute('data-rendered') !== before) {
                obs.disconnect();
                // the next frame: layout and paint included
                requestAnimationFrame(() => resolve(performance.now() - t0));
              }
            });
            obs.observe(document.querySelector('main'), { attributes: true });
            if (location.hash === h) window.dispatchEvent(new HashChangeEvent('hashchange'));
            else location.hash = h;
          }),
        hash,
      );
      if (i > 0) times.push(ms); // the first run navigates from another view
    }
    console.log(`  ${label.padEnd(36)} median ${pct(times, 50).toFixed(1).padStart(6)} ms   max ${Math.max(...times).toFixed(1).padStart(6)} ms`);
  }
  await browser.close();
} else console.log(`\n(Chromium not found at ${CHROMIUM}: views not timed)`);

await r.close();
if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
else console.log(`data kept in ${dir}`);

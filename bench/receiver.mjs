// Receiver benchmark: intake throughput (the real Node agent capture posted repeatedly, gzip as
// agents send it) against a parse-only baseline measured in the same process, then the web UI's
// API latency with 300k spans stored.
// Run: npm run build && node bench/receiver.mjs      (or: node --import tsx bench/receiver.mjs)
// Options (env): BENCH_ROUNDS (capture posts, default 20), BENCH_SPANS (default 300000),
// BENCH_CAPTURE (path of apm-nodejs-traces-3.29.0.ndjson).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist', 'cjs', 'receiver', 'index.js');
let mod;
// Under `node --import tsx` the sources are measured; otherwise the build in dist/.
const viaTsx = process.execArgv.some((a) => a.includes('tsx'));
if (!viaTsx && existsSync(dist)) mod = await import(pathToFileURL(dist).href);
else {
  try {
    mod = await import(pathToFileURL(join(root, 'receiver', 'index.ts')).href);
  } catch {
    console.error('bench/receiver.mjs: run `npm run build` first, or start it with `node --import tsx bench/receiver.mjs`');
    process.exit(1);
  }
}
const { startReceiver } = mod.default ?? mod;

const CAPTURE = process.env.BENCH_CAPTURE ?? join(root, '..', 'shared', 'reference', 'apm-intake-v2', 'testdata', 'apm-nodejs-traces-3.29.0.ndjson');
if (!existsSync(CAPTURE)) {
  console.error(`bench/receiver.mjs: the Node agent capture is missing at ${CAPTURE}; set BENCH_CAPTURE to its path`);
  process.exit(1);
}
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const SPANS = Number(process.env.BENCH_SPANS ?? 300_000);

function post(url, body, headers) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'Content-Type': 'application/x-ndjson', Accept: 'application/json', ...headers } }, (res) => {
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
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}
async function waitForCount(url, table, n) {
  for (;;) {
    if ((await getJson(`${url}/api/stats`))[table] >= n) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
const fmt = (n) => Math.round(n).toLocaleString('en-US');

// ------------------------------------------------------------------ 1. ingest throughput
const raw = readFileSync(CAPTURE);
const gz = gzipSync(raw, { level: 1 });
const eventsPerPost = raw.toString('utf8').split('\n').filter((l) => l.trim()).length - 1;

// Baseline: what the body costs to decompress, split and JSON.parse, without validation or storage.
for (let warm = 0; warm < 2; warm++) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let n = 0;
  for (let i = 0; i < ROUNDS; i++) {
    for (const line of gunzipSync(gz).toString('utf8').split('\n')) if (line) (JSON.parse(line), n++);
  }
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  globalThis.baselineRate = (n - ROUNDS) / s;
  globalThis.baselineCpu = (c.user + c.system) / (n - ROUNDS);
}

const dir = mkdtempSync(join(tmpdir(), 'sf-bench-'));
let r = await startReceiver({ port: 0, dataDir: dir });
{
  const url = `${r.url}/intake/v2/events`;
  await post(url, gz, { 'Content-Encoding': 'gzip' }); // warm-up (JIT, page cache)
  await waitForCount(r.url, 'transactions', 783);
  const before = (await getJson(`${r.url}/api/stats`)).transactions;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < ROUNDS; i++) {
    const rep = await post(url, gz, { 'Content-Encoding': 'gzip' });
    if (rep.status !== 202) throw new Error(`intake answered ${rep.status}: ${rep.text}`);
  }
  await waitForCount(r.url, 'transactions', before + ROUNDS * 783);
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const rate = (ROUNDS * eventsPerPost) / s;
  const cpuPerEvent = (cpu.user + cpu.system) / (ROUNDS * eventsPerPost);
  console.log(`ingest, 1 agent, gzip capture x${ROUNDS} (${fmt(ROUNDS * eventsPerPost)} events): ${fmt(rate)} events/s wall (${s.toFixed(2)} s, stored and indexed), ${cpuPerEvent.toFixed(1)} µs CPU per event (client included)`);
  console.log(`  baseline gunzip+split+JSON.parse only, same process: ${fmt(globalThis.baselineRate)} events/s wall, ${globalThis.baselineCpu.toFixed(1)} µs CPU per event -> the receiver costs ${(cpuPerEvent / globalThis.baselineCpu).toFixed(1)}x the bare parse in CPU`);

  const CONC = 4;
  const t1 = performance.now();
  const before2 = (await getJson(`${r.url}/api/stats`)).transactions;
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      for (let i = 0; i < ROUNDS / CONC; i++) await post(url, gz, { 'Content-Encoding': 'gzip' });
    }),
  );
  await waitForCount(r.url, 'transactions', before2 + ROUNDS * 783);
  const s2 = (performance.now() - t1) / 1000;
  console.log(`ingest, ${CONC} concurrent agents: ${fmt((ROUNDS * eventsPerPost) / s2)} events/s`);
}
await r.close();
rmSync(dir, { recursive: true, force: true });

// ------------------------------------------------------------------ 2. UI API latency at 300k spans
const dir2 = mkdtempSync(join(tmpdir(), 'sf-bench-'));
r = await startReceiver({ port: 0, dataDir: dir2 });
const SERVICES = ['checkout', 'inventory', 'payments', 'users', 'search'];
const NAMES = ['GET /api/orders/:id', 'POST /api/orders', 'GET /api/products', 'GET /health', 'PUT /api/cart/:id', 'DELETE /api/cart/:id'];
const SPANS_PER_TX = 10;
const now = Date.now();
const hex = (n, len) => n.toString(16).padStart(len, '0');
let sampleTrace;
{
  const txCount = Math.ceil(SPANS / SPANS_PER_TX);
  const perBody = 500; // transactions per request: ~5.5k events, like a busy agent's request
  const t0 = performance.now();
  let events = 0;
  const bodies = [];
  for (let start = 0; start < txCount; start += perBody) {
    const svc = SERVICES[(start / perBody) % SERVICES.length];
    const lines = [JSON.stringify({ metadata: { service: { name: svc, environment: 'bench', agent: { name: 'nodejs', version: '4.0.0' } } } })];
    for (let t = start; t < Math.min(txCount, start + perBody); t++) {
      const ts = (now - 24 * 3600_000 + Math.floor((t / txCount) * 24 * 3600_000)) * 1000;
      const traceId = hex(t + 1, 32);
      const txId = hex(t + 1, 16);
      if (t === Math.floor(txCount / 2)) sampleTrace = traceId;
      const fail = t % 17 === 0;
      lines.push(JSON.stringify({ transaction: { id: txId, trace_id: traceId, name: NAMES[t % NAMES.length], type: 'request', result: fail ? 'HTTP 5xx' : 'HTTP 2xx', outcome: fail ? 'failure' : 'success', timestamp: ts, duration: 5 + (t % 97), span_count: { started: SPANS_PER_TX } } }));
      for (let s = 0; s < SPANS_PER_TX; s++) {
        lines.push(JSON.stringify({ span: { id: hex(t * 16 + s + 1, 16), trace_id: traceId, parent_id: txId, transaction_id: txId, name: `SELECT * FROM t${s}`, type: 'db', subtype: 'postgresql', action: 'query', timestamp: ts + s * 300, duration: 0.2 + s / 10, outcome: 'success', context: { db: { statement: `SELECT * FROM t${s} WHERE id = $1`, type: 'sql' } }, stacktrace: [{ filename: 'src/db.ts', lineno: 10 + s, function: 'query' }] } }));
      }
      if (t % 100 === 0) {
        lines.push(JSON.stringify({ error: { id: hex(t + 1, 32), trace_id: traceId, transaction_id: txId, parent_id: txId, timestamp: ts + 1000, culprit: `handler${t % 7} (src/routes.ts)`, exception: { type: t % 3 ? 'TypeError' : 'RangeError', message: `boom ${t}`, handled: false, stacktrace: [{ filename: 'src/routes.ts', lineno: 40 + (t % 7), function: `handler${t % 7}`, context_line: '  throw err;' }] } } }));
      }
      if (t % 50 === 0) {
        lines.push(JSON.stringify({ metricset: { timestamp: ts, samples: { 'system.cpu.total.norm.pct': { value: 0.3 }, 'system.process.cpu.total.norm.pct': { value: 0.1 }, 'nodejs.eventloop.delay.avg.ms': { value: 2 }, 'nodejs.memory.heap.used.bytes': { value: 5e7 }, 'nodejs.memory.heap.allocated.bytes': { value: 8e7 }, 'system.process.memory.rss.bytes': { value: 1.2e8 } } } }));
      }
    }
    events += lines.length - 1;
    bodies.push(gzipSync(lines.join('\n') + '\n', { level: 1 }));
  }
  const tGen = performance.now();
  for (const b of bodies) {
    const rep = await post(`${r.url}/intake/v2/events`, b, { 'Content-Encoding': 'gzip' });
    if (rep.status !== 202) throw new Error(`intake answered ${rep.status}: ${rep.text.slice(0, 300)}`);
  }
  await waitForCount(r.url, 'spans', SPANS);
  const s = (performance.now() - tGen) / 1000;
  console.log(`\nloaded ${fmt(events)} events (${fmt(SPANS)} spans, ${fmt(txCount)} transactions over 24 h) in ${s.toFixed(1)} s: ${fmt(events / s)} events/s (generation ${((tGen - t0) / 1000).toFixed(1)} s not counted)`);
}

const stats = await getJson(`${r.url}/api/stats`);
const day = `from=${now - 24 * 3600_000}&to=${now + 60_000}`;
const hour = `from=${now - 3600_000}&to=${now + 60_000}`;
const errorGroups = await getJson(`${r.url}/api/errors?${day}`);
const queries = [
  ['services overview (24 h)', `/api/services?${day}`],
  ['services overview (1 h)', `/api/services?${hour}`],
  ['service charts (24 h)', `/api/services/checkout/charts?${day}`],
  ['transactions table (24 h)', `/api/services/checkout/transactions?${day}`],
  ['transaction samples', `/api/services/checkout/samples?${day}&name=${encodeURIComponent(NAMES[0])}`],
  ['trace waterfall (1 tx + 10 spans)', `/api/traces/${sampleTrace}`],
  ['error groups (24 h)', `/api/errors?${day}`],
  ['error group detail', `/api/errors/${errorGroups[0].groupKey}`],
  ['metrics charts (24 h)', `/api/services/checkout/metrics?${day}`],
  ['stats (counts + time bounds)', `/api/stats`],
];
console.log(`\nUI API latency with ${fmt(stats.spans)} spans, ${fmt(stats.transactions)} transactions, ${fmt(stats.errors)} errors stored (HTTP round trip on loopback, 30 runs):`);
for (const [label, path] of queries) {
  await getJson(`${r.url}${path}`);
  const times = [];
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    await getJson(`${r.url}${path}`);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`  ${label.padEnd(36)} median ${times[15].toFixed(1).padStart(6)} ms   p95 ${times[28].toFixed(1).padStart(6)} ms`);
}
await r.close();
rmSync(dir2, { recursive: true, force: true });

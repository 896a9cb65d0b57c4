// Browser tests of the service map, dependencies, detail panel, latency distribution, search and
// filters, sortable tables, previous-period comparison, chart legibility, error occurrence tabs and
// the 390 px layout, in real headless Chromium (Debian's /usr/bin/chromium via playwright-core).
// Screenshots go to test-artifacts/receiver/views-*.png.
/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { eventually, getJson, NDJSON, send, withReceiver } from './helpers.js';
import { buildDepsTraffic, id, MARKUP, N, traceId } from './traffic-deps.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts', 'receiver');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`CI is set but Chromium is missing at ${CHROMIUM} (apt-get install chromium)`);
const skip = haveChromium ? false : `Chromium not found at ${CHROMIUM}; install Debian's chromium package to run the UI tests`;
const T = { timeout: 60_000 };

describe('web UI views in headless Chromium: map, dependencies, panel, distribution, search, layout', { skip }, () => {
  let r: Awaited<ReturnType<typeof withReceiver>>;
  let browser: Browser;
  let page: Page;
  const dialogs: string[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    r = await withReceiver();
    const t = buildDepsTraffic();
    for (const body of [t.frontend, ...t.checkout, t.inventory]) {
      const rep = await send(`${r.url}/intake/v2/events`, body, { headers: NDJSON });
      assert.equal(rep.status, 202, rep.text);
    }
    await eventually(async () => (await getJson(`${r.url}/api/stats`)).spans === N * 6 + N / 2, 5000);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });
  after(async () => {
    await browser?.close();
    await r?.cleanup();
  });

  /** Loads the page afresh at `hash` (about:blank first, so the same hash twice still reloads). */
  async function open(hash: string, shot?: string, p: Page = page): Promise<void> {
    await p.goto('about:blank');
    await p.goto(`${r.url}/ui/${hash}`);
    await p.waitForSelector('main[data-rendered]');
    if (shot) await p.screenshot({ path: join(ARTIFACTS, `views-${shot}.png`), fullPage: true });
  }
  /** Waits for the next render of main (after a click that re-renders). */
  async function rerendered(action: () => Promise<void>, p: Page = page): Promise<void> {
    const before = await p.locator('main').getAttribute('data-rendered');
    await action();
    await p.waitForFunction((b) => document.querySelector('main')!.getAttribute('data-rendered') !== b, before);
  }
  const texts = (sel: string, p: Page = page) => p.locator(sel).allInnerTexts();
  const cells = async (sel: string) => (await texts(`${sel} tbody tr`)).map((row) => row.split('\t'));

  test('service map: every service and dependency as a node, an edge per call path with its figures', T, async () => {
    await open('#/map', 'map');
    const nodes = await page.locator('#service-map [data-node]').evaluateAll((els) => els.map((e) => [e.getAttribute('data-node'), e.getAttribute('data-kind')]));
    assert.deepEqual(nodes, [
      ['dependency:api.stripe.com:443', 'external'],
      ['dependency:mysql/test', 'database'],
      ['dependency:postgresql/test', 'database'],
      ['dependency:rabbitmq/orders', 'broker'],
      ['dependency:redis', 'cache'],
      ['service:checkout', 'service'],
      ['service:frontend', 'service'],
      ['service:inventory', 'service'],
    ]);
    const edges = await page.locator('#service-map g.edge').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-source')} -> ${e.getAttribute('data-target')}: ${e.querySelector('text')!.textContent}`));
    // 40 calls in the last hour: 0.67 per minute; the stripe API fails every 4th call.
    assert.deepEqual(edges, [
      'service:checkout -> dependency:api.stripe.com:443: 0.67 tpm · 50.0 ms · 25.0 %',
      'service:checkout -> dependency:postgresql/test: 0.67 tpm · 10.0 ms · 0.0 %',
      'service:checkout -> dependency:rabbitmq/orders: 0.67 tpm · 2.00 ms · 0.0 %',
      'service:checkout -> dependency:redis: 0.33 tpm · 1.00 ms · 0.0 %',
      'service:checkout -> service:inventory: 0.67 tpm · 30.0 ms · 0.0 %',
      'service:frontend -> service:checkout: 0.67 tpm · 169.5 ms · 0.0 %',
      'service:inventory -> dependency:mysql/test: 0.67 tpm · 5.00 ms · 0.0 %',
    ]);
    // The calls frontend → checkout → inventory resolve to services (child transaction's parent is the exit span).
    assert.equal(await page.locator('#service-map [data-node="dependency:checkout:3000"]').count(), 0);
    assert.equal(await page.locator('#service-map g.edge.failing').count(), 1);
    // Layout: callers left of what they call.
    const x = async (n: string) => (await page.locator(`#service-map [data-node="${n}"]`).boundingBox())!.x;
    assert.ok((await x('service:frontend')) < (await x('service:checkout')));
    assert.ok((await x('service:checkout')) < (await x('service:inventory')));
    assert.ok((await x('service:inventory')) < (await x('dependency:mysql/test')));
    const rows = await cells('#map-edges');
    assert.deepEqual(rows.find((c) => c[0] === 'frontend'), ['frontend', 'checkout', 'service', 'checkout:3000', '0.67 tpm', '169.5 ms', '0.0 %']);
    await rerendered(() => page.locator('#service-map [data-node="dependency:postgresql/test"]').click());
    assert.equal(decodeURIComponent(new URL(page.url()).hash), '#/dependency/postgresql/test');
  });

  test('dependencies across services: one row per downstream with latency, throughput, failure rate, impact, callers', T, async () => {
    await open('#/dependencies', 'dependencies');
    assert.deepEqual(await cells('#dependencies-table'), [
      ['checkout:3000', 'external', 'frontend', 'checkout', '169.5 ms', '0.67 tpm', '0.0 %', ''],
      ['api.stripe.com:443', 'external', 'checkout', '–', '50.0 ms', '0.67 tpm', '25.0 %', ''],
      ['inventory:4000', 'external', 'checkout', 'inventory', '30.0 ms', '0.67 tpm', '0.0 %', ''],
      ['postgresql/test', 'database', 'checkout', '–', '10.0 ms', '0.67 tpm', '0.0 %', ''],
      ['mysql/test', 'database', 'inventory', '–', '5.00 ms', '0.67 tpm', '0.0 %', ''],
      ['rabbitmq/orders', 'message broker', 'checkout', '–', '2.00 ms', '0.67 tpm', '0.0 %', ''],
      ['redis', 'cache', 'checkout', '–', '1.00 ms', '0.33 tpm', '0.0 %', ''],
    ]);
    // Impact (sum - min) / (max - min): checkout:3000 100 %, redis 0 %.
    assert.deepEqual(await page.locator('#dependencies-table .impact').evaluateAll((els) => els.map((e) => e.getAttribute('title'))), ['100 %', '29 %', '17 %', '6 %', '3 %', '1 %', '0 %']);
  });

  test('every table sorts by a clicked column, again to reverse, and keeps it across re-renders', T, async () => {
    await open('#/dependencies');
    const names = async () => (await cells('#dependencies-table')).map((c) => c[0]);
    await page.locator('#dependencies-table th button', { hasText: 'Failed' }).click();
    assert.equal((await names())[0], 'api.stripe.com:443');
    await page.locator('#dependencies-table th button', { hasText: 'Dependency' }).click();
    assert.deepEqual(await names(), ['api.stripe.com:443', 'checkout:3000', 'inventory:4000', 'mysql/test', 'postgresql/test', 'rabbitmq/orders', 'redis']);
    assert.equal(await page.locator('#dependencies-table th[aria-sort="ascending"]').innerText(), 'Dependency ▲');
    await page.locator('#dependencies-table th button', { hasText: 'Dependency' }).click();
    assert.deepEqual(await names(), ['redis', 'rabbitmq/orders', 'postgresql/test', 'mysql/test', 'inventory:4000', 'checkout:3000', 'api.stripe.com:443']);
    await page.locator('#dependencies-table th button', { hasText: 'Latency' }).click();
    assert.deepEqual(await names(), ['checkout:3000', 'api.stripe.com:443', 'inventory:4000', 'postgresql/test', 'mysql/test', 'rabbitmq/orders', 'redis']);
    // a live re-render keeps the order
    await rerendered(() => page.evaluate(() => window.dispatchEvent(new HashChangeEvent('hashchange'))));
    assert.equal(await page.locator('#dependencies-table th[aria-sort="descending"]').innerText(), 'Latency ▼');
    // the services table too
    await open('#/services');
    await page.locator('#services-table th button', { hasText: 'Avg latency' }).click();
    assert.deepEqual((await cells('#services-table')).map((c) => c[0]), ['frontend', 'checkout', 'inventory']);
    await page.locator('#services-table th button', { hasText: 'Avg latency' }).click();
    assert.deepEqual((await cells('#services-table')).map((c) => c[0]), ['inventory', 'checkout', 'frontend']);
  });

  test('dependencies of one service, and a dependency page with callers, calling transactions, operations and recent calls', T, async () => {
    await open('#/service/checkout/dependencies', 'dependencies-checkout');
    assert.deepEqual((await cells('#dependencies-table')).map((c) => c.slice(0, 3)), [
      ['api.stripe.com:443', 'external', '–'],
      ['inventory:4000', 'external', 'inventory'],
      ['postgresql/test', 'database', '–'],
      ['rabbitmq/orders', 'message broker', '–'],
      ['redis', 'cache', '–'],
    ]);
    assert.deepEqual(await texts('#dependencies-table thead th'), ['Dependency', 'Kind', 'Reaches', 'Latency', 'Throughput', 'Failed', 'Impact']);
    await open(`#/dependency/${encodeURIComponent('api.stripe.com:443')}`, 'dependency-stripe');
    assert.match((await texts('#dependency-facts'))[0]!, /Calls\s+40\s+Throughput\s+0\.67 tpm\s+Average latency\s+50\.0 ms\s+Failed\s+25\.0 %/);
    assert.deepEqual(await cells('#dependency-callers'), [['checkout', '50.0 ms', '0.67 tpm', '25.0 %', '']]);
    // even i: GET (stripe fails for i % 4 == 0: all 10 failures are GETs), odd i: POST
    assert.deepEqual(await cells('#dependency-transactions'), [
      ['GET /api/orders/:id', 'checkout', '20', '50.0 ms', '50.0 %', ''],
      ['POST /api/orders', 'checkout', '20', '50.0 ms', '0.0 %', ''],
    ]);
    assert.deepEqual(await cells('#dependency-operations'), [['POST api.stripe.com', '40', '50.0 ms', '25.0 %', '']]);
    const recent = await cells('#dependency-recent');
    assert.equal(recent.length, 20);
    assert.deepEqual(recent[0]!.slice(1), ['checkout', 'POST api.stripe.com', '50.0 ms', 'success', traceId(N - 1)]);
    assert.equal(await page.locator('figure.chart').count(), 3);
    await rerendered(() => page.locator('#dependency-transactions a', { hasText: 'POST /api/orders' }).click());
    assert.equal(decodeURIComponent(new URL(page.url()).hash), '#/service/checkout/tx/POST /api/orders');
  });

  test('clicking a waterfall row opens a panel with every field of the span: labels, db, destination, stack trace, metadata', T, async () => {
    await open(`#/trace/${traceId(0)}`);
    await page.locator(`#waterfall .wf-row[data-id="${id(4, 0)}"]`).click();
    await page.waitForSelector(`#panel[data-for="${id(4, 0)}"]`);
    await page.screenshot({ path: join(ARTIFACTS, 'views-panel-db.png'), fullPage: false });
    assert.equal(await page.locator('#panel-title').innerText(), 'SELECT FROM orders');
    const facts = async (sel: string) => {
      const dts = await texts(`${sel} dt`);
      const dds = await texts(`${sel} dd`);
      return Object.fromEntries(dts.map((k, i) => [k, dds[i]]));
    };
    const summary = await facts('#panel-summary');
    assert.deepEqual(
      { Service: summary.Service, Kind: summary.Kind, Type: summary.Type, Duration: summary.Duration, Outcome: summary.Outcome, Sync: summary.Sync, 'Sample rate': summary['Sample rate'], ID: summary.ID, 'Parent ID': summary['Parent ID'], 'Trace ID': summary['Trace ID'] },
      { Service: 'checkout', Kind: 'span', Type: 'db.postgresql.query', Duration: '10.0 ms', Outcome: 'success', Sync: 'no', 'Sample rate': '1', ID: id(4, 0), 'Parent ID': id(3, 0), 'Trace ID': traceId(0) },
    );
    assert.match(summary['% of trace']!, /^\d+\.\d %$/);
    assert.deepEqual(await facts('#panel-labels'), { table: 'orders' });
    assert.deepEqual(await facts('#panel-db'), { Type: 'sql', Instance: 'test', 'Rows affected': '1' });
    assert.equal(await page.locator('#panel-statement').innerText(), `SELECT * FROM orders WHERE note = '${MARKUP}'`);
    assert.deepEqual(await facts('#panel-destination'), { Resource: 'postgresql/test', Address: '127.0.0.1', Port: '5432', 'Service target type': 'postgresql', 'Service target name': 'test' });
    assert.deepEqual(await texts('#panel ol.stack > li .frame'), ['loadOrder at src/orders.ts:42:7', 'Client.query at node_modules/pg/lib/client.js:520']);
    const md = await facts('#panel-metadata');
    assert.equal(md['Service version'], '1.0.0');
    assert.equal(md.Environment, 'test');
    assert.equal(md['Node name'], 'checkout-1');
    assert.equal(md['labels.team'], 'shop');
    const all = await facts('#panel-all');
    assert.equal(all['context.destination.port'], '5432');
    assert.equal(all['stacktrace[1].function'], 'Client.query');
    assert.equal(await page.locator('#panel-errors').count(), 0);

    // composite span
    await page.locator(`#waterfall .wf-row[data-id="${id(5, 0)}"]`).click();
    await page.waitForSelector(`#panel[data-for="${id(5, 0)}"]`);
    assert.deepEqual(await facts('#panel-composite'), { Count: '3', Sum: '2.50 ms', Compression: 'exact_match' });
    // the external call that failed, with its linked error
    await page.locator(`#waterfall .wf-row[data-id="${id(10, 0)}"]`).click();
    await page.waitForSelector(`#panel[data-for="${id(10, 0)}"]`);
    assert.deepEqual(await facts('#panel-http'), { Method: 'POST', URL: 'https://api.stripe.com/v1/charges', 'Status code': '502' });
    assert.deepEqual(await texts('#panel-errors li'), ['PaymentError card declined #0']);
    // the transaction: labels, sampling, dropped spans, request, user
    await page.locator(`#waterfall .wf-row[data-id="${id(3, 0)}"]`).click();
    await page.waitForSelector(`#panel[data-for="${id(3, 0)}"]`);
    await page.screenshot({ path: join(ARTIFACTS, 'views-panel-transaction.png'), fullPage: false });
    const s2 = await facts('#panel-summary');
    assert.deepEqual([s2.Kind, s2.Result, s2.Sampled, s2['Spans started'], s2['Spans dropped']], ['transaction', 'HTTP 5xx', 'yes', '5', '2']);
    assert.deepEqual(await facts('#panel-labels'), { tenant: 'acme', attempt: '0' });
    assert.deepEqual(await cells('#panel-dropped'), [['redis', 'success', '2', '800 µs']]);
    assert.equal((await facts('#panel-request')).URL, 'http://checkout:3000/api/orders/0');
    assert.deepEqual(await facts('#panel-user'), { id: 'u0', email: 'u0@example.com' });
    // closing
    await page.locator('#panel-close').click();
    assert.equal(await page.locator('#panel').isHidden(), true);
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
  });

  test('a trace without errors says so instead of "Errors in this trace (0)"', T, async () => {
    await open(`#/trace/${traceId(1)}`, 'trace-no-errors');
    assert.equal(await page.locator('#trace-no-errors').innerText(), 'No errors were recorded in this trace.');
    assert.equal(await page.locator('#trace-errors').count(), 0);
    assert.ok(!(await page.locator('main').innerText()).includes('Errors in this trace (0)'));
    await open(`#/trace/${traceId(0)}`);
    assert.equal(await page.locator('main h2', { hasText: 'Errors in this trace' }).innerText(), 'Errors in this trace (1)');
  });

  test('latency distribution: a histogram of the group; dragging over bars lists the traces in that range', T, async () => {
    await open(`#/service/checkout/tx/${encodeURIComponent('GET /api/orders/:id')}`, 'distribution');
    const bins = await page.locator('#distribution rect.bin').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-count'))));
    assert.equal(bins.reduce((a, b) => a + b, 0), 20); // the 20 GET transactions (100 + i ms, even i)
    assert.equal(await page.locator('figure[data-chart="Latency distribution"] figcaption').innerText(), 'Latency distribution · 20 transactions');
    // drag from the first bar to the last: every transaction
    const box = async (i: number) => (await page.locator(`#distribution rect.bin-hit[data-bin="${i}"]`).boundingBox())!;
    const drag = async (a: number, b: number) => {
      const [p, q] = [await box(a), await box(b)];
      await rerendered(async () => {
        await page.mouse.move(p.x + p.width / 2, p.y + p.height / 2);
        await page.mouse.down();
        await page.mouse.move(q.x + q.width / 2, q.y + q.height / 2, { steps: 4 });
        await page.mouse.up();
      });
      await page.waitForSelector('#dist-traces');
    };
    await drag(0, bins.length - 1);
    assert.equal((await cells('#dist-traces')).length, 20);
    // a middle range: exactly the transactions counted in those bars, all within its bounds
    const lo = 2, hi = Math.min(bins.length - 1, 4);
    await drag(hi, lo); // dragging right to left works too
    await page.screenshot({ path: join(ARTIFACTS, 'views-distribution-selected.png'), fullPage: true });
    const rows = await cells('#dist-traces');
    assert.equal(rows.length, bins.slice(lo, hi + 1).reduce((a, b) => a + b, 0));
    assert.ok(rows.length > 0 && rows.length < 20);
    const title = await page.locator('#dist-selection h2').innerText();
    const m = /^Traces from ([\d.]+) ms to ([\d.]+) ms/.exec(title);
    assert.ok(m, title);
    for (const row of rows) {
      const ms = parseFloat(row[1]!);
      assert.ok(ms >= parseFloat(m[1]!) - 0.05 && ms <= parseFloat(m[2]!) + 0.05, `${ms} in ${title}`);
    }
    assert.equal(await page.locator('#distribution rect.bin.selected').count(), hi - lo + 1);
    await rerendered(() => page.locator('#clear-selection').click());
    assert.equal(await page.locator('#dist-traces').count(), 0);
  });

  test('search: trace id, transaction name, outcome, result, label key:value, version and environment', T, async () => {
    const search = async (q: Record<string, string>, shot?: string) => {
      await open(`#/search?${new URLSearchParams(q)}`, shot);
      return cells('#search-results');
    };
    const names = (rows: string[][]) => rows.map((c) => `${c[1]} ${c[2]}`);
    // tenant acme: i % 3 == 0 → 14 of 40 checkout transactions
    const acme = await search({ label: 'tenant:acme', service: 'checkout' }, 'search-label');
    assert.equal(acme.length, 14);
    assert.equal(await page.locator('#search-count').innerText(), '14 matching transactions');
    assert.equal(await page.locator('#f-label').inputValue(), 'tenant:acme');
    // numeric label values match their text
    assert.equal((await search({ label: 'attempt:4' })).length, 8);
    // version 1.1.0 runs traces 20..39; failures are i % 4 == 0: 20, 24, 28, 32, 36
    const v = await search({ version: '1.1.0', outcome: 'failure' });
    assert.deepEqual(v.map((c) => c[6]), [36, 32, 28, 24, 20].map(traceId));
    assert.equal((await search({ result: 'HTTP 5xx' })).length, 10);
    assert.equal((await search({ environment: 'test', name: 'POST /api/orders' })).length, 20);
    await search({ environment: 'production' });
    assert.equal(await page.locator('#search-results tbody td').innerText(), 'No transactions match these filters in this range.');
    assert.deepEqual(names(await search({ traceId: traceId(7).toUpperCase() })).sort(), ['checkout POST /api/orders', 'frontend GET /', 'inventory GET /stock/:id']);
    await search({ label: 'no-colon' });
    assert.equal(await page.locator('#search-error').innerText(), "query parameter 'label' must be key:value (a label name, a colon, its value), got 'no-colon'");
    // the form drives the hash
    await open('#/search');
    await page.locator('#f-service').selectOption('inventory');
    await page.locator('#f-name').fill('GET /stock/:id');
    await rerendered(() => page.locator('#search-submit').click());
    assert.equal(new URLSearchParams(new URL(page.url()).hash.split('?')[1]).get('service'), 'inventory');
    assert.equal((await cells('#search-results')).length, 40);
    // the header box jumps to a trace by id
    await page.locator('#jump-q').fill(traceId(3));
    await rerendered(() => page.locator('#jump-q').press('Enter'));
    assert.equal(new URL(page.url()).hash, `#/trace/${traceId(3)}`);
    assert.equal(await page.locator('#waterfall .wf-row[data-id]').count(), 9); // 3 transactions, 6 spans
  });

  test('overview charts: larger axis text, a tick every few minutes, zoomed to the data, previous-period comparison', T, async () => {
    await page.evaluate(() => localStorage.setItem('spanforge.compare', '0'));
    await open('#/service/checkout', 'overview');
    const chart = page.locator('figure[data-chart="Throughput"] svg');
    const px = await chart.evaluate((s) => {
      const scale = s.getBoundingClientRect().width / (s as SVGSVGElement).viewBox.baseVal.width;
      return [...s.querySelectorAll('text.axis')].map((t) => parseFloat(getComputedStyle(t).fontSize) * scale);
    });
    for (const size of px) assert.ok(size >= 11.5, `axis text ${size.toFixed(1)} px`);
    const xTicks = await chart.locator('text.axis.x').allTextContents();
    assert.ok(xTicks.length >= 5, `${xTicks.length} time ticks: ${xTicks.join(', ')}`);
    // 10 minutes of data in a one-hour range: the x axis starts at the data, not 50 minutes before it
    assert.match(await page.locator('figure[data-chart="Throughput"] .zoom-note').innerText(), /^Since .*: no data earlier in the range\.$/);
    const [first, width] = await chart.evaluate((s) => {
      const xs = [...s.querySelectorAll('circle')].map((c) => Number(c.getAttribute('cx')));
      return [Math.min(...xs), (s as SVGSVGElement).viewBox.baseVal.width];
    });
    assert.ok(first < width * 0.25, `first point at ${first} of ${width}`);
    // comparison: a dashed "previous period" series on each chart (the previous hour is empty: a flat 0 throughput)
    await rerendered(() => page.locator('#compare-toggle').check());
    await page.screenshot({ path: join(ARTIFACTS, 'views-overview-compare.png'), fullPage: true });
    assert.equal(await page.locator('figure[data-chart="Throughput"] path.previous').count(), 1);
    assert.deepEqual(await texts('figure[data-chart="Throughput"] .legend span'), ['transactions per minute', 'previous period']);
    assert.ok((await texts('figure[data-chart="Latency"] .legend span')).includes('avg, previous period'));
    // with a previous period that has data: 15 minute range, transactions posted 20 minutes ago
    const meta = JSON.stringify({ metadata: { service: { name: 'checkout', agent: { name: 'nodejs', version: 'x' } } } });
    const old = Array.from({ length: 5 }, (_, i) =>
      JSON.stringify({ transaction: { id: (0xabc00 + i).toString(16).padStart(16, '0'), trace_id: (0xeee00 + i).toString(16).padStart(32, '0'), name: 'GET /old', type: 'request', outcome: 'success', duration: 500, timestamp: (Date.now() - 20 * 60_000) * 1000, span_count: { started: 0 } } }),
    );
    assert.equal((await send(`${r.url}/intake/v2/events`, `${meta}\n${old.join('\n')}\n`, { headers: NDJSON })).status, 202);
    await eventually(async () => (await getJson(`${r.url}/api/stats`)).transactions === N * 3 + 5);
    await page.locator('#range').selectOption('900000');
    await page.waitForFunction(() => document.querySelectorAll('figure[data-chart="Latency"] path.previous').length === 1);
    const prevMax = await page.locator('figure[data-chart="Latency"] path.previous').evaluate((p) => p.getAttribute('d'));
    assert.ok(prevMax && prevMax.length > 0);
    await page.screenshot({ path: join(ARTIFACTS, 'views-overview-compare-15m.png'), fullPage: true });
    await rerendered(() => page.locator('#range').selectOption('3600000').then(() => undefined));
    await page.locator('#compare-toggle').uncheck();
    await page.waitForFunction(() => document.querySelectorAll('path.previous').length === 0);
    assert.equal(await page.locator('figure.chart').count(), 3);
  });

  test('error occurrence: exception, request, user and labels tabs', T, async () => {
    await open('#/errors');
    await rerendered(() => page.locator('#errors-table a', { hasText: 'PaymentError' }).click());
    assert.deepEqual(await texts('#occurrence-tabs button'), ['Exception', 'Request', 'User', 'Labels', 'Service and host']);
    assert.deepEqual(await texts('#occurrence-tab ol.stack > li .frame'), ['charge at src/pay.ts:9']);
    const facts = async () => {
      const dts = await texts('#occurrence-tab dt');
      const dds = await texts('#occurrence-tab dd');
      return Object.fromEntries(dts.map((k, i) => [k, dds[i]]));
    };
    await page.locator('#occurrence-tabs button', { hasText: 'Request' }).click();
    assert.deepEqual(await facts(), { Method: 'POST', URL: 'https://api.stripe.com/v1/charges', 'headers.content-type': 'application/json' });
    await page.locator('#occurrence-tabs button', { hasText: 'User' }).click();
    assert.deepEqual(await facts(), { id: 'u36', username: 'user 36', email: 'u36@example.com' });
    await page.locator('#occurrence-tabs button', { hasText: 'Labels' }).click();
    assert.deepEqual(await facts(), { tenant: 'acme', card: MARKUP });
    await page.screenshot({ path: join(ARTIFACTS, 'views-error-labels.png'), fullPage: true });
    await page.locator('#occurrence-tabs button', { hasText: 'Service and host' }).click();
    const md = await facts();
    assert.equal(md['Service version'], '1.1.0');
    assert.equal(md.Transaction, 'GET /api/orders/:id');
    await page.locator('#occurrence-tabs button', { hasText: 'Exception' }).click();
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
    assert.equal(await page.locator('main img, main script, #panel img').count(), 0);
  });

  test('with a secret token: after signing in, the map, dependencies, panel and search work', T, async () => {
    const TOKEN = 'browser-views-token';
    const s = await withReceiver({ secretToken: TOKEN });
    const ctx = await browser.newContext({ viewport: { width: 1300, height: 900 } });
    try {
      const auth = { ...NDJSON, Authorization: `Bearer ${TOKEN}` };
      const tr = buildDepsTraffic();
      for (const body of [tr.frontend, ...tr.checkout, tr.inventory]) assert.equal((await send(`${s.url}/intake/v2/events`, body, { headers: auth })).status, 202);
      await eventually(async () => (await (await fetch(`${s.url}/api/stats`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()).spans === N * 6 + N / 2, 5000);
      const p = await ctx.newPage();
      p.on('pageerror', (e) => pageErrors.push(e.message));
      await p.goto(`${s.url}/ui/#/map`);
      assert.equal(new URL(p.url()).pathname, '/ui/login');
      await p.fill('input[name=token]', TOKEN);
      await Promise.all([p.waitForURL(/\/ui\/$/), p.click('button[type=submit], input[type=submit]')]);
      await open('#/map', 'auth-map', p);
      assert.equal(await p.locator('#service-map [data-node]').count(), 8);
      await open('#/dependencies', undefined, p);
      assert.equal(await p.locator('#dependencies-table tbody tr').count(), 7);
      await open(`#/trace/${traceId(0)}`, undefined, p);
      await p.locator(`#waterfall .wf-row[data-id="${id(4, 0)}"]`).click();
      await p.waitForSelector(`#panel[data-for="${id(4, 0)}"]`);
      await open(`#/search?${new URLSearchParams({ label: 'tenant:acme', service: 'checkout' })}`, undefined, p);
      assert.equal(await p.locator('#search-results tbody tr').count(), 14);
    } finally {
      await ctx.close();
      await s.cleanup();
    }
  });

  test('at 390 px wide nothing overflows and no word is broken, on every view', T, async () => {
    const narrow = await browser.newPage({ viewport: { width: 390, height: 844 } });
    narrow.on('pageerror', (e) => pageErrors.push(e.message));
    try {
      const views: Array<[string, string]> = [
        ['#/services', 'services'],
        ['#/service/checkout', 'overview'],
        ['#/service/checkout/dependencies', 'service-dependencies'],
        [`#/service/checkout/tx/${encodeURIComponent('GET /api/orders/:id')}`, 'transaction'],
        [`#/trace/${traceId(0)}`, 'trace'],
        ['#/map', 'map'],
        ['#/dependencies', 'dependencies'],
        [`#/dependency/${encodeURIComponent('postgresql/test')}`, 'dependency'],
        [`#/search?${new URLSearchParams({ service: 'checkout', outcome: 'failure' })}`, 'search'],
        ['#/errors', 'errors'],
        ['#/service/checkout/metrics', 'metrics'],
      ];
      const check = async (label: string) => {
        const problems = await narrow.evaluate(() => {
          const out: string[] = [];
          const W = document.documentElement.clientWidth;
          if (document.documentElement.scrollWidth > W) out.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${W}`);
          for (const e of document.querySelectorAll('body *')) {
            const r = e.getBoundingClientRect();
            if (r.width === 0 || r.height === 0 || getComputedStyle(e).visibility === 'hidden') continue;
            if (r.right > W + 0.5 || r.left < -0.5) out.push(`${e.tagName.toLowerCase()}.${e.className} '${(e.textContent || '').slice(0, 30)}' spans ${r.left.toFixed(0)}..${r.right.toFixed(0)}`);
            if (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible' && e.tagName !== 'PRE') out.push(`${e.tagName.toLowerCase()}.${e.className} scrolls: ${e.scrollWidth} > ${e.clientWidth}`);
          }
          // No word broken across lines (a word that fits on a line stays on one line).
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            const parent = n.parentElement!;
            if (!parent.getClientRects().length || parent.closest('svg, pre, .mono, td.id, code')) continue;
            for (const m of (n.textContent || '').matchAll(/[A-Za-z]{3,20}/g)) {
              const range = document.createRange();
              range.setStart(n, m.index!);
              range.setEnd(n, m.index! + m[0].length);
              const lines = new Set([...range.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
              if (lines.size > 1) out.push(`'${m[0]}' breaks across lines in ${parent.tagName.toLowerCase()}.${parent.className}`);
            }
          }
          return out;
        });
        assert.deepEqual(problems, [], label);
      };
      for (const [hash, shot] of views) {
        await open(hash, `390-${shot}`, narrow);
        await check(hash);
      }
      // the detail panel at 390 px
      await open(`#/trace/${traceId(0)}`, undefined, narrow);
      await narrow.locator(`#waterfall .wf-row[data-id="${id(3, 0)}"]`).click();
      await narrow.waitForSelector(`#panel[data-for="${id(3, 0)}"]`);
      await narrow.screenshot({ path: join(ARTIFACTS, 'views-390-panel.png'), fullPage: false });
      await check('panel');
      // an error group page
      await open('#/errors', undefined, narrow);
      await narrow.locator('#errors-table a', { hasText: 'PaymentError' }).click();
      await narrow.waitForSelector('#occurrence-tabs');
      await narrow.screenshot({ path: join(ARTIFACTS, 'views-390-error.png'), fullPage: true });
      await check('error group');
    } finally {
      await narrow.close();
    }
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(dialogs, []);
  });
});

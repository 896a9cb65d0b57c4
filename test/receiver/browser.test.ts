// Browser tests of the web UI in real headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core): services, service charts, transactions, waterfall, errors, metrics, live
// updates and escaping. Screenshots of every page go to test-artifacts/receiver/.
/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { NDJSON, send, withReceiver } from './helpers.js';
import { buildTraffic, CHECKOUT_TX, retimedCapture, TRACE_ID, XSS_NAME, XSS_TRACE } from './traffic.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts', 'receiver');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`CI is set but Chromium is missing at ${CHROMIUM} (apt-get install chromium)`);
const skip = haveChromium ? false : `Chromium not found at ${CHROMIUM}; install Debian's chromium package to run the UI tests`;

describe('web UI in headless Chromium', { skip }, () => {
  let r: Awaited<ReturnType<typeof withReceiver>>;
  let browser: Browser;
  let page: Page;
  const dialogs: string[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    r = await withReceiver();
    const t = buildTraffic();
    for (const body of [t.checkout, t.inventory, retimedCapture()]) {
      const rep = await send(`${r.url}/intake/v2/events`, body, { headers: NDJSON });
      assert.equal(rep.status, 202, rep.text);
    }
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

  async function open(hash: string, shot: string): Promise<void> {
    await page.goto(`${r.url}/ui/${hash}`);
    await page.waitForSelector('main[data-rendered]');
    await page.screenshot({ path: join(ARTIFACTS, `${shot}.png`), fullPage: true });
  }
  const texts = (sel: string) => page.locator(sel).allInnerTexts();

  test('a browser opening / is sent to the UI', async () => {
    await page.goto(`${r.url}/`);
    await page.waitForSelector('main[data-rendered]');
    assert.equal(new URL(page.url()).pathname, '/ui/');
  });

  test('services list shows every service with its agent and stats', async () => {
    await open('#/services', '1-services');
    const rows = await texts('#services-table tbody tr');
    assert.equal(rows.length, 3);
    assert.match(rows[0]!, /^checkout\ttest\tnodejs spanforge-0\.1\.0\t/);
    assert.match(rows[0]!, /\t5\t/); // 5 errors
    assert.match(rows[1]!, /^inventory\ttest\t/);
    assert.match(rows[2]!, /^opbeans-node\tproduction\tnodejs 3\.29\.0\t/);
  });

  test('service overview: three charts with data and the transactions table', async () => {
    await open('#/service/checkout', '2-service-checkout');
    assert.deepEqual(await texts('figure.chart figcaption'), ['Throughput', 'Latency', 'Failed transaction rate']);
    assert.equal(await page.locator('figure[data-chart="Latency"] path').count(), 3);
    const rows = await texts('#transactions-table tbody tr td:first-child');
    assert.deepEqual(rows.slice().sort(), ['GET /api/orders/:id', 'POST /api/orders', XSS_NAME].sort());
    const get = (await texts('#transactions-table tbody tr')).find((t) => t.startsWith('GET /api/orders/:id'))!;
    // 30 steady requests + the traced one; steady requests 0, 10, …, 50 failed: 6 of 31.
    assert.match(get, /^GET \/api\/orders\/:id\trequest\t31\t/);
    assert.match(get, /\t19\.4 %\t/);
    const recent = await texts('#recent-table tbody tr');
    assert.equal(recent.length, 10);
    assert.match(recent[0]!, /\tPOST \/api\/orders\t65\.0 ms\tHTTP 2xx\tsuccess\t0{26}50003b$/); // the newest steady request: i = 59, 20 + (59 % 7) * 15 ms
  });

  test('event text is escaped: a transaction named <script> shows as text and never runs', async () => {
    const cell = page.locator('#transactions-table a', { hasText: '<script>' });
    assert.equal(await cell.innerText(), XSS_NAME);
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
    assert.equal(await page.locator('main script, main img').count(), 0);
    assert.deepEqual(dialogs, []);
  });

  test('markup in span names, statements, urls, frames, error types and messages stays text', async () => {
    await open(`#/trace/${XSS_TRACE}`, '4b-trace-markup');
    assert.deepEqual(await texts('#waterfall .wf-name'), [XSS_NAME, XSS_NAME]);
    const wf = (await texts('#waterfall')).join('\n');
    assert.ok(wf.includes(`${XSS_NAME} (${XSS_NAME}:1)`), 'code location as text');
    assert.equal(await page.locator('#waterfall code.stmt').innerText(), XSS_NAME);
    const key = await page.locator('#trace-errors a').getAttribute('href');
    await open(key!, '6b-error-markup');
    await page.waitForSelector('ol.stack');
    assert.equal(await page.locator('main h1').innerText(), XSS_NAME);
    assert.equal(await page.locator('#error-message').innerText(), XSS_NAME);
    assert.equal(await page.locator('pre.source div.cur').evaluate((d) => d.lastChild!.textContent), XSS_NAME);
    await open('#/errors', '5b-errors-markup');
    assert.equal(await page.locator('main script, main img').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
    assert.deepEqual(dialogs, []);
  });

  test('transaction samples link to their traces', async () => {
    await open(`#/service/checkout/tx/${encodeURIComponent('GET /api/orders/:id')}`, '3-transaction-samples');
    const links = await page.locator('#samples-table a').allInnerTexts();
    assert.equal(links.length, 31);
    assert.ok(links.includes(TRACE_ID));
  });

  test('trace waterfall: both services, spans with statement, url/status and code location, errors', async () => {
    await open(`#/trace/${TRACE_ID}`, '4-trace-waterfall');
    const rows = page.locator('#waterfall .wf-row[data-id]');
    assert.equal(await rows.count(), 4);
    assert.deepEqual(await page.locator('#waterfall .wf-row[data-id]').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind'))), [
      'transaction',
      'span',
      'span',
      'transaction',
    ]);
    assert.deepEqual(await texts('#waterfall .wf-name'), ['GET /api/orders/:id', 'SELECT FROM orders', 'GET inventory:4000', 'GET /stock/:id']);
    const all = (await texts('#waterfall')).join('\n');
    for (const s of [
      'transaction · request',
      'db.postgresql.query',
      'SELECT * FROM orders WHERE id = $1',
      'GET http://inventory:4000/stock/7 → 200',
      'loadOrder (src/orders.ts:42:7)',
      'fetchStock (src/stock.ts:12:3)',
      '120.5 ms',
      '30.3 ms',
    ]) {
      assert.ok(all.includes(s), `waterfall shows ${s}`);
    }
    assert.deepEqual(await page.locator('.legend [data-service]').evaluateAll((els) => els.map((e) => e.getAttribute('data-service'))), ['checkout', 'inventory']);
    // Colours: bars by type, one colour per type; services by a row border and a label, from a
    // palette that shares no colour with the types.
    const bg = (sel: string) => page.locator(sel).evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
    const rgb = (hex: string) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;
    const bars = await rows.locator('.wf-bar').evaluateAll((els) => els.map((e) => [e.getAttribute('data-type'), getComputedStyle(e).backgroundColor]));
    assert.deepEqual(bars, [
      ['transaction', rgb('#6b7a99')],
      ['db', rgb('#f0a030')],
      ['external', rgb('#4ea8e8')],
      ['transaction', rgb('#6b7a99')],
    ]);
    assert.deepEqual(await page.locator('#wf-legend-types [data-type]').evaluateAll((els) => els.map((e) => e.getAttribute('data-type'))), ['transaction', 'db', 'external']);
    const typeSwatches = await bg('#wf-legend-types [data-type] i');
    assert.deepEqual(typeSwatches, [rgb('#6b7a99'), rgb('#f0a030'), rgb('#4ea8e8')]);
    const serviceSwatches = await bg('#wf-legend-services [data-service] i');
    assert.equal(new Set(serviceSwatches).size, 2);
    for (const c of serviceSwatches) assert.ok(!typeSwatches.includes(c) && !bars.some(([, b]) => b === c), `service colour ${c} is not a type colour`);
    // Each row carries its service's colour on the left and names the service.
    const rowServices = await rows.evaluateAll((els) => els.map((e) => [e.querySelector('.svc')!.textContent, getComputedStyle(e).borderLeftColor, getComputedStyle(e).borderLeftWidth]));
    assert.deepEqual(rowServices, [
      ['checkout', serviceSwatches[0], '5px'],
      ['checkout', serviceSwatches[0], '5px'],
      ['checkout', serviceSwatches[0], '5px'],
      ['inventory', serviceSwatches[1], '5px'],
    ]);
    // bars sit on a shared time axis: the db span starts after the transaction and ends before it
    const [tx, db] = await rows.locator('.wf-bar').evaluateAll((els) => els.slice(0, 2).map((e) => e.getBoundingClientRect()));
    assert.ok(db!.left > tx!.left && db!.right < tx!.right);
    assert.equal(await page.locator(`#waterfall .wf-row[data-id="${CHECKOUT_TX}"]`).count(), 1);
    assert.equal(await page.locator('#waterfall .err-mark').count(), 3);
    assert.equal((await texts('#trace-errors tbody tr')).length, 3);
  });

  test('errors grouped by type + culprit with counts; the group page shows source context', async () => {
    await open('#/errors', '5-errors');
    const rows = await texts('#errors-table tbody tr');
    assert.equal(rows.length, 3);
    const te = rows.find((x) => x.startsWith('TypeError'))!;
    assert.match(te, /^TypeError\tCannot read properties of undefined \(reading 'price'\) #2\tpriceOrder \(src\/orders\.ts\)\tcheckout\tno\t3\t/);
    assert.match(rows.find((x) => x.startsWith('ECONNREFUSED'))!, /\tconnect \(src\/db\.ts\)\tcheckout\tyes\t1\t/);
    await page.locator('#errors-table a', { hasText: 'TypeError' }).click();
    await page.waitForSelector('#error-count');
    await page.waitForFunction(() => document.querySelector('ol.stack') !== null);
    await page.screenshot({ path: join(ARTIFACTS, '6-error-group.png'), fullPage: true });
    assert.equal(await page.locator('#error-count').innerText(), '3');
    // all three occurrences fall in one minute: one point of 3, the other minutes of the hour 0
    const values = (await page.locator('figure[data-chart="Occurrences"] circle title').allTextContents()).map((x) => x.replace(/^.*: /, ''));
    assert.ok(values.length >= 60, `${values.length} points`);
    assert.deepEqual(values.filter((v) => v !== '0.0'), ['3.0']);
    assert.equal(await page.locator('pre.source div.cur .ln').first().innerText(), '57');
    assert.equal(await page.locator('pre.source div.cur').first().evaluate((d) => d.lastChild!.textContent), '  return items.reduce((s, i) => s + i.price, 0);');
    assert.deepEqual(await page.locator('pre.source').first().locator('.ln').allInnerTexts(), ['55', '56', '57', '58', '59']);
    const frames = await texts('ol.stack > li .frame');
    assert.deepEqual(frames, ['priceOrder at src/orders.ts:57:11', 'Layer.handle at node_modules/express/lib/router/layer.js:95']);
    assert.equal(await page.locator('ol.stack > li.library').count(), 1);
    assert.equal((await texts('#occurrences tbody tr')).length, 3);
  });

  test('metrics page: CPU, memory, event-loop delay and heap charts with data', async () => {
    await open('#/service/checkout/metrics', '7-metrics');
    assert.deepEqual(await texts('figure.chart figcaption'), ['CPU usage', 'Memory', 'Event loop delay', 'Heap']);
    for (const chart of ['CPU usage', 'Memory', 'Event loop delay', 'Heap']) {
      assert.equal(await page.locator(`figure[data-chart="${chart}"] path`).count(), 2 - (chart === 'Event loop delay' ? 1 : 0), chart);
    }
    assert.match(await page.locator('#metric-names').innerText(), /nodejs\.handles\.active/);
  });

  test('live: new events appear without a reload', async () => {
    await open('#/service/inventory', '8-live-before');
    assert.deepEqual(await texts('#transactions-table tbody tr td:first-child'), ['GET /stock/:id']);
    const marker = await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    const meta = JSON.stringify({ metadata: { service: { name: 'inventory', agent: { name: 'nodejs', version: 'x' } } } });
    const tx = JSON.stringify({
      transaction: { id: 'feedfeedfeedfeed', trace_id: 'feedfeedfeedfeedfeedfeedfeedfeed', name: 'PUT /stock/:id', type: 'request', duration: 3, timestamp: Date.now() * 1000, span_count: { started: 0 } },
    });
    assert.equal((await send(`${r.url}/intake/v2/events`, `${meta}\n${tx}\n`, { headers: NDJSON })).status, 202);
    await page.waitForFunction(() => [...document.querySelectorAll('#transactions-table td:first-child')].some((td) => td.textContent === 'PUT /stock/:id'), null, { timeout: 5000 });
    assert.equal(await page.evaluate(() => (window as unknown as { marker: number }).marker), marker, 'same page, no reload');
    await page.screenshot({ path: join(ARTIFACTS, '9-live-after.png'), fullPage: true });
    assert.deepEqual(pageErrors, []);
  });
});

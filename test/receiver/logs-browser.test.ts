// The trace view shows the trace's log events (intake v2 `log`) below its waterfall, in real headless
// Chromium (Debian's /usr/bin/chromium via playwright-core): the rows, their order and text (event
// text escaped), the per-row log marks, and a log's span link opening that span's panel.
// Screenshot: test-artifacts/receiver/logs-trace.png.
/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { eventually, getJson, NDJSON, send, withReceiver } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts', 'receiver');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`CI is set but Chromium is missing at ${CHROMIUM} (apt-get install chromium)`);
const skip = haveChromium ? false : `Chromium not found at ${CHROMIUM}; install Debian's chromium package to run the UI tests`;
const T = { timeout: 60_000 };

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const TX = 'b7ad6b7169203331';
const SPAN = '00f067aa0ba902b7';
const MARKUP = '<img src=x onerror=alert(1)><script>alert(2)</script>';

describe('web UI: a trace shows its logs beside the waterfall', { skip }, () => {
  let r: Awaited<ReturnType<typeof withReceiver>>;
  let browser: Browser;
  let page: Page;
  const dialogs: string[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    r = await withReceiver();
    const t0 = (Date.now() - 5000) * 1000;
    const lines = [
      { metadata: { service: { name: 'shop', agent: { name: 'nodejs', version: '4.0.0' } } } },
      { transaction: { id: TX, trace_id: TRACE, name: 'GET /orders/:id', type: 'request', duration: 20, timestamp: t0, result: 'HTTP 2xx', outcome: 'success', span_count: { started: 1 } } },
      { span: { id: SPAN, transaction_id: TX, parent_id: TX, trace_id: TRACE, name: 'SELECT * FROM orders', type: 'db', subtype: 'postgresql', action: 'query', timestamp: t0 + 5000, duration: 8 } },
      { log: { '@timestamp': t0 + 1000, 'log.level': 'info', message: 'loading order 42', 'trace.id': TRACE, 'transaction.id': TX } },
      { log: { '@timestamp': t0 + 6000, log: { level: 'error', logger: 'db' }, message: `query failed ${MARKUP}`, 'trace.id': TRACE, 'transaction.id': TX, 'span.id': SPAN } },
      { log: { '@timestamp': t0 + 7000, 'log.level': 'warn', message: 'retrying', 'trace.id': TRACE, 'transaction.id': TX, 'span.id': SPAN } },
      { log: { '@timestamp': t0 + 15000, 'log.level': 'info', message: 'order 42 sent', 'trace.id': TRACE, 'transaction.id': TX } },
      { log: { '@timestamp': t0 + 2000, message: 'another trace', 'trace.id': 'ffffffffffffffffffffffffffffffff' } },
    ];
    const rep = await send(`${r.url}/intake/v2/events`, lines.map((l) => JSON.stringify(l)).join('\n') + '\n', { headers: NDJSON });
    assert.equal(rep.status, 202, rep.text);
    await eventually(async () => (await getJson(`${r.url}/api/stats`)).logs === 5, 5000);
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

  test('the log rows of the trace, oldest first, with level, service, message and span', T, async () => {
    await page.goto(`${r.url}/ui/#/trace/${TRACE}`);
    await page.waitForSelector('main[data-rendered] #trace-logs');
    await page.screenshot({ path: join(ARTIFACTS, 'logs-trace.png'), fullPage: true });
    assert.equal(await page.locator('h2', { hasText: 'Logs in this trace' }).innerText(), 'Logs in this trace (4)');
    const rows = (await page.locator('#trace-logs tbody tr').allInnerTexts()).map((row) => row.split('\t').slice(1));
    assert.deepEqual(rows, [
      ['info', 'shop', 'loading order 42', 'GET /orders/:id'],
      ['error', 'shop', `query failed ${MARKUP}`, 'SELECT * FROM orders'],
      ['warn', 'shop', 'retrying', 'SELECT * FROM orders'],
      ['info', 'shop', 'order 42 sent', 'GET /orders/:id'],
    ]);
    // Times are the wall clock with milliseconds.
    for (const t of await page.locator('#trace-logs tbody tr td:first-child').allInnerTexts()) assert.match(t, /^\d{2}:\d{2}:\d{2}\.\d{3}$/);
    assert.deepEqual(await page.locator('#trace-logs tbody tr').evaluateAll((els) => els.map((e) => [e.getAttribute('data-span-id'), e.getAttribute('data-level')])), [
      [TX, 'info'],
      [SPAN, 'error'],
      [SPAN, 'warn'],
      [TX, 'info'],
    ]);
    // The markup in a message is text: no element made of it, no dialog.
    assert.equal(await page.locator('#trace-logs img, #trace-logs script').count(), 0);
    // The waterfall rows carry how many logs were written under each.
    const marks = await page.locator('.wf-row[data-id]').evaluateAll((els) => els.map((e) => [e.getAttribute('data-id'), e.querySelector('.log-mark')?.textContent ?? null]));
    assert.deepEqual(marks, [
      [TX, '☰ 2 logs'],
      [SPAN, '☰ 2 logs'],
    ]);
    // The waterfall comes first, the logs right after it.
    const order = await page.evaluate(() => {
      const wf = document.getElementById('waterfall')!;
      const logs = document.getElementById('trace-logs')!;
      return wf.compareDocumentPosition(logs) & Node.DOCUMENT_POSITION_FOLLOWING;
    });
    assert.ok(order);
    // A log's span link opens that span's detail panel.
    await page.locator('#trace-logs a.log-span').nth(1).click();
    await page.waitForSelector('#panel:not([hidden])');
    await page.waitForFunction((id) => document.querySelector('.wf-row.open')?.getAttribute('data-id') === id, SPAN);
    assert.deepEqual(dialogs, []);
    assert.deepEqual(pageErrors, []);
  });

  test('a trace without logs says so', T, async () => {
    const tx2 = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const lines = [
      { metadata: { service: { name: 'shop', agent: { name: 'nodejs', version: '4.0.0' } } } },
      { transaction: { id: 'a1a1a1a1a1a1a1a1', trace_id: tx2, name: 'GET /health', type: 'request', duration: 1, timestamp: Date.now() * 1000, span_count: { started: 0 } } },
    ];
    assert.equal((await send(`${r.url}/intake/v2/events`, lines.map((l) => JSON.stringify(l)).join('\n') + '\n', { headers: NDJSON })).status, 202);
    await eventually(async () => (await getJson(`${r.url}/api/traces/${tx2}`)).transactions.length === 1, 5000);
    await page.goto('about:blank');
    await page.goto(`${r.url}/ui/#/trace/${tx2}`);
    await page.waitForSelector('main[data-rendered] #trace-no-logs');
    assert.equal(await page.locator('#trace-no-logs').innerText(), 'No log events were recorded in this trace.');
    assert.equal(await page.locator('.log-mark').count(), 0);
    assert.deepEqual(pageErrors, []);
  });
});

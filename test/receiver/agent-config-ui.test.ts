// The web UI's "Agent config" view (receiver/ui/agent-config.js) in real headless Chromium (Debian's
// /usr/bin/chromium via playwright-core): a setting saved through the form is what /config/v1/agents answers
// for that service and environment; a real agent polling the receiver applies it and the view then shows the
// entry as applied (the agent sent its ETag back); a refused value shows the receiver's reason; Edit fills the
// form and a change resets "applied"; Delete removes the entry. Screenshot: test-artifacts/receiver/agent-config.png.
/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { getAgent, resetAgentForTests } from '../../runtime/agent.js';
import { withReceiver } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts', 'receiver');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`CI is set but Chromium is missing at ${CHROMIUM} (apt-get install chromium)`);
const skip = haveChromium ? false : `Chromium not found at ${CHROMIUM}; install Debian's chromium package to run the UI tests`;

describe('web UI: agent configuration form', { skip }, () => {
  let r: Awaited<ReturnType<typeof withReceiver>>;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    r = await withReceiver({ agentConfigMaxAgeS: 1 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });
  after(async () => {
    await resetAgentForTests();
    await browser?.close();
    await r?.cleanup();
  });

  async function open(): Promise<void> {
    await page.goto('about:blank');
    await page.goto(`${r.url}/ui/#/agent-config`);
    await page.waitForSelector('main[data-rendered] #ac-form');
  }
  /** Clicks and waits for the re-render that follows (data-rendered changes). */
  async function clickAndRender(selector: string): Promise<void> {
    const before = await page.getAttribute('main', 'data-rendered');
    await page.click(selector);
    await page.waitForFunction((b) => document.querySelector('main')!.getAttribute('data-rendered') !== b, before);
  }
  const rowsText = () => page.$$eval('#ac-entries tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 5).map((td) => td.textContent)));

  test('save, apply by a polling agent, refuse, edit, delete', { timeout: 90_000 }, async () => {
    await open();
    assert.equal(await page.textContent('nav a.active'), 'Agent config');
    assert.deepEqual(await rowsText(), [['No agent configuration yet.']]);
    // The form offers the keys the agents accept at run time.
    for (const k of ['transaction_sample_rate', 'transaction_max_spans', 'capture_body', 'recording', 'exit_span_min_duration', 'span_compression_enabled']) {
      assert.ok(await page.$(`#ac-${k}`), `input for ${k}`);
    }

    await page.fill('#ac-service', 'checkout');
    await page.fill('#ac-environment', 'production');
    await page.fill('#ac-transaction_max_spans', '5');
    await page.fill('#ac-capture_body', 'all');
    await clickAndRender('#ac-save');
    assert.equal(await page.textContent('#ac-status'), 'Saved. Agents apply it at their next poll.');
    let rows = await rowsText();
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0]!.slice(0, 3), ['checkout', 'production', 'capture_body=all, transaction_max_spans=5']);
    assert.equal(rows[0]![4], 'not yet applied');

    // What the agents get for that service and environment.
    const res = await fetch(`${r.url}/config/v1/agents?service.name=checkout&service.environment=production`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { capture_body: 'all', transaction_max_spans: '5' });
    assert.equal(res.headers.get('etag'), `"${rows[0]![3]}"`);

    // A real agent polls: the first answer is applied, the next poll sends its ETag back (304): "applied".
    await resetAgentForTests();
    const agent = getAgent().start({ serviceName: 'checkout', environment: 'production', serverUrl: r.url, metricsInterval: 0, logLevel: 'off' }, { noProcessHandlers: true, env: {} });
    const poller = agent.centralConfigPoller!;
    await poller.pollNow();
    assert.equal(agent.config.transactionMaxSpans, 5);
    assert.equal(agent.config.captureBody, 'all');
    await poller.pollNow();
    await open();
    rows = await rowsText();
    assert.match(rows[0]![4]!, /^applied \d/);
    await page.screenshot({ path: join(ARTIFACTS, 'agent-config.png'), fullPage: true });

    // A value the receiver refuses: the reason is shown, nothing changes.
    await page.fill('#ac-service', 'checkout');
    await page.fill('#ac-environment', 'production');
    await page.fill('#ac-log_level', 'x'.repeat(1025));
    await page.click('#ac-save');
    await page.waitForSelector('#ac-status.error');
    assert.equal(await page.textContent('#ac-status'), 'Not saved: setting log_level must be 1 to 1024 characters');
    assert.match((await rowsText())[0]![4]!, /^applied/);

    // Edit fills the form from the entry; a change is a new ETag, not yet applied.
    await open();
    await page.click('#ac-entries .ac-edit');
    assert.equal(await page.inputValue('#ac-service'), 'checkout');
    assert.equal(await page.inputValue('#ac-transaction_max_spans'), '5');
    await page.fill('#ac-transaction_max_spans', '');
    await page.fill('#ac-transaction_sample_rate', '0.5');
    await clickAndRender('#ac-save');
    rows = await rowsText();
    assert.deepEqual(rows[0]!.slice(0, 3), ['checkout', 'production', 'capture_body=all, transaction_sample_rate=0.5']);
    assert.equal(rows[0]![4], 'not yet applied');
    await poller.pollNow();
    assert.equal(agent.config.transactionSampleRate, 0.5);
    assert.equal(agent.config.transactionMaxSpans, 500, 'a key no longer set goes back to the local value');

    // Delete: the entry is gone, agents get the empty configuration.
    await clickAndRender('#ac-entries .ac-delete');
    assert.equal(await page.textContent('#ac-status'), 'Removed.');
    assert.deepEqual(await rowsText(), [['No agent configuration yet.']]);
    const empty = await fetch(`${r.url}/config/v1/agents?service.name=checkout&service.environment=production`);
    assert.deepEqual([empty.status, await empty.json(), empty.headers.get('etag')], [200, {}, '"-"']);
    assert.deepEqual(pageErrors, []);
  });
});

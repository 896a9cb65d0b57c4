// Issue 12, item 2: DNS rebinding. A page on evil.example whose name is re-pointed at 127.0.0.1
// sends `Host: evil.example` and got full trace data. Now the UI and API answer 403 unless Host
// names the receiver (localhost, its listening address, a configured --allowed-host); agents (no
// Origin, no Sec-Fetch-*) may still use any name on the agent routes. The last test rebinds a name
// for real in Chromium (--host-resolver-rules) and loads the UI and the API through it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { NDJSON, send } from './helpers.js';
import { raw, serveChild, type Served } from './security-helpers.js';

const TRACE = 'e'.repeat(32);
const lines = [
  JSON.stringify({ metadata: { service: { name: 'sec-host', agent: { name: 'nodejs', version: '4.0.0' } } } }),
  JSON.stringify({ transaction: { id: 'f'.repeat(16), trace_id: TRACE, name: 'GET /secret', type: 'request', duration: 3, timestamp: Date.now() * 1000, span_count: { started: 0 }, context: { custom: { card: '4111 1111 1111 1111' } } } }),
].join('\n');

describe('Host check (issue 12 item 2)', { timeout: 120_000 }, () => {
  let s: Served;
  before(async () => {
    s = await serveChild(['--allowed-host', 'apm.lan.test', '--allowed-host', '.corp.test']);
    assert.equal((await send(`${s.url}/intake/v2/events`, lines, { headers: NDJSON })).status, 202);
  });
  after(async () => {
    await s?.stop();
  });

  for (const path of ['/api/stats', `/api/traces/${TRACE}`, '/api/services', '/api/live', '/ui/', '/ui/app.js']) {
    test(`${path} with Host: evil.example.com → 403, no data`, async () => {
      const r = await raw(`${s.url}${path}`, { headers: { Host: `evil.example.com:${s.port}` } });
      assert.equal(r.status, 403, r.text);
      assert.deepEqual(JSON.parse(r.text), {
        error: "forbidden request: host 'evil.example.com' is not this receiver's address; start it with --allowed-host evil.example.com if that name is meant to reach it",
      });
      assert.doesNotMatch(r.text, /4111|GET \/secret/);
    });
  }

  test('localhost, the listening address, loopback and the configured names are accepted', async () => {
    for (const host of [`localhost:${s.port}`, `127.0.0.1:${s.port}`, `[::1]:${s.port}`, 'LOCALHOST', `apm.lan.test:${s.port}`, 'corp.test', `x.y.corp.test:${s.port}`, `apm.lan.test.:${s.port}`]) {
      const r = await raw(`${s.url}/api/traces/${TRACE}`, { headers: { Host: host } });
      assert.equal(r.status, 200, `${host}: ${r.text}`);
      assert.equal(r.json().transactions[0].event.context.custom.card, '4111 1111 1111 1111');
    }
    for (const host of ['sub.apm.lan.test', 'evilcorp.test', 'corp.test.evil.example', 'localhost.evil.example', '127.0.0.1.nip.io', 'a:b:c', '[::1']) {
      const r = await raw(`${s.url}/api/stats`, { headers: { Host: host } });
      assert.equal(r.status, 403, `${host}: ${r.text}`);
    }
  });

  test('agents may name the receiver by any host; a browser on an unknown host may not', async () => {
    const agent = await raw(`${s.url}/intake/v2/events`, { method: 'POST', headers: { ...NDJSON, Host: 'host.docker.internal:8200' }, body: lines });
    assert.equal(agent.status, 202, agent.text);
    const info = await raw(`${s.url}/`, { headers: { Host: 'host.docker.internal:8200', Accept: 'application/json' } });
    assert.equal(info.status, 200);
    const config = await raw(`${s.url}/config/v1/agents?service.name=x`, { headers: { Host: 'host.docker.internal' } });
    assert.equal(config.status, 200);
    const browser = await raw(`${s.url}/intake/v2/events`, {
      method: 'POST',
      headers: { Host: `evil.example.com:${s.port}`, Origin: `http://evil.example.com:${s.port}`, 'Sec-Fetch-Site': 'same-origin' },
      body: lines,
    });
    assert.equal(browser.status, 403, browser.text);
    assert.match(browser.json().error, /^forbidden request: host 'evil\.example\.com' is not this receiver's address/);
  });
});

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM) && process.env.CI) throw new Error(`CI is set but Chromium is missing at ${CHROMIUM}`);

test('a real rebinding in Chromium: the UI and the API through a rebound name are refused', { timeout: 120_000, skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}` }, async (t) => {
  const s = await serveChild();
  t.after(() => s.stop());
  assert.equal((await send(`${s.url}/intake/v2/events`, lines, { headers: NDJSON })).status, 202);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // evil.test resolves to the receiver's address, as the attacker's DNS would after rebinding.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--host-resolver-rules=MAP evil.test 127.0.0.1'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const nav = await page.goto(`http://evil.test:${s.port}/ui/`);
  assert.equal(nav!.status(), 403);
  const fromPage = await page.evaluate(async () => {
    const r = await fetch('/api/traces/' + 'e'.repeat(32));
    return { status: r.status, text: await r.text() };
  });
  assert.equal(fromPage.status, 403);
  assert.doesNotMatch(fromPage.text, /4111/);
  // The same browser on the receiver's own address sees the UI.
  await page.goto(`${s.url}/ui/`);
  await page.waitForSelector('main[data-rendered]');
  assert.match(await page.locator('main').innerText(), /sec-host/);
});

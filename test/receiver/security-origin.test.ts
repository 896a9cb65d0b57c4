// Issue 12, item 3: cross-site writes. A page on another origin could `fetch(..., { mode:
// 'no-cors', body: blob })` events into a receiver without a token. Now browser requests from other
// origins (Origin, Sec-Fetch-Site) are refused with APM Server's 403 on the intake and the API;
// RUM is the opt-in (--rum-allow-origin, APM Server's rum.allow_origins globs and CORS answers).
// Node clients (no Origin) and the UI's own same-origin requests pass. The Chromium test runs the
// attack for real from a page on another port.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { NDJSON } from './helpers.js';
import { raw, serveChild, type Served } from './security-helpers.js';

const body = (svc: string): string =>
  [
    JSON.stringify({ metadata: { service: { name: svc, agent: { name: 'rum-js', version: '5.0.0' } } } }),
    JSON.stringify({ transaction: { id: '9'.repeat(16), trace_id: '9'.repeat(32), name: 'page-load', type: 'page-load', duration: 3, span_count: { started: 0 } } }),
  ].join('\n') + '\n';

async function transactions(s: Served): Promise<number> {
  await new Promise((r) => setTimeout(r, 150)); // past the store's 20 ms flush
  return (await raw(`${s.url}/api/stats`)).json().transactions;
}

describe('cross-site requests (issue 12 item 3)', { timeout: 120_000 }, () => {
  let s: Served;
  before(async () => {
    s = await serveChild();
  });
  after(async () => {
    await s?.stop();
  });

  const refused: Array<[string, Record<string, string>, string]> = [
    ['a no-cors POST from another site', { Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'no-cors' }, 'https://evil.example'],
    ['a page on another port of localhost (same-site)', { Origin: 'http://localhost:3000', 'Sec-Fetch-Site': 'same-site', 'Sec-Fetch-Mode': 'no-cors' }, 'http://localhost:3000'],
    ['a sandboxed frame (Origin: null)', { Origin: 'null', 'Sec-Fetch-Site': 'cross-site' }, 'null'],
    ['Sec-Fetch-Site: cross-site without Origin', { 'Sec-Fetch-Site': 'cross-site' }, ''],
    ['an Origin alone (older browsers)', { Origin: 'http://attacker.test' }, 'http://attacker.test'],
  ];
  for (const [what, headers, origin] of refused) {
    test(`intake: ${what} → 403, nothing stored`, async () => {
      const r = await raw(`${s.url}/intake/v2/events`, { method: 'POST', headers, body: body('sec-origin-evil') });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.headers['access-control-allow-origin'], undefined);
      assert.deepEqual(r.json(), { error: `forbidden request: origin: '${origin}' is not allowed` });
      assert.equal(await transactions(s), 0);
    });
  }

  test('API and live updates: other origins → 403', async () => {
    for (const path of ['/api/stats', '/api/services', '/api/live', '/api/traces/abc']) {
      const r = await raw(`${s.url}${path}`, { headers: { Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'cors' } });
      assert.equal(r.status, 403, `${path}: ${r.text}`);
      assert.deepEqual(r.json(), { error: "forbidden request: origin: 'https://evil.example' is not allowed" });
    }
  });

  test('same-origin browser requests, typed URLs and Node clients pass', async () => {
    const same = await raw(`${s.url}/intake/v2/events?verbose`, { method: 'POST', headers: { ...NDJSON, Origin: `http://${s.hostPort}`, 'Sec-Fetch-Site': 'same-origin' }, body: body('sec-origin-same') });
    assert.equal(same.status, 202, same.text);
    const node = await raw(`${s.url}/intake/v2/events?verbose`, { method: 'POST', headers: NDJSON, body: body('sec-origin-node') });
    assert.deepEqual(node.json(), { accepted: 1 });
    assert.equal((await raw(`${s.url}/api/stats`, { headers: { 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'cors' } })).status, 200);
    assert.equal((await raw(`${s.url}/api/stats`, { headers: { 'Sec-Fetch-Site': 'none', 'Sec-Fetch-Mode': 'navigate' } })).status, 200);
    // A link from another site to the UI page still opens it (it holds no data; its API calls are same-origin).
    assert.equal((await raw(`${s.url}/ui/`, { headers: { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'navigate' } })).status, 200);
    assert.equal(await transactions(s), 2);
  });
});

describe('RUM opt-in: --rum-allow-origin (APM Server rum.allow_origins)', { timeout: 120_000 }, () => {
  let s: Served;
  before(async () => {
    s = await serveChild(['--rum-allow-origin', 'https://*.shop.test', '--rum-allow-origin', 'http://localhost:3000']);
  });
  after(async () => {
    await s?.stop();
  });

  test('preflight: APM Server\'s CORS answer, the origin echoed only when allowed', async () => {
    const ok = await raw(`${s.url}/intake/v2/rum/events`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://www.shop.test', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type', 'Sec-Fetch-Site': 'cross-site' },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://www.shop.test');
    assert.equal(ok.headers['access-control-allow-methods'], 'POST, OPTIONS');
    assert.equal(ok.headers['access-control-allow-headers'], 'Content-Type, Content-Encoding, Accept');
    assert.equal(ok.headers['access-control-max-age'], '3600');
    assert.equal(ok.headers.vary, 'Origin');
    const no = await raw(`${s.url}/intake/v2/events`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(no.status, 200);
    assert.equal(no.headers['access-control-allow-origin'], undefined);
  });

  test('allowed origins send events on both intake routes; others and the API stay refused', async () => {
    for (const [path, origin] of [
      ['/intake/v2/rum/events', 'https://www.shop.test'],
      ['/intake/v2/events', 'http://localhost:3000'],
    ] as const) {
      const r = await raw(`${s.url}${path}?verbose`, { method: 'POST', headers: { ...NDJSON, Origin: origin, 'Sec-Fetch-Site': 'cross-site' }, body: body('sec-rum') });
      assert.equal(r.status, 202, r.text);
      assert.equal(r.headers['access-control-allow-origin'], origin);
      assert.deepEqual(r.json(), { accepted: 1 });
    }
    const evil = await raw(`${s.url}/intake/v2/rum/events`, { method: 'POST', headers: { Origin: 'https://shop.test.evil.example', 'Sec-Fetch-Site': 'cross-site' }, body: body('sec-rum') });
    assert.equal(evil.status, 403);
    assert.deepEqual(evil.json(), { error: "forbidden request: origin: 'https://shop.test.evil.example' is not allowed" });
    const api = await raw(`${s.url}/api/stats`, { headers: { Origin: 'https://www.shop.test', 'Sec-Fetch-Site': 'cross-site' } });
    assert.equal(api.status, 403);
    assert.equal(await transactions(s), 2);
  });
});

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM) && process.env.CI) throw new Error(`CI is set but Chromium is missing at ${CHROMIUM}`);

test('in Chromium: a page on another port posts events no-cors and reads the API; nothing gets in or out', { timeout: 120_000, skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}` }, async (t) => {
  const s = await serveChild();
  t.after(() => s.stop());
  const evil = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><title>evil</title><p>hello</p>');
  });
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => evil.close(() => r())));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`http://localhost:${(evil.address() as AddressInfo).port}/`);
  const outcome = await page.evaluate(
    async ({ url, ndjson }) => {
      // the attack of the issue: an opaque no-cors POST with a Blob body (no Content-Type)
      await fetch(`${url}/intake/v2/events`, { method: 'POST', mode: 'no-cors', body: new Blob([ndjson]) });
      let read = 'blocked';
      try {
        read = await (await fetch(`${url}/api/stats`)).text();
      } catch {
        // CORS: not readable
      }
      return read;
    },
    { url: s.url, ndjson: body('sec-origin-chromium') },
  );
  assert.equal(outcome, 'blocked');
  assert.equal(await transactions(s), 0);
  // The receiver's own UI in the same browser works: its requests are same-origin.
  await page.goto(`${s.url}/ui/`);
  await page.waitForSelector('main[data-rendered]');
});

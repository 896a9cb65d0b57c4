// Issue 12, item 4: with a secret token or API key, the UI and the API were open to anyone who
// could reach the port. Now /ui/ asks to sign in (a form taking the token, or the one-time link
// `serve` prints), /api/* and /api/live need the session cookie or the agents' Authorization
// header, and /config/v1/agents and the intake keep APM Server's rules. The Chromium test signs in
// through the printed link and sees the UI's data.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { NDJSON } from './helpers.js';
import { raw, serveChild, waitStored, type Served } from './security-helpers.js';

const TOKEN = 's3cret-token';
const API_KEY = Buffer.from('kid:kvalue').toString('base64');
const events = [
  JSON.stringify({ metadata: { service: { name: 'sec-auth', agent: { name: 'nodejs', version: '4.0.0' } } } }),
  JSON.stringify({ transaction: { id: '7'.repeat(16), trace_id: '7'.repeat(32), name: 'GET /private', type: 'request', duration: 3, timestamp: Date.now() * 1000, span_count: { started: 0 } } }),
].join('\n');
const NO_SESSION = "authentication failed: this receiver has a secret token or API key; sign in at /ui/login, or send 'Authorization: Bearer secret_token' or 'Authorization: ApiKey base64(API key ID:API key)'";

function cookieOf(r: { headers: Record<string, string | string[] | undefined> }): string {
  const c = r.headers['set-cookie'];
  assert.ok(Array.isArray(c) && c.length === 1, `Set-Cookie: ${String(c)}`);
  return c[0]!.split(';')[0]!;
}

describe('UI and API behind the token (issue 12 item 4)', { timeout: 120_000 }, () => {
  let s: Served;
  let signIn: string;
  before(async () => {
    s = await serveChild(['--secret-token', TOKEN, '--api-key', API_KEY]);
    signIn = /sign in: (http:\/\/\S+\/ui\/login\?code=\S+)/.exec(s.stdout())![1]!;
    const r = await raw(`${s.url}/intake/v2/events`, { method: 'POST', headers: { ...NDJSON, Authorization: `Bearer ${TOKEN}` }, body: events });
    assert.equal(r.status, 202, r.text);
    await waitStored(s, 1, { Authorization: `Bearer ${TOKEN}` });
  });
  after(async () => {
    await s?.stop();
  });

  test('without credentials: API and live updates 401, the UI page sends to the sign-in form', async () => {
    for (const path of ['/api/stats', '/api/services', '/api/traces/' + '7'.repeat(32), '/api/live']) {
      const r = await raw(`${s.url}${path}`);
      assert.equal(r.status, 401, `${path}: ${r.text}`);
      assert.deepEqual(r.json(), { error: NO_SESSION });
      assert.doesNotMatch(r.text, /GET \/private/);
    }
    const ui = await raw(`${s.url}/ui/`);
    assert.equal(ui.status, 303);
    assert.equal(ui.headers.location, '/ui/login');
    const form = await raw(`${s.url}/ui/login`);
    assert.equal(form.status, 200);
    assert.match(form.text, /<form method="post" action="\/ui\/login">/);
    assert.match(String(form.headers['content-security-policy']), /form-action 'self'/);
  });

  test('wrong credentials are refused with APM Server\'s messages', async () => {
    const bad = await raw(`${s.url}/api/stats`, { headers: { Authorization: 'Bearer nope' } });
    assert.deepEqual([bad.status, bad.json()], [401, { error: 'authentication failed' }]);
    const scheme = await raw(`${s.url}/api/stats`, { headers: { Authorization: 'Basic eDp5' } });
    assert.equal(scheme.status, 401);
    assert.match(scheme.json().error, /^authentication failed: unknown Authentication header Basic: /);
    const form = await raw(`${s.url}/ui/login`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'token=nope' });
    assert.equal(form.status, 401);
    assert.equal(form.headers['set-cookie'], undefined);
    assert.match(form.text, /That is not this receiver&#39;s secret token or API key\./);
    const forged = await raw(`${s.url}/api/stats`, { headers: { Cookie: `spanforge_session_${s.port}=forged` } });
    assert.equal(forged.status, 401);
  });

  test('the Authorization header of agents opens the API (scripts, tests)', async () => {
    for (const auth of [`Bearer ${TOKEN}`, `ApiKey ${API_KEY}`]) {
      const r = await raw(`${s.url}/api/stats`, { headers: { Authorization: auth } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json().transactions, 1);
    }
  });

  test('the sign-in form sets an HttpOnly SameSite=Strict session cookie that opens UI, API and live updates', async () => {
    for (const token of [TOKEN, API_KEY]) {
      const r = await raw(`${s.url}/ui/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: `http://${s.hostPort}`, 'Sec-Fetch-Site': 'same-origin' },
        body: new URLSearchParams({ token }).toString(),
      });
      assert.equal(r.status, 303, r.text);
      assert.equal(r.headers.location, '/ui/');
      assert.match(String(r.headers['set-cookie']), new RegExp(`^spanforge_session_${s.port}=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict$`));
      const cookie = cookieOf(r);
      const ui = await raw(`${s.url}/ui/`, { headers: { Cookie: cookie } });
      assert.equal(ui.status, 200);
      assert.match(ui.text, /<main id="main">/);
      const stats = await raw(`${s.url}/api/stats`, { headers: { Cookie: `other=1; ${cookie}` } });
      assert.equal(stats.json().transactions, 1);
      const live = await new Promise<number>((resolve, reject) => {
        const ac = new AbortController();
        fetch(`${s.url}/api/live`, { headers: { Cookie: cookie }, signal: ac.signal }).then((res) => {
          resolve(res.status);
          ac.abort();
        }, reject);
      });
      assert.equal(live, 200);
    }
  });

  test('the one-time link signs in once', async () => {
    const first = await raw(signIn);
    assert.equal(first.status, 303);
    assert.equal(first.headers.location, '/ui/');
    const stats = await raw(`${s.url}/api/stats`, { headers: { Cookie: cookieOf(first) } });
    assert.equal(stats.status, 200);
    const again = await raw(signIn);
    assert.equal(again.status, 401);
    assert.equal(again.headers['set-cookie'], undefined);
    assert.match(again.text, /This sign-in link was used already or has expired/);
  });

  test('a sign-in form posted from another site is refused', async () => {
    const r = await raw(`${s.url}/ui/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site' },
      body: `token=${TOKEN}`,
    });
    assert.equal(r.status, 403);
    assert.equal(r.headers['set-cookie'], undefined);
  });

  test('intake and central config keep APM Server\'s rules', async () => {
    const intake = await raw(`${s.url}/intake/v2/events`, { method: 'POST', headers: NDJSON, body: events });
    assert.equal(intake.status, 401);
    assert.match(intake.json().error, /^authentication failed: missing or improperly formatted Authorization header/);
    const config = await raw(`${s.url}/config/v1/agents?service.name=sec-auth`);
    assert.equal(config.status, 401);
    const ok = await raw(`${s.url}/config/v1/agents?service.name=sec-auth`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.deepEqual([ok.status, ok.json()], [200, {}]);
    // a UI session is not an agent credential
    const login = await raw(`${s.url}/ui/login`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `token=${TOKEN}` });
    const viaCookie = await raw(`${s.url}/intake/v2/events`, { method: 'POST', headers: { ...NDJSON, Cookie: cookieOf(login) }, body: events });
    assert.equal(viaCookie.status, 401);
  });
});

test('without a token the UI opens directly and /ui/login sends to it', { timeout: 60_000 }, async (t) => {
  const s = await serveChild();
  t.after(() => s.stop());
  assert.doesNotMatch(s.stdout(), /sign in:/);
  assert.equal((await raw(`${s.url}/ui/`)).status, 200);
  const login = await raw(`${s.url}/ui/login`);
  assert.deepEqual([login.status, login.headers.location], [303, '/ui/']);
  assert.equal((await raw(`${s.url}/api/stats`)).status, 200);
});

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM) && process.env.CI) throw new Error(`CI is set but Chromium is missing at ${CHROMIUM}`);

test('in Chromium: the printed link signs in and the UI shows the data; the form works too', { timeout: 120_000, skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}` }, async (t) => {
  const s = await serveChild(['--secret-token', TOKEN]);
  t.after(() => s.stop());
  const r = await raw(`${s.url}/intake/v2/events`, { method: 'POST', headers: { ...NDJSON, Authorization: `Bearer ${TOKEN}` }, body: events });
  assert.equal(r.status, 202);
  const link = /sign in: (http:\/\/\S+)/.exec(s.stdout())![1]!;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(link);
  assert.equal(new URL(page.url()).pathname, '/ui/');
  await page.waitForSelector('main[data-rendered]');
  assert.match(await page.locator('main').innerText(), /sec-auth/);
  await page.waitForSelector('#live.on', { timeout: 10_000 }); // /api/live connected with the cookie
  // A fresh browser context has no cookie: the UI asks to sign in; the form signs in.
  const other = await (await browser.newContext()).newPage();
  await other.goto(`${s.url}/ui/`);
  assert.equal(new URL(other.url()).pathname, '/ui/login');
  await other.fill('input[name=token]', TOKEN);
  await other.click('button[type=submit]');
  await other.waitForSelector('main[data-rendered]');
  assert.match(await other.locator('main').innerText(), /sec-auth/);
});

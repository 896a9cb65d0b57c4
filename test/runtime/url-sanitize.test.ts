// sanitize_field_names on URLs (issue 11 item 9): query parameters whose names match are redacted in
// url.raw / url.search / url.full of transactions and of the errors that carry their request, and in the
// URL of outgoing HTTP spans, whose userinfo is stripped — over a real server and a real fetch.
import assert from 'node:assert/strict';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import * as abi from '../../runtime/abi.js';
import { flush } from '../../runtime/index.js';
import { sanitizeOutgoingUrl, sanitizeQuery, compileWildcards } from '../../runtime/sanitize.js';
import { DEFAULT_SANITIZE_FIELD_NAMES } from '../../runtime/config.js';
import { assertValid, freshAgent } from './helpers.js';

const [SERVER, FETCH] = abi.sites(abi.ABI_VERSION, 'src/app.ts', [
  { rule: 'http.server', handler: 'node-http', name: null, type: 'request', line: 3, column: 1, function: '<module>' },
  { rule: 'http.request', handler: 'http', name: null, type: 'external', subtype: 'http', action: 'request', line: 5, column: 9, function: '<anonymous>' },
]);

const res = compileWildcards(DEFAULT_SANITIZE_FIELD_NAMES);

test('sanitizeQuery: matching names redacted, others kept byte for byte', () => {
  assert.equal(sanitizeQuery('?password=hunter2&page=2&api_key=k1&q=a%20b', res), '?password=[REDACTED]&page=2&api_key=[REDACTED]&q=a%20b');
  assert.equal(sanitizeQuery('?Access%5FToken=t&x', res), '?Access%5FToken=[REDACTED]&x');
  assert.equal(sanitizeQuery('?page=1', res), '?page=1');
  assert.equal(sanitizeQuery('?token', res), '?token=[REDACTED]');
  assert.equal(sanitizeOutgoingUrl('https://bob:s3cret@api.example/v1?token=abc&x=1#frag', res), 'https://api.example/v1?token=[REDACTED]&x=1#frag');
  assert.equal(sanitizeOutgoingUrl('not a url?secret=1', res), 'not a url?secret=[REDACTED]');
});

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

test('transactions, their errors and outgoing spans never carry the secrets of a query string or userinfo', { timeout: 20_000 }, async (t) => {
  const { transport } = await freshAgent();
  const downstream = createServer((req, r) => r.end(String(req.headers.authorization ?? '')));
  const downPort = await listen(downstream);
  t.after(() => new Promise((r) => downstream.close(r)));
  const server = createServer(
    abi.route(SERVER!, async (_req, r) => {
      // node:http sends the userinfo as Basic credentials: the request itself is unchanged
      const auth = await new Promise<string>((resolve, reject) => {
        const req = abi.call(FETCH!, undefined, get as never, `http://svc:pw@127.0.0.1:${downPort}/v1/items?token=abc123&limit=5`, (m: IncomingMessage) => {
          let body = '';
          m.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(body));
        }) as { on(ev: string, f: (e: Error) => void): void };
        req.on('error', reject);
      });
      const { captureError } = await import('../../runtime/index.js');
      captureError(new Error('reported with its request'));
      r.end(auth);
    }),
  );
  const port = await listen(server);
  t.after(() => new Promise((r) => server.close(r)));
  const got = await fetch(`http://127.0.0.1:${port}/login?user=ann&password=hunter2&next=%2Fhome`);
  assert.equal(await got.text(), `Basic ${Buffer.from('svc:pw').toString('base64')}`);
  await new Promise((r) => setTimeout(r, 50));
  await flush();
  // Both servers' requests are recorded (every request gets a transaction, instrumented handler or not).
  const txs = transport.of('transaction');
  assert.equal(txs.length, 2);
  const tx = txs.find((x) => x.context.request.url.pathname === '/login');
  const down = txs.find((x) => x.context.request.url.pathname === '/v1/items');
  assertValid({ transaction: tx! });
  assert.equal(down!.context.request.url.raw, '/v1/items?token=[REDACTED]&limit=5');
  assert.equal(down!.parent_id, transport.of('span')[0]!.id, 'the downstream request continues the trace');
  assert.deepEqual(
    { raw: tx!.context.request.url.raw, search: tx!.context.request.url.search, full: tx!.context.request.url.full },
    {
      raw: '/login?user=ann&password=[REDACTED]&next=%2Fhome',
      search: '?user=ann&password=[REDACTED]&next=%2Fhome',
      full: `http://127.0.0.1:${port}/login?user=ann&password=[REDACTED]&next=%2Fhome`,
    },
  );
  const [err] = transport.of('error');
  assert.equal(err!.context.request.url.full, tx!.context.request.url.full);
  assert.equal(err!.context.request.url.raw, tx!.context.request.url.raw);
  const [span] = transport.of('span');
  assertValid({ span: span! });
  assert.equal(span!.context.http.url, `http://127.0.0.1:${downPort}/v1/items?token=[REDACTED]&limit=5`);
  const all = JSON.stringify(transport.events);
  for (const secret of ['hunter2', 'abc123', 'svc:pw']) assert.ok(!all.includes(secret), `${secret} was sent`);
});

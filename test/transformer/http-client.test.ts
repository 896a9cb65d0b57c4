// Outgoing HTTP through transformed code against a real local server: traceparent/tracestate arrive,
// the user's init/options/headers objects are not mutated, user-set traceparent wins, spans carry
// status and outcome; plus source maps of emitted code pointing at the original .ts positions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, get as httpGet, type IncomingHttpHeaders, type Server } from 'node:http';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { compileFile, root } from './compile.js';
import { installRecorder } from './recorder.js';

const tmp = join(root, 'test', 'transformer', `.tmp-http-${process.pid}`);
let server: Server;
let base = '';
const seen: IncomingHttpHeaders[] = [];

before(async () => {
  mkdirSync(tmp, { recursive: true });
  server = createServer((req, res) => {
    seen.push(req.headers);
    res.statusCode = req.url === '/missing' ? 404 : 200;
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
});

const source = `import http from 'node:http';
import https from 'node:https';
import { Writable } from 'node:stream';
import { request, stream, fetch as undiciFetch } from 'undici';

export async function viaFetch(url: string, init: RequestInit) {
  const res = await fetch(url, init);
  return res.status;
}
export async function viaUndici(url: string, opts: { headers: Record<string, string> }) {
  const { statusCode, body } = await request(url, opts);
  await body.text();
  return statusCode;
}
export function viaHttp(url: string, opts: http.RequestOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, opts, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}
export async function viaUndiciFetch(url: string, init: { headers: Record<string, string> }) {
  const res = await undiciFetch(url, init);
  await res.text();
  return res.status;
}
export async function viaStream(url: string, opts: { method: 'GET'; headers: Record<string, string> }) {
  let status = 0;
  const chunks: Buffer[] = [];
  await stream(url, opts, ({ statusCode }) => {
    status = statusCode;
    return new Writable({ write(c: Buffer, _e, cb) { chunks.push(c); cb(); } });
  });
  return [status, Buffer.concat(chunks).toString()] as const;
}
export function viaHttps(url: string, opts: https.RequestOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, opts, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}
/** A plain http server whose handler is registered with server.on('request'); it calls upstream. */
export function serve(upstream: string): http.Server {
  const server = http.createServer();
  server.on('request', async (req, res) => {
    const r = await fetch(upstream + req.url);
    res.statusCode = r.status === 404 ? 502 : 200;
    res.end('served ' + r.status);
  });
  return server;
}
`;

function load(): any {
  const file = join(tmp, 'client.ts');
  writeFileSync(file, source);
  const r = compileFile(file, { runtimeModule: join(root, 'runtime', 'abi.ts') });
  assert.deepEqual(r.diagnostics, []);
  // Not client.js: tsx would load the client.ts sibling for it.
  writeFileSync(join(tmp, 'client-emitted.js'), r.js);
  return require(join(tmp, 'client-emitted.js'));
}

test('fetch, undici.request and http.request: headers injected into copies, spans recorded', async () => {
  const m = load();
  const rec = installRecorder();
  try {
    const tx = rec.core.startTransaction('t', 'request');
    const headers = { 'x-user': 'u1' };
    const init = { headers };
    const opts = { headers: { 'x-user': 'u2' } };
    const hopts = { method: 'GET', headers: { 'x-user': 'u3' } };
    await rec.core.runWith(tx, async () => {
      assert.equal(await m.viaFetch(`${base}/a`, init), 200);
      assert.equal(await m.viaUndici(`${base}/b`, opts), 200);
      assert.equal(await m.viaHttp(`${base}/c`, hopts), 200);
      assert.equal(await m.viaFetch(`${base}/missing`, { headers: { traceparent: '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01' } }), 404);
    }, undefined, []);
    // the user's objects are untouched
    assert.deepEqual(init, { headers: { 'x-user': 'u1' } });
    assert.equal(init.headers, headers);
    assert.deepEqual(opts, { headers: { 'x-user': 'u2' } });
    assert.deepEqual(hopts, { method: 'GET', headers: { 'x-user': 'u3' } });
    const spans = rec.records.filter((r) => r.kind === 'span');
    const host = base.slice('http://'.length);
    assert.deepEqual(spans.map((s) => [s.name, s.type, s.subtype, s.action, s.parent, s.outcome, s.ended, (s.http as { statusCode?: number }).statusCode]), [
      [`GET ${host}`, 'external', 'http', 'request', tx.id, 'success', 1, 200],
      [`GET ${host}`, 'external', 'http', 'request', tx.id, 'success', 1, 200],
      [`GET ${host}`, 'external', 'http', 'request', tx.id, 'success', 1, 200],
      [`GET ${host}`, 'external', 'http', 'request', tx.id, 'failure', 1, 404],
    ]);
    // what the server received: the user's header plus the span's traceparent; a user traceparent wins
    assert.deepEqual(seen.map((h) => [h['x-user'], h.traceparent]), [
      ['u1', `00-${'t'.repeat(32)}-${spans[0]!.id.padStart(16, '0')}-01`],
      ['u2', `00-${'t'.repeat(32)}-${spans[1]!.id.padStart(16, '0')}-01`],
      ['u3', `00-${'t'.repeat(32)}-${spans[2]!.id.padStart(16, '0')}-01`],
      [undefined, '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01'],
    ]);
  } finally {
    rec.uninstall();
  }
});

test('undici fetch and stream, https.request: spans recorded, traceparent sent, options not mutated', async () => {
  const { createServer: createHttpsServer } = await import('node:https');
  const fixtures = join(root, 'test', 'transport', 'fixtures');
  const cert = readFileSync(join(fixtures, 'server-cert.pem'));
  const key = readFileSync(join(fixtures, 'server-key.pem'));
  const httpsSeen: IncomingHttpHeaders[] = [];
  const secure = createHttpsServer({ cert, key }, (req, res) => {
    httpsSeen.push(req.headers);
    res.statusCode = req.url === '/fail' ? 503 : 200;
    res.end('secure');
  });
  secure.listen(0, '127.0.0.1');
  await once(secure, 'listening');
  const secureBase = `https://127.0.0.1:${(secure.address() as AddressInfo).port}`;
  const m = load();
  const rec = installRecorder();
  seen.length = 0;
  try {
    const tx = rec.core.startTransaction('t', 'request');
    const init = { headers: { 'x-user': 'f1' } };
    const sopts = { method: 'GET' as const, headers: { 'x-user': 's1' } };
    const hopts = { ca: cert, headers: { 'x-user': 'h1' } };
    await rec.core.runWith(tx, async () => {
      assert.equal(await m.viaUndiciFetch(`${base}/uf`, init), 200);
      assert.deepEqual(await m.viaStream(`${base}/st`, sopts), [200, 'ok']);
      assert.equal(await m.viaHttps(`${secureBase}/s`, hopts), 200);
      assert.equal(await m.viaHttps(`${secureBase}/fail`, { ca: cert }), 503);
    }, undefined, []);
    assert.deepEqual(init, { headers: { 'x-user': 'f1' } });
    assert.deepEqual(sopts, { method: 'GET', headers: { 'x-user': 's1' } });
    assert.deepEqual(Object.keys(hopts), ['ca', 'headers']);
    assert.deepEqual(hopts.headers, { 'x-user': 'h1' });
    const spans = rec.records.filter((r) => r.kind === 'span');
    const host = base.slice('http://'.length);
    const secureHost = secureBase.slice('https://'.length);
    assert.deepEqual(spans.map((s) => [s.name, s.type, s.subtype, s.action, s.parent, s.outcome, s.ended, (s.http as { statusCode?: number } | undefined)?.statusCode]), [
      [`GET ${host}`, 'external', 'http', 'request', tx.id, 'success', 1, 200],
      [`GET ${host}`, 'external', 'http', 'request', tx.id, 'success', 1, 200],
      [`GET ${secureHost}`, 'external', 'http', 'request', tx.id, 'success', 1, 200],
      [`GET ${secureHost}`, 'external', 'http', 'request', tx.id, 'failure', 1, 503],
    ]);
    assert.equal((spans[1]!.http as { url?: string }).url, `${base}/st`);
    assert.equal((spans[2]!.http as { url?: string }).url, `${secureBase}/s`);
    const tp = (i: number) => `00-${'t'.repeat(32)}-${spans[i]!.id.padStart(16, '0')}-01`;
    assert.deepEqual(seen.map((h) => [h['x-user'], h.traceparent]), [['f1', tp(0)], ['s1', tp(1)]]);
    assert.deepEqual(httpsSeen.map((h) => [h['x-user'], h.traceparent]), [['h1', tp(2)], [undefined, tp(3)]]);
  } finally {
    rec.uninstall();
    secure.close();
  }
});

// stream() resolves with { opaque, trailers }, not the response: the status reaches the span through the
// factory ({ statusCode, headers, opaque }), which runtime/abi.ts wraps.
test('undici stream: the span carries the response status, a 404 fails it', async () => {
  const m = load();
  const rec = installRecorder();
  try {
    const tx = rec.core.startTransaction('t', 'request');
    await rec.core.runWith(tx, async () => {
      assert.deepEqual(await m.viaStream(`${base}/st`, { method: 'GET', headers: {} }), [200, 'ok']);
      assert.deepEqual(await m.viaStream(`${base}/missing`, { method: 'GET', headers: {} }), [404, 'ok']);
    }, undefined, []);
    const spans = rec.records.filter((r) => r.kind === 'span');
    assert.deepEqual(spans.map((s) => [s.outcome, (s.http as { statusCode?: number } | undefined)?.statusCode]), [
      ['success', 200],
      ['failure', 404],
    ]);
  } finally {
    rec.uninstall();
  }
});

test("server.on('request', handler): one transaction per request, outgoing calls inside it are its children", async () => {
  const m = load();
  const rec = installRecorder();
  seen.length = 0;
  const server = m.serve(base) as Server;
  try {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const get = (path: string) =>
      new Promise<[number, string]>((resolve, reject) => {
        const req = httpGet(`http://127.0.0.1:${port}${path}`, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve([res.statusCode!, body]));
        });
        req.on('error', reject);
      });
    assert.deepEqual(await get('/a'), [200, 'served 200']);
    assert.deepEqual(await get('/missing'), [502, 'served 404']);
    // the transaction ends on the response's 'finish', which may come after the client saw the end
    // (the upstream server's own requests get their transactions too: every request is recorded; only
    // the ones whose handler made the outgoing calls are compared here)
    for (let i = 0; i < 50 && rec.records.filter((r) => r.kind === 'transaction' && r.ended).length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    const withCalls = new Set(rec.records.filter((r) => r.kind === 'span').map((s) => s.parent));
    const txs = rec.records.filter((r) => r.kind === 'transaction' && withCalls.has(r.id));
    assert.deepEqual(txs.map((t) => [t.name, t.type, t.result, t.outcome, t.ended]), [
      ['GET unknown route', 'request', 'HTTP 2xx', 'success', 1],
      ['GET unknown route', 'request', 'HTTP 5xx', 'failure', 1],
    ]);
    const spans = rec.records.filter((r) => r.kind === 'span');
    assert.deepEqual(spans.map((s) => [s.type, s.parent, s.outcome]), [
      ['external', txs[0]!.id, 'success'],
      ['external', txs[1]!.id, 'failure'],
    ]);
    assert.deepEqual(seen.map((h) => h.traceparent), [`00-${'t'.repeat(32)}-${spans[0]!.id.padStart(16, '0')}-01`, `00-${'t'.repeat(32)}-${spans[1]!.id.padStart(16, '0')}-01`]);
  } finally {
    rec.uninstall();
    server.close();
  }
});

test('source map: each emitted call maps back to the original call position', () => {
  const file = join(root, 'integrations', 'pg', 'fixtures', 'pg-query', 'input.ts');
  const r = compileFile(file, {}, { sourceMap: true });
  const map = new SourceMap(JSON.parse(r.map!));
  const lines = r.js.split('\n');
  const expected: Array<[string, number]> = [
    ["__spanforge.call(__spanforge_sites[0]", 6],
    ["__spanforge.call(__spanforge_sites[1]", 11],
    ["__spanforge.call(__spanforge_sites[6]", 29],
  ];
  for (const [needle, line] of expected) {
    const genLine = lines.findIndex((l) => l.includes(needle));
    assert.ok(genLine >= 0, needle);
    const entry = map.findEntry(genLine, lines[genLine]!.indexOf(needle)) as { originalLine: number; originalSource: string };
    assert.equal(entry.originalLine + 1, line, needle);
    assert.match(entry.originalSource, /input\.ts$/);
  }
});

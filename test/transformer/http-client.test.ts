// Outgoing HTTP through transformed code against a real local server: traceparent/tracestate arrive,
// the user's init/options/headers objects are not mutated, user-set traceparent wins, spans carry
// status and outcome; plus source maps of emitted code pointing at the original .ts positions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { once } from 'node:events';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
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
import { request } from 'undici';

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

test('source map: each emitted call maps back to the original call position', () => {
  const file = join(root, 'fixtures', 'transform', 'pg-query', 'input.ts');
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

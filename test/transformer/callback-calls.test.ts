// Callback forms of instrumented calls, run for real: pg `query(sql, cb)` against the PostgreSQL on
// :5432 and undici `request(url, opts, cb)` against a local server. The span must stay open until the
// callback runs (pg and undici return at once), take the row count / status from the callback's
// value, fail on the callback's error, and run the user's callback inside the caller's context.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pgClient } from './_apps.js';
import { compileFile, root } from './compile.js';
import { installRecorder } from './recorder.js';

const tmp = join(root, 'test', 'transformer', `.tmp-cb-${process.pid}`);
let server: Server;
let base = '';
before(async () => {
  mkdirSync(tmp, { recursive: true });
  server = createServer((req, res) => {
    res.statusCode = req.url === '/missing' ? 404 : 200;
    res.end('ok');
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
});

const source = `import pg from 'pg';
import { request } from 'undici';

// undici's types declare only the promise form; its callback form (request(url, opts, cb)) exists at
// run time. Declared here the way a user would, by augmenting the module.
declare module 'undici' {
  export function request(url: string, opts: { method: string }, cb: (err: Error | null, data: { statusCode: number; body: { resume(): void } }) => void): void;
}

export function pgCallback(client: pg.Client, sql: string, seen: (open: boolean) => void, cb: (err: Error | null, rows?: number | null) => void): unknown {
  const r = client.query(sql, (err: Error | null, res: pg.QueryResult) => cb(err, res ? res.rowCount : undefined));
  seen(true);
  return r;
}
export function undiciCallback(url: string, cb: (err: Error | null, status?: number) => void): unknown {
  return request(url, { method: 'GET' }, (err: Error | null, data: { statusCode: number; body: { resume(): void } }) => {
    if (data) data.body.resume();
    cb(err, data ? data.statusCode : undefined);
  });
}
`;

function load(): any {
  const file = join(tmp, 'cb.ts');
  writeFileSync(file, source);
  const r = compileFile(file, { runtimeModule: join(root, 'runtime', 'abi.ts') });
  assert.deepEqual(r.diagnostics, []);
  assert.match(r.js, /__spanforge\.call\(__spanforge_sites\[0\], client, client\.query, sql, /);
  writeFileSync(join(tmp, 'cb-emitted.js'), r.js);
  return require(join(tmp, 'cb-emitted.js'));
}

test('pg query(sql, callback): the span ends in the callback, with rows and outcome from it', async (t) => {
  const client = await pgClient();
  if (typeof client === 'string') return t.skip(client);
  const rec = installRecorder();
  try {
    const m = load();
    const tx = rec.core.startTransaction('t', 'request');
    const results = await rec.core.runWith(tx, () => {
      const one = new Promise<{ err: Error | null; rows?: number | null; inContext: boolean; openAtReturn: boolean }>((resolve) => {
        let openAtReturn = false;
        const ret = m.pgCallback(client, 'SELECT g FROM generate_series(1, 3) AS g', () => {
          openAtReturn = rec.records.filter((r) => r.kind === 'span').every((s) => s.ended === 0);
        }, (err: Error | null, rows?: number | null) => resolve({ err, rows, inContext: rec.core.current() === tx, openAtReturn }));
        assert.equal(ret, undefined, 'the callback form returns what pg returns');
      });
      return one.then(async (first) => {
        const second = await new Promise<{ err: Error | null }>((resolve) =>
          m.pgCallback(client, 'SELECT * FROM spanforge_no_such_table', () => {}, (err: Error | null) => resolve({ err })),
        );
        return [first, second] as const;
      });
    }, undefined, []);
    const [first, second] = results;
    assert.equal(first.err, null);
    assert.equal(first.rows, 3);
    assert.equal(first.openAtReturn, true, 'the span was still open when query() returned');
    assert.equal(first.inContext, true, "the user's callback runs in the caller's context");
    assert.match(String(second.err?.message), /relation "spanforge_no_such_table" does not exist/);
    const spans = rec.records.filter((r) => r.kind === 'span');
    assert.deepEqual(spans.map((s) => [s.name, s.subtype, s.outcome, s.ended, s.db?.rowsAffected]), [
      ['SELECT generate_series', 'postgresql', 'success', 1, 3],
      ['SELECT spanforge_no_such_table', 'postgresql', 'failure', 1, undefined],
    ]);
  } finally {
    rec.uninstall();
    await client.end();
  }
});

test('undici request(url, opts, callback): the span ends in the callback with its status', async () => {
  const rec = installRecorder();
  try {
    const m = load();
    const tx = rec.core.startTransaction('t', 'request');
    const statuses = await rec.core.runWith(tx, async () => {
      const out: (number | undefined)[] = [];
      for (const path of ['/ok', '/missing']) {
        out.push(
          await new Promise<number | undefined>((resolve, reject) => {
            m.undiciCallback(base + path, (err: Error | null, status?: number) => (err ? reject(err) : resolve(status)));
            // request() returned; the exchange has not finished
            assert.equal(rec.records.filter((r) => r.kind === 'span').at(-1)!.ended, 0);
          }),
        );
      }
      return out;
    }, undefined, []);
    assert.deepEqual(statuses, [200, 404]);
    const spans = rec.records.filter((r) => r.kind === 'span');
    assert.deepEqual(spans.map((s) => [s.subtype, s.outcome, s.ended, (s.http as { statusCode?: number }).statusCode]), [
      ['http', 'success', 1, 200],
      ['http', 'failure', 1, 404],
    ]);
  } finally {
    rec.uninstall();
  }
});

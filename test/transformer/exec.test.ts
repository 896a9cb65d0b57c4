// Runs transformed fixtures against an in-memory ABI core: return values, `this`, `super`, thrown
// values and sync/async shape are unchanged, and the expected spans are recorded with their sites.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { caseDir, compileFile, readOptions, root } from './compile.js';
import { installRecorder } from './recorder.js';

const tmp = join(root, 'test', 'transformer', `.tmp-exec-${process.pid}`);
mkdirSync(tmp, { recursive: true });
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Compiles fixtures/transform/<name>/input.ts and loads it, the ABI resolved to runtime/abi.ts. */
function load(name: string): any {
  const dir = caseDir(name);
  const { plugin, compiler } = readOptions(dir);
  const r = compileFile(join(dir, 'input.ts'), { ...plugin, runtimeModule: join(root, 'runtime', 'abi.ts') }, compiler);
  const js = r.js.replace(/require\("spanforge"\)/g, `require(${JSON.stringify(join(root, 'runtime', 'index.ts'))})`);
  const file = join(tmp, `${name}.js`);
  writeFileSync(file, js);
  return require(file);
}

for (const variant of ['traced-decorator-legacy', 'traced-decorator-standard']) {
  test(`${variant}: bodies keep this/arguments/super/return/throw and record spans`, async () => {
    const m = load(variant);
    const rec = installRecorder();
    try {
      const tx = rec.core.startTransaction('t', 'request');
      const o = new m.Orders();
      await rec.core.runWith(tx, async () => {
        assert.equal(o.total(3), 7); // 3 * rate(2) + arguments.length(1)
        assert.equal(await o.place('ann'), 'hi ann');
        assert.ok(m.Orders.make() instanceof m.Orders);
        const boom = { reason: 'x' };
        assert.throws(() => o.fail(boom), (e: unknown) => e === boom);
        assert.deepEqual([...o.items()], [1]);
      }, undefined, []);
      const spans = rec.records.filter((r) => r.kind === 'span').map((r) => [r.name, r.type, r.parent, r.outcome, r.ended]);
      assert.deepEqual(spans, [
        ['Orders.total', 'app', tx.id, 'success', 1],
        ['place order', 'business', tx.id, 'success', 1],
        ['Orders.make', 'app', tx.id, 'success', 1],
        ['Orders.fail', 'app', tx.id, 'failure', 1],
      ]);
      // an error that failed a span is reported once the next turn shows it did not escape a route handler
      await new Promise((r) => setImmediate(r));
      assert.equal(rec.errors.length, 1);
      assert.equal((rec.errors[0]!.err as { reason: string }).reason, 'x');
      const loc = rec.records.find((r) => r.name === 'Orders.total')!.loc as { file: string; line: number; function: string };
      assert.deepEqual(loc, { file: `fixtures/transform/${variant}/input.ts`, line: 17, column: 3, function: 'Orders.total' });
      // outside any transaction: a background transaction
      assert.equal(o.total(1), 3);
      const bg = rec.records.at(-1)!;
      assert.deepEqual([bg.kind, bg.name, bg.type, bg.result], ['transaction', 'Orders.total', 'background', 'success']);
    } finally {
      rec.uninstall();
    }
  });
}

test('traced(fn): same length, name, results; named spans', async () => {
  const m = load('traced-fn');
  const rec = installRecorder();
  try {
    assert.equal(m.named.length, 2);
    assert.equal(m.named.name, 'compute');
    assert.equal(m.loadUser.length, 1);
    const tx = rec.core.startTransaction('t', 'request');
    await rec.core.runWith(tx, async () => {
      assert.equal(m.named(1, 2), 3);
      assert.deepEqual(await m.loadUser('u'), { id: 'u' });
      assert.equal(m.wrappedHelper(), 1);
    }, undefined, []);
    assert.deepEqual(rec.records.filter((r) => r.kind === 'span').map((r) => [r.name, r.type]), [
      ['compute sum', 'calc'],
      ['loadUser', 'app'],
      ['helper', 'app'],
    ]);
  } finally {
    rec.uninstall();
  }
});

test('inactive agent: instrumented code behaves and records nothing', async () => {
  const m = load('traced-fn');
  const rec = installRecorder({ active: false });
  try {
    assert.equal(m.named(2, 2), 4);
    assert.deepEqual(await m.loadUser('v'), { id: 'v' });
    assert.deepEqual(rec.records, []);
  } finally {
    rec.uninstall();
  }
});

test('user rule: OrderService.place becomes an app span with the declared subtype', () => {
  const m = load('options-user-rules');
  const rec = installRecorder();
  try {
    const tx = rec.core.startTransaction('t', 'request');
    const svc = new m.OrderService();
    rec.core.runWith(tx, () => {
      assert.equal(m.placeVia(svc, 'b'), 'placed b');
      assert.equal(svc.cancel('a'), 'a'); // not a declared rule: no span
    }, undefined, []);
    assert.deepEqual(rec.records.filter((r) => r.kind === 'span').map((r) => [r.name, r.type, r.subtype, r.parent, r.outcome]), [
      ['OrderService.place', 'app', 'orders', tx.id, 'success'],
    ]);
    assert.equal(m.placed, 'placed o-1'); // the module-level call ran outside any transaction
  } finally {
    rec.uninstall();
  }
});

// ---------------------------------------------------------------------------------------------
// Error paths with an active core: every failing instrumented call is reported once, marks its span
// outcome failure, and the caller gets exactly the thrown/rejected value (same identity).

const errorSource = `import { Pool, Client } from 'pg';
import { traced, Traced } from 'spanforge';

export function poolQuery(pool: Pool) {
  return pool.query('SELECT 1');
}
export function clientNull(client: Client) {
  return client.query(null as unknown as string);
}
export function poolCallback(pool: Pool, done: (err: Error | null) => void) {
  pool.query('SELECT 2', (err) => done(err));
}
export function get(url: string) {
  return fetch(url);
}
export const syncThrow = traced(function syncThrow(v: unknown): never {
  throw v;
});
export const asyncReject = traced(async function asyncReject(v: unknown): Promise<never> {
  throw v;
});
export const outer = traced(async function outer(pool: Pool) {
  return await pool.query('SELECT 3');
});
export class Svc {
  @Traced()
  async fail(v: unknown): Promise<never> {
    await null;
    throw v;
  }
  @Traced()
  failNow(v: unknown): never {
    throw v;
  }
}
`;

function loadSource(name: string, source: string): any {
  const file = join(tmp, `${name}.ts`);
  writeFileSync(file, source);
  const r = compileFile(file, { runtimeModule: join(root, 'runtime', 'abi.ts') });
  assert.deepEqual(r.diagnostics, []);
  const js = r.js.replace(/require\("spanforge"\)/g, `require(${JSON.stringify(join(root, 'runtime', 'index.ts'))})`);
  // Not <name>.js: tsx would load the .ts sibling for it.
  const out = join(tmp, `${name}-emitted.js`);
  writeFileSync(out, js);
  return require(out);
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('error paths: pg, fetch, traced() and @Traced() failures are reported once, fail the span, and rethrow the same value', async () => {
  const m = loadSource('errors', errorSource);
  const { Pool, Client } = require('pg') as typeof import('pg');
  const port = await closedPort();
  const pool = new Pool({ host: '127.0.0.1', port, database: 'test', user: 'u', connectionTimeoutMillis: 2000 });
  const rec = installRecorder();
  try {
    const tx = rec.core.startTransaction('t', 'request');
    const caught: Record<string, unknown> = {};
    await rec.core.runWith(tx, async () => {
      // pg, promise form: a refused connection rejects; the caller sees the very error pg rejected with
      const p = m.poolQuery(pool);
      assert.ok(p instanceof Promise);
      caught.pgReject = await p.then(() => assert.fail('resolved'), (e: unknown) => e);
      assert.equal((caught.pgReject as { code?: string }).code, 'ECONNREFUSED');
      // pg, synchronous throw (Client.query(null) throws a TypeError before any I/O)
      const client = new Client({ host: '127.0.0.1', port });
      assert.throws(() => m.clientNull(client), (e: unknown) => {
        caught.pgSync = e;
        return e instanceof TypeError;
      });
      // pg, callback form: the callback gets the error; the span fails with it
      caught.pgCallback = await new Promise((resolve) => m.poolCallback(pool, resolve));
      assert.equal((caught.pgCallback as { code?: string }).code, 'ECONNREFUSED');
      // fetch to a closed port rejects with TypeError('fetch failed')
      caught.fetch = await m.get(`http://127.0.0.1:${port}/x`).then(() => assert.fail('resolved'), (e: unknown) => e);
      assert.ok(caught.fetch instanceof TypeError);
      // traced(): synchronous throw and rejection, with non-Error values too
      const boom = { boom: 1 };
      assert.throws(() => m.syncThrow(boom), (e: unknown) => e === boom);
      const nope = new Error('nope');
      await assert.rejects(m.asyncReject(nope), (e: unknown) => e === nope);
      // a failing pg query inside a traced function: both spans fail, the error is reported once
      caught.nested = await m.outer(pool).then(() => assert.fail('resolved'), (e: unknown) => e);
      // @Traced(): async rejection and synchronous throw
      const svc = new m.Svc();
      const r1 = new RangeError('r1');
      await assert.rejects(svc.fail(r1), (e: unknown) => e === r1);
      const r2 = new RangeError('r2');
      assert.throws(() => svc.failNow(r2), (e: unknown) => e === r2);
      caught.boom = boom;
      caught.nope = nope;
      caught.r1 = r1;
      caught.r2 = r2;
    }, undefined, []);

    const spans = rec.records.filter((r) => r.kind === 'span').map((r) => [r.name, r.type, r.outcome, r.ended]);
    assert.deepEqual(spans, [
      ['SELECT', 'db', 'failure', 1],
      ['SQL', 'db', 'failure', 1],
      ['SELECT', 'db', 'failure', 1],
      [`GET 127.0.0.1:${port}`, 'external', 'failure', 1],
      ['syncThrow', 'app', 'failure', 1],
      ['asyncReject', 'app', 'failure', 1],
      ['outer', 'app', 'failure', 1],
      ['SELECT', 'db', 'failure', 1],
      ['Svc.fail', 'app', 'failure', 1],
      ['Svc.failNow', 'app', 'failure', 1],
    ]);
    // the nested pg span is a child of the traced one
    const outerSpan = rec.records.find((r) => r.name === 'outer')!;
    assert.equal(rec.records.filter((r) => r.kind === 'span')[7]!.parent, outerSpan.id);
    // each error reported exactly once (the nested one too, though it went through two spans), the
    // very object the caller got
    await new Promise((r) => setImmediate(r)); // errors failing a span are reported on the next turn (handled unless they escape)
    const reported = rec.errors.map((e) => e.err);
    const expected = [caught.pgReject, caught.pgSync, caught.pgCallback, caught.fetch, caught.boom, caught.nope, caught.nested, caught.r1, caught.r2];
    assert.equal(reported.length, expected.length, `reported: ${reported.map(String).join(' | ')}`);
    expected.forEach((e, i) => assert.ok(reported[i] === e, `error ${i} reported as the same object`));
    assert.ok(rec.errors.every((e) => e.handled));
  } finally {
    rec.uninstall();
    await pool.end();
  }
});

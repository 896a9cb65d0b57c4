// Runs transformed fixtures against an in-memory ABI core: return values, `this`, `super`, thrown
// values and sync/async shape are unchanged, and the expected spans are recorded with their sites.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compileFile, readOptions, root } from './compile.js';
import { installRecorder } from './recorder.js';

const tmp = join(root, 'test', 'transformer', `.tmp-exec-${process.pid}`);
mkdirSync(tmp, { recursive: true });
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Compiles fixtures/transform/<name>/input.ts and loads it, the ABI resolved to runtime/abi.ts. */
function load(name: string): any {
  const dir = join(root, 'fixtures', 'transform', name);
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

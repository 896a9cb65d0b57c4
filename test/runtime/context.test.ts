// Tests context propagation: the current span/transaction follows await, promises, timers and EventEmitters; siblings stay apart.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { freshAgent, sleep } from './helpers.js';
import { currentSpan, currentTransaction, startSpan, startTransaction, traced } from '../../runtime/index.js';
import { withSpan } from '../../runtime/internal.js';
import { storage } from '../../runtime/context.js';

beforeEach(async () => {
  await freshAgent();
});

test('startTransaction makes the transaction current for the caller and what it schedules', async () => {
  await storage.run(undefined as never, async () => {
    assert.equal(currentTransaction(), undefined);
    const tx = startTransaction('t', 'request');
    assert.equal(currentTransaction(), tx);
    await sleep(1);
    assert.equal(currentTransaction(), tx);
    tx.end();
    assert.equal(currentTransaction(), undefined, 'an ended transaction is no longer current');
  });
});

test('follows await, promise callbacks, timers, setImmediate and nextTick', async () => {
  await storage.run(undefined as never, async () => {
    const tx = startTransaction('t');
    const span = startSpan('s');
    await withSpan(span, async () => {
      assert.equal(currentSpan(), span);
      await null;
      assert.equal(currentSpan(), span);
      await new Promise<void>((r) => setTimeout(() => { assert.equal(currentSpan(), span); r(); }, 1));
      await new Promise<void>((r) => setImmediate(() => { assert.equal(currentSpan(), span); r(); }));
      await new Promise<void>((r) => process.nextTick(() => { assert.equal(currentSpan(), span); r(); }));
      await Promise.resolve().then(() => assert.equal(currentSpan(), span));
      const iv = await new Promise<unknown>((r) => { const h = setInterval(() => { clearInterval(h); r(currentSpan()); }, 1); });
      assert.equal(iv, span);
    });
    assert.equal(currentSpan(), undefined, 'context restored after withSpan');
    assert.equal(currentTransaction(), tx);
    span.end();
    tx.end();
  });
});

test('EventEmitter listeners run in the context of emit()', async () => {
  await storage.run(undefined as never, async () => {
    const tx = startTransaction('t');
    const span = startSpan('s');
    const ee = new EventEmitter();
    let seen: unknown = 'unset';
    ee.on('x', () => { seen = currentSpan(); });
    withSpan(span, () => ee.emit('x'));
    assert.equal(seen, span);
    ee.emit('x');
    assert.equal(seen, undefined);
    const p = once(ee, 'y');
    setTimeout(() => withSpan(span, () => ee.emit('y')), 1);
    await p;
    span.end();
    tx.end();
  });
});

test('sibling async tasks do not see each other\'s spans', async () => {
  await storage.run(undefined as never, async () => {
    const tx = startTransaction('t');
    const seen: string[] = [];
    const work = traced(async function child(label: string, ms: number) {
      await sleep(ms);
      seen.push(`${label}:${currentSpan()?.name}`);
      return label;
    });
    const r = await Promise.all([work('a', 5), work('b', 1)]);
    assert.deepEqual(r, ['a', 'b']);
    assert.deepEqual(seen, ['b:child', 'a:child']);
    assert.equal(currentSpan(), undefined);
    tx.end();
  });
});

test('two concurrent transactions stay separate', async () => {
  const results = await Promise.all(
    ['one', 'two'].map((name) =>
      storage.run(undefined as never, async () => {
        const tx = startTransaction(name);
        await sleep(name === 'one' ? 5 : 1);
        const cur = currentTransaction();
        tx.end();
        return cur?.name;
      }),
    ),
  );
  assert.deepEqual(results, ['one', 'two']);
});

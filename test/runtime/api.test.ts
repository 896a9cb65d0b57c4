// Tests the public API: the pinned export list, traced() and @Traced() (legacy and TC39) preserving this/return/throw/sync-vs-async.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as api from '../../runtime/index.js';
import { freshAgent, assertValid, type CapturingTransport } from './helpers.js';
import { storage } from '../../runtime/context.js';

let transport: CapturingTransport;
beforeEach(async () => {
  ({ transport } = await freshAgent());
});
const isolated = <R>(fn: () => R): R => storage.run(undefined as never, fn);

test('the exact export list of the "spanforge" entry', () => {
  assert.deepEqual(Object.keys(api).sort(), [
    'Traced',
    'addFilter',
    'addLabels',
    'captureError',
    'currentSpan',
    'currentTraceIds',
    'currentTransaction',
    'flush',
    'isStarted',
    'setCustomContext',
    'setLabel',
    'setUserContext',
    'start',
    'startSpan',
    'startTransaction',
    'traced',
  ]);
});

test('traced(): a span inside a transaction, sync value and this preserved', () => isolated(() => {
  const tx = api.startTransaction('t');
  const obj = {
    factor: 3,
    mul: api.traced(function mul(this: { factor: number }, x: number) {
      assert.equal(api.currentSpan()?.name, 'mul');
      return this.factor * x;
    }),
  };
  const r = obj.mul(7);
  assert.equal(r, 21, 'sync return value unchanged, not a promise');
  assert.equal(obj.mul.name, 'mul');
  assert.equal(obj.mul.length, 1);
  tx.end();
  const [s] = transport.of('span');
  assertValid({ span: s });
  assert.deepEqual([s!.name, s!.type, s!.outcome, s!.parent_id], ['mul', 'app', 'success', tx.id]);
}));

test('traced(): thrown errors pass through unchanged and mark the span failed', () => isolated(() => {
  const tx = api.startTransaction('t');
  const err = new Error('x');
  const f = api.traced(() => {
    throw err;
  }, 'thrower');
  assert.throws(() => f(), (e) => e === err);
  tx.end();
  assert.deepEqual(transport.of('span').map((s) => [s.name, s.outcome]), [['thrower', 'failure']]);
}));

test('traced(): async functions resolve and reject the same way; span ends when they settle', async () => {
  await isolated(async () => {
    const tx = api.startTransaction('t');
    const ok = api.traced(async (x: number) => x + 1, { name: 'ok', type: 'db', subtype: 'redis', action: 'get' });
    const bad = api.traced(async () => {
      throw new TypeError('bad');
    }, 'bad');
    const p = ok(1);
    assert.ok(p instanceof Promise);
    assert.equal(await p, 2);
    await assert.rejects(bad(), (e) => e instanceof TypeError && e.message === 'bad');
    tx.end();
  });
  assert.deepEqual(
    transport.of('span').map((s) => [s.name, s.type, s.subtype, s.action, s.outcome]),
    [['ok', 'db', 'redis', 'get', 'success'], ['bad', 'app', undefined, undefined, 'failure']],
  );
});

test('traced(): without a transaction it runs as a background transaction, scoped to the call', async () => {
  await isolated(async () => {
    const job = api.traced(async function nightlyJob() {
      const inner = api.startSpan('step');
      inner.end();
      return api.currentTransaction()?.name;
    });
    assert.equal(await job(), 'nightlyJob');
    assert.equal(api.currentTransaction(), undefined, 'nothing leaks into the caller');
  });
  const [t] = transport.of('transaction');
  assertValid({ transaction: t });
  assert.deepEqual([t!.name, t!.type, t!.outcome, t!.result, t!.span_count.started], ['nightlyJob', 'background', 'success', 'success', 1]);
});

test('traced(): non-native thenables are returned untouched and not subscribed to', () => isolated(() => {
  const tx = api.startTransaction('t');
  let thenCalls = 0;
  const thenable = { then: () => { thenCalls++; } };
  const f = api.traced(() => thenable, 'lazy');
  assert.equal(f(), thenable);
  assert.equal(thenCalls, 0);
  tx.end();
  assert.equal(transport.of('span').length, 1);
}));

test('@Traced() with legacy (experimentalDecorators) arguments', () => isolated(() => {
  class Repo {
    prefix = 'user:';
    find(id: string) {
      return this.prefix + id;
    }
  }
  const desc = Object.getOwnPropertyDescriptor(Repo.prototype, 'find')!;
  const out = api.Traced()(Repo.prototype, 'find', desc);
  Object.defineProperty(Repo.prototype, 'find', out);
  const tx = api.startTransaction('t');
  assert.equal(new Repo().find('7'), 'user:7');
  tx.end();
  assert.deepEqual(transport.of('span').map((s) => s.name), ['Repo.find']);
}));

test('@Traced() with standard (TC39) decorator arguments', async () => {
  class Svc {
    async load(n: number) {
      return n * 2;
    }
  }
  const replacement = api.Traced({ name: 'Svc.load!' })(Svc.prototype.load, { kind: 'method', name: 'load', static: false, private: false });
  Svc.prototype.load = replacement;
  const unnamed = api.Traced()(function other(this: unknown) { return 1; }, { kind: 'method', name: 'other' });
  await isolated(async () => {
    const tx = api.startTransaction('t');
    assert.equal(await new Svc().load(4), 8);
    assert.equal(unnamed.call(new Svc()), 1);
    tx.end();
  });
  assert.deepEqual(transport.of('span').map((s) => s.name), ['Svc.load!', 'Svc.other']);
});

test('setLabel/addLabels/setUserContext/setCustomContext act on the current transaction', () => isolated(() => {
  assert.equal(api.setLabel('a', 1), false);
  const tx = api.startTransaction('t');
  assert.equal(api.setLabel('a', 1), true);
  assert.equal(api.addLabels({ b: true, c: null }), true);
  assert.equal(api.setUserContext({ username: 'u' }), true);
  assert.equal(api.setCustomContext({ x: [1] }), true);
  tx.end();
  assert.deepEqual(transport.of('transaction')[0]!.context, { user: { username: 'u' }, tags: { a: 1, b: true, c: null }, custom: { x: [1] } });
}));

test('start() twice warns and keeps the first configuration; isStarted', async () => {
  assert.equal(api.isStarted(), true);
  api.start({ serviceName: 'other' });
  const { getAgent } = await import('../../runtime/agent.js');
  assert.equal(getAgent().config.serviceName, 'test-svc');
});

test('invariants hold over the spans recorded by traced() in this file', () => {
  // Runs a mixed workload and checks the integrity rules of the capture.
  isolated(() => {
    const tx = api.startTransaction('t');
    const f = api.traced((n: number): number => (n > 0 ? f(n - 1) + 1 : 0), 'rec');
    assert.equal(f(5), 5);
    tx.end();
  });
  transport.assertInvariants();
  const spans = transport.of('span');
  assert.equal(spans.length, 6);
  // Each recursion level is the child of the previous one.
  const byId = new Map(spans.map((s) => [s.id, s]));
  assert.equal(spans.filter((s) => !byId.has(s.parent_id)).length, 1, 'exactly one span hangs off the transaction');
});

test('an error thrown through nested traced() calls is reported once, linked to the innermost span', async () => {
  const err = new Error('deep');
  await isolated(async () => {
    const tx = api.startTransaction('t');
    const inner = api.traced(async () => {
      throw err;
    }, 'inner');
    const outer = api.traced(async () => inner(), 'outer');
    await assert.rejects(outer(), (e) => e === err);
    api.captureError(err); // caught and captured again by the app: still one report
    tx.end();
  });
  await api.flush();
  const errors = transport.of('error');
  assert.equal(errors.length, 1);
  const innerSpan = transport.of('span').find((s) => s.name === 'inner')!;
  assert.equal(errors[0]!.parent_id, innerSpan.id);
  assert.equal(errors[0]!.exception.handled, true);
  assert.deepEqual(transport.of('span').map((s) => [s.name, s.outcome]), [['inner', 'failure'], ['outer', 'failure']]);
});

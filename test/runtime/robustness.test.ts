// The runtime never throws into user code: garbage arguments, throwing hooks/transport, calls after end, before start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as api from '../../runtime/index.js';
import { freshAgent } from './helpers.js';
import { getAgent, resetAgentForTests } from '../../runtime/agent.js';
import { storage } from '../../runtime/context.js';
import type { IntakeEvent } from '../../runtime/types.js';

const junk: unknown[] = [undefined, null, 0, -1, NaN, '', 'x', {}, [], () => {}, Symbol('s'), 10n, new Proxy({}, { get() { throw new Error('trap'); } })];

test('before start(): every function is a safe no-op', async () => {
  await resetAgentForTests();
  assert.equal(api.isStarted(), false);
  const tx = api.startTransaction('t');
  tx.end();
  api.startSpan('s').end();
  assert.equal(api.currentTransaction(), undefined);
  assert.deepEqual(api.currentTraceIds(), {});
  api.captureError(new Error('x'));
  await api.flush(10);
  assert.equal(api.traced((a: number) => a + 1)(1), 2);
});

test('garbage arguments never throw', async () => {
  const { transport } = await freshAgent();
  await storage.run(undefined as never, async () => {
    for (const j of junk) {
      const a = j as never;
      const tx = api.startTransaction(a, a, a);
      const s = api.startSpan(a, a, a);
      // Real (recording) objects receiving junk, too.
      const realTx = api.startTransaction('real');
      const realSpan = api.startSpan('real', 'app', { exitSpan: true });
      for (const o of [tx, s, realTx, realSpan] as Record<string, (...x: unknown[]) => unknown>[]) {
        for (const m of ['setLabel', 'addLabels', 'setOutcome', 'setResult', 'setUserContext', 'setCustomContext', 'setRequestContext', 'setResponseContext', 'setDbContext', 'setHttpContext', 'setDestination', 'setCodeLocation']) {
          if (typeof o[m] === 'function') assert.doesNotThrow(() => o[m]!(a, a), `${m}(${String(typeof j)})`);
        }
      }
      assert.doesNotThrow(() => api.captureError(a, a));
      assert.doesNotThrow(() => api.setLabel(a, a));
      assert.doesNotThrow(() => api.addLabels(a));
      assert.doesNotThrow(() => api.setUserContext(a));
      assert.doesNotThrow(() => api.setCustomContext(a));
      assert.doesNotThrow(() => api.addFilter(a));
      s.end(a);
      tx.end(a);
      realSpan.end(a);
      realTx.end(a);
    }
  });
  await api.flush(1000);
  assert.ok(transport.events.length > 0);
});

test('a throwing transport and throwing hooks do not reach user code', async () => {
  await freshAgent({ breakdownMetrics: true, metricsInterval: '30s' });
  const agent = getAgent();
  agent.transport = {
    send(_e: IntakeEvent) {
      throw new Error('transport bug');
    },
    flush: () => Promise.reject(new Error('flush bug')),
    close: () => Promise.reject(new Error('close bug')),
    stats: () => ({ queued: 0, sent: 0, dropped: 0, droppedByReason: {}, requests: 0, failedRequests: 0 }),
    serverVersion: () => undefined,
  };
  agent.addHooks({
    onSpanEnd() {
      throw new Error('hook bug');
    },
    onTransactionEnd() {
      throw new Error('hook bug');
    },
  });
  storage.run(undefined as never, () => {
    const tx = api.startTransaction('t');
    const r = api.traced(() => 5, 'f')();
    assert.equal(r, 5);
    api.startSpan('s').end();
    tx.end();
  });
  await assert.doesNotReject(api.flush(100));
});

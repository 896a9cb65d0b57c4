// BullMQ against the real Redis on 127.0.0.1:6379: a module compiled with the tsc transformer, run in
// this process with a started agent. Queue.add/addBulk are send spans; each job attempt the Worker
// processes is its own messaging transaction continuing the producer's trace (carried in the job data
// under `_spanforge`, which the processor never sees); a failing attempt is an error of its transaction,
// BullMQ retries the job and the retry is a new transaction; a look-alike Worker class is left alone.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { compileTsc, withNodePath } from '../_harness.js';
import { assertValid, freshAgent, sleep } from '../../test/runtime/helpers.js';
import { resetAgentForTests } from '../../runtime/agent.js';

// SPANFORGE_BULLMQ_DIR=<node_modules> runs it against a side-by-side install (the lowest supported, compat/).
const nodePath = process.env.SPANFORGE_BULLMQ_DIR;
const tmp = join(__dirname, `.tmp-bullmq-${process.pid}`);
const prefix = `bullmq-test-${process.pid}`;
let reachable: string | undefined;

const source = `import { Queue, Worker, type Job } from 'bullmq';

const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };

export function queue(name: string) {
  return new Queue(name, { connection });
}
export function enqueue(q: Queue, name: string, data: unknown, attempts = 1) {
  return q.add(name, data, { attempts, backoff: { type: 'fixed', delay: 10 }, removeOnComplete: true, removeOnFail: true });
}
export function enqueueMany(q: Queue, items: { id: number }[]) {
  return q.addBulk(items.map((data) => ({ name: 'bulk', data })));
}
export function work(name: string, processor: (job: Job) => Promise<unknown>) {
  return new Worker(name, async (job: Job) => processor(job), { connection, autorun: true });
}

/** A look-alike Worker: never instrumented. */
class LocalWorker {
  constructor(public name: string, public fn: (x: number) => number) {}
}
export function localWorker() {
  return new LocalWorker('w', (x: number) => x + 1);
}
`;

let m: any;
before(async () => {
  mkdirSync(tmp, { recursive: true });
  const file = join(tmp, 'client.ts');
  writeFileSync(file, source);
  const r = compileTsc(file, nodePath);
  assert.deepEqual(r.diagnostics, []);
  assert.match(r.js, /return new LocalWorker\('w', \(x\) => x \+ 1\);/, 'the look-alike stays a plain construction');
  assert.match(r.js, /new bullmq_1\.Worker\(name, __spanforge\.route\(__spanforge_sites\[\d\], async \(job\) => processor\(job\)\), \{ connection, autorun: true \}\)/);
  writeFileSync(join(tmp, 'client-emitted.js'), withNodePath(r.js, nodePath));
  m = require(join(tmp, 'client-emitted.js'));
  const q = m.queue(`${prefix}-ping`);
  try {
    await Promise.race([q.waitUntilReady(), sleep(3000).then(() => Promise.reject(new Error('no answer in 3 s')))]);
  } catch (err) {
    reachable = `Redis on 127.0.0.1:6379 is unreachable: ${(err as Error).message}`;
    if (process.env.CI) throw new Error(reachable);
  } finally {
    await q.close().catch(() => {});
  }
});
after(async () => {
  await resetAgentForTests();
  rmSync(tmp, { recursive: true, force: true });
});

async function until(cond: () => boolean, what: string, ms = 10000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('Queue.add is a send span; the worker\'s transaction per job continues its trace', { timeout: 30000 }, async (t) => {
  if (reachable) return t.skip(reachable);
  const { agent, transport } = await freshAgent();
  const name = `${prefix}-orders`;
  const q = m.queue(name);
  const seen: unknown[] = [];
  const w = m.work(name, async (job: any) => {
    seen.push(job.data);
    return 'done';
  });
  t.after(async () => {
    await w.close();
    await q.obliterate({ force: true });
    await q.close();
  });
  const data = { id: 7, items: ['a'] };
  const tx = agent.startTransaction('POST /orders', 'request');
  const job = await agent.withSpan(tx, () => m.enqueue(q, 'place-order', data), undefined, []);
  tx.end();
  assert.equal(job.name, 'place-order');
  await until(() => seen.length === 1 && transport.of('transaction').length === 2, 'the job');
  // the producer's object is unchanged; the processor sees exactly it
  assert.deepEqual(data, { id: 7, items: ['a'] });
  assert.deepEqual(seen, [{ id: 7, items: ['a'] }]);
  const [span] = transport.of('span');
  assert.deepEqual([span!.name, span!.type, span!.subtype, span!.action, span!.parent_id, span!.outcome, span!.context.message, span!.context.service.target, span!.context.destination], [
    `BullMQ SEND to ${name}`, 'messaging', 'bullmq', 'send', tx.id, 'success', { queue: { name } }, { type: 'bullmq', name },
    { address: '127.0.0.1', port: 6379, service: { resource: `bullmq/${name}`, name: '', type: '' } },
  ]);
  const c = transport.of('transaction').find((x) => x.type === 'messaging')!;
  assert.deepEqual([c.name, c.trace_id, c.parent_id, c.result, c.outcome, c.context.service, c.context.message.queue, c.context.tags], [
    `BullMQ RECEIVE from ${name}`, tx.traceId, span!.id, 'success', 'success', { framework: { name: 'BullMQ' } }, { name }, { bullmq_job: 'place-order', bullmq_attempt: 1, bullmq_attempts: 1 },
  ]);
  assert.ok(c.context.message.age.ms >= 0 && c.context.message.age.ms < 10000, 'age from the job timestamp');
  for (const e of transport.events) assertValid(e as Record<string, unknown>);
  transport.assertInvariants();
});

test('a failing attempt is an error of its transaction; BullMQ retries and the retry is a new transaction', { timeout: 30000 }, async (t) => {
  if (reachable) return t.skip(reachable);
  const { agent, transport } = await freshAgent();
  const name = `${prefix}-flaky`;
  const q = m.queue(name);
  let calls = 0;
  const w = m.work(name, async () => {
    calls++;
    if (calls === 1) throw new Error('payment service down');
    return 'ok';
  });
  const failed: string[] = [];
  w.on('failed', (_job: unknown, err: Error) => failed.push(err.message));
  t.after(async () => {
    await w.close();
    await q.obliterate({ force: true });
    await q.close();
  });
  const tx = agent.startTransaction('POST /pay', 'request');
  await agent.withSpan(tx, () => m.enqueue(q, 'charge', { amount: 3 }, 2), undefined, []);
  tx.end();
  await until(() => transport.of('transaction').length === 3 && transport.of('error').length === 1, 'two attempts');
  assert.equal(calls, 2);
  const [first, second] = transport.of('transaction').filter((x) => x.type === 'messaging');
  const span = transport.of('span')[0]!;
  assert.deepEqual([first, second].map((x) => [x!.name, x!.parent_id, x!.outcome, x!.result, x!.context.tags.bullmq_attempt, x!.context.tags.bullmq_attempts]), [
    [`BullMQ RECEIVE from ${name}`, span.id, 'failure', 'failure', 1, 2],
    [`BullMQ RECEIVE from ${name}`, span.id, 'success', 'success', 2, 2],
  ]);
  const [err] = transport.of('error');
  assert.deepEqual([err!.exception.message, err!.exception.handled, err!.transaction_id, err!.trace_id], ['payment service down', false, first!.id, tx.traceId]);
  assert.deepEqual(failed, ['payment service down'], "BullMQ's own 'failed' event for the attempt, with the same error");
  for (const e of transport.events) assertValid(e as Record<string, unknown>);
});

test('addBulk is one send span; each job carries it', { timeout: 30000 }, async (t) => {
  if (reachable) return t.skip(reachable);
  const { agent, transport } = await freshAgent();
  const name = `${prefix}-bulk`;
  const q = m.queue(name);
  const seen: unknown[] = [];
  const w = m.work(name, async (job: any) => {
    seen.push(job.data);
  });
  t.after(async () => {
    await w.close();
    await q.obliterate({ force: true });
    await q.close();
  });
  const tx = agent.startTransaction('import', 'background');
  await agent.withSpan(tx, () => m.enqueueMany(q, [{ id: 1 }, { id: 2 }]), undefined, []);
  tx.end();
  await until(() => seen.length === 2 && transport.of('transaction').length === 3, 'both jobs');
  const [span] = transport.of('span');
  assert.deepEqual(seen.sort((a: any, b: any) => a.id - b.id), [{ id: 1 }, { id: 2 }]);
  assert.deepEqual(transport.of('transaction').filter((x) => x.type === 'messaging').map((x) => [x.parent_id, x.trace_id]), [[span!.id, tx.traceId], [span!.id, tx.traceId]]);
});

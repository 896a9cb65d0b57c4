// amqplib against the real RabbitMQ on 127.0.0.1:5672 (guest/guest): a module compiled with the tsc
// transformer, run in this process with a started agent, gives the exact send spans, consumer
// transactions (continuing the producer's trace from the AMQP headers), poll spans with links, errors
// of a throwing handler (and consuming goes on), for the promise and the callback API; the user's
// options and headers are never mutated; ignore_message_queues and capture_body are honoured.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { compileTsc, withNodePath } from '../_harness.js';
import { assertValid, freshAgent, sleep } from '../../test/runtime/helpers.js';
import { resetAgentForTests } from '../../runtime/agent.js';

const URL = 'amqp://guest:guest@127.0.0.1:5672';
// SPANFORGE_AMQPLIB_DIR=<node_modules> runs it against a side-by-side install (the lowest supported, compat/).
const nodePath = process.env.SPANFORGE_AMQPLIB_DIR;
const tmp = join(__dirname, `.tmp-amqplib-${process.pid}`);
const prefix = `amqplib-test-${process.pid}`;
let reachable: string | undefined;

const source = `import amqp, { type Channel, type ConsumeMessage, type Message, type Options } from 'amqplib';
import * as cbapi from 'amqplib/callback_api';

export async function open(url: string) {
  const conn = await amqp.connect(url);
  const ch = await conn.createChannel();
  return { conn, ch };
}
export function send(ch: Channel, queue: string, body: string, opts?: Options.Publish) {
  return ch.sendToQueue(queue, Buffer.from(body), opts);
}
export function publish(ch: Channel, exchange: string, key: string, body: string, opts?: Options.Publish) {
  return ch.publish(exchange, key, Buffer.from(body), opts);
}
export function listen(ch: Channel, queue: string, onMessage: (msg: ConsumeMessage) => unknown) {
  return ch.consume(queue, (msg) => {
    if (msg) return onMessage(msg);
  }, { noAck: true });
}
export function poll(ch: Channel, queue: string) {
  return ch.get(queue, { noAck: true });
}

/** The callback API: connect, one channel, send + consume + get with node-style callbacks. */
export function openCallback(url: string): Promise<{ conn: cbapi.Connection; ch: cbapi.Channel }> {
  return new Promise((resolve, reject) => {
    cbapi.connect(url, (err: Error, conn: cbapi.Connection) => {
      if (err) return reject(err);
      conn.createChannel((err2: Error, ch: cbapi.Channel) => (err2 ? reject(err2) : resolve({ conn, ch })));
    });
  });
}
export function sendCallback(ch: cbapi.Channel, queue: string, body: string) {
  return ch.sendToQueue(queue, Buffer.from(body));
}
export function listenCallback(ch: cbapi.Channel, queue: string, onMessage: (msg: Message) => unknown, ready: () => void) {
  ch.consume(queue, (msg) => {
    if (msg) onMessage(msg);
  }, { noAck: true }, () => ready());
}
export function pollCallback(ch: cbapi.Channel, queue: string): Promise<unknown> {
  return new Promise((resolve, reject) => ch.get(queue, { noAck: true }, (err, m) => (err ? reject(err) : resolve(m))));
}

/** A look-alike with the same method names: never instrumented. */
export class FakeChannel {
  sent: string[] = [];
  sendToQueue(queue: string, content: Buffer) {
    this.sent.push(queue + ':' + content.toString());
    return true;
  }
}
export function sendFake(ch: FakeChannel, queue: string) {
  return ch.sendToQueue(queue, Buffer.from('x'));
}
`;

let m: any;
before(async () => {
  mkdirSync(tmp, { recursive: true });
  const file = join(tmp, 'client.ts');
  writeFileSync(file, source);
  const r = compileTsc(file, nodePath);
  assert.deepEqual(r.diagnostics, []);
  // the look-alike stays a plain call
  assert.match(r.js, /return ch\.sendToQueue\(queue, Buffer\.from\('x'\)\);/);
  writeFileSync(join(tmp, 'client-emitted.js'), withNodePath(r.js, nodePath));
  m = require(join(tmp, 'client-emitted.js'));
  try {
    const { conn } = await m.open(URL);
    await conn.close();
  } catch (err) {
    reachable = `RabbitMQ on 127.0.0.1:5672 is unreachable: ${(err as Error).message}`;
    if (process.env.CI) throw new Error(reachable);
  }
});
after(async () => {
  await resetAgentForTests();
  rmSync(tmp, { recursive: true, force: true });
});

/** Waits until cond() holds (polling), failing after ms. */
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('sendToQueue/publish are send spans whose traceparent the consumer transactions continue', { timeout: 20000 }, async (t) => {
  if (reachable) return t.skip(reachable);
  const { agent, transport } = await freshAgent({ captureBody: 'off' });
  const { conn, ch } = await m.open(URL);
  t.after(() => conn.close());
  const q = `${prefix}-orders`;
  const ex = `${prefix}-events`;
  await ch.assertQueue(q, { exclusive: true });
  await ch.assertExchange(ex, 'direct', { autoDelete: true });
  await ch.bindQueue(q, ex, 'created');
  const got: any[] = [];
  await m.listen(ch, q, (msg: any) => {
    got.push(msg);
  });
  const headers = { 'x-user': 'u1' };
  const opts = { headers, timestamp: Math.floor(Date.now() / 1000) };
  const tx = agent.startTransaction('POST /orders', 'request');
  assert.equal(m.send(ch, q, 'one', opts), true);
  assert.equal(m.publish(ch, ex, 'created', 'two'), true);
  tx.end();
  await until(() => got.length === 2 && transport.of('transaction').length === 3, 'two deliveries');
  // the user's objects are untouched
  assert.deepEqual(opts, { headers: { 'x-user': 'u1' }, timestamp: opts.timestamp });
  assert.equal(opts.headers, headers);
  const spans = transport.of('span');
  const [s1, s2] = spans;
  assert.deepEqual(spans.map((s) => [s.name, s.type, s.subtype, s.action, s.parent_id, s.outcome, s.context.message, s.context.service.target, s.context.destination]), [
    [`RabbitMQ SEND to ${q}`, 'messaging', 'rabbitmq', 'send', tx.id, 'success', { queue: { name: q } }, { type: 'rabbitmq', name: q },
      { address: '127.0.0.1', port: 5672, service: { resource: `rabbitmq/${q}`, name: '', type: '' } }],
    [`RabbitMQ SEND to ${ex}`, 'messaging', 'rabbitmq', 'send', tx.id, 'success', { queue: { name: ex }, routing_key: 'created' }, { type: 'rabbitmq', name: ex },
      { address: '127.0.0.1', port: 5672, service: { resource: `rabbitmq/${ex}`, name: '', type: '' } }],
  ]);
  // what the consumer received: the user's header plus the send span's trace context
  assert.equal(got[0].properties.headers['x-user'], 'u1');
  assert.equal(got[0].properties.headers.traceparent, `00-${tx.traceId}-${s1.id}-01`);
  assert.equal(got[0].properties.headers.tracestate, 'es=s:1');
  assert.equal(got[1].properties.headers.traceparent, `00-${tx.traceId}-${s2.id}-01`);
  const consumers = transport.of('transaction').filter((x) => x.type === 'messaging');
  assert.deepEqual(consumers.map((c) => [c.name, c.trace_id, c.parent_id, c.result, c.outcome, c.context.service, c.context.message.queue, c.context.message.routing_key]), [
    [`RabbitMQ RECEIVE from ${q}`, tx.traceId, s1.id, 'success', 'success', { framework: { name: 'RabbitMQ' } }, { name: q }, q],
    [`RabbitMQ RECEIVE from ${q}`, tx.traceId, s2.id, 'success', 'success', { framework: { name: 'RabbitMQ' } }, { name: q }, 'created'],
  ]);
  assert.deepEqual(consumers[0]!.context.message.headers, { 'x-user': 'u1', traceparent: `00-${tx.traceId}-${s1.id}-01`, tracestate: 'es=s:1' });
  assert.equal(consumers[0]!.context.message.body, undefined, 'capture_body off: no body');
  assert.ok(consumers[0]!.context.message.age.ms >= 0 && consumers[0]!.context.message.age.ms < 5000, 'age from the timestamp property');
  assert.equal(consumers[1]!.context.message.age, undefined, 'no timestamp property: no age');
  for (const e of transport.events) assertValid(e as Record<string, unknown>);
  transport.assertInvariants();
});

// amqplib 1.0.7 added the channel's `handler-error` event: before it, a consume callback that throws
// makes the connection emit `error` with that error and close (a frame error), with or without spanforge.
const amqplibVersion: string = JSON.parse(readFileSync(join(nodePath ?? join(__dirname, '..', '..', 'node_modules'), 'amqplib', 'package.json'), 'utf8')).version;
const [amqMajor, amqMinor, amqPatch] = amqplibVersion.split('.').map(Number) as [number, number, number];
const hasHandlerError = amqMajor > 1 || (amqMajor === 1 && (amqMinor > 0 || amqPatch >= 7));

test('a throwing handler reports the error on its transaction and the consumer goes on', { timeout: 20000 }, async (t) => {
  if (reachable) return t.skip(reachable);
  const { transport } = await freshAgent({ captureBody: 'all' });
  const { conn, ch } = await m.open(URL);
  t.after(() => conn.close().catch(() => undefined));
  const handlerErrors: unknown[] = [];
  const connErrors: unknown[] = [];
  if (hasHandlerError) ch.on('handler-error', (err: unknown) => handlerErrors.push(err));
  else conn.on('error', (err: unknown) => connErrors.push(err));
  const q = `${prefix}-throws`;
  await ch.assertQueue(q, { exclusive: true });
  const bodies: string[] = [];
  const boom = new Error('cannot handle bad');
  await m.listen(ch, q, (msg: any) => {
    bodies.push(msg.content.toString());
    if (msg.content.toString() === 'bad') throw boom;
  });
  m.send(ch, q, 'bad');
  if (!hasHandlerError) {
    // amqplib < 1.0.7: the same error reaches the connection, which closes; no further delivery.
    await until(() => connErrors.length === 1 && transport.of('transaction').length === 1 && transport.of('error').length === 1, 'connection error, transaction, error event');
    assert.equal(connErrors[0], boom, 'the same error reached amqplib');
    assert.deepEqual(bodies, ['bad']);
    const [bad] = transport.of('transaction');
    assert.deepEqual([bad!.outcome, bad!.result, bad!.context.message.body, bad!.parent_id], ['failure', 'failure', 'bad', undefined]);
    const [error] = transport.of('error');
    assert.deepEqual([error!.exception.message, error!.exception.handled, error!.transaction_id, error!.parent_id, error!.transaction.type], ['cannot handle bad', false, bad!.id, bad!.id, 'messaging']);
    for (const e of transport.events) assertValid(e as Record<string, unknown>);
    return;
  }
  m.send(ch, q, 'good');
  await until(() => transport.of('transaction').length === 2, 'two consumer transactions');
  assert.deepEqual(bodies, ['bad', 'good']);
  await until(() => handlerErrors.length === 1, 'amqplib handler-error');
  assert.equal(handlerErrors[0], boom, 'the same error reached amqplib');
  const [bad, good] = transport.of('transaction');
  assert.deepEqual([bad!.outcome, bad!.result, bad!.context.message.body, good!.outcome, good!.result, good!.context.message.body], ['failure', 'failure', 'bad', 'success', 'success', 'good']);
  // no producer span: each delivery starts its own trace
  assert.equal(bad!.parent_id, undefined);
  await until(() => transport.of('error').length === 1, 'the error event');
  const errors = transport.of('error');
  assert.deepEqual([errors[0]!.exception.message, errors[0]!.exception.handled, errors[0]!.transaction_id, errors[0]!.parent_id, errors[0]!.transaction.type], ['cannot handle bad', false, bad!.id, bad!.id, 'messaging']);
  for (const e of transport.events) assertValid(e as Record<string, unknown>);
});

test('get is a poll span linked to the producer of the message it returns', { timeout: 20000 }, async (t) => {
  if (reachable) return t.skip(reachable);
  const { agent, transport } = await freshAgent();
  const { conn, ch } = await m.open(URL);
  t.after(() => conn.close());
  const q = `${prefix}-polled`;
  await ch.assertQueue(q, { exclusive: true });
  const producer = agent.startTransaction('producer', 'request');
  m.send(ch, q, 'p1');
  producer.end();
  const sendSpan = transport.of('span')[0]!;
  await sleep(100);
  const worker = agent.startTransaction('worker', 'background');
  const msg = await agent.withSpan(worker, () => m.poll(ch, q), undefined, []);
  const empty = await agent.withSpan(worker, () => m.poll(ch, q), undefined, []);
  worker.end();
  assert.equal(msg.content.toString(), 'p1');
  assert.equal(empty, false);
  const polls = transport.of('span').filter((s) => s.action === 'poll');
  assert.deepEqual(polls.map((s) => [s.name, s.type, s.subtype, s.parent_id, s.links, s.context.message, s.context.service.target]), [
    [`RabbitMQ POLL from ${q}`, 'messaging', 'rabbitmq', worker.id, [{ trace_id: producer.traceId, span_id: sendSpan.id }], { queue: { name: q }, routing_key: q }, { type: 'rabbitmq', name: q }],
    [`RabbitMQ POLL from ${q}`, 'messaging', 'rabbitmq', worker.id, undefined, { queue: { name: q } }, { type: 'rabbitmq', name: q }],
  ]);
  for (const e of transport.events) assertValid(e as Record<string, unknown>);
});

test('the callback API: send span, consumer transaction continuing it, poll span', { timeout: 20000 }, async (t) => {
  if (reachable) return t.skip(reachable);
  const { agent, transport } = await freshAgent();
  const { conn, ch } = await m.openCallback(URL);
  t.after(() => new Promise<void>((r) => conn.close(() => r())));
  const q = `${prefix}-cb`;
  await new Promise((r, j) => ch.assertQueue(q, { exclusive: true }, (e: unknown, ok: unknown) => (e ? j(e) : r(ok))));
  const tx = agent.startTransaction('cb', 'request');
  m.sendCallback(ch, q, 'for-poll');
  const polled = await agent.withSpan(tx, () => m.pollCallback(ch, q), undefined, []);
  assert.equal((polled as any).content.toString(), 'for-poll');
  const got: any[] = [];
  await new Promise<void>((r) => m.listenCallback(ch, q, (msg: any) => got.push(msg), r));
  agent.withSpan(tx, () => m.sendCallback(ch, q, 'for-consume'), undefined, []);
  tx.end();
  await until(() => got.length === 1 && transport.of('transaction').length === 2, 'the delivery');
  const [send1, poll, send2] = transport.of('span');
  assert.deepEqual([send1!.name, poll!.name, poll!.links, send2!.name], [`RabbitMQ SEND to ${q}`, `RabbitMQ POLL from ${q}`, [{ trace_id: tx.traceId, span_id: send1!.id }], `RabbitMQ SEND to ${q}`]);
  const consumer = transport.of('transaction').find((x) => x.type === 'messaging')!;
  assert.deepEqual([consumer.name, consumer.trace_id, consumer.parent_id], [`RabbitMQ RECEIVE from ${q}`, tx.traceId, send2!.id]);
  for (const e of transport.events) assertValid(e as Record<string, unknown>);
});

test('ignore_message_queues: no span, no headers added, no consumer transaction', { timeout: 20000 }, async (t) => {
  if (reachable) return t.skip(reachable);
  const { agent, transport } = await freshAgent({ ignoreMessageQueues: [`${prefix}-IGNORED*`] });
  const { conn, ch } = await m.open(URL);
  t.after(() => conn.close());
  const q = `${prefix}-ignored-1`;
  await ch.assertQueue(q, { exclusive: true });
  const got: any[] = [];
  await m.listen(ch, q, (msg: any) => got.push(msg));
  const tx = agent.startTransaction('t', 'request');
  m.send(ch, q, 'x');
  tx.end();
  await until(() => got.length === 1, 'the delivery');
  await sleep(50);
  assert.equal(got[0].properties.headers.traceparent, undefined);
  assert.deepEqual(transport.of('span'), []);
  assert.deepEqual(transport.of('transaction').map((x) => x.name), ['t']);
});

test('a look-alike class with sendToQueue is left alone', { timeout: 5000 }, async () => {
  const { agent, transport } = await freshAgent();
  const fake = new m.FakeChannel();
  const tx = agent.startTransaction('t', 'request');
  agent.withSpan(tx, () => m.sendFake(fake, 'q'), undefined, []);
  tx.end();
  assert.deepEqual(fake.sent, ['q:x']);
  assert.deepEqual(transport.of('span'), []);
});

// nats against the real NATS server (JetStream on) on 127.0.0.1:4222: a module compiled with the tsc
// transformer, run in this process with a started agent, gives the exact send spans (publish, request,
// JetStream publish) and one messaging transaction per message given to a subscribe() or JetStream
// consume() callback, continuing the producer's trace from the NATS headers; the user's headers and
// options are never changed; ignore_message_queues honoured; a look-alike class left alone.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { compileTsc, withNodePath } from '../_harness.js';
import { assertValid, freshAgent, sleep } from '../../test/runtime/helpers.js';
import { resetAgentForTests } from '../../runtime/agent.js';

// SPANFORGE_NATS_DIR=<node_modules> runs it against a side-by-side install (the lowest supported, compat/).
const nodePath = process.env.SPANFORGE_NATS_DIR;
const tmp = join(__dirname, `.tmp-nats-${process.pid}`);
const prefix = `nats-test-${process.pid}`;
let reachable: string | undefined;

const source = `import { connect, headers, AckPolicy, type Consumer, type JetStreamClient, type Msg, type MsgHdrs, type NatsConnection } from 'nats';

export function open() {
  return connect({ servers: '127.0.0.1:4222' });
}
export function publish(nc: NatsConnection, subject: string, body: string, hdrs?: MsgHdrs) {
  nc.publish(subject, body, hdrs ? { headers: hdrs } : undefined);
}
export function ask(nc: NatsConnection, subject: string, body: string) {
  return nc.request(subject, body, { timeout: 2000 });
}
export function listen(nc: NatsConnection, subject: string, onMessage: (m: Msg) => void) {
  return nc.subscribe(subject, { callback: (err, m) => { if (!err) onMessage(m); } });
}
export function makeHeaders(k: string, v: string): MsgHdrs {
  const h = headers();
  h.set(k, v);
  return h;
}
export async function stream(nc: NatsConnection, name: string, subject: string) {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name, subjects: [subject] });
  await jsm.consumers.add(name, { durable_name: name + '-worker', ack_policy: AckPolicy.Explicit });
  const js = nc.jetstream();
  return { js, consumer: await js.consumers.get(name, name + '-worker'), drop: () => jsm.streams.delete(name) };
}
export function jsPublish(js: JetStreamClient, subject: string, body: string) {
  return js.publish(subject, body, { msgID: subject + ':' + body });
}
export function jsConsume(consumer: Consumer, onMessage: (subject: string, body: string) => void) {
  return consumer.consume({ callback: (m) => { onMessage(m.subject, m.string()); m.ack(); } });
}

/** A look-alike with the same method name: never instrumented. */
export class Bus {
  sent: string[] = [];
  publish(subject: string, body: string) { this.sent.push(subject + ':' + body); }
}
export function publishFake(bus: Bus) {
  bus.publish('s', 'x');
}
`;

let m: any;
before(async () => {
  mkdirSync(tmp, { recursive: true });
  const file = join(tmp, 'client.ts');
  writeFileSync(file, source);
  const r = compileTsc(file, nodePath);
  assert.deepEqual(r.diagnostics, []);
  assert.match(r.js, /bus\.publish\('s', 'x'\);/, 'the look-alike stays a plain call');
  writeFileSync(join(tmp, 'client-emitted.js'), withNodePath(r.js, nodePath));
  m = require(join(tmp, 'client-emitted.js'));
  try {
    const nc = await m.open();
    await nc.close();
  } catch (err) {
    reachable = `NATS on 127.0.0.1:4222 is unreachable: ${(err as Error).message}`;
    if (process.env.CI) throw new Error(reachable);
  }
});
after(async () => {
  await resetAgentForTests();
  rmSync(tmp, { recursive: true, force: true });
});

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('publish is a send span; the subscriber\'s transaction per message continues its trace', { timeout: 20000 }, async (t) => {
  if (reachable) return t.skip(reachable);
  const { agent, transport } = await freshAgent();
  const nc = await m.open();
  t.after(() => nc.close());
  const subject = `${prefix}.orders`;
  const got: any[] = [];
  m.listen(nc, subject, (msg: any) => got.push(msg));
  await nc.flush();
  const hdrs = m.makeHeaders('x-user', 'u1');
  const tx = agent.startTransaction('POST /orders', 'request');
  m.publish(nc, subject, 'one', hdrs);
  m.publish(nc, subject, 'two');
  tx.end();
  await until(() => got.length === 2 && transport.of('transaction').length === 3, 'two messages');
  // the user's headers object is unchanged
  assert.deepEqual([...hdrs].map(([k, v]: [string, string[]]) => [k, v]), [['x-user', ['u1']]]);
  const spans = transport.of('span');
  assert.deepEqual(spans.map((s) => [s.name, s.type, s.subtype, s.action, s.parent_id, s.context.message, s.context.service.target, s.context.destination]), [0, 1].map(() => [
    `NATS SEND to ${subject}`, 'messaging', 'nats', 'send', tx.id, { queue: { name: subject } }, { type: 'nats', name: subject },
    { address: '127.0.0.1', port: 4222, service: { resource: `nats/${subject}`, name: '', type: '' } },
  ]));
  assert.deepEqual(got.map((g) => [g.string(), g.headers.get('x-user'), g.headers.get('traceparent')]), [
    ['one', 'u1', `00-${tx.traceId}-${spans[0]!.id}-01`],
    ['two', '', `00-${tx.traceId}-${spans[1]!.id}-01`],
  ]);
  const consumers = transport.of('transaction').filter((x) => x.type === 'messaging');
  assert.deepEqual(consumers.map((c) => [c.name, c.trace_id, c.parent_id, c.result, c.outcome, c.context.service, c.context.message.queue]), [
    [`NATS RECEIVE from ${subject}`, tx.traceId, spans[0]!.id, 'success', 'success', { framework: { name: 'NATS' } }, { name: subject }],
    [`NATS RECEIVE from ${subject}`, tx.traceId, spans[1]!.id, 'success', 'success', { framework: { name: 'NATS' } }, { name: subject }],
  ]);
  assert.deepEqual(consumers[0]!.context.message.headers, { 'x-user': 'u1', traceparent: `00-${tx.traceId}-${spans[0]!.id}-01`, tracestate: 'es=s:1' });
  for (const e of transport.events) assertValid(e as Record<string, unknown>);
  transport.assertInvariants();
});

test('request is a send span ending with the reply; the responder\'s transaction is its child', { timeout: 20000 }, async (t) => {
  if (reachable) return t.skip(reachable);
  const { agent, transport } = await freshAgent();
  const nc = await m.open();
  t.after(() => nc.close());
  const subject = `${prefix}.prices`;
  m.listen(nc, subject, (msg: any) => msg.respond('42'));
  await nc.flush();
  const tx = agent.startTransaction('GET /price', 'request');
  const reply = await agent.withSpan(tx, () => m.ask(nc, subject, 'apple'), undefined, []);
  tx.end();
  assert.equal(reply.string(), '42');
  await until(() => transport.of('transaction').length === 2, 'the responder transaction');
  const [span] = transport.of('span');
  const responder = transport.of('transaction').find((x) => x.type === 'messaging')!;
  assert.deepEqual([span!.name, span!.parent_id, span!.outcome, responder.name, responder.parent_id, responder.trace_id], [`NATS SEND to ${subject}`, tx.id, 'success', `NATS RECEIVE from ${subject}`, span!.id, tx.traceId]);
});

test('JetStream publish is a send span; each consumed message a transaction continuing it', { timeout: 20000 }, async (t) => {
  if (reachable) return t.skip(reachable);
  const { agent, transport } = await freshAgent({ captureBody: 'transactions' });
  const nc = await m.open();
  const name = `${prefix}-js`.replace(/\./g, '_');
  const subject = `${prefix}.js.orders`;
  const { js, consumer, drop } = await m.stream(nc, name, subject);
  t.after(async () => {
    await drop();
    await nc.close();
  });
  const got: string[] = [];
  const messages = await m.jsConsume(consumer, (_s: string, body: string) => got.push(body));
  t.after(() => messages.stop());
  const tx = agent.startTransaction('POST /orders', 'request');
  const ack = await agent.withSpan(tx, () => m.jsPublish(js, subject, 'j1'), undefined, []);
  tx.end();
  assert.equal(ack.stream, name);
  await until(() => got.length === 1 && transport.of('transaction').length === 2, 'the JetStream message');
  const [span] = transport.of('span');
  assert.deepEqual([span!.name, span!.subtype, span!.action, span!.parent_id, span!.outcome], [`NATS SEND to ${subject}`, 'nats', 'send', tx.id, 'success']);
  const c = transport.of('transaction').find((x) => x.type === 'messaging')!;
  assert.deepEqual([c.name, c.parent_id, c.trace_id, c.context.message.queue, c.context.message.body, c.context.message.headers['Nats-Msg-Id']], [`NATS RECEIVE from ${subject}`, span!.id, tx.traceId, { name: subject }, 'j1', `${subject}:j1`]);
  assert.ok(c.context.message.age.ms >= 0 && c.context.message.age.ms < 5000, 'age from the stream timestamp');
  for (const e of transport.events) assertValid(e as Record<string, unknown>);
});

test('ignore_message_queues: no span, no headers added, no transaction', { timeout: 20000 }, async (t) => {
  if (reachable) return t.skip(reachable);
  const { agent, transport } = await freshAgent({ ignoreMessageQueues: [`${prefix}.internal.*`] });
  const nc = await m.open();
  t.after(() => nc.close());
  const subject = `${prefix}.internal.health`;
  const got: any[] = [];
  m.listen(nc, subject, (msg: any) => got.push(msg));
  await nc.flush();
  const tx = agent.startTransaction('t', 'request');
  m.publish(nc, subject, 'x');
  tx.end();
  await until(() => got.length === 1, 'the message');
  await sleep(50);
  assert.equal(got[0].headers, undefined);
  assert.deepEqual(transport.of('span'), []);
  assert.deepEqual(transport.of('transaction').map((x) => x.name), ['t']);
});

test('a look-alike class with publish is left alone', { timeout: 5000 }, async () => {
  const { agent, transport } = await freshAgent();
  const bus = new m.Bus();
  const tx = agent.startTransaction('t', 'request');
  agent.withSpan(tx, () => m.publishFake(bus), undefined, []);
  tx.end();
  assert.deepEqual(bus.sent, ['s:x']);
  assert.deepEqual(transport.of('span'), []);
});

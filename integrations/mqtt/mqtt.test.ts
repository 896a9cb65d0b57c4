// mqtt (MQTT.js 5) against the real Mosquitto on 127.0.0.1:1883, built with both front-ends and run
// under the real agent shipping to a test intake: publish (callback and none) and publishAsync are send
// spans with the trace context in the MQTT 5 user properties (the user's options unchanged); each call
// of an on('message') listener is its own messaging transaction continuing the producer's trace, named
// by the matching topic filter; off() still removes the listener; with MQTT 3.1.1 (no properties) the
// consumer starts a trace of its own; a failing listener is an error of its transaction;
// ignore_message_queues honoured; no body captured by default; a look-alike emitter left alone.
// SPANFORGE_MQTT_DIR=<node_modules> runs it against a side-by-side install (the lowest supported).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { build, cleanBuilds, FRONT_ENDS, reachable, startHarness, type Ev } from '../_harness.js';
import { freshAgent, sleep } from '../../test/runtime/helpers.js';
import { resetAgentForTests } from '../../runtime/agent.js';

const nodePath = process.env.SPANFORGE_MQTT_DIR;
const prefix = `sf-mqtt-test-${process.pid}`;

const source = `import * as mqtt from 'mqtt';
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import { EventEmitter } from 'node:events';

export function open(protocolVersion: 4 | 5): Promise<MqttClient> {
  return mqtt.connectAsync('mqtt://127.0.0.1:1883', { protocolVersion, reconnectPeriod: 0, connectTimeout: 3000 });
}
export function send(client: MqttClient, topic: string, body: string, opts: IClientPublishOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    client.publish(topic, body, opts, (err) => (err ? reject(err) : resolve()));
  });
}
export function sendAsync(client: MqttClient, topic: string, body: string) {
  return client.publishAsync(topic, body, { qos: 1 });
}
export function fire(client: MqttClient, topic: string, body: string) {
  return client.publish(topic, body);
}
export function listen(client: MqttClient, onMessage: (topic: string, body: string, props: unknown) => void) {
  const listener = (topic: string, payload: Buffer, packet: { properties?: unknown }) => onMessage(topic, payload.toString(), packet.properties);
  client.on('message', listener);
  return () => client.off('message', listener);
}
export function subscribe(client: MqttClient, filter: string) {
  return client.subscribeAsync(filter, { qos: 1 });
}

/** A look-alike with the same method names: never instrumented. */
class Bus extends EventEmitter {
  sent: string[] = [];
  publish(topic: string, body: string) { this.sent.push(topic + ':' + body); }
}
export function lookAlike(): string[] {
  const bus = new Bus();
  const got: string[] = [];
  bus.on('message', (t: string) => got.push(t));
  bus.publish('t', 'x');
  bus.emit('message', 'm');
  return [...bus.sent, ...got];
}
`;

const SITES = ['mqtt.listener', 'mqtt.listener', 'mqtt.publish', 'mqtt.publish', 'mqtt.publish', 'mqtt.subscribe'];

let skip: string | undefined;
before(async () => {
  skip = await reachable('Mosquitto on 127.0.0.1:1883', async () => {
    const { createConnection } = await import('node:net');
    await new Promise<void>((resolve, reject) => {
      const s = createConnection(1883, '127.0.0.1', () => {
        s.end();
        resolve();
      });
      s.on('error', reject);
      s.setTimeout(3000, () => reject(new Error('connect timeout')));
    });
  });
});
after(async () => {
  cleanBuilds(__dirname);
  await resetAgentForTests();
});

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const sendFacts = (topic: string, parent: string) => (s: Ev) => {
  assert.deepEqual(
    [s.name, s.type, s.subtype, s.action, s.outcome, s.parent_id, s.context.message, s.context.service.target, s.context.destination],
    [`MQTT SEND to ${topic}`, 'messaging', 'mqtt', 'send', 'success', parent, { queue: { name: topic } }, { type: 'mqtt', name: topic },
      { address: '127.0.0.1', port: 1883, service: { resource: `mqtt/${topic}`, name: '', type: '' } }],
  );
};

for (const fe of FRONT_ENDS) {
  test(`mqtt (${fe}): MQTT 5 publish/publishAsync are send spans; each message a transaction continuing the trace`, { timeout: 30_000 }, async (t) => {
    if (skip) return t.skip(skip);
    const { mod, sites } = build(fe, __dirname, `mqtt-${fe}`, source, nodePath);
    assert.deepEqual(sites.map((s) => s.split(' ')[0]).sort(), SITES, `instrumented sites: ${sites.join(', ')}`);
    const h = await startHarness(`mqtt-test-${fe}`);
    const pub = await mod.open(5);
    const sub = await mod.open(5);
    t.after(async () => {
      await pub.endAsync();
      await sub.endAsync();
      await h.close();
    });
    const base = `${prefix}/${fe}/orders`;
    const got: [string, string, unknown][] = [];
    const stop = mod.listen(sub, (topic: string, body: string, props: unknown) => got.push([topic, body, props]));
    await mod.subscribe(sub, `${base}/+`);
    const opts = { qos: 1, properties: { userProperties: { 'x-user': 'u1' } } };
    const r = await h.run('POST /orders', async () => {
      await mod.send(pub, `${base}/a`, 'one', opts);
      await mod.sendAsync(pub, `${base}/b`, 'two');
      assert.equal(mod.fire(pub, `${base}/c`, 'three'), pub, 'publish returns the client');
    });
    // the user's options are unchanged
    assert.deepEqual(opts, { qos: 1, properties: { userProperties: { 'x-user': 'u1' } } });
    assert.equal(r.spans.length, 3);
    r.spans.forEach((s, i) => sendFacts(`${base}/${'abc'[i]}`, r.tx.id)(s));
    await until(() => got.length === 3, 'three messages');
    got.sort((a, b) => a[0].localeCompare(b[0]));
    // (mqtt's packet parser gives the properties another prototype: compared as JSON)
    assert.deepEqual(JSON.parse(JSON.stringify(got)), [
      [`${base}/a`, 'one', { userProperties: { 'x-user': 'u1', traceparent: `00-${r.tx.trace_id}-${r.spans[0]!.id}-01`, tracestate: 'es=s:1' } }],
      [`${base}/b`, 'two', { userProperties: { traceparent: `00-${r.tx.trace_id}-${r.spans[1]!.id}-01`, tracestate: 'es=s:1' } }],
      [`${base}/c`, 'three', { userProperties: { traceparent: `00-${r.tx.trace_id}-${r.spans[2]!.id}-01`, tracestate: 'es=s:1' } }],
    ]);
    const consumers = [];
    for (let i = 0; i < 3; i++) consumers.push((await h.transaction(`MQTT RECEIVE from ${base}/+`)).tx);
    consumers.sort((a, b) => a.context.message.queue.name.localeCompare(b.context.message.queue.name));
    assert.deepEqual(consumers.map((c) => [c.name, c.type, c.trace_id, c.parent_id, c.result, c.outcome, c.context.service.framework, c.context.message.queue, c.context.message.body]), [0, 1, 2].map((i) => [
      `MQTT RECEIVE from ${base}/+`, 'messaging', r.tx.trace_id, r.spans[i]!.id, 'success', 'success', { name: 'MQTT' }, { name: `${base}/${'abc'[i]}` }, undefined,
    ]));
    assert.deepEqual(consumers[0]!.context.message.headers, { 'x-user': 'u1', traceparent: `00-${r.tx.trace_id}-${r.spans[0]!.id}-01`, tracestate: 'es=s:1' });
    // off() finds the listener spanforge registered in place of the user's
    stop();
    assert.equal(sub.listenerCount('message'), 0);
    assert.deepEqual(mod.lookAlike(), ['t:x', 'm']);
  });

  test(`mqtt (${fe}): MQTT 3.1.1 has no properties: a send span, nothing added, the consumer starts its own trace`, { timeout: 30_000 }, async (t) => {
    if (skip) return t.skip(skip);
    const { mod } = build(fe, __dirname, `mqtt-${fe}`, source, nodePath);
    const h = await startHarness(`mqtt-test-${fe}`);
    const pub = await mod.open(4);
    const sub = await mod.open(4);
    t.after(async () => {
      await pub.endAsync();
      await sub.endAsync();
      await h.close();
    });
    const topic = `${prefix}/${fe}/v4`;
    const got: [string, unknown][] = [];
    mod.listen(sub, (_topic: string, body: string, props: unknown) => got.push([body, props]));
    await mod.subscribe(sub, topic);
    const r = await h.run('POST /v4', () => mod.send(pub, topic, 'old', { qos: 1 }));
    sendFacts(topic, r.tx.id)(r.spans[0]!);
    await until(() => got.length === 1, 'the message');
    assert.deepEqual(got, [['old', undefined]]);
    const { tx } = await h.transaction(`MQTT RECEIVE from ${topic}`);
    assert.notEqual(tx.trace_id, r.tx.trace_id, 'a new trace');
    assert.equal(tx.parent_id, undefined);
    assert.equal(tx.context.message.headers, undefined);
  });
}

test('mqtt: ignore_message_queues; capture_body; a throwing listener is an error of its transaction, rethrown', { timeout: 30_000 }, async (t) => {
  if (skip) return t.skip(skip);
  const { mod } = build('tsc', __dirname, 'mqtt-tsc', source, nodePath);
  const { agent, transport } = await freshAgent({ ignoreMessageQueues: [`${prefix}/internal/*`], captureBody: 'transactions' });
  const pub = await mod.open(5);
  const sub = await mod.open(5);
  t.after(async () => {
    await pub.endAsync();
    await sub.endAsync();
  });
  const base = `${prefix}/fresh`;
  const failure = new Error('listener failed');
  const got: [string, unknown][] = [];
  mod.listen(sub, (_topic: string, body: string, props: unknown) => {
    got.push([body, props]);
    if (body === 'bad') throw failure;
  });
  await mod.subscribe(sub, `${base}/#`);
  await mod.subscribe(sub, `${prefix}/internal/#`);
  const tx = agent.startTransaction('t', 'request');
  await agent.withSpan(tx, async () => {
    await mod.sendAsync(pub, `${prefix}/internal/health`, 'skip');
    await mod.sendAsync(pub, `${base}/x`, 'good');
  }, undefined, []);
  tx.end();
  await until(() => got.length === 2, 'two messages');
  await sleep(50);
  // the ignored topic: no span, no user properties added, no transaction
  assert.deepEqual(got[0], ['skip', undefined]);
  const spans = transport.of('span');
  assert.deepEqual(spans.map((s) => s.name), [`MQTT SEND to ${base}/x`]);
  const rx = () => transport.of('transaction').filter((x) => x.type === 'messaging');
  assert.deepEqual(rx().map((x) => [x.name, x.context.message.queue.name, x.context.message.body]), [[`MQTT RECEIVE from ${base}/#`, `${base}/x`, 'good']]);
  // A listener's throw goes back to whoever emitted the message (mqtt's packet parser, which then stops
  // reading that connection, with or without spanforge): emitted here by hand to catch it.
  const parent = `00-${tx.traceId}-${spans[0]!.id}-01`;
  assert.throws(() => sub.emit('message', `${base}/y`, Buffer.from('bad'), { cmd: 'publish', properties: { userProperties: { traceparent: parent } } }), (e) => e === failure);
  await until(() => rx().length === 2 && transport.of('error').length === 1, 'the failed transaction and its error');
  const failed = rx()[1]!;
  const [err] = transport.of('error');
  assert.deepEqual([failed.name, failed.outcome, failed.result, failed.parent_id, failed.trace_id], [`MQTT RECEIVE from ${base}/#`, 'failure', 'failure', spans[0]!.id, tx.traceId]);
  assert.deepEqual([err!.parent_id, err!.transaction_id, err!.exception.message, err!.exception.handled], [failed.id, failed.id, 'listener failed', false]);
});

// nats `for await` consumers against the real NATS server (JetStream on) on 127.0.0.1:4222: a module
// built with each front-end (tsc + transformer, Babel + plugin, the bundler step's text edits + esbuild)
// iterates a core Subscription and JetStream consume()/fetch() messages; each iteration's body is one
// `NATS RECEIVE from <subject>` transaction continuing the producer's trace, current across the body's
// awaits and nowhere else; break/continue/labels/return keep their meaning, a throwing body reports
// its error and the same error leaves the loop. Exact intake events, schema-validated.
// SPANFORGE_NATS_DIR=<node_modules> runs it against a side-by-side install (integrations/nats/compat).
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { transformSync } from 'esbuild';
import { build, cleanBuilds, root, withNodePath } from '../_harness.js';
import { instrumentCode } from '../../bundler/index.js';
import { resolveOptions } from '../../rules/index.js';
import { assertValid, freshAgent, sleep } from '../../test/runtime/helpers.js';
import { resetAgentForTests } from '../../runtime/agent.js';

const nodePath = process.env.SPANFORGE_NATS_DIR;
const prefix = `nats-loop-${process.pid}`;
let reachable: string | undefined;

const source = `import { connect, AckPolicy, type Consumer, type JetStreamClient, type NatsConnection } from 'nats';

export function open() {
  return connect({ servers: '127.0.0.1:4222' });
}
export function publish(nc: NatsConnection, subject: string, body: string) {
  nc.publish(subject, body);
}

/** A core subscription iterated: continue, a labelled break, an await and a send inside the body. */
export async function drain(nc: NatsConnection, subject: string, ready: () => void, probe: (what: string) => void) {
  const sub = nc.subscribe(subject);
  ready();
  const seen: string[] = [];
  outer: for await (const msg of sub) {
    const body = msg.string();
    probe('start ' + body);
    if (body === 'skip') continue;
    await new Promise((r) => setTimeout(r, 5));
    probe('after await ' + body);
    nc.publish(subject + '.echo', body);
    seen.push(body);
    for (const x of [1, 2]) {
      if (body === 'stop' && x === 2) break outer;
    }
  }
  probe('after loop');
  return seen;
}

/** The body throws on 'boom': the same error leaves the loop (and the function). */
export async function failing(nc: NatsConnection, subject: string, ready: () => void) {
  const sub = nc.subscribe(subject);
  ready();
  for await (const m of sub) {
    if (m.string() === 'boom') throw new Error('cannot handle boom');
  }
  return 'unreachable';
}

/** return inside the body: the loop's function returns the first message. */
export async function first(nc: NatsConnection, subject: string, ready: () => void) {
  for await (const m of (ready(), nc.subscribe(subject))) return m.string();
  return undefined;
}

export async function stream(nc: NatsConnection, name: string, subject: string) {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name, subjects: [subject] });
  await jsm.consumers.add(name, { durable_name: name + '-c', ack_policy: AckPolicy.Explicit });
  await jsm.consumers.add(name, { durable_name: name + '-f', ack_policy: AckPolicy.None });
  const js = nc.jetstream();
  return { js, consumer: await js.consumers.get(name, name + '-c'), fetcher: await js.consumers.get(name, name + '-f'), drop: () => jsm.streams.delete(name) };
}

/** JetStream consume() iterated; stops after n messages. */
export async function jsConsume(consumer: Consumer, n: number, probe: (what: string) => void) {
  const messages = await consumer.consume();
  const got: string[] = [];
  for await (const m of messages) {
    probe('js ' + m.string());
    got.push(m.string());
    m.ack();
    if (got.length === n) break; // ends the consumer (the iterator's return())
  }
  return got;
}

/** JetStream fetch() iterated with a destructuring head. */
export async function jsFetch(c: Consumer, n: number, probe: (what: string) => void) {
  const got: string[] = [];
  for await (const { subject, data } of await c.fetch({ max_messages: n, expires: 2000 })) {
    probe('fetch ' + new TextDecoder().decode(data));
    got.push(subject + ':' + new TextDecoder().decode(data));
  }
  return got;
}
export function jsPublish(js: JetStreamClient, subject: string, body: string) {
  return js.publish(subject, body);
}
`;

type FE = 'tsc' | 'babel' | 'bundler';
const FES: FE[] = ['tsc', 'babel', 'bundler'];
const mods: Partial<Record<FE, any>> = {};
const siteLists: Partial<Record<FE, string[]>> = {};
const abiPath = join(root, 'runtime', 'abi.ts');

/** The bundler step's instrumentCode (what the esbuild/Vite/Rollup/webpack plugins run), then esbuild to CommonJS. */
function buildBundler(): { mod: any; sites: string[] } {
  const tmp = join(__dirname, `.tmp-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  const file = join(tmp, 'loops.ts');
  const r = instrumentCode(source, file, relative(root, file), resolveOptions({ runtimeModule: abiPath }));
  assert.ok(r, 'the bundler step instruments the file');
  assert.deepEqual(r.skipped, []);
  const js = transformSync(r.code, { loader: 'ts', format: 'cjs', target: 'node20' }).code;
  const out = join(tmp, 'loops.bundler.js');
  writeFileSync(out, withNodePath(js, nodePath));
  return { mod: require(out), sites: r.sites.map((s) => `${s.rule} ${s.line}:${s.column}`) };
}

before(async () => {
  for (const fe of FES) {
    const b = fe === 'bundler' ? buildBundler() : build(fe, __dirname, 'loops', source, nodePath);
    mods[fe] = b.mod;
    siteLists[fe] = b.sites;
  }
  try {
    const nc = await mods.tsc.open();
    await nc.close();
  } catch (err) {
    reachable = `NATS on 127.0.0.1:4222 is unreachable: ${(err as Error).message}`;
    if (process.env.CI) throw new Error(reachable);
  }
});
after(async () => {
  await resetAgentForTests();
  cleanBuilds(__dirname);
});

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('the three front-ends instrument the same sites: the five loops, the sends, the subscribe calls', () => {
  assert.deepEqual(siteLists.babel, siteLists.tsc);
  assert.deepEqual(siteLists.bundler, siteLists.tsc);
  assert.deepEqual(siteLists.tsc!.filter((s) => s.startsWith('nats.iterate')), ['nats.iterate 15:10', 'nats.iterate 35:3', 'nats.iterate 43:3', 'nats.iterate 60:3', 'nats.iterate 72:3']);
});

for (const fe of FES) {
  test(`${fe}: each iteration of a core subscription is a transaction continuing the producer; continue, break outer, await`, { timeout: 20000 }, async (t) => {
    if (reachable) return t.skip(reachable);
    const m = mods[fe];
    const { agent, transport } = await freshAgent();
    const nc = await m.open();
    t.after(() => nc.close());
    const subject = `${prefix}.${fe}.orders`;
    const probes: [string, string | null][] = [];
    const probe = (what: string) => probes.push([what, agent.currentTransaction()?.id ?? null]);
    let ready!: () => void;
    const subscribed = new Promise<void>((r) => (ready = r));
    const done = m.drain(nc, subject, ready, probe);
    await subscribed;
    await nc.flush();
    const tx = agent.startTransaction('POST /orders', 'request');
    for (const b of ['a', 'skip', 'stop', 'never']) m.publish(nc, subject, b);
    tx.end();
    assert.deepEqual(await done, ['a', 'stop']);
    await until(() => transport.of('transaction').length === 4, 'three consumer transactions');
    const sends = transport.of('span').filter((s) => s.parent_id === tx.id);
    assert.deepEqual(sends.map((s) => s.name), [0, 1, 2, 3].map(() => `NATS SEND to ${subject}`));
    const consumers = transport.of('transaction').filter((x) => x.type === 'messaging');
    assert.deepEqual(consumers.map((c) => [c.name, c.trace_id, c.parent_id, c.result, c.outcome, c.context.service, c.context.message.queue]), [0, 1, 2].map((i) => [
      `NATS RECEIVE from ${subject}`, tx.traceId, sends[i]!.id, 'success', 'success', { framework: { name: 'NATS' } }, { name: subject },
    ]));
    // The body's own send (after its await) is a span of that iteration's transaction.
    const echoes = transport.of('span').filter((s) => s.name === `NATS SEND to ${subject}.echo`);
    assert.deepEqual(echoes.map((s) => [s.parent_id, s.transaction_id, s.trace_id]), [consumers[0]!, consumers[2]!].map((c) => [c.id, c.id, tx.traceId]));
    assert.deepEqual(probes, [
      ['start a', consumers[0]!.id],
      ['after await a', consumers[0]!.id],
      ['start skip', consumers[1]!.id],
      ['start stop', consumers[2]!.id],
      ['after await stop', consumers[2]!.id],
      ['after loop', null],
    ]);
    for (const e of transport.events) assertValid(e as Record<string, unknown>);
    transport.assertInvariants();
  });

  test(`${fe}: a throwing body reports the error on its transaction and the same error leaves the loop; return in the body`, { timeout: 20000 }, async (t) => {
    if (reachable) return t.skip(reachable);
    const m = mods[fe];
    const { transport } = await freshAgent();
    const nc = await m.open();
    t.after(() => nc.close());
    const subject = `${prefix}.${fe}.fails`;
    let ready!: () => void;
    let subscribed = new Promise<void>((r) => (ready = r));
    const failed = m.failing(nc, subject, ready);
    await subscribed;
    await nc.flush();
    m.publish(nc, subject, 'fine');
    m.publish(nc, subject, 'boom');
    await assert.rejects(failed, (err: Error) => err instanceof Error && err.message === 'cannot handle boom' && !('__spanforge' in err));
    subscribed = new Promise<void>((r) => (ready = r));
    const firstOne = m.first(nc, `${subject}.first`, ready);
    await subscribed;
    await nc.flush();
    m.publish(nc, `${subject}.first`, 'one');
    m.publish(nc, `${subject}.first`, 'two');
    assert.equal(await firstOne, 'one');
    await until(() => transport.of('transaction').length === 3 && transport.of('error').length === 1, 'three transactions and the error');
    const txs = transport.of('transaction');
    assert.deepEqual(txs.map((x) => [x.name, x.type, x.outcome, x.result, x.parent_id]), [
      [`NATS RECEIVE from ${subject}`, 'messaging', 'success', 'success', undefined],
      [`NATS RECEIVE from ${subject}`, 'messaging', 'failure', 'failure', undefined],
      [`NATS RECEIVE from ${subject}.first`, 'messaging', 'success', 'success', undefined],
    ]);
    const [error] = transport.of('error');
    assert.deepEqual([error!.exception.message, error!.exception.handled, error!.transaction_id, error!.parent_id, error!.trace_id, error!.transaction.type], ['cannot handle boom', false, txs[1]!.id, txs[1]!.id, txs[1]!.trace_id, 'messaging']);
    for (const e of transport.events) assertValid(e as Record<string, unknown>);
    transport.assertInvariants();
  });

  test(`${fe}: JetStream consume() and fetch() iterated: each message a transaction continuing its publisher`, { timeout: 30000 }, async (t) => {
    if (reachable) return t.skip(reachable);
    const m = mods[fe];
    const { agent, transport } = await freshAgent();
    const nc = await m.open();
    const name = `${prefix}-${fe}-js`.replace(/[^A-Za-z0-9_-]/g, '_');
    const subject = `${prefix}.${fe}.js`;
    const { js, consumer, fetcher, drop } = await m.stream(nc, name, `${subject}.>`);
    t.after(async () => {
      await drop().catch(() => undefined);
      await nc.close();
    });
    const probes: [string, string | null][] = [];
    const probe = (what: string) => probes.push([what, agent.currentTransaction()?.id ?? null]);
    const tx = agent.startTransaction('POST /jobs', 'request');
    await m.jsPublish(js, `${subject}.a`, 'one');
    await m.jsPublish(js, `${subject}.b`, 'two');
    tx.end();
    assert.deepEqual(await m.jsConsume(consumer, 2, probe), ['one', 'two']);
    assert.deepEqual(await m.jsFetch(fetcher, 2, probe), [`${subject}.a:one`, `${subject}.b:two`]);
    await until(() => transport.of('transaction').length === 5, 'four consumer transactions');
    const sends = transport.of('span').filter((s) => s.parent_id === tx.id);
    assert.deepEqual(sends.map((s) => s.name), [`NATS SEND to ${subject}.a`, `NATS SEND to ${subject}.b`]);
    const consumers = transport.of('transaction').filter((x) => x.type === 'messaging');
    assert.deepEqual(consumers.map((c) => [c.name, c.trace_id, c.parent_id, c.outcome, c.context.message.queue, typeof c.context.message.age?.ms]), [0, 1, 0, 1].map((i) => [
      `NATS RECEIVE from ${subject}.${'ab'[i]}`, tx.traceId, sends[i]!.id, 'success', { name: `${subject}.${'ab'[i]}` }, 'number',
    ]));
    assert.deepEqual(probes, [['js one', consumers[0]!.id], ['js two', consumers[1]!.id], ['fetch one', consumers[2]!.id], ['fetch two', consumers[3]!.id]]);
    for (const e of transport.events) assertValid(e as Record<string, unknown>);
    transport.assertInvariants();
  });
}

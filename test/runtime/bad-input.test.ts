// Bad input to the agent must not lose data or reach user code: overlong keywords are shortened to
// the schemas' limits, a circular custom context is kept with the cycle replaced, traced() with
// garbage neither throws nor sends a non-string name, flush(Infinity) raises no TimeoutOverflowWarning,
// and a metrics interval below a second is raised to one, with a warning.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import * as api from '../../runtime/index.js';
import { getAgent, resetAgentForTests } from '../../runtime/agent.js';
import { resolveConfig } from '../../runtime/config.js';
import { storage } from '../../runtime/context.js';
import { serve, type MockApmServer } from '../transport/helpers.js';
import { freshAgent } from './helpers.js';

const T = { timeout: 20_000 };

/** A real agent shipping to a schema-validating mock APM Server; warnings are collected. */
async function agentTo(t: TestContext, env: NodeJS.ProcessEnv, opts: Record<string, unknown> = {}) {
  const srv = await serve(t);
  await resetAgentForTests();
  const warnings: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const s = String(chunk);
    if (s.startsWith('spanforge')) {
      warnings.push(s.trimEnd());
      return true;
    }
    return (write as (...a: unknown[]) => boolean).call(process.stderr, chunk, ...rest);
  }) as typeof process.stderr.write;
  let agent;
  try {
    agent = getAgent().start({ serverUrl: srv.url, metricsInterval: 0, ...opts }, { noProcessHandlers: true, env });
  } finally {
    process.stderr.write = write;
  }
  t.after(() => resetAgentForTests());
  return { srv, agent, warnings };
}

function metadataOf(srv: MockApmServer): Record<string, any> {
  return srv.intake[0]!.lines[0]!.metadata as Record<string, any>;
}

test('service name, version, environment and node name longer than 1024 are shortened, with a warning; the server accepts the events', T, async (t) => {
  const long = (c: string) => c.repeat(2000);
  const { srv, agent, warnings } = await agentTo(t, {
    ELASTIC_APM_SERVICE_NAME: long('n'),
    ELASTIC_APM_SERVICE_VERSION: long('v'),
    ELASTIC_APM_ENVIRONMENT: long('e'),
    ELASTIC_APM_SERVICE_NODE_NAME: long('d'),
  });
  await storage.run(undefined as never, async () => {
    agent.startTransaction('GET /x', 'request').end();
  });
  await agent.flush(5000);
  assert.equal(srv.intake.length, 1);
  assert.deepEqual(srv.invalid, [], 'every line valid against the official schemas');
  const md = metadataOf(srv);
  assert.equal(md.service.name, 'n'.repeat(1024));
  assert.equal(md.service.version, 'v'.repeat(1024));
  assert.equal(md.service.environment, 'e'.repeat(1024));
  assert.equal(md.service.node.configured_name, 'd'.repeat(1024));
  assert.equal(srv.events().length, 1, 'the transaction arrived');
  assert.deepEqual(
    warnings.filter((w) => w.includes('characters long')),
    ['serviceName (ELASTIC_APM_SERVICE_NAME)', 'serviceVersion (ELASTIC_APM_SERVICE_VERSION)', 'serviceNodeName (ELASTIC_APM_SERVICE_NODE_NAME)', 'environment (ELASTIC_APM_ENVIRONMENT)'].map(
      (what) => `spanforge warning: ${what} is 2000 characters long, more than the 1024 APM Server accepts; using its first 1024`,
    ),
  );
});

test('every schema-limited keyword of an event is shortened on the way out (here set by a filter), the rest is untouched', T, async (t) => {
  const { srv, agent } = await agentTo(t, { ELASTIC_APM_SERVICE_NAME: 'limits' });
  agent.addFilter((payload, kind) => {
    if (kind !== 'transaction') return payload;
    payload.name = 'N'.repeat(3000);
    payload.result = 'R'.repeat(1025);
    payload.context = {
      tags: { k: 'L'.repeat(1500) },
      user: { id: 'U'.repeat(2000), email: 'a@b' },
      custom: { free: 'C'.repeat(3000) },
      request: { method: 'GET', url: { full: `http://h/${'p'.repeat(2000)}`, pathname: '/p' } },
    };
    return payload;
  });
  await storage.run(undefined as never, async () => {
    agent.startTransaction('t', 'request').end();
  });
  await agent.flush(5000);
  assert.deepEqual(srv.invalid, []);
  const tx = srv.events()[0]!.transaction as Record<string, any>;
  assert.equal(tx.name, 'N'.repeat(1024));
  assert.equal(tx.result.length, 1024);
  assert.equal(tx.context.tags.k, 'L'.repeat(1024));
  assert.equal(tx.context.user.id.length, 1024);
  assert.equal(tx.context.user.email, 'a@b');
  assert.equal(tx.context.custom.free.length, 3000, 'custom context has no schema limit');
  assert.equal(tx.context.request.url.full.length, 1024);
  assert.equal(tx.context.request.url.pathname, '/p');
});

test('a transaction whose custom context is circular is kept, the cycle replaced by "[Circular]"', T, async (t) => {
  const { srv, agent } = await agentTo(t, { ELASTIC_APM_SERVICE_NAME: 'circular' });
  const order: Record<string, unknown> = { id: 7, items: [{ sku: 'a' }] };
  order.self = order;
  (order.items as Record<string, unknown>[])[0]!.order = order;
  const shared = { n: 1 };
  await storage.run(undefined as never, async () => {
    const tx = agent.startTransaction('POST /orders', 'request');
    tx.setCustomContext({ order, twice: [shared, shared] });
    tx.end();
  });
  await agent.flush(5000);
  assert.deepEqual(srv.invalid, []);
  const events = srv.events();
  assert.equal(events.length, 1, 'the transaction is not dropped');
  const tx = events[0]!.transaction as Record<string, any>;
  assert.equal(tx.name, 'POST /orders');
  assert.deepEqual(tx.context.custom, {
    order: { id: 7, items: [{ sku: 'a', order: '[Circular]' }], self: '[Circular]' },
    twice: [{ n: 1 }, { n: 1 }],
  });
  assert.deepEqual(agent.transport!.stats().droppedByReason, {});
});

test('traced(null) and traced(fn, bad options) never throw; the span names stay strings', T, async () => {
  const { agent, transport } = await freshAgent();
  const warnings: string[] = [];
  agent.logger = { ...agent.logger, warn: (m: string) => void warnings.push(m) };
  assert.equal(api.traced(null as never), null);
  assert.equal(api.traced(undefined as never), undefined);
  const notFn = { a: 1 };
  assert.equal(api.traced(notFn as never), notFn);
  const hostile = new Proxy({}, { get() { throw new Error('trap'); } });
  const bad: unknown[] = [42, true, Symbol('s'), { name: 123 }, { type: {} }, { name: ['x'] }, hostile, { get name() { throw new Error('getter'); } }];
  await storage.run(undefined as never, async () => {
    for (const opts of bad) {
      let f!: (x: number) => number;
      assert.doesNotThrow(() => {
        f = api.traced(function double(x: number) {
          return 2 * x;
        }, opts as never);
      }, String(typeof opts));
      assert.equal(f(21), 42);
      assert.equal(f.name, 'double');
    }
    const named = Object.defineProperty(() => 1, 'name', { get() { throw new Error('name getter'); } });
    assert.equal(api.traced(named)(), 1);
    class C {
      m() {
        return 'm';
      }
    }
    const decorate = api.Traced(hostile as never) as (t: unknown, k: string, d: PropertyDescriptor) => PropertyDescriptor;
    const d = decorate(C.prototype, 'm', Object.getOwnPropertyDescriptor(C.prototype, 'm')!);
    assert.equal(d.value.call(new C()), 'm');
  });
  const txs = transport.of('transaction');
  assert.equal(txs.length, bad.length + 2);
  for (const tx of txs) assert.equal(typeof tx.name, 'string');
  assert.deepEqual(txs.map((x) => x.name).slice(0, bad.length), [...Array(bad.length)].map((_, i) => (i === 3 ? '123' : 'double')));
  assert.equal(txs[bad.length]!.name, 'anonymous');
  assert.ok(warnings.includes('traced() expects a function, got null; returned as is'), warnings.join('\n'));
  assert.ok(warnings.includes('traced()/@Traced() option "type" must be a string, got object; ignored'));
  assert.ok(warnings.includes('traced()/@Traced() option "name" could not be read; ignored'));
});

test('flush(Infinity) waits without a TimeoutOverflowWarning; flush(NaN) and flush(-1) use the default', T, async (t) => {
  const { agent } = await agentTo(t, { ELASTIC_APM_SERVICE_NAME: 'flush-inf' });
  const seen: string[] = [];
  const onWarning = (w: Error) => void seen.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  t.after(() => void process.off('warning', onWarning));
  void agent.captureError(new Error('pending'));
  await storage.run(undefined as never, async () => {
    agent.startTransaction('t', 'request').end();
  });
  await agent.flush(Number.POSITIVE_INFINITY);
  await agent.flush(Number.NaN);
  await agent.flush(-1);
  await new Promise((r) => setTimeout(r, 20)); // warnings are emitted on a later tick
  assert.deepEqual(seen, []);
  assert.equal(agent.transport!.stats().sent, 2, 'the error and the transaction were delivered');
});

test('a metrics interval below one second is raised to 1s with a warning (0 still disables metrics)', () => {
  const cases: Array<[NodeJS.ProcessEnv, Record<string, unknown>, number, string[]]> = [
    [{ ELASTIC_APM_METRICS_INTERVAL: '1ms' }, {}, 1000, ['ELASTIC_APM_METRICS_INTERVAL of 1 ms is below the minimum of 1s; using 1s (0 disables metrics)']],
    [{}, { metricsInterval: '250ms' }, 1000, ['option metricsInterval of 250 ms is below the minimum of 1s; using 1s (0 disables metrics)']],
    [{ ELASTIC_APM_METRICS_INTERVAL: '0.5' }, {}, 1000, ['ELASTIC_APM_METRICS_INTERVAL of 500 ms is below the minimum of 1s; using 1s (0 disables metrics)']],
    [{ ELASTIC_APM_METRICS_INTERVAL: '1s' }, {}, 1000, []],
    [{ ELASTIC_APM_METRICS_INTERVAL: '0' }, {}, 0, []],
  ];
  for (const [env, opts, want, warns] of cases) {
    const warnings: string[] = [];
    const cfg = resolveConfig({ serviceName: 'm', ...opts }, env, (m) => warnings.push(m), '/');
    assert.equal(cfg.metricsInterval, want, JSON.stringify(env) + JSON.stringify(opts));
    assert.deepEqual(warnings, warns);
  }
});

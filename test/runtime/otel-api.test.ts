// The @opentelemetry/api bridge (opentelemetryBridgeEnabled / ELASTIC_APM_OPENTELEMETRY_BRIDGE_ENABLED),
// with the real @opentelemetry/api (test/compat/otel, its own lock file): spans started through the
// API inside a spanforge transaction are its children, spanforge spans inside an active OTel span
// are the OTel span's children, and the exact intake events: parent ids, names, span kinds mapped
// to types as elastic-apm-node maps them, attributes in `otel.attributes`, status as outcome.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { storage } from '../../runtime/context.js';
import * as sf from '../../runtime/index.js';
import { enableOtelBridge, type OtelApi } from '../../runtime/otel-bridge.js';
import { assertValid, freshAgent, type CapturingTransport } from './helpers.js';

const otelModules = process.env.SPANFORGE_OTEL_DIR ?? join(__dirname, '..', 'compat', 'otel', 'node_modules');
const otelRoot = join(otelModules, '..');
const have = existsSync(join(otelModules, '@opentelemetry', 'api'));
if (!have && process.env.CI) throw new Error('npm ci --prefix test/compat/otel (scripts/run-tests.mjs does it)');
const skip = have ? false : '@opentelemetry/api is not installed: npm ci --prefix test/compat/otel';
const T = { timeout: 30_000 };

// eslint-disable-next-line @typescript-eslint/no-require-imports
const api = (have ? require(join(otelModules, '@opentelemetry', 'api')) : undefined) as typeof import('../compat/otel/node_modules/@opentelemetry/api') & OtelApi;
const isolated = <R>(fn: () => R): R => storage.run(undefined as never, fn);
/** An event without the values that change per run (ids are compared through their relations). */
const shape = (e: Record<string, any>) => {
  const { id: _i, trace_id: _t, transaction_id: _x, parent_id: _p, timestamp: _ts, duration: _d, span_count: _c, ...rest } = e;
  return rest;
};

describe('@opentelemetry/api bridge', { skip }, () => {
  let transport: CapturingTransport;
  let cwd: string;
  before(() => {
    cwd = process.cwd();
    // The bridge loads the app's @opentelemetry/api from the working directory (as an app's own would resolve).
    process.chdir(otelRoot);
  });
  after(() => process.chdir(cwd));
  afterEach(() => {
    api.trace.disable();
    api.context.disable();
  });
  const start = async (opts: sf.AgentOptions = { opentelemetryBridgeEnabled: true }, env: NodeJS.ProcessEnv = {}) => {
    ({ transport } = await freshAgent(opts, env));
  };

  test('startActiveSpan and startSpan inside a spanforge transaction: its children, kinds mapped to types, attributes as otel.attributes', T, async () => {
    await start();
    const tracer = api.trace.getTracer('orders', '1.0.0');
    let ids: Record<string, string> = {};
    await isolated(async () => {
      const tx = sf.startTransaction('GET /orders/:id', 'request');
      const outer = await tracer.startActiveSpan('load order', { attributes: { 'order.id': 42, tags: ['a', 'b'], bad: { x: 1 }, mixed: [1, 'x'] } }, async (span) => {
        // the OTel span is current for spanforge too
        assert.equal(sf.currentSpan()?.id, span.spanContext().spanId);
        assert.deepEqual(sf.currentTraceIds(), { 'trace.id': tx.traceId, 'transaction.id': tx.id, 'span.id': span.spanContext().spanId });
        const db = tracer.startSpan('SELECT orders', { kind: api.SpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'db.name': 'shop', 'db.statement': 'SELECT * FROM orders WHERE id = $1' } });
        db.end();
        const http = tracer.startSpan('GET', { kind: api.SpanKind.CLIENT, attributes: { 'http.url': 'http://prices.local/p/42', 'http.method': 'GET' } });
        http.setStatus({ code: api.SpanStatusCode.ERROR });
        http.end();
        // a spanforge span started under the active OTel span is its child
        const own = sf.startSpan('compute', 'app');
        own.end();
        await new Promise((r) => setTimeout(r, 5));
        span.setStatus({ code: api.SpanStatusCode.OK });
        span.end();
        ids = { outer: span.spanContext().spanId, db: db.spanContext().spanId, http: http.spanContext().spanId, own: own.id };
        return span;
      });
      assert.equal(outer.isRecording(), false, 'ended');
      // back outside: the transaction is current again, the OTel active span is the transaction
      assert.equal(api.trace.getActiveSpan()?.spanContext().spanId, tx.id);
      tx.end();
      ids.tx = tx.id;
      ids.trace = tx.traceId;
    });
    for (const e of transport.events) assertValid(e as Record<string, unknown>);
    transport.assertInvariants();
    const spans = new Map(transport.of('span').map((s) => [s.id, s]));
    const rel = (id: string) => {
      const s = spans.get(id)!;
      return [s.trace_id, s.transaction_id, s.parent_id];
    };
    assert.deepEqual(rel(ids.outer!), [ids.trace, ids.tx, ids.tx]);
    assert.deepEqual(rel(ids.db!), [ids.trace, ids.tx, ids.outer]);
    assert.deepEqual(rel(ids.http!), [ids.trace, ids.tx, ids.outer]);
    assert.deepEqual(rel(ids.own!), [ids.trace, ids.tx, ids.outer]);
    assert.deepEqual(shape(spans.get(ids.outer!)!), {
      name: 'load order', type: 'app', subtype: 'internal', outcome: 'success', sample_rate: 1,
      otel: { span_kind: 'INTERNAL', attributes: { 'order.id': 42, tags: ['a', 'b'] } },
    });
    assert.deepEqual(shape(spans.get(ids.db!)!), {
      name: 'SELECT orders', type: 'db', subtype: 'postgresql', outcome: 'unknown', sample_rate: 1,
      otel: { span_kind: 'CLIENT', attributes: { 'db.system': 'postgresql', 'db.name': 'shop', 'db.statement': 'SELECT * FROM orders WHERE id = $1' } },
      context: { service: { target: { type: 'postgresql', name: 'shop' } }, destination: { service: { name: '', resource: 'postgresql/shop', type: '' } } },
    });
    assert.deepEqual(shape(spans.get(ids.http!)!), {
      name: 'GET', type: 'external', subtype: 'http', outcome: 'failure', sample_rate: 1,
      otel: { span_kind: 'CLIENT', attributes: { 'http.url': 'http://prices.local/p/42', 'http.method': 'GET' } },
      context: { service: { target: { type: 'http', name: 'prices.local:80' } }, destination: { service: { name: '', resource: 'prices.local:80', type: '' } } },
    });
    assert.deepEqual(shape(spans.get(ids.own!)!), { name: 'compute', type: 'app', outcome: 'success', sample_rate: 1 });
    const [tx] = transport.of('transaction');
    assert.deepEqual([tx!.name, tx!.type, tx!.otel, tx!.span_count], ['GET /orders/:id', 'request', undefined, { started: 4, dropped: 0 }]);
  });

  test('no spanforge transaction: the OTel span is the transaction (SERVER + http → request), with a remote parent from the context', T, async () => {
    await start();
    const tracer = api.trace.getTracer('srv');
    const remote = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: api.TraceFlags.SAMPLED, isRemote: true };
    const parentCtx = api.trace.setSpanContext(api.ROOT_CONTEXT, remote);
    let ids: Record<string, string> = {};
    isolated(() => {
      tracer.startActiveSpan('GET /cart/:id', { kind: api.SpanKind.SERVER, attributes: { 'http.scheme': 'http', 'http.method': 'GET', 'http.target': '/cart/7' } }, parentCtx, (server) => {
        assert.equal(sf.currentTransaction()?.id, server.spanContext().spanId);
        const child = tracer.startSpan('render', { kind: api.SpanKind.INTERNAL });
        child.recordException(new Error('template missing'));
        child.end();
        server.setStatus({ code: api.SpanStatusCode.ERROR });
        server.end();
        ids = { tx: server.spanContext().spanId, child: child.spanContext().spanId };
      });
      // a consumer with no attributes → unknown; root: true ignores the active context
      const consumer = tracer.startSpan('poll', { kind: api.SpanKind.CONSUMER, root: true }, parentCtx);
      consumer.end();
      ids.consumer = consumer.spanContext().spanId;
    });
    await sf.flush();
    const txs = new Map(transport.of('transaction').map((t) => [t.id, t]));
    const server = txs.get(ids.tx!)!;
    assert.deepEqual([server.trace_id, server.parent_id], [remote.traceId, remote.spanId]);
    assert.deepEqual(shape(server), {
      name: 'GET /cart/:id', type: 'request', result: 'failure', outcome: 'failure', sampled: true,
      otel: { span_kind: 'SERVER', attributes: { 'http.scheme': 'http', 'http.method': 'GET', 'http.target': '/cart/7' } },
    });
    const consumer = txs.get(ids.consumer!)!;
    assert.notEqual(consumer.trace_id, remote.traceId);
    assert.equal(consumer.parent_id, undefined);
    assert.deepEqual(shape(consumer), { name: 'poll', type: 'unknown', result: 'success', outcome: 'unknown', sampled: true, sample_rate: 1, otel: { span_kind: 'CONSUMER' } });
    const [child] = transport.of('span');
    assert.deepEqual([child!.id, child!.parent_id, child!.transaction_id, child!.trace_id], [ids.child, ids.tx, ids.tx, remote.traceId]);
    assert.deepEqual(shape(child!), { name: 'render', type: 'app', subtype: 'internal', outcome: 'unknown', otel: { span_kind: 'INTERNAL' } });
    const [err] = transport.of('error');
    assert.deepEqual([err!.trace_id, err!.transaction_id, err!.parent_id, err!.exception.message], [remote.traceId, ids.tx, ids.child, 'template missing']);
  });

  test('ELASTIC_APM_OPENTELEMETRY_BRIDGE_ENABLED=true turns it on; off by default the API stays a no-op', T, async () => {
    await start({}, { ELASTIC_APM_OPENTELEMETRY_BRIDGE_ENABLED: 'true' });
    isolated(() => api.trace.getTracer('x').startSpan('via env').end());
    assert.deepEqual(transport.of('transaction').map((t) => [t.name, t.otel.span_kind]), [['via env', 'INTERNAL']]);
    api.trace.disable();
    api.context.disable();
    await start({});
    isolated(() => {
      const tx = sf.startTransaction('job', 'custom');
      const s = api.trace.getTracer('x').startSpan('not bridged');
      assert.equal(s.isRecording(), false);
      s.end();
      tx.end();
    });
    assert.deepEqual(transport.events.map((e) => Object.keys(e)[0]), ['transaction']);
  });

  test('a span limit, an exit parent or an unsampled transaction: a non-recording span with the parent ids', T, async () => {
    await start({ opentelemetryBridgeEnabled: true, transactionSampleRate: 0 });
    const tracer = api.trace.getTracer('x');
    isolated(() => {
      const tx = sf.startTransaction('unsampled', 'custom');
      const s = tracer.startSpan('child');
      assert.equal(s.isRecording(), false);
      assert.deepEqual([s.spanContext().traceId, s.spanContext().spanId, s.spanContext().traceFlags], [tx.traceId, tx.id, 0]);
      s.end();
      tx.end();
    });
    assert.deepEqual(transport.of('span'), []);
  });

  test('@opentelemetry/api missing: a warning, the bridge off, nothing thrown', () => {
    const warnings: string[] = [];
    const logger = { warn: (m: string) => warnings.push(m), error() {}, info() {}, debug() {}, trace() {} };
    assert.equal(enableOtelBridge({ recording: true, logger, startSpan: () => undefined, captureError: () => undefined }, null), false);
    assert.deepEqual(warnings, ['opentelemetryBridgeEnabled is set but @opentelemetry/api cannot be loaded (install it in the app: npm install @opentelemetry/api); the bridge is off']);
  });

  test('the runtime loads @opentelemetry/api only when the bridge is enabled', T, () => {
    const runtime = join(__dirname, '..', '..', 'runtime', 'index.ts');
    const code = (on: boolean) =>
      `const sf = require(${JSON.stringify(runtime)}); sf.start({ serviceName: 'x', disableSend: true, metricsInterval: 0, opentelemetryBridgeEnabled: ${on} });` +
      `console.log(Object.keys(require.cache).filter((k) => k.includes('@opentelemetry')).length > 0); process.exit(0);`;
    for (const on of [false, true]) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code(on)], { cwd: otelRoot, encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), String(on));
    }
  });
});

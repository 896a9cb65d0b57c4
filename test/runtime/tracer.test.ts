// Tests the tracer: exact intake-v2 fields of transactions and spans, sampling, span limits, exit spans, no-ops, filters; every event validates.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { assertValid, freshAgent, type CapturingTransport } from './helpers.js';
import * as api from '../../runtime/index.js';
import { storage } from '../../runtime/context.js';
import { NOOP_SPAN } from '../../runtime/tracer.js';
import type { Agent } from '../../runtime/agent.js';

const { startTransaction, startSpan, currentTraceIds, addFilter } = api;
let transport: CapturingTransport;
let agent: Agent;

async function setup(opts = {}) {
  ({ transport, agent } = await freshAgent(opts));
}
beforeEach(() => setup());

/** Runs fn in an empty context so startTransaction's context does not leak between tests. */
function isolated<R>(fn: () => R): R {
  return storage.run(undefined as never, fn);
}

function validateAll() {
  for (const e of transport.events) assertValid(e as Record<string, unknown>);
  transport.assertInvariants();
}

const HEX16 = /^[0-9a-f]{16}$/;
const HEX32 = /^[0-9a-f]{32}$/;

test('a transaction with a span: exact fields', () => isolated(() => {
  const t0 = Date.now();
  const tx = startTransaction('GET /users/:id', 'request', { startTime: t0 });
  const span = startSpan('SELECT users', 'db', { subtype: 'postgresql', action: 'query', exitSpan: true, startTime: t0 + 1 });
  span.setDbContext({ type: 'sql', instance: 'test', statement: 'SELECT * FROM users WHERE id = $1', user: 'postgres', rowsAffected: 1 });
  span.setDestination({ address: '127.0.0.1', port: 5432 });
  span.setCodeLocation({ file: 'src/users.ts', line: 12, column: 7, function: 'findUser' });
  span.setLabel('shard', 3);
  span.end(t0 + 3.5);
  tx.setLabel('tenant.id', 'acme');
  tx.setUserContext({ id: 42, username: 'ann', email: 'ann@example.com' });
  tx.setCustomContext({ plan: 'gold' });
  tx.setResponseContext({ statusCode: 200 });
  tx.end(t0 + 10.25);
  validateAll();
  const [s] = transport.of('span');
  const [t] = transport.of('transaction');
  assert.match(t!.id, HEX16);
  assert.match(t!.trace_id, HEX32);
  assert.deepEqual(t, {
    id: tx.id,
    trace_id: tx.traceId,
    name: 'GET /users/:id',
    type: 'request',
    timestamp: Math.round(t0 * 1000),
    duration: 10.25,
    outcome: 'success',
    result: 'HTTP 2xx',
    sampled: true,
    sample_rate: 1,
    span_count: { started: 1, dropped: 0 },
    context: {
      response: { status_code: 200 },
      user: { id: 42, username: 'ann', email: 'ann@example.com' },
      tags: { tenant_id: 'acme' },
      custom: { plan: 'gold' },
    },
  });
  assert.deepEqual(s, {
    id: span.id,
    transaction_id: tx.id,
    parent_id: tx.id,
    trace_id: tx.traceId,
    name: 'SELECT users',
    type: 'db',
    subtype: 'postgresql',
    action: 'query',
    timestamp: Math.round((t0 + 1) * 1000),
    duration: 2.5,
    outcome: 'success',
    sample_rate: 1,
    context: {
      tags: { shard: 3 },
      db: { type: 'sql', instance: 'test', user: 'postgres', statement: 'SELECT * FROM users WHERE id = $1', rows_affected: 1 },
      service: { target: { type: 'postgresql', name: 'test' } },
      destination: { service: { resource: 'postgresql/test', name: '', type: '' }, address: '127.0.0.1', port: 5432 },
    },
    stacktrace: [{ filename: 'src/users.ts', lineno: 12, colno: 7, function: 'findUser', library_frame: false }],
  });
}));

test('nested spans get the right parents; an exit span has no children', () => isolated(() => {
  const tx = startTransaction('job', 'worker');
  const outer = startSpan('outer', 'app');
  const inner = agent.withSpan(outer, () => startSpan('inner', 'app'));
  const exit = agent.withSpan(inner, () => startSpan('GET /x', 'external', { subtype: 'http', exitSpan: true }));
  const underExit = agent.withSpan(exit, () => startSpan('nope', 'app'));
  assert.equal(underExit, NOOP_SPAN);
  exit.setHttpContext({ url: 'http://svc-b:8080/x?q=1', method: 'get', statusCode: 503 });
  exit.end();
  inner.end();
  outer.end();
  tx.end();
  validateAll();
  const spans = Object.fromEntries(transport.of('span').map((s) => [s.name, s]));
  assert.equal(spans.outer!.parent_id, tx.id);
  assert.equal(spans.inner!.parent_id, outer.id);
  assert.equal(spans['GET /x']!.parent_id, inner.id);
  assert.equal(spans['GET /x']!.outcome, 'failure');
  assert.deepEqual(spans['GET /x']!.context, {
    http: { url: 'http://svc-b:8080/x?q=1', method: 'GET', response: { status_code: 503 } },
    service: { target: { type: 'http', name: 'svc-b:8080' } },
    destination: { service: { resource: 'svc-b:8080', name: '', type: '' } },
  });
  assert.deepEqual(transport.of('transaction')[0]!.span_count, { started: 3, dropped: 0 });
}));

test('a span whose parent ended attaches to the nearest running ancestor', () => isolated(() => {
  const tx = startTransaction('t');
  const a = startSpan('a');
  a.end();
  const b = agent.withSpan(a, () => startSpan('b'));
  assert.equal(b.parentId, tx.id);
  b.end();
  tx.end();
}));

test('transaction_max_spans: later spans are dropped and counted', async () => {
  await setup({ transactionMaxSpans: 2 });
  isolated(() => {
    const tx = startTransaction('t');
    const spans = [1, 2, 3, 4, 5].map((i) => startSpan(`s${i}`));
    // Over the limit a span is still a span (breakdown metrics and dropped_spans_stats need it), never sent.
    assert.deepEqual(spans.map((s) => (s as { dropped?: boolean }).dropped), [false, false, true, true, true]);
    spans.forEach((s) => s.end());
    tx.end();
  });
  validateAll();
  assert.equal(transport.of('span').length, 2);
  assert.deepEqual(transport.of('transaction')[0]!.span_count, { started: 2, dropped: 3 });
});

test('unsampled transactions are reported without spans or context, sample_rate 0', async () => {
  await setup({ transactionSampleRate: 0 });
  isolated(() => {
    const tx = startTransaction('t', 'request');
    tx.setLabel('a', 1);
    const s = startSpan('s');
    assert.equal(s, NOOP_SPAN);
    // The no-op span still passes the trace along.
    assert.equal(s.traceparent(), `00-${tx.traceId}-${tx.id}-00`);
    assert.equal(s.tracestate(), 'es=s:0');
    s.name = 'ignored';
    s.end();
    tx.end();
  });
  validateAll();
  assert.equal(transport.of('span').length, 0);
  const [t] = transport.of('transaction');
  assert.equal(t!.sampled, false);
  assert.equal(t!.sample_rate, 0);
  assert.equal(t!.context, undefined);
  assert.deepEqual(t!.span_count, { started: 0, dropped: 0 });
});

test('continues an incoming trace: parent id, sampled flag and es=s: rate', () => isolated(() => {
  const T = '0af7651916cd43dd8448eb211c80319c';
  const tx = startTransaction('t', 'request', { childOf: `00-${T}-b7ad6b7169203331-01`, tracestate: 'es=s:0.5,rojo=1' });
  assert.equal(tx.traceId, T);
  assert.equal(tx.traceparent(), `00-${T}-${tx.id}-01`);
  assert.equal(tx.tracestate(), 'es=s:0.5,rojo=1');
  const s = startSpan('s');
  assert.equal(s.traceparent(), `00-${T}-${s.id}-01`);
  s.end();
  tx.end();
  const t = transport.of('transaction')[0]!;
  assert.equal(t.parent_id, 'b7ad6b7169203331');
  assert.equal(t.sample_rate, 0.5);
  assert.equal(transport.of('span')[0]!.sample_rate, 0.5);
  // Upstream sampled without a rate: sample_rate is unknown and left out.
  const tx2 = startTransaction('t2', 'request', { childOf: `00-${T}-b7ad6b7169203331-01` });
  tx2.end();
  assert.equal(transport.of('transaction')[1]!.sample_rate, undefined);
  // Upstream said not sampled.
  const tx3 = startTransaction('t3', 'request', { childOf: `00-${T}-b7ad6b7169203331-00` });
  assert.equal(tx3.sampled, false);
  assert.equal(startSpan('x'), NOOP_SPAN);
  tx3.end();
  // Invalid header: a new trace.
  const tx4 = startTransaction('t4', 'request', { childOf: 'garbage' });
  assert.notEqual(tx4.traceId, T);
  tx4.end();
  validateAll();
}));

test('currentTraceIds for log correlation', () => isolated(() => {
  assert.deepEqual(currentTraceIds(), {});
  const tx = startTransaction('t');
  assert.deepEqual(currentTraceIds(), { 'trace.id': tx.traceId, 'transaction.id': tx.id });
  const s = startSpan('s');
  agent.withSpan(s, () => assert.deepEqual(currentTraceIds(), { 'trace.id': tx.traceId, 'transaction.id': tx.id, 'span.id': s.id }));
  s.end();
  tx.end();
}));

test('keyword fields are truncated to 1024 characters; long fields to longFieldMaxLength', () => isolated(() => {
  const long = 'x'.repeat(3000);
  const tx = startTransaction(long, long);
  const s = startSpan(long, 'db');
  s.setDbContext({ statement: 'y'.repeat(20000) });
  s.end();
  tx.end();
  validateAll();
  const t = transport.of('transaction')[0]!;
  assert.equal(t.name.length, 1024);
  assert.equal(t.name.endsWith('\u2026'), true);
  assert.equal(t.type.length, 1024);
  assert.equal(transport.of('span')[0]!.context.db.statement.length, 10000);
}));

test('request context: headers and cookies sanitized, body per capture_body', async () => {
  await setup({ captureBody: 'transactions' });
  isolated(() => {
    const tx = startTransaction('POST /login', 'request');
    tx.setRequestContext({
      method: 'post',
      url: '/login?next=%2Fhome',
      httpVersion: '1.1',
      headers: { host: 'shop.local:3000', authorization: 'Bearer abc', 'x-api-key': 'k', cookie: 'sid=1; theme=dark; connect.sid=zz', accept: 'text/html', 'content-type': 'application/json' },
      socket: { remoteAddress: '127.0.0.1', encrypted: false },
      body: { user: 'ann', password: 'hunter2', card: { creditCardNumber: '4111' } },
    });
    tx.setResponseContext({ statusCode: 503, headers: { 'set-cookie': ['a=b'], 'content-type': 'text/plain' } });
    tx.end();
  });
  validateAll();
  const t = transport.of('transaction')[0]!;
  assert.equal(t.outcome, 'failure');
  assert.equal(t.result, 'HTTP 5xx');
  assert.deepEqual(t.context.request, {
    method: 'POST',
    http_version: '1.1',
    url: { raw: '/login?next=%2Fhome', pathname: '/login', protocol: 'http', search: '?next=%2Fhome', hostname: 'shop.local', port: '3000', full: 'http://shop.local:3000/login?next=%2Fhome' },
    socket: { remote_address: '127.0.0.1', encrypted: false },
    headers: { host: 'shop.local:3000', authorization: '[REDACTED]', 'x-api-key': '[REDACTED]', cookie: '[REDACTED]', accept: 'text/html', 'content-type': 'application/json' },
    cookies: { sid: '1', theme: 'dark', 'connect.sid': '[REDACTED]' },
    body: { user: 'ann', password: '[REDACTED]', card: '[REDACTED]' },
  });
  assert.deepEqual(t.context.response, { status_code: 503, headers: { 'set-cookie': '[REDACTED]', 'content-type': 'text/plain' } });
});

test('capture_body=off redacts the body; capture_headers=false leaves headers out', async () => {
  await setup({ captureHeaders: false });
  isolated(() => {
    const tx = startTransaction('POST /x', 'request');
    tx.setRequestContext({ method: 'POST', url: '/x', headers: { host: 'h', 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&password=2' });
    tx.end();
  });
  const r = transport.of('transaction')[0]!.context.request;
  assert.equal(r.body, '[REDACTED]');
  assert.equal(r.headers, undefined);
  assert.equal(r.cookies, undefined);
});

test('transaction_ignore_urls: matching transactions and their spans are not sent', async () => {
  await setup({ transactionIgnoreUrls: ['/health*'] });
  isolated(() => {
    const tx = startTransaction('GET /healthz', 'request');
    tx.setRequestContext({ method: 'GET', url: '/healthz?full=1' });
    startSpan('s').end();
    tx.end();
  });
  assert.deepEqual(transport.events, []);
});

test('transaction_ignore_urls: ignored transactions stay out of breakdown metrics; stop() sends the last interval', async () => {
  // An hour-long interval: the only metrics round is the one stop() runs.
  await setup({ transactionIgnoreUrls: ['/health*'], metricsInterval: '1h' });
  isolated(() => {
    const ignored = startTransaction('GET /healthz', 'request');
    ignored.setRequestContext({ method: 'GET', url: '/healthz' });
    startSpan('probe', 'db').end();
    ignored.end();
    const kept = startTransaction('GET /users', 'request');
    kept.setRequestContext({ method: 'GET', url: '/users' });
    kept.end();
  });
  assert.equal(transport.of('metricset').length, 0);
  await agent.stop(500);
  const sets = transport.of('metricset');
  const names = sets.filter((m) => m.transaction).map((m) => `${m.transaction.type} ${m.transaction.name}${m.span ? ` ${m.span.type}` : ''}`);
  assert.deepEqual(names.sort(), ['request GET /users', 'request GET /users app']);
  assert.ok(sets.some((m) => m.samples['system.memory.total']), 'the system metricset goes out at stop() too');
  assert.deepEqual(transport.of('transaction').map((t) => t.name), ['GET /users']);
});

test('filters can redact and drop; a throwing filter drops the event', () => isolated(() => {
  addFilter((p, kind) => (kind === 'span' && p.name === 'drop-me' ? null : p));
  addFilter((p, kind) => {
    if (kind === 'transaction') p.name = 'redacted';
  });
  addFilter((p) => {
    if (p.name === 'boom') throw new Error('filter bug');
    return p;
  });
  const tx = startTransaction('secret-name');
  startSpan('drop-me').end();
  startSpan('keep-me').end();
  startSpan('boom').end();
  tx.end();
  assert.deepEqual(transport.of('span').map((s) => s.name), ['keep-me']);
  assert.equal(transport.of('transaction')[0]!.name, 'redacted');
}));

test('outcome and result defaults; end() twice does nothing; setters after end are ignored', () => isolated(() => {
  const tx = startTransaction('t');
  const s = startSpan('s');
  s.end();
  s.end();
  s.setLabel('late', 1);
  tx.end();
  tx.end();
  tx.setResult('late');
  assert.equal(transport.of('span').length, 1);
  assert.equal(transport.of('transaction').length, 1);
  const t = transport.of('transaction')[0]!;
  assert.equal(t.outcome, 'unknown');
  assert.equal(t.result, 'success');
  assert.equal(transport.of('span')[0]!.context, undefined);
}));

test('breakdown hooks receive timings with child intervals', async () => {
  await setup({ metricsInterval: '30s', breakdownMetrics: true });
  const ended: unknown[] = [];
  agent.addHooks({ onSpanEnd: (s) => ended.push(['span', s]), onTransactionEnd: (t) => ended.push(['tx', t]) });
  isolated(() => {
    const t0 = 1_700_000_000_000;
    const tx = startTransaction('t', 'request', { startTime: t0 });
    const a = startSpan('a', 'db', { subtype: 'pg', startTime: t0 + 1 });
    const b = startSpan('b', 'app', { startTime: t0 + 2 });
    a.end(t0 + 5);
    tx.end(t0 + 10);
    b.end(t0 + 12);
  });
  const us = (ms: number) => Math.round((1_700_000_000_000 + ms) * 1000);
  assert.deepEqual(ended, [
    ['span', { type: 'db', subtype: 'pg', startUs: us(1), endUs: us(5), childIntervals: [], transactionType: 'request', transactionName: 't' }],
    ['tx', { type: 'request', name: 't', sampled: true, startUs: us(0), endUs: us(10), childIntervals: [us(1), us(5), us(2), NaN] }],
    ['span', { type: 'app', subtype: undefined, startUs: us(2), endUs: us(12), childIntervals: [], transactionType: 'request', transactionName: 't' }],
  ]);
});

test('inactive agent: everything is a no-op that never throws', async () => {
  await setup({ active: false });
  isolated(() => {
    const tx = startTransaction('t');
    assert.equal(tx.traceparent(), '');
    tx.name = 'x';
    tx.setLabel('a', 1);
    tx.end();
    const s = startSpan('s');
    assert.equal(s, NOOP_SPAN);
    s.setDbContext({ statement: 'x' });
    s.end();
    assert.equal(api.currentTransaction(), undefined);
    api.captureError(new Error('x'));
    assert.equal(api.setLabel('a', 1), false);
  });
  await api.flush();
  assert.deepEqual(transport.events, []);
});

test('request URLs: absolute-form targets and a leading "//" keep pathname and host right', () => isolated(() => {
  const a = startTransaction('a', 'request');
  a.setRequestContext({ method: 'GET', url: 'http://proxy.example:8080/p/q?x=1', headers: { host: 'proxy.example:8080' } });
  a.end();
  const b = startTransaction('b', 'request');
  b.setRequestContext({ method: 'GET', url: '//evil.example/x', headers: { host: 'shop.local' } });
  b.end();
  validateAll();
  const [ta, tb] = transport.of('transaction');
  assert.equal(ta!.context.request.url.pathname, '/p/q');
  assert.equal(ta!.context.request.url.full, 'http://proxy.example:8080/p/q?x=1');
  assert.equal(tb!.context.request.url.hostname, 'shop.local', 'a protocol-relative path must not change the host');
  assert.equal(tb!.context.request.url.full, 'http://shop.local//evil.example/x');
}));

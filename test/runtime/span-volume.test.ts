// Span volume controls, as the agent spec "handling huge traces" defines them: span compression (exact_match,
// same_kind, composite), transaction_max_spans with dropped_spans_stats, exit_span_min_duration, and
// span_stack_trace_min_duration; exact events, boundaries, and every event validated against the intake schemas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertValid, freshAgent, type CapturingTransport } from './helpers.js';
import * as api from '../../runtime/index.js';
import { storage } from '../../runtime/context.js';
import type { AgentOptions } from '../../runtime/config.js';
import type { Span } from '../../runtime/types.js';

const { startTransaction, startSpan } = api;
const T0 = 1_700_000_000_000; // an integer epoch ms, so that every duration below is exact

function isolated<R>(fn: () => R): R {
  return storage.run(undefined as never, fn);
}

async function run(opts: AgentOptions, body: () => void, env: NodeJS.ProcessEnv = {}): Promise<CapturingTransport> {
  const { transport } = await freshAgent({ breakdownMetrics: false, ...opts }, env);
  isolated(body);
  for (const e of transport.events) assertValid(e as Record<string, unknown>);
  transport.assertInvariants();
  return transport;
}

/** A PostgreSQL query span as the pg integration makes it: exit, db/postgresql/query, instance "test". */
function pg(name: string, start: number, end: number, edit?: (s: Span) => void): Span {
  const s = startSpan(name, 'db', { subtype: 'postgresql', action: 'query', exitSpan: true, startTime: start });
  s.setDbContext({ type: 'sql', instance: 'test', statement: `${name} /* at ${start} */` });
  edit?.(s);
  s.end(end);
  return s;
}

const PG_TARGET = { service: { target: { type: 'postgresql', name: 'test' } }, destination: { service: { resource: 'postgresql/test', name: '', type: '' } } };

test('a loop of 100 identical queries is one composite span (exact_match, count 100, sum, gross duration)', { timeout: 20_000 }, async () => {
  const tr = await run({}, () => {
    const tx = startTransaction('GET /users', 'request', { startTime: T0 });
    for (let i = 0; i < 100; i++) pg('SELECT FROM users', T0 + 1 + i * 2, T0 + 1 + i * 2 + 1.5);
    tx.end(T0 + 300);
  });
  const spans = tr.of('span');
  assert.equal(spans.length, 1);
  const s = spans[0]!;
  assert.equal(s.name, 'SELECT FROM users');
  assert.equal(s.timestamp, (T0 + 1) * 1000);
  assert.equal(s.duration, 199.5); // first start to last end
  assert.deepEqual(s.composite, { compression_strategy: 'exact_match', count: 100, sum: 150 });
  assert.deepEqual(s.context, { db: { type: 'sql', instance: 'test', statement: 'SELECT FROM users /* at 1700000000001 */' }, ...PG_TARGET });
  const [t] = tr.of('transaction');
  assert.deepEqual(t!.span_count, { started: 1, dropped: 0 });
  assert.equal(t!.dropped_spans_stats, undefined);
  // The composite goes out before its transaction.
  assert.deepEqual(tr.events.map((e) => Object.keys(e)[0]), ['span', 'transaction']);
});

test('same_kind: different statements to one database become "Calls to <resource>" when same_kind_max_duration allows', { timeout: 20_000 }, async () => {
  const tr = await run({ spanCompressionSameKindMaxDuration: '5ms' }, () => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    pg('SELECT FROM a', T0 + 1, T0 + 2);
    pg('SELECT FROM b', T0 + 3, T0 + 8); // exactly 5 ms: still same_kind
    pg('SELECT FROM a', T0 + 9, T0 + 10); // the strategy is fixed: a same_kind sequence takes any name of the kind
    tx.end(T0 + 20);
  });
  const [s] = tr.of('span');
  assert.equal(tr.of('span').length, 1);
  assert.equal(s!.name, 'Calls to postgresql/test');
  assert.deepEqual(s!.composite, { compression_strategy: 'same_kind', count: 3, sum: 7 });
  assert.equal(s!.duration, 9);
  assert.deepEqual(tr.of('transaction')[0]!.span_count, { started: 1, dropped: 0 });
});

test('same_kind_max_duration defaults to 0 ms: different names are never compressed by default', { timeout: 20_000 }, async () => {
  const tr = await run({}, () => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    pg('SELECT FROM a', T0 + 1, T0 + 2);
    pg('SELECT FROM b', T0 + 3, T0 + 4);
    tx.end(T0 + 10);
  });
  assert.deepEqual(tr.of('span').map((s) => [s.name, s.composite]), [['SELECT FROM a', undefined], ['SELECT FROM b', undefined]]);
});

test('exact_match boundary: 50 ms compresses, 50.001 ms ends the sequence and same_kind is not tried', { timeout: 20_000 }, async () => {
  const tr = await run({ spanCompressionSameKindMaxDuration: '1s' }, () => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    pg('Q', T0 + 0, T0 + 50);
    pg('Q', T0 + 100, T0 + 150);
    pg('Q', T0 + 200, T0 + 250.001);
    tx.end(T0 + 300);
  });
  const spans = tr.of('span');
  assert.deepEqual(spans.map((s) => [s.name, s.duration, s.composite]), [
    ['Q', 150, { compression_strategy: 'exact_match', count: 2, sum: 100 }],
    ['Q', 50.001, undefined],
  ]);
  assert.deepEqual(tr.of('transaction')[0]!.span_count, { started: 2, dropped: 0 });
});

test('span_compression_exact_match_max_duration accepts fractional and unit values ("0.5ms", "2s", "500us")', { timeout: 20_000 }, async () => {
  for (const [value, durations, expected] of [
    ['0.5ms', [0.5, 0.5], 1],
    ['0.5ms', [0.5, 0.501], 2],
    ['500us', [0.5, 0.5], 1],
    ['2s', [2000, 2000], 1],
    ['2s', [2000, 2000.001], 2],
  ] as const) {
    const tr = await run({ spanCompressionExactMatchMaxDuration: value }, () => {
      const tx = startTransaction('t', 'request', { startTime: T0 });
      let at = T0;
      for (const d of durations) {
        pg('Q', at, at + d);
        at += d + 1;
      }
      tx.end(at + 1);
    });
    assert.equal(tr.of('span').length, expected, `${value} with ${durations.join(', ')} ms`);
  }
});

test('only consecutive compression-eligible siblings compress: a non-exit sibling, a failure, a propagated context break the run', { timeout: 20_000 }, async () => {
  const tr = await run({}, () => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    pg('Q', T0 + 1, T0 + 2);
    pg('Q', T0 + 3, T0 + 4);
    startSpan('compute', 'app', { startTime: T0 + 5 }).end(T0 + 6); // not an exit span: reported at once, after the buffered pair
    pg('Q', T0 + 7, T0 + 8);
    pg('Q', T0 + 9, T0 + 10, (s) => s.setOutcome('failure')); // failed: not eligible
    pg('Q', T0 + 11, T0 + 12);
    pg('Q', T0 + 13, T0 + 14, (s) => void s.traceparent()); // context went downstream: not eligible
    pg('Q', T0 + 15, T0 + 16);
    pg('Q', T0 + 17, T0 + 18);
    tx.end(T0 + 30);
  });
  assert.deepEqual(
    tr.of('span').map((s) => [s.name, s.timestamp / 1000 - T0, s.outcome, s.composite?.count]),
    [
      ['Q', 1, 'success', 2],
      ['compute', 5, 'success', undefined],
      ['Q', 7, 'success', undefined],
      ['Q', 9, 'failure', undefined],
      ['Q', 11, 'success', undefined],
      ['Q', 13, 'success', undefined],
      ['Q', 15, 'success', 2],
    ],
  );
  assert.deepEqual(tr.of('transaction')[0]!.span_count, { started: 7, dropped: 0 });
});

test('compression is per parent: children of different parents never merge; a child ending after its parent ended is sent at once', { timeout: 20_000 }, async () => {
  const tr = await run({}, () => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    const a = startSpan('a', 'app', { startTime: T0 + 1 });
    const a1 = storage.run(a as never, () => pg('Q', T0 + 2, T0 + 3));
    void a1;
    const late = storage.run(a as never, () => startSpan('Q', 'db', { subtype: 'postgresql', exitSpan: true, startTime: T0 + 4 }));
    late.setDbContext({ instance: 'test' });
    a.end(T0 + 5);
    late.end(T0 + 6); // its parent has ended: no buffering
    pg('Q', T0 + 7, T0 + 8); // a sibling of "a", not of the queries under it
    tx.end(T0 + 10);
  });
  assert.deepEqual(tr.of('span').map((s) => [s.name, s.timestamp / 1000 - T0, s.composite?.count ?? 1]), [
    ['Q', 2, 1],
    ['a', 1, 1],
    ['Q', 4, 1],
    ['Q', 7, 1],
  ]);
});

test('span_compression_enabled=false (environment): every query is its own span', { timeout: 20_000 }, async () => {
  const tr = await run({}, () => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    for (let i = 0; i < 100; i++) pg('SELECT FROM users', T0 + i, T0 + i + 0.5);
    tx.end(T0 + 200);
  }, { ELASTIC_APM_SPAN_COMPRESSION_ENABLED: 'false' });
  assert.equal(tr.of('span').length, 100);
  assert.deepEqual(tr.of('transaction')[0]!.span_count, { started: 100, dropped: 0 });
});

test('transaction_max_spans: 600 queries → 500 spans, span_count.dropped 100 and dropped_spans_stats by destination and outcome', { timeout: 30_000 }, async () => {
  const tr = await run({ spanCompressionEnabled: false }, () => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    for (let i = 0; i < 600; i++) pg('Q', T0 + i, T0 + i + 0.25, i % 3 === 2 && i >= 500 ? (s) => s.setOutcome('failure') : undefined);
    tx.end(T0 + 700);
  });
  assert.equal(tr.of('span').length, 500);
  const [t] = tr.of('transaction');
  assert.deepEqual(t!.span_count, { started: 500, dropped: 100 });
  // Spans 500..599: those with i % 3 === 2 failed (34 of them, 500 first), the other 66 succeeded; 0.25 ms each.
  assert.deepEqual(t!.dropped_spans_stats, [
    { destination_service_resource: 'postgresql/test', service_target_type: 'postgresql', service_target_name: 'test', outcome: 'failure', duration: { count: 34, sum: { us: 34 * 250 } } },
    { destination_service_resource: 'postgresql/test', service_target_type: 'postgresql', service_target_name: 'test', outcome: 'success', duration: { count: 66, sum: { us: 66 * 250 } } },
  ]);
});

test('transaction_max_spans boundary: exactly the limit is all sent; one more is dropped; non-exit drops count without stats', { timeout: 20_000 }, async () => {
  let tr = await run({ transactionMaxSpans: 3, spanCompressionEnabled: false }, () => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    for (let i = 0; i < 3; i++) pg('Q', T0 + i, T0 + i + 0.5);
    tx.end(T0 + 10);
  });
  assert.equal(tr.of('span').length, 3);
  assert.deepEqual(tr.of('transaction')[0]!.span_count, { started: 3, dropped: 0 });
  assert.equal(tr.of('transaction')[0]!.dropped_spans_stats, undefined);
  tr = await run({ transactionMaxSpans: 3, spanCompressionEnabled: false }, () => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    for (let i = 0; i < 3; i++) pg('Q', T0 + i, T0 + i + 0.5);
    const over = startSpan('over', 'app', { startTime: T0 + 4 });
    // A dropped span passes its nearest reported ancestor downstream, never its own (unsent) id.
    assert.equal(over.traceparent(), tx.traceparent());
    const child = storage.run(over as never, () => startSpan('child', 'app', { startTime: T0 + 5 }));
    assert.equal((child as { dropped?: boolean }).dropped, true);
    child.end(T0 + 6);
    over.end(T0 + 7);
    pg('Q', T0 + 8, T0 + 9);
    tx.end(T0 + 10);
  });
  assert.deepEqual(tr.of('span').map((s) => s.name), ['Q', 'Q', 'Q']);
  const [t] = tr.of('transaction');
  assert.deepEqual(t!.span_count, { started: 3, dropped: 3 });
  assert.deepEqual(t!.dropped_spans_stats, [
    { destination_service_resource: 'postgresql/test', service_target_type: 'postgresql', service_target_name: 'test', outcome: 'success', duration: { count: 1, sum: { us: 1000 } } },
  ]);
});

test('with compression on, spans compressed away still used their place under transaction_max_spans', { timeout: 20_000 }, async () => {
  const tr = await run({ transactionMaxSpans: 500 }, () => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    for (let i = 0; i < 600; i++) pg('Q', T0 + i, T0 + i + 0.5);
    tx.end(T0 + 700);
  });
  const spans = tr.of('span');
  assert.equal(spans.length, 1);
  assert.deepEqual(spans[0]!.composite, { compression_strategy: 'exact_match', count: 500, sum: 250 });
  const [t] = tr.of('transaction');
  assert.deepEqual(t!.span_count, { started: 1, dropped: 100 });
  assert.deepEqual(t!.dropped_spans_stats![0].duration, { count: 100, sum: { us: 50_000 } });
});

test('dropped_spans_stats keeps at most 128 destination buckets', { timeout: 20_000 }, async () => {
  const tr = await run({ transactionMaxSpans: 0 }, () => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    for (let i = 0; i < 200; i++) {
      const s = startSpan('GET', 'external', { subtype: 'http', exitSpan: true, startTime: T0 + i });
      s.setHttpContext({ url: `http://host-${i}:80${i % 10}/x`, method: 'GET', statusCode: 200 });
      s.end(T0 + i + 1);
    }
    tx.end(T0 + 300);
  });
  const [t] = tr.of('transaction');
  assert.deepEqual(t!.span_count, { started: 0, dropped: 200 });
  assert.equal(t!.dropped_spans_stats!.length, 128);
  assert.deepEqual(t!.dropped_spans_stats![0], {
    destination_service_resource: 'host-0:800', service_target_type: 'http', service_target_name: 'host-0:800', outcome: 'success', duration: { count: 1, sum: { us: 1000 } },
  });
});

test('exit_span_min_duration: below the threshold dropped into dropped_spans_stats, exactly at it kept ("0.5ms")', { timeout: 20_000 }, async () => {
  const tr = await run({ exitSpanMinDuration: '0.5ms', spanCompressionEnabled: false }, () => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    pg('fast', T0 + 1, T0 + 1.499);
    pg('at', T0 + 2, T0 + 2.5);
    pg('failed', T0 + 3, T0 + 3.1, (s) => s.setOutcome('failure')); // an error is never discarded
    pg('propagated', T0 + 4, T0 + 4.1, (s) => void s.traceparent()); // nor a span whose context went downstream
    startSpan('internal', 'app', { startTime: T0 + 5 }).end(T0 + 5.1); // nor a span that is not an exit span
    tx.end(T0 + 10);
  });
  assert.deepEqual(tr.of('span').map((s) => s.name), ['at', 'failed', 'propagated', 'internal']);
  const [t] = tr.of('transaction');
  assert.deepEqual(t!.span_count, { started: 4, dropped: 1 });
  assert.deepEqual(t!.dropped_spans_stats, [
    { destination_service_resource: 'postgresql/test', service_target_type: 'postgresql', service_target_name: 'test', outcome: 'success', duration: { count: 1, sum: { us: 499 } } },
  ]);
});

test('exit_span_min_duration units: "2s", "250us", a bare number is milliseconds (ELASTIC_APM_EXIT_SPAN_MIN_DURATION)', { timeout: 20_000 }, async () => {
  for (const [value, dur, kept] of [
    ['2s', 1999.999, false],
    ['2s', 2000, true],
    ['250us', 0.249, false],
    ['250us', 0.25, true],
    ['3', 2.9, false],
    ['3', 3, true],
    ['0ms', 0, true],
  ] as const) {
    const tr = await run({}, () => {
      const tx = startTransaction('t', 'request', { startTime: T0 });
      pg('Q', T0 + 1, T0 + 1 + dur);
      tx.end(T0 + 3000);
    }, { ELASTIC_APM_EXIT_SPAN_MIN_DURATION: value });
    assert.equal(tr.of('span').length, kept ? 1 : 0, `${value} with a ${dur} ms span`);
    assert.deepEqual(tr.of('transaction')[0]!.span_count, kept ? { started: 1, dropped: 0 } : { started: 0, dropped: 1 });
  }
});

test('exit_span_min_duration applies to a composite span: its duration decides, its count and sum go to the stats', { timeout: 20_000 }, async () => {
  const make = () => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    for (let i = 0; i < 10; i++) pg('GET k', T0 + i, T0 + i + 0.5);
    tx.end(T0 + 20);
  };
  // 10 × 0.5 ms, gross 9.5 ms
  let tr = await run({ exitSpanMinDuration: '9.5ms' }, make);
  assert.deepEqual(tr.of('span')[0]!.composite, { compression_strategy: 'exact_match', count: 10, sum: 5 });
  tr = await run({ exitSpanMinDuration: '9.501ms' }, make);
  assert.equal(tr.of('span').length, 0);
  const [t] = tr.of('transaction');
  assert.deepEqual(t!.span_count, { started: 0, dropped: 10 });
  assert.deepEqual(t!.dropped_spans_stats![0].duration, { count: 10, sum: { us: 5000 } });
});

test('span_stack_trace_min_duration: off by default (the build-time code location is the frame); 0 and "10ms" capture the real stack', { timeout: 20_000 }, async () => {
  const one = (dur: number) => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    const s = startSpan('s', 'app', { startTime: T0 + 1 });
    s.setCodeLocation({ file: 'src/users.ts', line: 12, column: 7, function: 'findUser' });
    s.end(T0 + 1 + dur);
    tx.end(T0 + 100);
  };
  const hoisted = [{ filename: 'src/users.ts', lineno: 12, colno: 7, function: 'findUser', library_frame: false }];
  let tr = await run({}, () => one(50));
  assert.deepEqual(tr.of('span')[0]!.stacktrace, hoisted);
  for (const [value, dur, real] of [['0ms', 0, true], ['10ms', 9.999, false], ['10ms', 10, true], ['-1ms', 50, false]] as const) {
    tr = await run({ spanStackTraceMinDuration: value }, () => one(dur));
    const frames = tr.of('span')[0]!.stacktrace as Array<Record<string, unknown>>;
    if (!real) {
      assert.deepEqual(frames, hoisted, `${value} with ${dur} ms`);
      continue;
    }
    assert.ok(frames.length > 1, `${value} with ${dur} ms: a real stack`);
    assert.match(String(frames[0]!.filename), /span-volume\.test\.ts$/);
    assert.equal(frames[0]!.function, 'one');
    assert.equal(frames[0]!.library_frame, false);
    assert.ok(frames.every((f) => !/[\\/]runtime[\\/](agent|tracer|index)\.[cm]?[jt]s$/.test(String(f.filename))), 'no frames of the runtime itself');
  }
});

test('transaction_max_spans is read once when the transaction starts', { timeout: 20_000 }, async () => {
  const { agent, transport } = await freshAgent({ transactionMaxSpans: 1, spanCompressionEnabled: false, breakdownMetrics: false });
  isolated(() => {
    const tx = startTransaction('t', 'request', { startTime: T0 });
    agent.config = { ...agent.config, transactionMaxSpans: 5 };
    pg('Q', T0 + 1, T0 + 2);
    pg('Q', T0 + 3, T0 + 4);
    tx.end(T0 + 10);
  });
  assert.deepEqual(transport.of('transaction')[0]!.span_count, { started: 1, dropped: 1 });
});

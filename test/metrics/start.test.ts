// startMetrics() options in process: off switches, disable_metrics patterns, global labels as tags,
// finite values only, bad options, and a collector that never throws into the app.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMetrics } from '../../runtime/metrics/index.js';
import type { MetricsOptions } from '../../runtime/metrics/index.js';
import { compileWildcards } from '../../runtime/metrics/wildcard.js';
import type { IntakeEvent, TracerHooks } from '../../runtime/types.js';
import { assertValidMetricset } from './_schema.js';

type Inner = {
  timestamp: number;
  tags?: Record<string, unknown>;
  transaction?: { type: string; name: string };
  span?: { type: string; subtype?: string };
  samples: Record<string, { value: number }>;
};

function harness(over: Partial<MetricsOptions> = {}) {
  const sent: Inner[] = [];
  const logs: { level: string; msg: string }[] = [];
  const hooks: TracerHooks[] = [];
  const log = (level: string) => (msg: string) => void logs.push({ level, msg });
  const opts: MetricsOptions = {
    // An hour: rounds in these tests come only from collectNow().
    metricsInterval: 3_600_000,
    breakdownMetrics: true,
    disableMetrics: [],
    globalLabels: {},
    send: (e: IntakeEvent) => {
      assert.ok('metricset' in e);
      assertValidMetricset(e.metricset);
      sent.push(e.metricset as Inner);
    },
    logger: { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug'), trace: log('trace') },
    addHooks: (h) => void hooks.push(h),
    ...over,
  };
  const handle = startMetrics(opts);
  return { handle, sent, logs, hooks };
}

const sampleNames = (sent: Inner[]) => [...new Set(sent.flatMap((m) => Object.keys(m.samples)))].sort();

test('one round sends the system/runtime metricset and four GC metricsets, all valid', async (t) => {
  const { handle, sent } = harness();
  t.after(() => handle.stop());
  // CPU percentages need the kernel's tick counters (10 ms) to move between two readings.
  await new Promise((r) => setTimeout(r, 50));
  handle.collectNow();
  const names = sampleNames(sent);
  for (const n of [
    'system.cpu.total.norm.pct',
    'system.memory.total',
    'system.memory.actual.free',
    'system.process.cpu.total.norm.pct',
    'system.process.cpu.user.norm.pct',
    'system.process.cpu.system.norm.pct',
    'system.process.memory.rss.bytes',
    'nodejs.handles.active',
    'nodejs.requests.active',
    'nodejs.eventloop.delay.avg.ms',
    'nodejs.eventloop.delay.p99.ms',
    'nodejs.eventloop.delay.max.ms',
    'nodejs.eventloop.utilization',
    'nodejs.memory.heap.allocated.bytes',
    'nodejs.memory.heap.used.bytes',
    'nodejs.memory.external.bytes',
    'nodejs.memory.arrayBuffers.bytes',
    'nodejs.gc.count',
    'nodejs.gc.time.ms',
  ]) {
    assert.ok(names.includes(n), `${n} missing`);
  }
  if (process.platform === 'linux') assert.ok(names.includes('system.process.memory.size'));
  assert.equal(sent.length, 5);
  assert.deepEqual(sent.slice(1).map((m) => m.tags), [
    { v8js_gc_type: 'minor' },
    { v8js_gc_type: 'major' },
    { v8js_gc_type: 'incremental' },
    { v8js_gc_type: 'weakcb' },
  ]);
  for (const m of sent) {
    assert.ok(Number.isInteger(m.timestamp) && Math.abs(m.timestamp / 1000 - Date.now()) < 5000);
    assert.equal(m.transaction, undefined);
  }
});

test('breakdown rows go out with transaction/span fields, then reset', (t) => {
  const { handle, sent, hooks } = harness();
  t.after(() => handle.stop());
  assert.equal(hooks.length, 1);
  hooks[0]!.onSpanEnd!({
    type: 'db',
    subtype: 'postgresql',
    startUs: 1010,
    endUs: 1040,
    childIntervals: [],
    transactionType: 'request',
    transactionName: 'GET /users/:id',
  });
  hooks[0]!.onTransactionEnd!({ type: 'request', name: 'GET /users/:id', sampled: true, startUs: 1000, endUs: 1100, childIntervals: [1010, 1040] });
  handle.collectNow();
  const rows = sent.filter((m) => m.transaction !== undefined);
  assert.deepEqual(
    rows.map(({ timestamp: _t, ...rest }) => rest),
    [
      {
        transaction: { type: 'request', name: 'GET /users/:id' },
        samples: {
          'transaction.duration.count': { value: 1 },
          'transaction.duration.sum.us': { value: 100 },
          'transaction.breakdown.count': { value: 1 },
        },
      },
      {
        transaction: { type: 'request', name: 'GET /users/:id' },
        span: { type: 'db', subtype: 'postgresql' },
        samples: { 'span.self_time.count': { value: 1 }, 'span.self_time.sum.us': { value: 30 } },
      },
      {
        transaction: { type: 'request', name: 'GET /users/:id' },
        span: { type: 'app' },
        samples: { 'span.self_time.count': { value: 1 }, 'span.self_time.sum.us': { value: 70 } },
      },
    ],
  );
  sent.length = 0;
  handle.collectNow();
  assert.equal(sent.filter((m) => m.transaction !== undefined).length, 0, 'breakdown not reset after the send');
});

test('breakdownMetrics=false registers no hooks and sends no breakdown rows', (t) => {
  const { handle, sent, hooks } = harness({ breakdownMetrics: false });
  t.after(() => handle.stop());
  assert.equal(hooks.length, 0);
  handle.collectNow();
  assert.ok(sent.length > 0);
  assert.equal(sent.filter((m) => m.transaction !== undefined).length, 0);
});

test('metricsInterval=0 turns everything off: no hooks, no rounds, no timer', () => {
  const { handle, sent, hooks } = harness({ metricsInterval: 0 });
  assert.equal(hooks.length, 0);
  handle.collectNow();
  handle.stop();
  assert.deepEqual(sent, []);
});

test('disableMetrics wildcards drop samples; a metricset left empty is not sent', (t) => {
  const { handle, sent, hooks } = harness({
    disableMetrics: ['system.*', 'NODEJS.GC.*', '(?-i)NodeJS.handles.active', '*.self_time.sum.us', 'transaction.duration.*'],
  });
  t.after(() => handle.stop());
  hooks[0]!.onTransactionEnd!({ type: 'request', name: 'x', sampled: true, startUs: 0, endUs: 10, childIntervals: [] });
  handle.collectNow();
  const names = sampleNames(sent);
  assert.deepEqual(names.filter((n) => n.startsWith('system.')), []);
  assert.ok(!names.includes('nodejs.gc.count') && !names.includes('nodejs.gc.time.ms'));
  // case-sensitive pattern with different case: handles stay
  assert.ok(names.includes('nodejs.handles.active'));
  assert.ok(!names.includes('span.self_time.sum.us') && names.includes('span.self_time.count'));
  assert.deepEqual(
    sent.filter((m) => m.transaction !== undefined).map((m) => Object.keys(m.samples)),
    [['transaction.breakdown.count'], ['span.self_time.count']],
  );
  // GC metricsets would be empty: none sent
  assert.equal(sent.filter((m) => m.tags?.v8js_gc_type !== undefined).length, 0);
});

test('wildcard matcher: Elastic syntax', () => {
  const m = compileWildcards(['nodejs.*.bytes', '(?-i)System.CPU*', 'exact.name', '  ', '*delay*']);
  assert.equal(m('nodejs.memory.heap.used.bytes'), true);
  assert.equal(m('NODEJS.MEMORY.EXTERNAL.BYTES'), true);
  assert.equal(m('nodejs.handles.active'), false);
  assert.equal(m('system.cpu.total.norm.pct'), false);
  assert.equal(m('System.CPU.total'), true);
  assert.equal(m('exact.name'), true);
  assert.equal(m('exactXname'), false, 'dots are literal');
  assert.equal(m('nodejs.eventloop.delay.avg.ms'), true);
  assert.equal(compileWildcards([])('anything'), false);
  assert.equal(compileWildcards(['*'])('anything'), true);
});

test('global labels become tags: keys de-dotted, long strings cut, non-finite and non-scalar values left out', (t) => {
  const { handle, sent } = harness({
    globalLabels: {
      env: 'prod',
      'region.zone': 'eu-1',
      n: 3,
      bad: NaN,
      inf: Infinity,
      on: true,
      none: null,
      long: 'x'.repeat(2000),
      obj: { a: 1 } as unknown as string,
    },
  });
  t.after(() => handle.stop());
  handle.collectNow();
  assert.deepEqual(sent[0]!.tags, { env: 'prod', region_zone: 'eu-1', n: 3, on: true, none: null, long: 'x'.repeat(1024) });
  assert.equal(sent[1]!.tags?.v8js_gc_type, 'minor');
  assert.equal(sent[1]!.tags?.env, 'prod');
});

test('non-finite breakdown values are not put on the wire', (t) => {
  const { handle, sent, hooks } = harness();
  t.after(() => handle.stop());
  hooks[0]!.onTransactionEnd!({ type: 'request', name: 'x', sampled: true, startUs: 0, endUs: Infinity, childIntervals: [] });
  handle.collectNow();
  const tx = sent.find((m) => m.transaction !== undefined && m.span === undefined)!;
  assert.deepEqual(Object.keys(tx.samples), ['transaction.duration.count', 'transaction.breakdown.count']);
  const app = sent.find((m) => m.span?.type === 'app')!;
  assert.deepEqual(Object.keys(app.samples), ['span.self_time.count']);
  const text = JSON.stringify(sent);
  assert.ok(!text.includes('null') && !text.includes('Infinity'));
});

test('long transaction names are cut to the schema limit', (t) => {
  const { handle, sent, hooks } = harness();
  t.after(() => handle.stop());
  hooks[0]!.onTransactionEnd!({ type: 'request', name: 'n'.repeat(1500), sampled: true, startUs: 0, endUs: 1, childIntervals: [] });
  handle.collectNow();
  assert.equal(sent.find((m) => m.transaction !== undefined)!.transaction!.name, 'n'.repeat(1024));
});

test('bad options: a clear error naming the option, metrics off, nothing thrown', () => {
  for (const [over, expected] of [
    [{ metricsInterval: -5 }, /metricsInterval must be a finite number of milliseconds >= 0 \(0 = off\), got -5/],
    [{ metricsInterval: NaN }, /metricsInterval .* got NaN/],
    [{ metricsInterval: '30s' as unknown as number }, /metricsInterval .* got 30s/],
    [{ metricsInterval: 3e9 }, /metricsInterval 3000000000 ms is longer than a timer allows/],
    [{ disableMetrics: 'system.*' as unknown as string[] }, /disableMetrics must be an array of wildcard patterns/],
    [{ metricsLimit: -1 }, /metricsLimit must be an integer >= 0, got -1/],
  ] as const) {
    const { handle, sent, logs, hooks } = harness(over as Partial<MetricsOptions>);
    assert.equal(logs.length, 1, JSON.stringify(over));
    assert.equal(logs[0]!.level, 'error');
    assert.match(logs[0]!.msg, expected);
    assert.match(logs[0]!.msg, /metrics are off$/);
    handle.collectNow();
    assert.deepEqual(sent, []);
    assert.equal(hooks.length, 0);
  }
});

test('a failing send is caught and logged once; the app never sees it', (t) => {
  let calls = 0;
  const { handle, logs } = harness({
    send: () => {
      calls++;
      throw new Error('transport exploded');
    },
  });
  t.after(() => handle.stop());
  handle.collectNow();
  handle.collectNow();
  // per round: the system metricset, then the first GC metricset ends the GC part
  assert.equal(calls, 4);
  assert.deepEqual(
    logs.map((l) => [l.level, l.msg]),
    [['error', 'spanforge metrics: collecting failed (logged once)']],
  );
});

test('a broken timing in a hook is contained and logged once', (t) => {
  const { handle, logs, hooks } = harness();
  t.after(() => handle.stop());
  const bad = { get type(): string { throw new Error('boom'); } } as unknown as Parameters<NonNullable<TracerHooks['onSpanEnd']>>[0];
  assert.doesNotThrow(() => hooks[0]!.onSpanEnd!(bad));
  assert.doesNotThrow(() => hooks[0]!.onSpanEnd!(bad));
  assert.deepEqual(logs.map((l) => l.msg), ['spanforge metrics: breakdown metrics failed (logged once)']);
});

test('after stop(): collectNow sends nothing and hooks record nothing', () => {
  const { handle, sent, hooks } = harness();
  handle.stop();
  handle.stop();
  hooks[0]!.onTransactionEnd!({ type: 'request', name: 'x', sampled: true, startUs: 0, endUs: 1, childIntervals: [] });
  handle.collectNow();
  assert.deepEqual(sent, []);
});

test('metricsLimit bounds breakdown rows per interval and warns once', (t) => {
  const { handle, sent, hooks, logs } = harness({ metricsLimit: 2 });
  t.after(() => handle.stop());
  for (const name of ['a', 'b', 'c']) {
    hooks[0]!.onTransactionEnd!({ type: 'request', name, sampled: true, startUs: 0, endUs: 1, childIntervals: [] });
  }
  handle.collectNow();
  assert.equal(sent.filter((m) => m.transaction !== undefined).length, 2);
  assert.deepEqual(logs.map((l) => [l.level, l.msg]), [
    ['warn', 'spanforge metrics: more than 2 breakdown metricsets in one interval; 2 dropped (metricsLimit; logged once)'],
  ]);
});

test('the interval timer runs rounds by itself', async (t) => {
  const { handle, sent } = harness({ metricsInterval: 50 });
  t.after(() => handle.stop());
  await new Promise((r) => setTimeout(r, 230));
  const rounds = sent.filter((m) => 'system.memory.total' in m.samples).length;
  assert.ok(rounds >= 2 && rounds <= 5, `rounds: ${rounds}`);
});

test('stop() releases the kept-open /proc files', { skip: process.platform !== 'linux' && 'reads /proc only on Linux' }, async () => {
  const { readdirSync } = await import('node:fs');
  const fds = () => readdirSync('/proc/self/fd').length;
  const before = fds();
  const { handle, sent } = harness();
  handle.collectNow();
  assert.ok(sent.length > 0);
  assert.ok(fds() > before, 'the collector keeps its /proc files open between rounds');
  handle.stop();
  assert.equal(fds(), before);
});

test('a failing source costs only its own samples, and is logged once', async (t) => {
  const { handle, sent, logs } = harness();
  t.after(() => handle.stop());
  const original = process.memoryUsage;
  t.after(() => (process.memoryUsage = original));
  process.memoryUsage = Object.assign(
    () => {
      throw new Error('EMFILE: too many open files');
    },
    { rss: original.rss },
  );
  await new Promise((r) => setTimeout(r, 50));
  handle.collectNow();
  handle.collectNow();
  process.memoryUsage = original;
  const first = sent.filter((m) => 'system.memory.total' in m.samples)[0]!;
  const names = Object.keys(first.samples);
  assert.ok(names.includes('system.process.cpu.total.norm.pct') && names.includes('nodejs.eventloop.utilization'));
  assert.ok(!names.includes('system.process.memory.rss.bytes') && !names.includes('nodejs.memory.heap.used.bytes'));
  assert.equal(sent.filter((m) => m.tags?.v8js_gc_type === 'minor').length, 2, 'GC metricsets still sent');
  assert.deepEqual(logs.map((l) => [l.level, l.msg]), [['error', 'spanforge metrics: collecting failed (logged once)']]);
  sent.length = 0;
  handle.collectNow();
  assert.ok('nodejs.memory.heap.used.bytes' in sent[0]!.samples, 'recovers once the source works again');
});

test('addHooks throwing: breakdown off with a clear error, the other metrics still run', (t) => {
  const { handle, sent, logs } = harness({
    addHooks: () => {
      throw new TypeError('tracer not ready');
    },
  });
  t.after(() => handle.stop());
  assert.deepEqual(logs.map((l) => [l.level, l.msg]), [
    ['error', 'spanforge metrics: could not register the breakdown hooks; breakdown metrics are off'],
  ]);
  handle.collectNow();
  assert.ok(sent.some((m) => 'nodejs.memory.heap.used.bytes' in m.samples));
});

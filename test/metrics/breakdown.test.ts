// Self-time arithmetic on hand-built span trees, and the per-interval breakdown aggregation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BreakdownAggregator, selfTimeUs } from '../../runtime/metrics/breakdown.js';
import type { EndedSpanTiming, EndedTransactionTiming } from '../../runtime/types.js';

test('no children: self time is the whole duration', () => {
  assert.equal(selfTimeUs(1000, 1250, []), 250);
});

test('zero-length, inverted and NaN timings have no self time', () => {
  assert.equal(selfTimeUs(500, 500, []), 0);
  assert.equal(selfTimeUs(500, 500, [500, 500]), 0);
  assert.equal(selfTimeUs(600, 500, [550, 560]), 0);
  assert.equal(selfTimeUs(NaN, 500, []), 0);
  assert.equal(selfTimeUs(0, NaN, []), 0);
});

test('sequential children are subtracted one by one', () => {
  // tx 0..100, children 10..30 and 40..70 → self = 100 - 20 - 30
  assert.equal(selfTimeUs(0, 100, [10, 30, 40, 70]), 50);
});

test('overlapping async children count once (their union)', () => {
  // 10..50 and 20..60 overlap: union 10..60 = 50
  assert.equal(selfTimeUs(0, 100, [10, 50, 20, 60]), 50);
  // one child inside another
  assert.equal(selfTimeUs(0, 100, [10, 90, 20, 30]), 20);
  // given out of start order
  assert.equal(selfTimeUs(0, 100, [70, 80, 10, 20, 15, 25]), 75);
  // touching intervals: 10..20 and 20..30 cover 20
  assert.equal(selfTimeUs(0, 100, [10, 20, 20, 30]), 80);
  // three-way chain of overlaps and a separate one: 10..40 ∪ 35..60 ∪ 55..65 = 10..65 (55), 80..90 (10)
  assert.equal(selfTimeUs(0, 100, [55, 65, 10, 40, 80, 90, 35, 60]), 35);
});

test('a child still running at the parent end (NaN end) covers the parent up to its end', () => {
  assert.equal(selfTimeUs(0, 100, [40, NaN]), 40);
  assert.equal(selfTimeUs(0, 100, [10, 20, 40, NaN, 50, 60]), 30);
});

test('children that outlive the parent or start before it are clipped to the parent', () => {
  assert.equal(selfTimeUs(100, 200, [150, 400]), 50);
  assert.equal(selfTimeUs(100, 200, [50, 120]), 80);
  assert.equal(selfTimeUs(100, 200, [50, 400]), 0);
  // a child entirely after the parent covers nothing
  assert.equal(selfTimeUs(100, 200, [250, 300]), 100);
});

test('many children (more than the scratch buffer holds) give the exact union', () => {
  // 100 children of 1 µs each at even offsets plus a duplicate of each: union = 100
  const pairs: number[] = [];
  for (let i = 0; i < 100; i++) pairs.push(2 * i, 2 * i + 1, 2 * i, 2 * i + 1);
  assert.equal(selfTimeUs(0, 1000, pairs), 900);
  // the caller's array is not reordered
  assert.deepEqual(pairs.slice(0, 4), [0, 1, 0, 1]);
});

test('fractional microseconds are kept', () => {
  assert.equal(selfTimeUs(0.5, 10.75, [1.25, 2.5]), 9);
});

function tx(over: Partial<EndedTransactionTiming>): EndedTransactionTiming {
  return { type: 'request', name: 'GET /users/:id', sampled: true, startUs: 0, endUs: 100, childIntervals: [], ...over };
}
function span(over: Partial<EndedSpanTiming>): EndedSpanTiming {
  return {
    type: 'db',
    subtype: 'postgresql',
    startUs: 0,
    endUs: 10,
    childIntervals: [],
    transactionType: 'request',
    transactionName: 'GET /users/:id',
    ...over,
  };
}

test('aggregator: nested tree → app self time, span self times, transaction counts', () => {
  // request 0..100
  //   ├─ db 10..30
  //   └─ custom 40..90
  //        └─ external/http 50..70
  const agg = new BreakdownAggregator(1000);
  agg.onSpanEnd(span({ startUs: 10, endUs: 30 }));
  agg.onSpanEnd(span({ type: 'external', subtype: 'http', startUs: 50, endUs: 70 }));
  agg.onSpanEnd(span({ type: 'custom', subtype: undefined, startUs: 40, endUs: 90, childIntervals: [50, 70] }));
  agg.onTransactionEnd(tx({ childIntervals: [10, 30, 40, 90] }));
  assert.deepEqual(agg.drain(), [
    {
      transaction: { type: 'request', name: 'GET /users/:id' },
      samples: { 'transaction.duration.count': 1, 'transaction.duration.sum.us': 100, 'transaction.breakdown.count': 1 },
    },
    {
      transaction: { type: 'request', name: 'GET /users/:id' },
      span: { type: 'db', subtype: 'postgresql' },
      samples: { 'span.self_time.count': 1, 'span.self_time.sum.us': 20 },
    },
    {
      transaction: { type: 'request', name: 'GET /users/:id' },
      span: { type: 'external', subtype: 'http' },
      samples: { 'span.self_time.count': 1, 'span.self_time.sum.us': 20 },
    },
    {
      transaction: { type: 'request', name: 'GET /users/:id' },
      span: { type: 'custom' },
      samples: { 'span.self_time.count': 1, 'span.self_time.sum.us': 30 },
    },
    {
      transaction: { type: 'request', name: 'GET /users/:id' },
      span: { type: 'app' },
      samples: { 'span.self_time.count': 1, 'span.self_time.sum.us': 30 },
    },
  ]);
  // drained: the next interval starts empty
  assert.deepEqual(agg.drain(), []);
});

test('aggregator: sums per key across transactions, keys by type+name and type/subtype', () => {
  const agg = new BreakdownAggregator(1000);
  agg.onSpanEnd(span({ startUs: 0, endUs: 10 }));
  agg.onTransactionEnd(tx({ startUs: 0, endUs: 40, childIntervals: [0, 10] }));
  agg.onSpanEnd(span({ startUs: 100, endUs: 125 }));
  agg.onSpanEnd(span({ subtype: 'mysql', startUs: 130, endUs: 131 }));
  agg.onTransactionEnd(tx({ startUs: 100, endUs: 160, childIntervals: [100, 125, 130, 131] }));
  agg.onTransactionEnd(tx({ name: 'POST /users', startUs: 0, endUs: 5 }));
  const rows = agg.drain();
  const find = (name: string, type?: string, subtype?: string) =>
    rows.find((r) => r.transaction.name === name && r.span?.type === type && r.span?.subtype === subtype)?.samples;
  assert.deepEqual(find('GET /users/:id'), {
    'transaction.duration.count': 2,
    'transaction.duration.sum.us': 100,
    'transaction.breakdown.count': 2,
  });
  assert.deepEqual(find('GET /users/:id', 'db', 'postgresql'), { 'span.self_time.count': 2, 'span.self_time.sum.us': 35 });
  assert.deepEqual(find('GET /users/:id', 'db', 'mysql'), { 'span.self_time.count': 1, 'span.self_time.sum.us': 1 });
  assert.deepEqual(find('GET /users/:id', 'app'), { 'span.self_time.count': 2, 'span.self_time.sum.us': 30 + 34 });
  assert.deepEqual(find('POST /users'), {
    'transaction.duration.count': 1,
    'transaction.duration.sum.us': 5,
    'transaction.breakdown.count': 1,
  });
  assert.deepEqual(find('POST /users', 'app'), { 'span.self_time.count': 1, 'span.self_time.sum.us': 5 });
  assert.equal(rows.length, 6);
});

test('aggregator: unsampled transactions count in the duration only, as Elastic did', () => {
  const agg = new BreakdownAggregator(1000);
  agg.onTransactionEnd(tx({ sampled: false, startUs: 0, endUs: 70 }));
  agg.onTransactionEnd(tx({ sampled: true, startUs: 0, endUs: 30 }));
  assert.deepEqual(agg.drain(), [
    {
      transaction: { type: 'request', name: 'GET /users/:id' },
      samples: { 'transaction.duration.count': 2, 'transaction.duration.sum.us': 100, 'transaction.breakdown.count': 1 },
    },
    {
      transaction: { type: 'request', name: 'GET /users/:id' },
      span: { type: 'app' },
      samples: { 'span.self_time.count': 1, 'span.self_time.sum.us': 30 },
    },
  ]);
});

test('aggregator: a child still running at transaction end covers it up to that end', () => {
  const agg = new BreakdownAggregator(1000);
  agg.onTransactionEnd(tx({ startUs: 0, endUs: 50, childIntervals: [10, NaN] }));
  const app = agg.drain().find((r) => r.span?.type === 'app');
  assert.deepEqual(app?.samples, { 'span.self_time.count': 1, 'span.self_time.sum.us': 10 });
});

test('aggregator: at most `limit` rows per interval, the rest counted as dropped', () => {
  const agg = new BreakdownAggregator(3);
  agg.onTransactionEnd(tx({ name: 'a' })); // rows: a, a/app
  agg.onTransactionEnd(tx({ name: 'b' })); // row b; b/app refused
  agg.onTransactionEnd(tx({ name: 'c' })); // refused
  assert.equal(agg.dropped, 2);
  const rows = agg.drain();
  assert.deepEqual(
    rows.map((r) => [r.transaction.name, r.span?.type]),
    [
      ['a', undefined],
      ['a', 'app'],
      ['b', undefined],
    ],
  );
  assert.equal(agg.dropped, 0);
  agg.onTransactionEnd(tx({ name: 'c' }));
  assert.equal(agg.drain().length, 2);
});

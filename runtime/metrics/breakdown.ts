// Breakdown metrics: self-time arithmetic and the per-interval aggregation by transaction and span type.
import type { EndedSpanTiming, EndedTransactionTiming } from '../types.js';

// Reused between calls: children are sorted in place here so the tracer's array is never touched
// and a span with many children does not allocate on the request path.
let scratch = new Float64Array(32);

/**
 * Time in µs of [startUs, endUs] not covered by the union of the children's intervals, each clipped
 * to the parent. childIntervals holds flat pairs [s0, e0, s1, e1, ...]; an end of NaN means the
 * child was still running when the parent ended, so it covers the parent up to the parent's end.
 * Example: selfTimeUs(0, 100, [10, 30, 20, 50]) === 60.
 */
export function selfTimeUs(startUs: number, endUs: number, childIntervals: ArrayLike<number>): number {
  const total = endUs - startUs;
  if (!(total > 0)) return 0; // zero-length, inverted, or NaN timings have no self time
  const n = childIntervals.length >> 1;
  if (n === 0) return total;
  if (n === 1) {
    const s = clip(childIntervals[0]!, startUs, endUs, startUs);
    const e = clip(childIntervals[1]!, startUs, endUs, endUs);
    return e > s ? total - (e - s) : total;
  }
  if (scratch.length < 2 * n) scratch = new Float64Array(2 * n * 2);
  // Clip every child to the parent, then insertion-sort the pairs by start: n is small (the direct
  // children of one span) and the tracer mostly hands them over in start order already.
  let m = 0;
  for (let i = 0; i < n; i++) {
    const s = clip(childIntervals[2 * i]!, startUs, endUs, startUs);
    const e = clip(childIntervals[2 * i + 1]!, startUs, endUs, endUs);
    if (!(e > s)) continue; // empty after clipping: covers nothing
    let j = m;
    while (j > 0 && scratch[2 * (j - 1)]! > s) {
      scratch[2 * j] = scratch[2 * (j - 1)]!;
      scratch[2 * j + 1] = scratch[2 * (j - 1) + 1]!;
      j--;
    }
    scratch[2 * j] = s;
    scratch[2 * j + 1] = e;
    m++;
  }
  let covered = 0;
  let curS = NaN;
  let curE = NaN;
  for (let i = 0; i < m; i++) {
    const s = scratch[2 * i]!;
    const e = scratch[2 * i + 1]!;
    if (i === 0 || s > curE) {
      if (i > 0) covered += curE - curS;
      curS = s;
      curE = e;
    } else if (e > curE) {
      curE = e;
    }
  }
  if (m > 0) covered += curE - curS;
  const self = total - covered;
  return self > 0 ? self : 0;
}

/** Clamps v into [lo, hi]; NaN (a child still running, or a broken timing) becomes ifNaN. */
function clip(v: number, lo: number, hi: number, ifNaN: number): number {
  if (v !== v) return ifNaN;
  return v < lo ? lo : v > hi ? hi : v;
}

interface SpanAgg {
  type: string;
  subtype: string | undefined;
  count: number;
  sumUs: number;
}

interface TxAgg {
  type: string;
  name: string;
  durationCount: number;
  durationSumUs: number;
  breakdownCount: number;
  /** span type -> subtype -> aggregate; the transaction's own self time is type 'app'. */
  spans: Map<string, Map<string | undefined, SpanAgg>>;
}

/** One aggregated metricset of an interval, before names are filtered and it is put on the wire. */
export interface BreakdownRow {
  transaction: { type: string; name: string };
  span?: { type: string; subtype?: string };
  samples: Record<string, number>;
}

/**
 * Aggregates ended spans and transactions by transaction type+name (and span type/subtype) until
 * drain() hands the interval's rows over and starts afresh. Bounded by `limit` rows per interval,
 * like Elastic's metricsLimit; what does not fit is counted in `dropped`.
 */
export class BreakdownAggregator {
  // Nested maps keyed by the tracer's own strings rather than one concatenated key: the strings are
  // the same objects span after span, so their hashes are cached; a fresh concatenation would be
  // flattened and hashed on every call (about 2x the hook's cost in bench/metrics.mjs).
  private txs = new Map<string, Map<string, TxAgg>>();
  private rows = 0;
  /** Rows refused since the last drain because the limit was reached. */
  dropped = 0;

  constructor(private readonly limit: number) {}

  onTransactionEnd(tx: EndedTransactionTiming): void {
    const agg = this.tx(tx.type, tx.name);
    if (agg === undefined) return;
    // As Elastic's Node agent did when it sent these: every transaction counts in the duration,
    // only sampled ones in transaction.breakdown.count and the self-time breakdown (unsampled
    // transactions have no spans, so their self time would be the whole duration and skew it).
    const duration = tx.endUs - tx.startUs;
    agg.durationCount++;
    agg.durationSumUs += duration > 0 ? duration : 0;
    if (!tx.sampled) return;
    agg.breakdownCount++;
    this.addSelf(agg, 'app', undefined, selfTimeUs(tx.startUs, tx.endUs, tx.childIntervals));
  }

  onSpanEnd(span: EndedSpanTiming): void {
    const agg = this.tx(span.transactionType, span.transactionName);
    if (agg === undefined) return;
    this.addSelf(agg, span.type, span.subtype, selfTimeUs(span.startUs, span.endUs, span.childIntervals));
  }

  /** The interval's rows; the aggregator is empty afterwards. */
  drain(): BreakdownRow[] {
    const out: BreakdownRow[] = [];
    for (const byName of this.txs.values()) {
      for (const agg of byName.values()) this.rowsOf(agg, out);
    }
    this.txs = new Map();
    this.rows = 0;
    this.dropped = 0;
    return out;
  }

  private rowsOf(agg: TxAgg, out: BreakdownRow[]): void {
    const transaction = { type: agg.type, name: agg.name };
    if (agg.durationCount > 0) {
      out.push({
        transaction,
        samples: {
          'transaction.duration.count': agg.durationCount,
          'transaction.duration.sum.us': agg.durationSumUs,
          'transaction.breakdown.count': agg.breakdownCount,
        },
      });
    }
    for (const bySub of agg.spans.values()) {
      for (const s of bySub.values()) {
        out.push({
          transaction,
          span: s.subtype === undefined ? { type: s.type } : { type: s.type, subtype: s.subtype },
          samples: { 'span.self_time.count': s.count, 'span.self_time.sum.us': s.sumUs },
        });
      }
    }
  }

  private tx(type: string, name: string): TxAgg | undefined {
    let byName = this.txs.get(type);
    if (byName === undefined) {
      byName = new Map();
      this.txs.set(type, byName);
    }
    let agg = byName.get(name);
    if (agg === undefined) {
      if (this.rows >= this.limit) {
        this.dropped++;
        return undefined;
      }
      this.rows++;
      agg = { type, name, durationCount: 0, durationSumUs: 0, breakdownCount: 0, spans: new Map() };
      byName.set(name, agg);
    }
    return agg;
  }

  private addSelf(agg: TxAgg, type: string, subtype: string | undefined, selfUs: number): void {
    let bySub = agg.spans.get(type);
    if (bySub === undefined) {
      bySub = new Map();
      agg.spans.set(type, bySub);
    }
    let s = bySub.get(subtype);
    if (s === undefined) {
      if (this.rows >= this.limit) {
        this.dropped++;
        return;
      }
      this.rows++;
      s = { type, subtype, count: 0, sumUs: 0 };
      bySub.set(subtype, s);
    }
    s.count++;
    s.sumUs += selfUs;
  }
}

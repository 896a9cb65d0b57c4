// The read side of the store: the queries behind the web UI's JSON API (/api/...). Overview and
// charts read the 1-minute rollups; trace and error pages use the trace_id / group indexes.
import type { SqlDatabase, SqlStatement } from './sqlite.js';
import { bucketValue } from './store.js';

type Obj = Record<string, unknown>;

/** Most samples /api/services/:name/samples returns (its `limit`). */
export const MAX_SAMPLES = 500;
/** Most metric names one /api/services/:name/metrics request may ask for. */
export const MAX_METRIC_NAMES = 50;
/** Most points of a chart: ~60 by construction; the cap guards the loop against any range. */
const MAX_POINTS = 1000;
/** Most rows of the services list, the transactions table and the metric names. */
const MAX_ROWS = 1000;
/** Most bytes of stored documents one trace answer carries (the rest is left out, truncated: true). */
const MAX_TRACE_BYTES = 32 * 1024 * 1024;
/** Highest event timestamp (µs) the UI can ask about: the latest JS Date. */
const MAX_TS_US = 8_640_000_000_000_000_000;

export interface Range {
  /** epoch µs, inclusive */
  fromUs: number;
  toUs: number;
}

interface RollupRow {
  service: string;
  minute: number;
  type: string;
  name: string;
  count: number;
  sum_us: number;
  max_us: number;
  failures: number;
  successes: number;
  hist: string;
}

interface Summary {
  count: number;
  tpm: number;
  avgUs: number | null;
  p95Us: number | null;
  p99Us: number | null;
  maxUs: number | null;
  failureRate: number | null;
  sumUs: number;
}

/** Accumulates rollup rows and answers avg / percentiles / failure rate. */
class Agg {
  count = 0;
  sumUs = 0;
  maxUs = 0;
  failures = 0;
  successes = 0;
  hist = new Map<number, number>();
  add(r: RollupRow): void {
    this.count += r.count;
    this.sumUs += r.sum_us;
    this.maxUs = Math.max(this.maxUs, r.max_us);
    this.failures += r.failures;
    this.successes += r.successes;
    for (const [b, c] of Object.entries(JSON.parse(r.hist) as Record<string, number>)) {
      const k = Number(b);
      this.hist.set(k, (this.hist.get(k) ?? 0) + c);
    }
  }
  percentile(p: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (const b of [...this.hist.keys()].sort((x, y) => x - y)) {
      seen += this.hist.get(b)!;
      if (seen >= rank) return Math.min(bucketValue(b), this.maxUs);
    }
    return this.maxUs;
  }
  summary(minutes: number): Summary {
    const rated = this.failures + this.successes;
    return {
      count: this.count,
      tpm: minutes > 0 ? this.count / minutes : 0,
      avgUs: this.count ? this.sumUs / this.count : null,
      p95Us: this.percentile(95),
      p99Us: this.percentile(99),
      maxUs: this.count ? this.maxUs : null,
      // Kibana: failure / (success + failure); outcome "unknown" is left out.
      failureRate: rated ? this.failures / rated : null,
      sumUs: this.sumUs,
    };
  }
}

/** Documents are stored as the NDJSON line, `{"<kind>": {...}}`; the API returns the inner event. */
function unwrap(doc: unknown, kind: string): Obj {
  return (JSON.parse(doc as string) as Record<string, Obj>)[kind] ?? {};
}

function minutesOf(r: Range): number {
  return Math.max(1, (r.toUs - r.fromUs) / 60e6);
}
/** Ranges over 6 h read the hourly rollups: 60x fewer rows (measured in docs/receiver.md). */
const HOURLY_ABOVE_US = 6 * 3600e6;
function hourly(r: Range): boolean {
  return r.toUs - r.fromUs > HOURLY_ABOVE_US;
}
function bucketRange(r: Range): [number, number] {
  const size = hourly(r) ? 3600 : 60;
  return [Math.floor(r.fromUs / 1e6 / size) * size, Math.floor(r.toUs / 1e6 / size) * size];
}

/** Chart step in seconds: whole minutes (whole hours past 6 h), about 60 points over the range. */
export function stepSeconds(r: Range): number {
  const unit = hourly(r) ? 3600 : 60;
  return Math.max(unit, Math.ceil((r.toUs - r.fromUs) / 1e6 / 60 / unit) * unit);
}

export class Queries {
  private readonly st: Record<string, SqlStatement>;
  constructor(private readonly db: SqlDatabase) {
    this.st = {
      services: db.prepare(
        `SELECT name, environment, agent_name AS agentName, agent_version AS agentVersion, first_seen AS firstSeen, last_seen AS lastSeen FROM services ORDER BY name LIMIT ${MAX_ROWS}`,
      ),
      rollAll: db.prepare('SELECT * FROM rollup_tx WHERE minute BETWEEN ? AND ?'),
      rollService: db.prepare('SELECT * FROM rollup_tx WHERE service = ? AND minute BETWEEN ? AND ?'),
      rollAllHour: db.prepare('SELECT * FROM rollup_tx_hour WHERE minute BETWEEN ? AND ?'),
      rollServiceHour: db.prepare('SELECT * FROM rollup_tx_hour WHERE service = ? AND minute BETWEEN ? AND ?'),
      errCounts: db.prepare('SELECT service, count(*) AS n FROM errors WHERE ts BETWEEN ? AND ? GROUP BY service'),
      latest: db.prepare(
        'SELECT ts, name, trace_id AS traceId, tx_id AS id, duration_us AS durationUs, result, outcome FROM transactions WHERE service = ? AND ts BETWEEN ? AND ? ORDER BY ts DESC LIMIT ?',
      ),
      samples: db.prepare(
        'SELECT ts, trace_id AS traceId, tx_id AS id, duration_us AS durationUs, result, outcome FROM transactions WHERE service = ? AND name = ? AND ts BETWEEN ? AND ? ORDER BY ts DESC LIMIT ?',
      ),
      traceTx: db.prepare('SELECT t.ts, t.service, t.doc, m.doc AS meta FROM transactions t LEFT JOIN metadata m ON m.id = t.meta_id WHERE t.trace_id = ? ORDER BY t.ts LIMIT 10000'),
      traceSpans: db.prepare('SELECT s.ts, s.service, s.doc, m.doc AS meta FROM spans s LEFT JOIN metadata m ON m.id = s.meta_id WHERE s.trace_id = ? ORDER BY s.ts LIMIT 10000'),
      traceErrors: db.prepare('SELECT e.ts, e.service, e.group_key AS groupKey, e.doc FROM errors e WHERE e.trace_id = ? ORDER BY e.ts LIMIT 1000'),
      errGroups: db.prepare(
        `SELECT group_key AS groupKey, service, exc_type AS type, culprit, message, handled, max(ts) AS lastSeen, count(*) AS count
         FROM errors WHERE ts BETWEEN ? AND ? GROUP BY group_key ORDER BY lastSeen DESC LIMIT 500`,
      ),
      errGroupsService: db.prepare(
        `SELECT group_key AS groupKey, service, exc_type AS type, culprit, message, handled, max(ts) AS lastSeen, count(*) AS count
         FROM errors WHERE service = ? AND ts BETWEEN ? AND ? GROUP BY group_key ORDER BY lastSeen DESC LIMIT 500`,
      ),
      errLatest: db.prepare(
        'SELECT e.ts, e.service, e.exc_type AS type, e.culprit, e.message, e.trace_id AS traceId, e.tx_id AS transactionId, e.doc, m.doc AS meta FROM errors e LEFT JOIN metadata m ON m.id = e.meta_id WHERE e.group_key = ? ORDER BY e.ts DESC LIMIT 1',
      ),
      errOccurrences: db.prepare(
        'SELECT ts, message, trace_id AS traceId, tx_id AS transactionId, error_id AS id FROM errors WHERE group_key = ? ORDER BY ts DESC LIMIT 50',
      ),
      errSeries: db.prepare(
        'SELECT (ts / CAST(? AS INTEGER)) * CAST(? AS INTEGER) AS t, count(*) AS n FROM errors WHERE group_key = ? AND ts BETWEEN ? AND ? GROUP BY t ORDER BY t',
      ),
      errCount: db.prepare('SELECT count(*) AS n, min(ts) AS firstSeen, max(ts) AS lastSeen FROM errors WHERE group_key = ?'),
      metricNames: db.prepare(`SELECT DISTINCT name FROM metrics WHERE service = ? ORDER BY name LIMIT ${MAX_ROWS}`),
      metricSeries: db.prepare(
        'SELECT (ts / CAST(? AS INTEGER)) * CAST(? AS INTEGER) AS t, avg(value) AS avg, max(value) AS max FROM metrics WHERE service = ? AND name = ? AND ts BETWEEN ? AND ? GROUP BY t ORDER BY t',
      ),
      bounds_transactions: db.prepare('SELECT (SELECT min(ts) FROM transactions) AS lo, (SELECT max(ts) FROM transactions) AS hi'),
      bounds_spans: db.prepare('SELECT (SELECT min(ts) FROM spans) AS lo, (SELECT max(ts) FROM spans) AS hi'),
      bounds_errors: db.prepare('SELECT (SELECT min(ts) FROM errors) AS lo, (SELECT max(ts) FROM errors) AS hi'),
      bounds_metrics: db.prepare('SELECT (SELECT min(ts) FROM metrics) AS lo, (SELECT max(ts) FROM metrics) AS hi'),
      counts: db.prepare(
        `SELECT (SELECT count(*) FROM transactions) AS transactions, (SELECT count(*) FROM spans) AS spans,
                (SELECT count(*) FROM errors) AS errors, (SELECT count(*) FROM metrics) AS metrics, (SELECT count(*) FROM logs) AS logs`,
      ),
    };
  }

  /** Services inventory: one row per service with throughput, latency and failure rate in the range. */
  services(r: Range): Obj[] {
    const [a, b] = bucketRange(r);
    const aggs = new Map<string, Agg>();
    for (const row of this.st[hourly(r) ? 'rollAllHour' : 'rollAll']!.iterate(a, b) as Iterable<RollupRow>) {
      let g = aggs.get(row.service);
      if (!g) aggs.set(row.service, (g = new Agg()));
      g.add(row);
    }
    const errs = new Map((this.st.errCounts!.all(r.fromUs, r.toUs) as Array<{ service: string; n: number }>).map((e) => [e.service, e.n]));
    return (this.st.services!.all() as Obj[]).map((s) => ({
      ...s,
      ...(aggs.get(s.name as string) ?? new Agg()).summary(minutesOf(r)),
      errors: errs.get(s.name as string) ?? 0,
    }));
  }

  /** Per-service time series (throughput, avg/p95/p99 latency, failure rate), one point per step. */
  serviceCharts(service: string, r: Range, type?: string): Obj {
    const step = stepSeconds(r);
    const [a, b] = bucketRange(r);
    const buckets = new Map<number, Agg>();
    for (const row of this.st[hourly(r) ? 'rollServiceHour' : 'rollService']!.iterate(service, a, b) as Iterable<RollupRow>) {
      if (type && row.type !== type) continue;
      const t = Math.floor(row.minute / step) * step;
      let g = buckets.get(t);
      if (!g) buckets.set(t, (g = new Agg()));
      g.add(row);
    }
    const points: Obj[] = [];
    const start = Math.floor(a / step) * step;
    // Bounded whatever the range: the API caps times at MAX_TIME_MS, where t + step is exact.
    for (let t = start; t <= b && points.length < MAX_POINTS; t += step) {
      const g = buckets.get(t);
      const s = (g ?? new Agg()).summary(step / 60);
      points.push({ t: t * 1000, tpm: s.tpm, avgUs: s.avgUs, p95Us: s.p95Us, p99Us: s.p99Us, failureRate: s.failureRate, count: s.count });
    }
    return { service, stepSeconds: step, points };
  }

  /** Transactions table: one row per (type, name) with latency, throughput, failure rate, impact. */
  transactionGroups(service: string, r: Range): Obj[] {
    const [a, b] = bucketRange(r);
    const groups = new Map<string, { type: string; name: string; agg: Agg }>();
    for (const row of this.st[hourly(r) ? 'rollServiceHour' : 'rollService']!.iterate(service, a, b) as Iterable<RollupRow>) {
      const k = `${row.type}\0${row.name}`;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { type: row.type, name: row.name, agg: new Agg() }));
      g.agg.add(row);
    }
    const rows = [...groups.values()].map((g) => ({ type: g.type, name: g.name, ...g.agg.summary(minutesOf(r)) }));
    if (rows.length === 0) return [];
    // Kibana's impact: (sum - min) / (max - min) of the per-group total durations, as a percentage.
    const sums = rows.map((x) => x.sumUs as number);
    const lo = Math.min(...sums);
    const hi = Math.max(...sums);
    return rows
      .map((x) => ({ ...x, impact: hi > lo ? (((x.sumUs as number) - lo) / (hi - lo)) * 100 : 100 }))
      .sort((x, y) => y.impact - x.impact)
      .slice(0, MAX_ROWS);
  }

  /** The newest transactions of a name (or of the whole service when name is undefined). */
  transactionSamples(service: string, name: string | undefined, r: Range, limit = 50): Obj[] {
    limit = Math.min(Math.max(1, Math.trunc(limit)), MAX_SAMPLES);
    if (name === undefined) return this.st.latest!.all(service, r.fromUs, r.toUs, limit) as Obj[];
    return this.st.samples!.all(service, name, r.fromUs, r.toUs, limit) as Obj[];
  }

  /** Every transaction, span and error of a trace, each with its service's metadata. */
  trace(traceId: string): Obj {
    // Bounded answer: at most MAX_TRACE_BYTES of stored documents (10,000 spans of 300 KiB would be GBs).
    let bytes = 0;
    let truncated = false;
    const metas = new Map<string, Obj | undefined>();
    const parse = (rows: Iterable<Obj>, kind: string): Obj[] => {
      const out: Obj[] = [];
      for (const row of rows) {
        bytes += (row.doc as string).length;
        if (truncated || bytes > MAX_TRACE_BYTES) {
          truncated = true;
          break; // ends the statement's iteration
        }
        let meta: Obj | undefined;
        if (row.meta) {
          const m = row.meta as string;
          if (!metas.has(m)) metas.set(m, JSON.parse(m) as Obj);
          meta = metas.get(m);
        }
        out.push({ ts: row.ts, service: row.service, groupKey: row.groupKey, agent: (meta?.service as Obj | undefined)?.agent, event: unwrap(row.doc, kind) });
      }
      return out;
    };
    const transactions = parse(this.st.traceTx!.iterate(traceId) as Iterable<Obj>, 'transaction');
    const spans = parse(this.st.traceSpans!.iterate(traceId) as Iterable<Obj>, 'span');
    const errors = parse(this.st.traceErrors!.iterate(traceId) as Iterable<Obj>, 'error');
    return truncated ? { traceId, transactions, spans, errors, truncated } : { traceId, transactions, spans, errors };
  }

  /** Errors grouped by exception type + culprit (per service), newest first. */
  errorGroups(r: Range, service?: string): Obj[] {
    return (service ? this.st.errGroupsService!.all(service, r.fromUs, r.toUs) : this.st.errGroups!.all(r.fromUs, r.toUs)) as Obj[];
  }

  /** One error group: counts, the newest occurrence in full, recent occurrences, occurrences per step of the range. */
  errorGroup(groupKey: string, r: Range): Obj | undefined {
    const latest = this.st.errLatest!.get(groupKey) as Obj | undefined;
    if (!latest) return undefined;
    const c = this.st.errCount!.get(groupKey) as { n: number; firstSeen: number; lastSeen: number };
    return {
      groupKey,
      service: latest.service,
      type: latest.type,
      culprit: latest.culprit,
      message: latest.message,
      count: c.n,
      firstSeen: c.firstSeen,
      lastSeen: c.lastSeen,
      latest: { ts: latest.ts, traceId: latest.traceId, transactionId: latest.transactionId, event: unwrap(latest.doc, 'error'), metadata: latest.meta ? JSON.parse(latest.meta as string) : null },
      occurrences: this.st.errOccurrences!.all(groupKey),
      stepSeconds: stepSeconds(r),
      series: (this.st.errSeries!.all(stepSeconds(r) * 1e6, stepSeconds(r) * 1e6, groupKey, r.fromUs, r.toUs) as Array<{ t: number; n: number }>).map((p) => ({
        t: p.t / 1000,
        count: p.n,
      })),
    };
  }

  /** Metric names of a service and the series of the requested ones (avg and max per step). */
  metrics(service: string, r: Range, names: string[]): Obj {
    const step = stepSeconds(r);
    const stepUs = step * 1e6;
    const series: Record<string, Obj[]> = {};
    for (const n of names) {
      series[n] = (this.st.metricSeries!.all(stepUs, stepUs, service, n, r.fromUs, r.toUs) as Array<{ t: number; avg: number; max: number }>).map((p) => ({
        t: p.t / 1000,
        avg: p.avg,
        max: p.max,
      }));
    }
    return { service, stepSeconds: step, names: (this.st.metricNames!.all(service) as Array<{ name: string }>).map((x) => x.name).slice(0, MAX_ROWS), series };
  }

  /** Row counts plus the oldest and newest event timestamps (µs), for the "all data" range. */
  counts(): Obj {
    let firstTs: number | null = null;
    let lastTs: number | null = null;
    for (const t of ['transactions', 'spans', 'errors', 'metrics']) {
      const r = this.st[`bounds_${t}`]!.get() as { lo: number | null; hi: number | null };
      if (r.lo !== null) firstTs = firstTs === null ? r.lo : Math.min(firstTs, r.lo);
      if (r.hi !== null) lastTs = lastTs === null ? r.hi : Math.max(lastTs, r.hi);
    }
    // Clamped to what the API accepts as a range, so an event with an absurd timestamp cannot break
    // the UI's "all data" range.
    const clamp = (t: number | null): number | null => (t === null ? null : Math.min(MAX_TS_US, Math.max(0, t)));
    return { ...(this.st.counts!.get() as Obj), firstTs: clamp(firstTs), lastTs: clamp(lastTs) };
  }
}

// The read side behind the service map, the dependencies views, the latency distribution, the
// transaction search and the event detail panel. Exit spans (spans.dest) are summed into 1-minute
// and 1-hour dependency rollups by an incremental catch-up over new span rows (sync()), so the map
// and the tables read O(buckets) rows whatever the number of spans stored.
import type { SqlDatabase, SqlStatement } from './sqlite.js';
import type { Range } from './queries.js';
import { bucketValue } from './store.js';

type Obj = Record<string, unknown>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS rollup_dep (
  service TEXT NOT NULL, minute INTEGER NOT NULL, dest TEXT NOT NULL, span_type TEXT, span_subtype TEXT,
  count INTEGER NOT NULL, sum_us INTEGER NOT NULL, max_us INTEGER NOT NULL, failures INTEGER NOT NULL, successes INTEGER NOT NULL,
  sample_trace TEXT, sample_span TEXT, PRIMARY KEY (service, minute, dest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_dep_minute ON rollup_dep (minute);
CREATE TABLE IF NOT EXISTS rollup_dep_hour (
  service TEXT NOT NULL, minute INTEGER NOT NULL, dest TEXT NOT NULL, span_type TEXT, span_subtype TEXT,
  count INTEGER NOT NULL, sum_us INTEGER NOT NULL, max_us INTEGER NOT NULL, failures INTEGER NOT NULL, successes INTEGER NOT NULL,
  sample_trace TEXT, sample_span TEXT, PRIMARY KEY (service, minute, dest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_dep_hour_minute ON rollup_dep_hour (minute);
CREATE TABLE IF NOT EXISTS dep_link (
  service TEXT NOT NULL, dest TEXT NOT NULL, downstream TEXT NOT NULL, last_seen INTEGER NOT NULL,
  PRIMARY KEY (service, dest, downstream)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deps_state (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tx_label (
  key TEXT NOT NULL, value TEXT NOT NULL, ts INTEGER NOT NULL, tx INTEGER NOT NULL,
  PRIMARY KEY (key, value, ts, tx)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tx_label_ts ON tx_label (ts);
`;

/** Span rows read per catch-up step (one SQLite transaction each). */
const SYNC_CHUNK = 20_000;
/** Ranges over 6 h read the hourly rollups, like the transaction charts. */
const HOURLY_ABOVE_US = 6 * 3600e6;
/** Exit spans read (newest first) for the calling transactions and operations of one dependency. */
export const DETAIL_SAMPLE = 1000;

interface DepRow {
  service: string;
  minute: number;
  dest: string;
  span_type: string | null;
  span_subtype: string | null;
  count: number;
  sum_us: number;
  max_us: number;
  failures: number;
  successes: number;
  sample_trace: string | null;
  sample_span: string | null;
}

/** What a dependency is, for the map's node shape and the tables: from the exit span's type. */
export function depKind(type: string | null, subtype: string | null): string {
  const t = String(type ?? '').split('.')[0];
  const st = String(subtype ?? '');
  if (t === 'messaging') return 'broker';
  if (t === 'cache' || /^(redis|memcached|ioredis|valkey)$/.test(st)) return 'cache';
  if (t === 'db' || t === 'storage') return 'database';
  if (t === 'external') return 'external';
  return 'other';
}

class Sum {
  count = 0;
  sumUs = 0;
  maxUs = 0;
  failures = 0;
  successes = 0;
  type: string | null = null;
  subtype: string | null = null;
  lastMinute = -1;
  add(r: DepRow): void {
    this.count += r.count;
    this.sumUs += r.sum_us;
    this.maxUs = Math.max(this.maxUs, r.max_us);
    this.failures += r.failures;
    this.successes += r.successes;
    if (r.minute >= this.lastMinute) {
      this.lastMinute = r.minute;
      this.type = r.span_type;
      this.subtype = r.span_subtype;
    }
  }
  stats(minutes: number): Obj {
    const rated = this.failures + this.successes;
    return {
      count: this.count,
      tpm: this.count / Math.max(1e-9, minutes),
      avgUs: this.count ? this.sumUs / this.count : null,
      maxUs: this.count ? this.maxUs : null,
      failureRate: rated ? this.failures / rated : null,
      sumUs: this.sumUs,
    };
  }
}

function minutesOf(r: Range): number {
  return Math.max(1, (r.toUs - r.fromUs) / 60e6);
}
function hourly(r: Range): boolean {
  return r.toUs - r.fromUs > HOURLY_ABOVE_US;
}
function bucketRange(r: Range): [number, number] {
  const size = hourly(r) ? 3600 : 60;
  return [Math.floor(r.fromUs / 1e6 / size) * size, Math.floor(r.toUs / 1e6 / size) * size];
}
function stepSeconds(r: Range): number {
  const unit = hourly(r) ? 3600 : 60;
  return Math.max(unit, Math.ceil((r.toUs - r.fromUs) / 1e6 / 60 / unit) * unit);
}
/** Kibana's impact: (sum - min) / (max - min) of the per-row total durations, in percent. */
function withImpact<T extends Obj>(rows: T[]): Array<T & { impact: number }> {
  const sums = rows.map((x) => Number(x.sumUs));
  const lo = Math.min(...sums);
  const hi = Math.max(...sums);
  return rows.map((x) => ({ ...x, impact: hi > lo ? ((Number(x.sumUs) - lo) / (hi - lo)) * 100 : 100 }));
}
function unwrap(doc: unknown, kind: string): Obj {
  return (JSON.parse(doc as string) as Record<string, Obj>)[kind] ?? {};
}

/** Filters of the transaction search (all optional; combined with AND). */
export interface SearchFilters {
  service?: string;
  traceId?: string;
  name?: string;
  outcome?: string;
  result?: string;
  /** `key:value` of a label (context.tags). */
  label?: string;
  version?: string;
  environment?: string;
  minUs?: number;
  maxUs?: number;
  limit?: number;
}

export class DepsQueries {
  private readonly st: Record<string, SqlStatement>;
  /** (service \0 dest) → newest minute a span-side downstream lookup was done (bounds lookups). */
  private looked = new Map<string, number>();
  private lastTrim = 0;

  constructor(private readonly db: SqlDatabase) {
    db.exec(SCHEMA);
    const upsert = (table: string) =>
      db.prepare(
        `INSERT INTO ${table} (service, minute, dest, span_type, span_subtype, count, sum_us, max_us, failures, successes, sample_trace, sample_span)
         VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (service, minute, dest) DO UPDATE SET
           count = count + excluded.count, sum_us = sum_us + excluded.sum_us, max_us = max(max_us, excluded.max_us),
           failures = failures + excluded.failures, successes = successes + excluded.successes,
           span_type = excluded.span_type, span_subtype = excluded.span_subtype,
           sample_trace = excluded.sample_trace, sample_span = excluded.sample_span`,
      );
    this.st = {
      getState: db.prepare('SELECT v FROM deps_state WHERE k = ?'),
      setState: db.prepare('INSERT INTO deps_state (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v'),
      maxSpan: db.prepare('SELECT max(id) AS m FROM spans'),
      maxTx: db.prepare('SELECT max(id) AS m FROM transactions'),
      newSpans: db.prepare(
        'SELECT id, ts, service, trace_id, span_id, type, subtype, duration_us, outcome, dest FROM spans WHERE id > ? AND id <= ? AND dest IS NOT NULL ORDER BY id LIMIT ?',
      ),
      newTxDocs: db.prepare('SELECT id, ts, doc FROM transactions WHERE id > ? AND id <= ? ORDER BY id LIMIT ?'),
      putLabel: db.prepare('INSERT OR IGNORE INTO tx_label (key, value, ts, tx) VALUES (?,?,?,?)'),
      minTxTs: db.prepare('SELECT min(ts) AS m FROM transactions'),
      trimLabels: db.prepare('DELETE FROM tx_label WHERE ts < ?'),
      newTx: db.prepare('SELECT id, ts, service, trace_id, parent_id FROM transactions WHERE id > ? AND id <= ? AND parent_id IS NOT NULL ORDER BY id LIMIT ?'),
      childTx: db.prepare('SELECT service FROM transactions WHERE trace_id = ? AND parent_id = ? LIMIT 1'),
      parentSpan: db.prepare('SELECT service, dest FROM spans WHERE trace_id = ? AND span_id = ? LIMIT 1'),
      link: db.prepare(
        'INSERT INTO dep_link (service, dest, downstream, last_seen) VALUES (?,?,?,?) ON CONFLICT (service, dest, downstream) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)',
      ),
      upMinute: upsert('rollup_dep'),
      upHour: upsert('rollup_dep_hour'),
      minSpanTs: db.prepare('SELECT min(ts) AS m FROM spans'),
      trimMinute: db.prepare('DELETE FROM rollup_dep WHERE minute < ?'),
      trimHour: db.prepare('DELETE FROM rollup_dep_hour WHERE minute < ?'),
      trimLinks: db.prepare('DELETE FROM dep_link WHERE last_seen < ?'),
      depAll: db.prepare('SELECT * FROM rollup_dep WHERE minute BETWEEN ? AND ?'),
      depService: db.prepare('SELECT * FROM rollup_dep WHERE service = ? AND minute BETWEEN ? AND ?'),
      depAllHour: db.prepare('SELECT * FROM rollup_dep_hour WHERE minute BETWEEN ? AND ?'),
      depServiceHour: db.prepare('SELECT * FROM rollup_dep_hour WHERE service = ? AND minute BETWEEN ? AND ?'),
      links: db.prepare('SELECT service, dest, downstream, last_seen AS lastSeen FROM dep_link WHERE last_seen >= ?'),
      txRoll: db.prepare('SELECT service, count, sum_us, failures, successes FROM rollup_tx WHERE minute BETWEEN ? AND ?'),
      txRollHour: db.prepare('SELECT service, count, sum_us, failures, successes FROM rollup_tx_hour WHERE minute BETWEEN ? AND ?'),
      services: db.prepare('SELECT name, environment, agent_name AS agentName FROM services'),
      destSpans: db.prepare(
        `SELECT s.ts, s.service, s.trace_id AS traceId, s.span_id AS id, s.tx_id AS transactionId, s.name, s.duration_us AS durationUs, s.outcome,
                t.name AS txName, t.type AS txType
         FROM spans s LEFT JOIN transactions t ON t.trace_id = s.trace_id AND t.tx_id = s.tx_id
         WHERE s.dest = ? AND s.ts BETWEEN ? AND ? ORDER BY s.ts DESC LIMIT ${DETAIL_SAMPLE}`,
      ),
      hist: db.prepare('SELECT count, max_us, hist FROM rollup_tx WHERE service = ? AND minute BETWEEN ? AND ? AND name = ?'),
      histHour: db.prepare('SELECT count, max_us, hist FROM rollup_tx_hour WHERE service = ? AND minute BETWEEN ? AND ? AND name = ?'),
      eventTx: db.prepare('SELECT t.ts, t.service, t.doc, m.doc AS meta FROM transactions t LEFT JOIN metadata m ON m.id = t.meta_id WHERE t.trace_id = ? AND t.tx_id = ? LIMIT 1'),
      eventSpan: db.prepare('SELECT s.ts, s.service, s.doc, m.doc AS meta FROM spans s LEFT JOIN metadata m ON m.id = s.meta_id WHERE s.trace_id = ? AND s.span_id = ? LIMIT 1'),
      eventErrors: db.prepare(
        'SELECT ts, group_key AS groupKey, exc_type AS type, message, error_id AS id, culprit FROM errors WHERE trace_id = ? AND (parent_id = ? OR (parent_id IS NULL AND tx_id = ?)) ORDER BY ts LIMIT 100',
      ),
    };
  }

  private state(k: string): number {
    return ((this.st.getState!.get(k) as { v: number } | undefined)?.v ?? 0);
  }

  /**
   * Catches the dependency rollups and downstream links up with the span and transaction rows
   * written since the last call, at most `maxRows` rows of each (all when omitted). Returns the
   * rows read. Runs inside the caller's turn; the server calls it after writes and before queries.
   */
  sync(maxRows = Number.POSITIVE_INFINITY): number {
    const db = this.db;
    const s = this.st;
    let read = 0;
    // Spans: exit spans into the rollups; external/messaging ones also look for the child transaction.
    const maxSpan = (s.maxSpan!.get() as { m: number | null }).m ?? 0;
    let hwm = this.state('span_hwm');
    if (maxSpan < hwm) hwm = 0; // the table was emptied and its ids restarted
    while (hwm < maxSpan && read < maxRows) {
      const rows = s.newSpans!.all(hwm, maxSpan, Math.min(SYNC_CHUNK, maxRows - read)) as Array<{
        id: number; ts: number; service: string; trace_id: string | null; span_id: string | null; type: string | null; subtype: string | null;
        duration_us: number | null; outcome: string | null; dest: string;
      }>;
      const next = rows.length < Math.min(SYNC_CHUNK, maxRows - read) ? maxSpan : rows[rows.length - 1]!.id;
      read += rows.length;
      const minute = new Map<string, DepRow>();
      const hour = new Map<string, DepRow>();
      const links: Array<[string, string, string, number]> = [];
      for (const r of rows) {
        const m = Math.floor(r.ts / 60e6) * 60;
        for (const [map, b] of [[minute, m], [hour, Math.floor(m / 3600) * 3600]] as const) {
          const k = `${r.service}\0${b}\0${r.dest}`;
          let g = map.get(k);
          if (!g) {
            g = { service: r.service, minute: b, dest: r.dest, span_type: r.type, span_subtype: r.subtype, count: 0, sum_us: 0, max_us: 0, failures: 0, successes: 0, sample_trace: null, sample_span: null };
            map.set(k, g);
          }
          const d = r.duration_us ?? 0;
          g.count++;
          g.sum_us += d;
          g.max_us = Math.max(g.max_us, d);
          if (r.outcome === 'failure') g.failures++;
          else if (r.outcome === 'success') g.successes++;
          g.span_type = r.type;
          g.span_subtype = r.subtype;
          // One sample span per bucket (a success preferred, like Kibana's exit-span samples).
          if (r.trace_id && r.span_id && (g.sample_span === null || r.outcome !== 'failure')) {
            g.sample_trace = r.trace_id;
            g.sample_span = r.span_id;
          }
        }
        // Downstream service: the transaction whose parent is this span. Only calls that can reach
        // an instrumented service, and once a minute per (service, dependency); the transaction
        // side below covers a child that arrives after its parent span.
        const kind = depKind(r.type, r.subtype);
        const lk = `${r.service}\0${r.dest}`;
        if ((kind === 'external' || kind === 'broker' || kind === 'other') && r.trace_id && r.span_id && (this.looked.get(lk) ?? -1) < m) {
          this.looked.set(lk, m);
          const child = s.childTx!.get(r.trace_id, r.span_id) as { service: string } | undefined;
          if (child && child.service !== r.service) links.push([r.service, r.dest, child.service, r.ts]);
        }
      }
      db.transaction(() => {
        for (const g of minute.values()) s.upMinute!.run(g.service, g.minute, g.dest, g.span_type, g.span_subtype, g.count, g.sum_us, g.max_us, g.failures, g.successes, g.sample_trace, g.sample_span);
        for (const g of hour.values()) s.upHour!.run(g.service, g.minute, g.dest, g.span_type, g.span_subtype, g.count, g.sum_us, g.max_us, g.failures, g.successes, g.sample_trace, g.sample_span);
        for (const l of links) s.link!.run(...l);
        s.setState!.run('span_hwm', next);
      })();
      hwm = next;
      if (this.looked.size > 10_000) this.looked.clear();
    }
    // Transactions with a parent: a parent exit span of another service links its dependency to this service.
    const maxTx = (s.maxTx!.get() as { m: number | null }).m ?? 0;
    let txHwm = this.state('tx_hwm');
    if (maxTx < txHwm) txHwm = 0;
    while (txHwm < maxTx && read < maxRows) {
      const lim = Math.min(SYNC_CHUNK, maxRows - read);
      const rows = s.newTx!.all(txHwm, maxTx, lim) as Array<{ id: number; ts: number; service: string; trace_id: string | null; parent_id: string }>;
      const next = rows.length < lim ? maxTx : rows[rows.length - 1]!.id;
      read += rows.length;
      db.transaction(() => {
        for (const t of rows) {
          if (!t.trace_id) continue;
          const p = s.parentSpan!.get(t.trace_id, t.parent_id) as { service: string; dest: string | null } | undefined;
          if (p && p.dest && p.service !== t.service) s.link!.run(p.service, p.dest, t.service, t.ts);
        }
        s.setState!.run('tx_hwm', next);
      })();
      txHwm = next;
    }
    // Labels of new transactions (context.tags) into tx_label, for the search's label filter.
    let lh = this.state('label_hwm');
    if (maxTx < lh) lh = 0;
    while (lh < maxTx && read < maxRows) {
      const lim = Math.min(SYNC_CHUNK, maxRows - read);
      const rows = s.newTxDocs!.all(lh, maxTx, lim) as Array<{ id: number; ts: number; doc: string }>;
      const next = rows.length < lim ? maxTx : rows[rows.length - 1]!.id;
      read += rows.length;
      db.transaction(() => {
        for (const t of rows) {
          if (!t.doc.includes('"tags"')) continue;
          let tags: unknown;
          try {
            tags = (unwrap(t.doc, 'transaction').context as Obj | undefined)?.tags;
          } catch {
            continue;
          }
          if (!tags || typeof tags !== 'object') continue;
          for (const [k, v] of Object.entries(tags as Obj)) {
            if (v === null || typeof v === 'object' || k.length > 1024) continue;
            s.putLabel!.run(k, String(v).slice(0, 1024), t.ts, t.id);
          }
        }
        s.setState!.run('label_hwm', next);
      })();
      lh = next;
    }
    // Retention deleted spans: drop the rollup buckets older than the oldest span left (once a minute).
    const now = Date.now();
    if (now - this.lastTrim > 60_000) {
      this.lastTrim = now;
      const min = (s.minSpanTs!.get() as { m: number | null }).m;
      const cutS = min === null ? Number.MAX_SAFE_INTEGER : Math.floor(min / 1e6);
      s.trimMinute!.run(Math.floor(cutS / 60) * 60);
      s.trimHour!.run(Math.floor(cutS / 3600) * 3600);
      s.trimLinks!.run(min === null ? Number.MAX_SAFE_INTEGER : min);
      const txMin = (s.minTxTs!.get() as { m: number | null }).m;
      s.trimLabels!.run(txMin === null ? Number.MAX_SAFE_INTEGER : txMin);
    }
    return read;
  }

  private depRows(r: Range, service?: string): Iterable<DepRow> {
    const [a, b] = bucketRange(r);
    const h = hourly(r);
    return (service ? this.st[h ? 'depServiceHour' : 'depService']!.iterate(service, a, b) : this.st[h ? 'depAllHour' : 'depAll']!.iterate(a, b)) as Iterable<DepRow>;
  }

  /** Downstream services of (service, dependency) pairs seen in the range (or up to an hour before it). */
  private linksIn(r: Range): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const l of this.st.links!.all(r.fromUs - 3600e6) as Array<{ service: string; dest: string; downstream: string }>) {
      const k = `${l.service}\0${l.dest}`;
      out.set(k, [...(out.get(k) ?? []), l.downstream]);
    }
    return out;
  }

  /**
   * Dependencies table: one row per downstream (`postgresql`, `127.0.0.1:3000`, `redis`) with
   * latency, throughput, failure rate, impact and the calling services; only `service`'s calls when given.
   */
  dependencies(r: Range, service?: string): Obj[] {
    this.sync();
    const groups = new Map<string, { sum: Sum; callers: Map<string, Sum> }>();
    for (const row of this.depRows(r, service)) {
      let g = groups.get(row.dest);
      if (!g) groups.set(row.dest, (g = { sum: new Sum(), callers: new Map() }));
      g.sum.add(row);
      let c = g.callers.get(row.service);
      if (!c) g.callers.set(row.service, (c = new Sum()));
      c.add(row);
    }
    const links = this.linksIn(r);
    const minutes = minutesOf(r);
    const rows = [...groups].map(([dest, g]) => {
      const callers = [...g.callers.keys()].sort();
      const downstream = [...new Set(callers.flatMap((c) => links.get(`${c}\0${dest}`) ?? []))].sort();
      return { name: dest, kind: depKind(g.sum.type, g.sum.subtype), spanType: g.sum.type, spanSubtype: g.sum.subtype, callers, downstream, ...g.sum.stats(minutes) };
    });
    return withImpact(rows).sort((x, y) => y.impact - x.impact || String(x.name).localeCompare(String(y.name)));
  }

  /**
   * Service map: services (with their transaction stats) and dependencies as nodes; an edge per
   * calling service and dependency, or to the instrumented service its calls reach (found by
   * `parent.id` = exit span id), with throughput, latency and failure rate of those calls.
   */
  serviceMap(r: Range): Obj {
    this.sync();
    const [a, b] = bucketRange(r);
    const minutes = minutesOf(r);
    const known = new Map((this.st.services!.all() as Array<{ name: string; environment: string | null; agentName: string | null }>).map((s) => [s.name, s]));
    const svc = new Map<string, { count: number; sumUs: number; failures: number; successes: number }>();
    for (const row of this.st[hourly(r) ? 'txRollHour' : 'txRoll']!.iterate(a, b) as Iterable<{ service: string; count: number; sum_us: number; failures: number; successes: number }>) {
      let g = svc.get(row.service);
      if (!g) svc.set(row.service, (g = { count: 0, sumUs: 0, failures: 0, successes: 0 }));
      g.count += row.count;
      g.sumUs += row.sum_us;
      g.failures += row.failures;
      g.successes += row.successes;
    }
    const pairs = new Map<string, { service: string; dest: string; sum: Sum }>();
    for (const row of this.depRows(r)) {
      const k = `${row.service}\0${row.dest}`;
      let g = pairs.get(k);
      if (!g) pairs.set(k, (g = { service: row.service, dest: row.dest, sum: new Sum() }));
      g.sum.add(row);
    }
    const links = this.linksIn(r);
    const nodes = new Map<string, Obj>();
    const serviceNode = (name: string): string => {
      const id = `service:${name}`;
      if (!nodes.has(id)) {
        const g = svc.get(name);
        const rated = g ? g.failures + g.successes : 0;
        nodes.set(id, {
          id, kind: 'service', name, environment: known.get(name)?.environment ?? null, agentName: known.get(name)?.agentName ?? null,
          count: g?.count ?? 0, tpm: (g?.count ?? 0) / minutes, avgUs: g && g.count ? g.sumUs / g.count : null, failureRate: rated ? g!.failures / rated : null,
        });
      }
      return id;
    };
    for (const name of svc.keys()) serviceNode(name);
    const edges = new Map<string, { source: string; target: string; resources: Set<string>; sum: Sum }>();
    for (const p of pairs.values()) {
      const source = serviceNode(p.service);
      const down = (links.get(`${p.service}\0${p.dest}`) ?? []).filter((d) => d !== p.service);
      const targets: string[] = down.length ? down.map(serviceNode) : [];
      if (!targets.length) {
        const id = `dependency:${p.dest}`;
        if (!nodes.has(id)) nodes.set(id, { id, kind: depKind(p.sum.type, p.sum.subtype), name: p.dest, spanType: p.sum.type, spanSubtype: p.sum.subtype });
        targets.push(id);
      }
      for (const target of targets) {
        const k = `${source}\0${target}`;
        let e = edges.get(k);
        if (!e) edges.set(k, (e = { source, target, resources: new Set(), sum: new Sum() }));
        e.resources.add(p.dest);
        // Sum of the pair's bucket sums (Sum.add takes rollup-shaped rows).
        e.sum.add({ ...emptyRow(), count: p.sum.count, sum_us: p.sum.sumUs, max_us: p.sum.maxUs, failures: p.sum.failures, successes: p.sum.successes, span_type: p.sum.type, span_subtype: p.sum.subtype });
      }
    }
    return {
      nodes: [...nodes.values()].sort((x, y) => String(x.id).localeCompare(String(y.id))),
      edges: [...edges.values()]
        .map((e) => ({ source: e.source, target: e.target, resources: [...e.resources].sort(), ...e.sum.stats(minutes) }))
        .sort((x, y) => `${x.source}\0${x.target}`.localeCompare(`${y.source}\0${y.target}`)),
    };
  }

  /**
   * One dependency: totals and time series from the rollups; the calling services; and, from its
   * newest exit spans in the range (at most DETAIL_SAMPLE), the calling transactions, the
   * operations (span names) and recent calls with their traces.
   */
  dependency(dest: string, r: Range, service?: string): Obj | undefined {
    this.sync();
    const step = stepSeconds(r);
    const minutes = minutesOf(r);
    const total = new Sum();
    const callers = new Map<string, Sum>();
    const buckets = new Map<number, Sum>();
    for (const row of this.depRows(r, service)) {
      if (row.dest !== dest) continue;
      total.add(row);
      let c = callers.get(row.service);
      if (!c) callers.set(row.service, (c = new Sum()));
      c.add(row);
      const t = Math.floor(row.minute / step) * step;
      let g = buckets.get(t);
      if (!g) buckets.set(t, (g = new Sum()));
      g.add(row);
    }
    if (total.count === 0) return undefined;
    const [a, b] = bucketRange(r);
    const points: Obj[] = [];
    for (let t = Math.floor(a / step) * step; t <= b; t += step) {
      const s = (buckets.get(t) ?? new Sum()).stats(step / 60);
      points.push({ t: t * 1000, tpm: s.tpm, avgUs: s.avgUs, failureRate: s.failureRate, count: s.count });
    }
    type SpanRow = { ts: number; service: string; traceId: string; id: string; transactionId: string | null; name: string | null; durationUs: number; outcome: string | null; txName: string | null; txType: string | null };
    let sample = this.st.destSpans!.all(dest, r.fromUs, r.toUs) as SpanRow[];
    if (service) sample = sample.filter((x) => x.service === service);
    const group = (key: (x: SpanRow) => string, head: (x: SpanRow) => Obj): Obj[] => {
      const m = new Map<string, { head: Obj; n: number; sum: number; f: number; ok: number }>();
      for (const x of sample) {
        const k = key(x);
        let g = m.get(k);
        if (!g) m.set(k, (g = { head: head(x), n: 0, sum: 0, f: 0, ok: 0 }));
        g.n++;
        g.sum += x.durationUs ?? 0;
        if (x.outcome === 'failure') g.f++;
        else if (x.outcome === 'success') g.ok++;
      }
      const label = (x: Obj): string => `${String(x.service ?? '')}\0${String(x.name ?? '')}`;
      return withImpact([...m.values()].map((g): Obj => ({ ...g.head, count: g.n, avgUs: g.sum / g.n, failureRate: g.f + g.ok ? g.f / (g.f + g.ok) : null, sumUs: g.sum }))).sort(
        (x, y) => y.impact - x.impact || label(x).localeCompare(label(y)),
      );
    };
    const links = this.linksIn(r);
    return {
      name: dest,
      kind: depKind(total.type, total.subtype),
      spanType: total.type,
      spanSubtype: total.subtype,
      ...total.stats(minutes),
      downstream: [...new Set([...callers.keys()].flatMap((c) => links.get(`${c}\0${dest}`) ?? []))].sort(),
      callers: withImpact([...callers].map(([name, s]) => ({ service: name, ...s.stats(minutes) }))).sort((x, y) => y.impact - x.impact || x.service.localeCompare(y.service)),
      stepSeconds: step,
      points,
      sampled: sample.length,
      sampleLimit: DETAIL_SAMPLE,
      transactions: group(
        (x) => `${x.service}\0${x.txName ?? ''}`,
        (x) => ({ service: x.service, name: x.txName, type: x.txType }),
      ),
      operations: group((x) => x.name ?? '', (x) => ({ name: x.name })),
      recent: sample.slice(0, 20),
    };
  }

  /** Latency distribution of one transaction group from the rollup histograms: about 40 bins. */
  distribution(service: string, name: string, r: Range): Obj {
    const [a, b] = bucketRange(r);
    const counts = new Map<number, number>();
    let total = 0;
    let maxUs = 0;
    for (const row of this.st[hourly(r) ? 'histHour' : 'hist']!.iterate(service, a, b, name) as Iterable<{ count: number; max_us: number; hist: string }>) {
      total += row.count;
      maxUs = Math.max(maxUs, row.max_us);
      for (const [k, c] of Object.entries(JSON.parse(row.hist) as Record<string, number>)) counts.set(Number(k), (counts.get(Number(k)) ?? 0) + c);
    }
    if (total === 0) return { service, name, count: 0, bins: [] };
    const keys = [...counts.keys()].sort((x, y) => x - y);
    const lo = keys[0]!;
    const hi = keys[keys.length - 1]!;
    // Log buckets of ratio 1.05 merged `w` at a time, so the histogram has at most ~40 bars.
    const w = Math.max(1, Math.ceil((hi - lo + 1) / 40));
    const bins: Obj[] = [];
    for (let start = lo; start <= hi; start += w) {
      let n = 0;
      for (let k = start; k < start + w; k++) n += counts.get(k) ?? 0;
      // Bucket k holds durations in (1.05^(k-1), 1.05^k] µs (bucket 0: ≤ 1 µs).
      // As whole µs: [floor(1.05^(start-1)) + 1, floor(1.05^end)], so adjacent bins never overlap.
      const fromUs = start === 0 ? 0 : Math.floor(Math.pow(1.05, start - 1)) + 1;
      const toUs = start + w - 1 === 0 ? 1 : Math.floor(Math.pow(1.05, start + w - 1));
      bins.push({ fromUs, toUs, midUs: bucketValue(start + (w - 1) / 2), count: n });
    }
    return { service, name, count: total, maxUs, bins };
  }

  /**
   * Transactions matching every given filter in the range, newest first (at most `limit`, 100).
   * Columns and indexes serve service/name/trace/outcome/result/duration; version and environment
   * go through the (small) metadata table; a label goes through tx_label (key, value, ts), so a
   * rare label is found without reading documents. Label values compare as text (`attempt:4`).
   */
  search(f: SearchFilters, r: Range): Obj {
    this.sync();
    const where: string[] = [];
    const args: unknown[] = [];
    // A trace id is unique: it is found whatever the time range.
    const [from, to] = f.traceId ? [0, Number.MAX_SAFE_INTEGER] : [r.fromUs, r.toUs];
    if (f.traceId) where.push('t.trace_id = ?'), args.push(f.traceId.toLowerCase());
    if (f.service) where.push('t.service = ?'), args.push(f.service);
    if (f.name) where.push('t.name = ?'), args.push(f.name);
    if (f.outcome) where.push('t.outcome = ?'), args.push(f.outcome);
    if (f.result) where.push('t.result = ?'), args.push(f.result);
    if (f.minUs !== undefined) where.push('t.duration_us >= ?'), args.push(f.minUs);
    if (f.maxUs !== undefined) where.push('t.duration_us <= ?'), args.push(f.maxUs);
    if (f.version !== undefined || f.environment !== undefined) {
      const mw: string[] = [];
      if (f.version !== undefined) mw.push("json_extract(doc, '$.service.version') = ?"), args.push(f.version);
      if (f.environment !== undefined) mw.push("json_extract(doc, '$.service.environment') = ?"), args.push(f.environment);
      where.push(`t.meta_id IN (SELECT id FROM metadata WHERE ${mw.join(' AND ')})`);
    }
    const limit = Math.min(100, Math.max(1, f.limit ?? 50));
    const cols = 't.ts, t.service, t.name, t.type, t.trace_id AS traceId, t.tx_id AS id, t.duration_us AS durationUs, t.result, t.outcome';
    let rows: Obj[];
    if (f.label) {
      const i = f.label.indexOf(':');
      rows = this.db
        .prepare(
          `SELECT ${cols} FROM tx_label l JOIN transactions t ON t.id = l.tx
           WHERE l.key = ? AND l.value = ? AND l.ts BETWEEN ? AND ?${where.length ? ` AND ${where.join(' AND ')}` : ''} ORDER BY l.ts DESC LIMIT ${limit}`,
        )
        .all(f.label.slice(0, i), f.label.slice(i + 1), from, to, ...args) as Obj[];
    } else {
      where.unshift('t.ts BETWEEN ? AND ?');
      rows = this.db.prepare(`SELECT ${cols} FROM transactions t WHERE ${where.join(' AND ')} ORDER BY t.ts DESC LIMIT ${limit}`).all(from, to, ...args) as Obj[];
    }
    return { rows, limit };
  }

  /** One transaction or span in full, with its service metadata and the errors recorded under it. */
  event(kind: 'transaction' | 'span', traceId: string, id: string): Obj | undefined {
    const row = this.st[kind === 'transaction' ? 'eventTx' : 'eventSpan']!.get(traceId, id) as Obj | undefined;
    if (!row) return undefined;
    return {
      kind,
      ts: row.ts,
      service: row.service,
      event: unwrap(row.doc, kind),
      metadata: row.meta ? JSON.parse(row.meta as string) : null,
      errors: this.st.eventErrors!.all(traceId, id, id),
    };
  }
}

function emptyRow(): DepRow {
  return { service: '', minute: 0, dest: '', span_type: null, span_subtype: null, count: 0, sum_us: 0, max_us: 0, failures: 0, successes: 0, sample_trace: null, sample_span: null };
}

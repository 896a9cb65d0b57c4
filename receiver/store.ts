// The receiver's embedded store: SQLite through better-sqlite3 (WAL, batched transactions), one
// table per event kind, 1-minute and 1-hour transaction rollups with latency histograms, retention.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

type Obj = Record<string, unknown>;

export interface StoreOptions {
  dataDir: string;
  /** Events older than this (by event timestamp) are deleted. Default 7 days. */
  maxAgeMs?: number;
  /** Max rows kept per event table (oldest deleted first). Default 2,000,000. */
  maxRows?: number;
  /** Max bytes used by the database pages; beyond it the oldest 10% of each table goes. Default 2 GiB. */
  maxBytes?: number;
  /** Pending events that trigger an immediate flush. Default 2000. */
  batchSize?: number;
  /** Max time an event waits before its batch is written. Default 100 ms. */
  flushIntervalMs?: number;
  /** How often retention runs. Default 60 s. */
  retentionIntervalMs?: number;
}

/** Metadata of one intake request, already reduced to what the store indexes. */
export interface RequestMeta {
  raw: Obj;
  service: string;
  environment: string | null;
  agentName: string | null;
  agentVersion: string | null;
  /** Receive time in epoch µs: the timestamp of events that carry none. */
  rxUs: number;
  /** Row id in the metadata table, set by the store on first use (once per request). */
  metaId?: number;
}

// Latency histogram: log buckets of ratio 1.05 (±2.5% error on p95/p99), stored sparse as JSON.
const LOG_RATIO = Math.log(1.05);
export function bucketOf(us: number): number {
  return us <= 1 ? 0 : Math.ceil(Math.log(us) / LOG_RATIO);
}
/** The representative value (geometric middle) of a bucket, in µs. */
export function bucketValue(b: number): number {
  return b === 0 ? 1 : Math.exp((b - 0.5) * LOG_RATIO);
}

interface Rollup {
  service: string;
  type: string;
  name: string;
  minute: number;
  count: number;
  sumUs: number;
  maxUs: number;
  failures: number;
  successes: number;
  hist: Map<number, number>;
}

const TABLES = ['transactions', 'spans', 'errors', 'metrics', 'logs'] as const;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS metadata (id INTEGER PRIMARY KEY, hash TEXT UNIQUE, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS services (
  name TEXT PRIMARY KEY, environment TEXT, agent_name TEXT, agent_version TEXT,
  first_seen INTEGER, last_seen INTEGER);
CREATE TABLE IF NOT EXISTS transactions (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, service TEXT NOT NULL, trace_id TEXT, tx_id TEXT,
  parent_id TEXT, name TEXT, type TEXT, result TEXT, outcome TEXT, duration_us INTEGER,
  meta_id INTEGER, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tx_trace ON transactions (trace_id);
CREATE INDEX IF NOT EXISTS tx_service_ts ON transactions (service, ts);
CREATE INDEX IF NOT EXISTS tx_service_name_ts ON transactions (service, name, ts);
CREATE INDEX IF NOT EXISTS tx_ts ON transactions (ts);
CREATE TABLE IF NOT EXISTS spans (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, service TEXT NOT NULL, trace_id TEXT, span_id TEXT,
  parent_id TEXT, tx_id TEXT, name TEXT, type TEXT, subtype TEXT, action TEXT, duration_us INTEGER,
  outcome TEXT, meta_id INTEGER, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS span_trace ON spans (trace_id);
CREATE INDEX IF NOT EXISTS span_ts ON spans (ts);
CREATE TABLE IF NOT EXISTS errors (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, service TEXT NOT NULL, trace_id TEXT, tx_id TEXT,
  parent_id TEXT, error_id TEXT, group_key TEXT, exc_type TEXT, culprit TEXT, message TEXT,
  handled INTEGER, meta_id INTEGER, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS err_trace ON errors (trace_id);
CREATE INDEX IF NOT EXISTS err_service_ts ON errors (service, ts);
CREATE INDEX IF NOT EXISTS err_group_ts ON errors (group_key, ts);
CREATE INDEX IF NOT EXISTS err_ts ON errors (ts);
CREATE TABLE IF NOT EXISTS metrics (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, service TEXT NOT NULL, name TEXT NOT NULL,
  value REAL, tags TEXT);
CREATE INDEX IF NOT EXISTS metric_service_name_ts ON metrics (service, name, ts);
CREATE INDEX IF NOT EXISTS metric_ts ON metrics (ts);
CREATE TABLE IF NOT EXISTS logs (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, service TEXT NOT NULL, trace_id TEXT, level TEXT,
  message TEXT, meta_id INTEGER, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS log_ts ON logs (ts);
CREATE TABLE IF NOT EXISTS rollup_tx (
  service TEXT NOT NULL, minute INTEGER NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL,
  count INTEGER NOT NULL, sum_us INTEGER NOT NULL, max_us INTEGER NOT NULL, failures INTEGER NOT NULL,
  successes INTEGER NOT NULL, hist TEXT NOT NULL, PRIMARY KEY (service, minute, type, name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_minute ON rollup_tx (minute);
CREATE TABLE IF NOT EXISTS rollup_tx_hour (
  service TEXT NOT NULL, minute INTEGER NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL,
  count INTEGER NOT NULL, sum_us INTEGER NOT NULL, max_us INTEGER NOT NULL, failures INTEGER NOT NULL,
  successes INTEGER NOT NULL, hist TEXT NOT NULL, PRIMARY KEY (service, minute, type, name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_hour ON rollup_tx_hour (minute);
`;

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null;
}
function obj(v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
}
function tsOf(e: Obj, meta: RequestMeta): number {
  return typeof e.timestamp === 'number' ? Math.trunc(e.timestamp) : meta.rxUs;
}
function serviceOf(e: Obj, meta: RequestMeta): string {
  const s = obj(obj(e.context)?.service)?.name;
  return typeof s === 'string' && s ? s : meta.service;
}

/** The culprit the agent sent, else "function (file)" of the first non-library frame. */
export function culpritOf(err: Obj): string {
  if (typeof err.culprit === 'string' && err.culprit) return err.culprit;
  const exc = obj(err.exception);
  const frames = (exc?.stacktrace ?? obj(err.log)?.stacktrace) as Obj[] | undefined;
  if (Array.isArray(frames)) {
    const f = frames.find((fr) => obj(fr) && !fr.library_frame) ?? frames[0];
    if (f) return `${str(f.function) ?? '<anonymous>'} (${str(f.filename) ?? str(f.abs_path) ?? '?'})`;
  }
  return '';
}

export class Store extends EventEmitter {
  readonly db: Database.Database;
  readonly path: string;
  private pending: Array<() => void> = [];
  private rollups = new Map<string, Rollup>();
  private services = new Map<string, [string, string | null, string | null, string | null, number, number]>();
  private metaIds = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly opts: Required<Omit<StoreOptions, 'dataDir'>>;
  private readonly stmts: Record<string, Database.Statement>;
  /** Total events written since open (for stats and tests). */
  written = 0;

  constructor(options: StoreOptions) {
    super();
    this.opts = {
      maxAgeMs: options.maxAgeMs ?? 7 * 24 * 3600_000,
      maxRows: options.maxRows ?? 2_000_000,
      maxBytes: options.maxBytes ?? 2 * 1024 ** 3,
      batchSize: options.batchSize ?? 2000,
      flushIntervalMs: options.flushIntervalMs ?? 100,
      retentionIntervalMs: options.retentionIntervalMs ?? 60_000,
    };
    mkdirSync(options.dataDir, { recursive: true });
    this.path = join(options.dataDir, 'spanforge.db');
    this.db = new Database(this.path);
    // WAL + synchronous=NORMAL: readers (the UI) never block the writer; a crash may lose the last
    // transaction but never corrupts the file. Measured in docs/receiver.md.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    // 64 MiB page cache: trace_id index inserts touch random pages; with the 2 MiB default they
    // were re-read from the OS for every batch. Checkpoint every ~40 MiB of WAL instead of 4 MiB.
    this.db.pragma('cache_size = -65536');
    this.db.pragma('wal_autocheckpoint = 10000');
    this.db.exec(SCHEMA);
    const db = this.db;
    this.stmts = {
      tx: db.prepare(
        'INSERT INTO transactions (ts, service, trace_id, tx_id, parent_id, name, type, result, outcome, duration_us, meta_id, doc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
      ),
      span: db.prepare(
        'INSERT INTO spans (ts, service, trace_id, span_id, parent_id, tx_id, name, type, subtype, action, duration_us, outcome, meta_id, doc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)',
      ),
      error: db.prepare(
        'INSERT INTO errors (ts, service, trace_id, tx_id, parent_id, error_id, group_key, exc_type, culprit, message, handled, meta_id, doc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)',
      ),
      metric: db.prepare('INSERT INTO metrics (ts, service, name, value, tags) VALUES (?,?,?,?,?)'),
      log: db.prepare('INSERT INTO logs (ts, service, trace_id, level, message, meta_id, doc) VALUES (?,?,?,?,?,?,?)'),
      metaGet: db.prepare('SELECT id FROM metadata WHERE hash = ?'),
      metaPut: db.prepare('INSERT INTO metadata (hash, doc) VALUES (?, ?)'),
      rollupGet: db.prepare('SELECT count, sum_us, max_us, failures, successes, hist FROM rollup_tx WHERE service=? AND minute=? AND type=? AND name=?'),
      rollupPut: db.prepare(
        'INSERT OR REPLACE INTO rollup_tx (service, minute, type, name, count, sum_us, max_us, failures, successes, hist) VALUES (?,?,?,?,?,?,?,?,?,?)',
      ),
      hourGet: db.prepare('SELECT count, sum_us, max_us, failures, successes, hist FROM rollup_tx_hour WHERE service=? AND minute=? AND type=? AND name=?'),
      hourPut: db.prepare(
        'INSERT OR REPLACE INTO rollup_tx_hour (service, minute, type, name, count, sum_us, max_us, failures, successes, hist) VALUES (?,?,?,?,?,?,?,?,?,?)',
      ),
      service: db.prepare(
        `INSERT INTO services (name, environment, agent_name, agent_version, first_seen, last_seen) VALUES (?,?,?,?,?,?)
         ON CONFLICT(name) DO UPDATE SET environment=coalesce(excluded.environment, environment),
           agent_name=coalesce(excluded.agent_name, agent_name), agent_version=coalesce(excluded.agent_version, agent_version),
           first_seen=min(first_seen, excluded.first_seen), last_seen=max(last_seen, excluded.last_seen)`,
      ),
    };
    this.retentionTimer = setInterval(() => this.safeRetention(), this.opts.retentionIntervalMs);
    this.retentionTimer.unref();
    this.safeRetention();
  }

  /** Id of a metadata document (deduplicated by content), created inside the current flush. */
  private metaId(meta: RequestMeta): number {
    if (meta.metaId !== undefined) return meta.metaId;
    const json = JSON.stringify(meta.raw);
    let id = this.metaIds.get(json);
    if (id !== undefined) return (meta.metaId = id);
    const hash = createHash('sha1').update(json).digest('hex');
    const row = this.stmts.metaGet!.get(hash) as { id: number } | undefined;
    id = row ? row.id : Number(this.stmts.metaPut!.run(hash, json).lastInsertRowid);
    if (this.metaIds.size > 1000) this.metaIds.clear();
    this.metaIds.set(json, id);
    meta.metaId = id;
    return id;
  }

  private seen(service: string, meta: RequestMeta, ts: number): void {
    const cur = this.services.get(service);
    if (cur) {
      cur[4] = Math.min(cur[4], ts);
      cur[5] = Math.max(cur[5], ts);
    } else {
      const own = service === meta.service;
      this.services.set(service, [service, own ? meta.environment : null, own ? meta.agentName : null, own ? meta.agentVersion : null, ts, ts]);
    }
  }

  /**
   * Queues one decoded event; it is written with the next batch. Never throws for odd input.
   * `raw` is the NDJSON line as received (`{"<kind>": {...}}`), stored as the event's document.
   */
  add(kind: string, e: Obj, meta: RequestMeta, raw?: string): void {
    if (this.closed) return;
    const ts = tsOf(e, meta);
    const service = serviceOf(e, meta);
    const doc = raw ?? JSON.stringify({ [kind]: e });
    const s = this.stmts;
    switch (kind) {
      case 'transaction': {
        const durUs = Math.round(Number(e.duration) * 1000) || 0;
        const outcome = str(e.outcome);
        const name = str(e.name) ?? '';
        const type = str(e.type) ?? '';
        this.pending.push(() =>
          s.tx!.run(ts, service, str(e.trace_id), str(e.id), str(e.parent_id), name, type, str(e.result), outcome, durUs, this.metaId(meta), doc),
        );
        this.rollup(service, type, name, ts, durUs, outcome);
        break;
      }
      case 'span': {
        const ts2 = typeof e.timestamp === 'number' ? ts : meta.rxUs + Math.round(Number(e.start ?? 0) * 1000);
        const durUs = Math.round(Number(e.duration) * 1000) || 0;
        this.pending.push(() =>
          s.span!.run(ts2, service, str(e.trace_id), str(e.id), str(e.parent_id), str(e.transaction_id), str(e.name), str(e.type), str(e.subtype), str(e.action), durUs, str(e.outcome), this.metaId(meta), doc),
        );
        break;
      }
      case 'error': {
        const exc = obj(e.exception);
        const log = obj(e.log);
        const excType = str(exc?.type) ?? (exc ? 'Error' : 'log');
        const culprit = culpritOf(e);
        const message = str(exc?.message) ?? str(log?.message) ?? '';
        const groupKey = createHash('sha1').update(`${service}\0${excType}\0${culprit}`).digest('hex').slice(0, 16);
        const handled = typeof exc?.handled === 'boolean' ? (exc.handled ? 1 : 0) : null;
        this.pending.push(() =>
          s.error!.run(ts, service, str(e.trace_id), str(e.transaction_id), str(e.parent_id), str(e.id), groupKey, excType, culprit, message, handled, this.metaId(meta), doc),
        );
        break;
      }
      case 'metricset': {
        const samples = obj(e.samples) ?? {};
        const tagsObj: Obj = { ...(obj(e.tags) ?? {}) };
        const span = obj(e.span);
        const tx = obj(e.transaction);
        if (span) Object.assign(tagsObj, { 'span.type': span.type ?? null, 'span.subtype': span.subtype ?? null });
        if (tx) Object.assign(tagsObj, { 'transaction.name': tx.name ?? null, 'transaction.type': tx.type ?? null });
        const tags = Object.keys(tagsObj).length ? JSON.stringify(tagsObj) : null;
        const svc = str(obj(e.service)?.name) ?? service;
        for (const [name, sample] of Object.entries(samples)) {
          const value = obj(sample)?.value;
          if (typeof value !== 'number') continue; // histograms are accepted but not charted
          this.pending.push(() => s.metric!.run(ts, svc, name, value, tags));
        }
        break;
      }
      case 'log': {
        const ts3 = typeof e['@timestamp'] === 'number' ? Math.trunc(e['@timestamp'] as number)
          : typeof e['@timestamp'] === 'string' ? (Date.parse(e['@timestamp'] as string) * 1000 || meta.rxUs) : meta.rxUs;
        const level = str(obj(e.log)?.level) ?? str(e['log.level']);
        const trace = str(obj(e.trace)?.id) ?? str(e['trace.id']);
        this.pending.push(() => s.log!.run(ts3, service, trace, level, str(e.message), this.metaId(meta), doc));
        break;
      }
      default:
        return;
    }
    this.seen(service, meta, ts);
    if (this.pending.length >= this.opts.batchSize) this.flush();
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => this.flush(), this.opts.flushIntervalMs);
      this.flushTimer.unref();
    }
  }

  private rollup(service: string, type: string, name: string, ts: number, durUs: number, outcome: string | null): void {
    const minute = Math.floor(ts / 60_000_000) * 60;
    const key = `${service}\0${minute}\0${type}\0${name}`;
    let r = this.rollups.get(key);
    if (!r) {
      r = { service, type, name, minute, count: 0, sumUs: 0, maxUs: 0, failures: 0, successes: 0, hist: new Map() };
      this.rollups.set(key, r);
    }
    r.count++;
    r.sumUs += durUs;
    if (durUs > r.maxUs) r.maxUs = durUs;
    if (outcome === 'failure') r.failures++;
    else if (outcome === 'success') r.successes++;
    const b = bucketOf(durUs);
    r.hist.set(b, (r.hist.get(b) ?? 0) + 1);
  }

  private upsertRollup(get: Database.Statement, put: Database.Statement, r: Rollup, bucket: number): void {
    const old = get.get(r.service, bucket, r.type, r.name) as
      | { count: number; sum_us: number; max_us: number; failures: number; successes: number; hist: string }
      | undefined;
    let hist = r.hist;
    if (old) {
      hist = new Map(r.hist);
      for (const [b, c] of Object.entries(JSON.parse(old.hist) as Record<string, number>)) hist.set(Number(b), (hist.get(Number(b)) ?? 0) + c);
    }
    put.run(
      r.service, bucket, r.type, r.name,
      r.count + (old?.count ?? 0), r.sumUs + (old?.sum_us ?? 0), Math.max(r.maxUs, old?.max_us ?? 0),
      r.failures + (old?.failures ?? 0), r.successes + (old?.successes ?? 0), JSON.stringify(Object.fromEntries(hist)),
    );
  }

  /** Writes everything pending in one SQLite transaction. Safe to call any time. */
  flush(): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (this.pending.length === 0 && this.rollups.size === 0) return;
    const pending = this.pending;
    const rollups = this.rollups;
    const services = this.services;
    this.pending = [];
    this.rollups = new Map();
    this.services = new Map();
    const s = this.stmts;
    try {
      this.db.transaction(() => {
        for (const run of pending) run();
        // Each batch delta goes into the minute row and into its hour row (used for ranges > 6 h).
        for (const r of rollups.values()) {
          this.upsertRollup(s.rollupGet!, s.rollupPut!, r, r.minute);
          this.upsertRollup(s.hourGet!, s.hourPut!, r, Math.floor(r.minute / 3600) * 3600);
        }
        for (const v of services.values()) s.service!.run(...v);
      })();
      this.written += pending.length;
      this.emit('change');
    } catch (err) {
      // A failing disk must not take the receiver down; the batch is lost and reported.
      this.emit('error-logged', err);
    }
  }

  private safeRetention(): void {
    try {
      this.retention();
    } catch (err) {
      this.emit('error-logged', err);
    }
  }

  /** Deletes by age, row count and size, in batches of 5000 rows so ingest is never blocked long. */
  retention(now = Date.now()): number {
    let deleted = 0;
    const cutoffUs = (now - this.opts.maxAgeMs) * 1000;
    const delBatch = (table: string, where: string, ...args: unknown[]): number => {
      let n = 0;
      for (;;) {
        const r = this.db.prepare(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE ${where} LIMIT 5000)`).run(...args);
        n += r.changes;
        if (r.changes < 5000) return n;
      }
    };
    for (const t of TABLES) {
      deleted += delBatch(t, 'ts < ?', cutoffUs);
      // ids grow with insertion, so "the newest maxRows" is an id range: no count(*) scan.
      const max = (this.db.prepare(`SELECT max(id) AS m FROM ${t}`).get() as { m: number | null }).m;
      if (max !== null && max > this.opts.maxRows) deleted += delBatch(t, 'id <= ?', max - this.opts.maxRows);
    }
    this.db.prepare('DELETE FROM rollup_tx WHERE minute < ?').run(Math.floor(cutoffUs / 1e6));
    this.db.prepare('DELETE FROM services WHERE last_seen < ?').run(cutoffUs);
    this.db.prepare('DELETE FROM rollup_tx_hour WHERE minute < ?').run(Math.floor(cutoffUs / 1e6 / 3600) * 3600 - 3600);
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const used = ((this.db.pragma('page_count', { simple: true }) as number) - (this.db.pragma('freelist_count', { simple: true }) as number)) * pageSize;
    if (used > this.opts.maxBytes) {
      for (const t of TABLES) {
        const r = this.db.prepare(`SELECT min(id) AS lo, max(id) AS hi FROM ${t}`).get() as { lo: number | null; hi: number | null };
        if (r.lo !== null && r.hi !== null) deleted += delBatch(t, 'id <= ?', r.lo + Math.ceil((r.hi - r.lo) / 10));
      }
    }
    return deleted;
  }

  /** Flushes the pending batch and closes the database. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // best effort: WAL is replayed on next open anyway
    }
    this.db.close();
  }
}

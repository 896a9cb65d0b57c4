// The receiver's embedded store: SQLite (node:sqlite where Node has it, else better-sqlite3, through
// receiver/sqlite.ts; WAL, batched transactions), one table per event kind, 1-minute and 1-hour
// transaction rollups with latency histograms, retention.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { storedLogFields } from './logs.js';
import { safeStringify } from './safe-json.js';
import { openDatabase, sqliteBackend, SqliteUnavailableError, type SqlDatabase, type SqlStatement } from './sqlite.js';

export { SqliteUnavailableError };

type Obj = Record<string, unknown>;

export interface StoreOptions {
  dataDir: string;
  /** Events older than this (by event timestamp) are deleted. Default 7 days. */
  maxAgeMs?: number;
  /** Max rows kept per event table (oldest deleted first). Default 2,000,000. */
  maxRows?: number;
  /**
   * Max bytes of live database pages ((page_count - freelist_count) * page_size). Beyond it a
   * retention pass deletes the oldest events (all tables, by time) until under 90% of it. Default 2 GiB.
   */
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
  /** The store's metadata generation when metaId was set (retention may delete metadata rows). */
  metaGen?: number;
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
/** Event tables whose rows reference a metadata row (meta_id). */
const META_TABLES = ['transactions', 'spans', 'errors', 'logs'] as const;
/** Rows per DELETE statement; a periodic pass yields to the event loop between chunks. */
const CHUNK = 5000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS metadata (id INTEGER PRIMARY KEY, hash TEXT UNIQUE, doc TEXT NOT NULL, max_ts INTEGER);
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
-- The transaction search (receiver/queries-deps.ts): each filter that has no better index gets one,
-- so a value that matches nothing is not a scan of the whole range (docs/receiver.md, Measured).
CREATE INDEX IF NOT EXISTS tx_name_ts ON transactions (name, ts);
CREATE INDEX IF NOT EXISTS tx_outcome_ts ON transactions (outcome, ts);
CREATE INDEX IF NOT EXISTS tx_result_ts ON transactions (result, ts);
CREATE INDEX IF NOT EXISTS tx_meta_ts ON transactions (meta_id, ts);
CREATE TABLE IF NOT EXISTS spans (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, service TEXT NOT NULL, trace_id TEXT, span_id TEXT,
  parent_id TEXT, tx_id TEXT, name TEXT, type TEXT, subtype TEXT, action TEXT, duration_us INTEGER,
  outcome TEXT, meta_id INTEGER, doc TEXT NOT NULL, dest TEXT);
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
CREATE INDEX IF NOT EXISTS log_trace ON logs (trace_id, ts);
CREATE INDEX IF NOT EXISTS log_service_ts ON logs (service, ts);
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

/**
 * The dependency an exit span calls, as Kibana names it: `context.destination.service.resource`,
 * else `context.service.target` as "type/name" (or just the type). Null for other spans.
 */
export function destOf(e: Obj): string | null {
  const ctx = obj(e.context);
  const res = str(obj(obj(ctx?.destination)?.service)?.resource);
  if (res) return res;
  const target = obj(obj(ctx?.service)?.target);
  const type = str(target?.type);
  const name = str(target?.name);
  return type && name ? `${type}/${name}` : type || name || null;
}
/** destOf() in SQL, for filling spans.dest of databases created before the column. */
const DEST_SQL = `coalesce(nullif(json_extract(doc, '$.span.context.destination.service.resource'), ''),
  CASE WHEN json_extract(doc, '$.span.context.service.target.type') IS NOT NULL AND json_extract(doc, '$.span.context.service.target.name') IS NOT NULL
    THEN json_extract(doc, '$.span.context.service.target.type') || '/' || json_extract(doc, '$.span.context.service.target.name')
    ELSE coalesce(nullif(json_extract(doc, '$.span.context.service.target.type'), ''), nullif(json_extract(doc, '$.span.context.service.target.name'), '')) END)`;

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
  readonly db: SqlDatabase;
  readonly path: string;
  private pending: Array<() => void> = [];
  private rollups = new Map<string, Rollup>();
  private services = new Map<string, [string, string | null, string | null, string | null, number, number]>();
  private metaIds = new Map<string, number>();
  /** Bumped when retention deletes metadata rows: cached RequestMeta.metaId values are then stale. */
  private metaGen = 0;
  /** Highest event timestamp per request metadata in the pending batch (metadata.max_ts). */
  private pendingMetaTs = new Map<RequestMeta, number>();
  private retentionRunning = false;
  /** Size rounds of the last retention pass (for tests and diagnostics). */
  sizeRounds = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly opts: Required<Omit<StoreOptions, 'dataDir'>>;
  private readonly stmts: Record<string, SqlStatement>;
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
    sqliteBackend(); // loads the backend before touching the data dir (a missing one creates nothing)
    mkdirSync(options.dataDir, { recursive: true });
    this.path = join(options.dataDir, 'spanforge.db');
    this.db = openDatabase(this.path);
    // Incremental auto-vacuum (only takes effect on a new, empty database): pages freed by
    // retention are given back to the file system after each pass instead of staying in the file.
    this.db.pragma('auto_vacuum = INCREMENTAL');
    // WAL + synchronous=NORMAL: readers (the UI) never block the writer; a crash may lose the last
    // transaction but never corrupts the file. Measured in docs/receiver.md.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    // 64 MiB page cache: trace_id index inserts touch random pages; with the 2 MiB default they
    // were re-read from the OS for every batch. Checkpoint every ~40 MiB of WAL instead of 4 MiB.
    this.db.pragma('cache_size = -65536');
    // (a small maxBytes gets a proportionally smaller WAL, at least 100 pages).
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    this.db.pragma(`wal_autocheckpoint = ${Math.max(100, Math.min(10000, Math.floor(this.opts.maxBytes / pageSize / 8)))}`);
    this.db.exec(SCHEMA);
    // Databases created before metadata.max_ts: add the column (its NULLs are never trimmed).
    const cols = this.db.prepare('PRAGMA table_info(metadata)').all() as Array<{ name: string }>;
    if (!cols.some((c) => c.name === 'max_ts')) this.db.exec('ALTER TABLE metadata ADD COLUMN max_ts INTEGER');
    // Databases created before spans.dest (the dependency of an exit span, for the service map and
    // dependencies views): add the column and fill it from the stored documents, once.
    const spanCols = this.db.prepare('PRAGMA table_info(spans)').all() as Array<{ name: string }>;
    if (!spanCols.some((c) => c.name === 'dest')) {
      this.db.exec('ALTER TABLE spans ADD COLUMN dest TEXT');
      this.db.exec(`UPDATE spans SET dest = ${DEST_SQL} WHERE ${DEST_SQL} IS NOT NULL`);
    }
    this.db.exec('CREATE INDEX IF NOT EXISTS span_dest_ts ON spans (dest, ts) WHERE dest IS NOT NULL');
    const db = this.db;
    this.stmts = {
      tx: db.prepare(
        'INSERT INTO transactions (ts, service, trace_id, tx_id, parent_id, name, type, result, outcome, duration_us, meta_id, doc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
      ),
      span: db.prepare(
        'INSERT INTO spans (ts, service, trace_id, span_id, parent_id, tx_id, name, type, subtype, action, duration_us, outcome, meta_id, doc, dest) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)',
      ),
      error: db.prepare(
        'INSERT INTO errors (ts, service, trace_id, tx_id, parent_id, error_id, group_key, exc_type, culprit, message, handled, meta_id, doc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)',
      ),
      metric: db.prepare('INSERT INTO metrics (ts, service, name, value, tags) VALUES (?,?,?,?,?)'),
      log: db.prepare('INSERT INTO logs (ts, service, trace_id, level, message, meta_id, doc) VALUES (?,?,?,?,?,?,?)'),
      metaGet: db.prepare('SELECT id FROM metadata WHERE hash = ?'),
      metaPut: db.prepare('INSERT INTO metadata (hash, doc) VALUES (?, ?)'),
      metaTs: db.prepare('UPDATE metadata SET max_ts = max(coalesce(max_ts, ?), ?) WHERE id = ?'),
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
    this.retentionTimer = setInterval(() => void this.retentionAsync(), this.opts.retentionIntervalMs);
    this.retentionTimer.unref();
    this.safeRetention();
  }

  /** Id of a metadata document (deduplicated by content), created inside the current flush. */
  private metaId(meta: RequestMeta): number {
    if (meta.metaId !== undefined && meta.metaGen === this.metaGen) return meta.metaId;
    meta.metaGen = this.metaGen;
    const json = safeStringify(meta.raw); // any nesting depth (V8's JSON.stringify recurses)
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
    let ts = tsOf(e, meta);
    let service = serviceOf(e, meta);
    const doc = raw ?? safeStringify({ [kind]: e });
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
        this.metaTs(meta, ts);
        break;
      }
      case 'span': {
        const ts2 = typeof e.timestamp === 'number' ? ts : meta.rxUs + Math.round(Number(e.start ?? 0) * 1000);
        const durUs = Math.round(Number(e.duration) * 1000) || 0;
        this.pending.push(() =>
          s.span!.run(ts2, service, str(e.trace_id), str(e.id), str(e.parent_id), str(e.transaction_id), str(e.name), str(e.type), str(e.subtype), str(e.action), durUs, str(e.outcome), this.metaId(meta), doc, destOf(e)),
        );
        this.metaTs(meta, ts2);
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
        this.metaTs(meta, ts);
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
        // APM Server's log fields (receiver/logs.ts): flat or nested ECS keys, `@timestamp` in µs or
        // RFC 3339, the event's own service.name over the metadata's.
        const f = storedLogFields(e);
        ts = f?.timestampUs ?? meta.rxUs;
        if (f?.serviceName) service = f.serviceName;
        const ts3 = ts;
        const svc = service;
        this.pending.push(() => s.log!.run(ts3, svc, f?.traceId ?? null, f?.level ?? null, f?.message ?? null, this.metaId(meta), doc));
        this.metaTs(meta, ts3);
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

  /** Records the newest event timestamp of a request's metadata in this batch (metadata.max_ts). */
  private metaTs(meta: RequestMeta, ts: number): void {
    const cur = this.pendingMetaTs.get(meta);
    if (cur === undefined || ts > cur) this.pendingMetaTs.set(meta, ts);
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

  private upsertRollup(get: SqlStatement, put: SqlStatement, r: Rollup, bucket: number): void {
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
    const metaTs = this.pendingMetaTs;
    this.pending = [];
    this.rollups = new Map();
    this.services = new Map();
    this.pendingMetaTs = new Map();
    const s = this.stmts;
    try {
      this.db.transaction(() => {
        for (const run of pending) run();
        for (const [meta, ts] of metaTs) s.metaTs!.run(ts, ts, this.metaId(meta));
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

  /**
   * The periodic pass: the same steps as retention(), but it yields to the event loop after each
   * chunk of deleted rows, so ingest and UI queries run in between. Resolves to the rows deleted.
   */
  async retentionAsync(now = Date.now()): Promise<number> {
    if (this.retentionRunning || this.closed) return 0;
    this.retentionRunning = true;
    try {
      const steps = this.retentionSteps(now);
      for (;;) {
        if (this.closed) return 0;
        const r = steps.next();
        if (r.done) return r.value;
        await new Promise((res) => setImmediate(res));
      }
    } catch (err) {
      this.emit('error-logged', err);
      return 0;
    } finally {
      this.retentionRunning = false;
    }
  }

  /** One retention pass run to the end at once (start-up, tests). Returns the event rows deleted. */
  retention(now = Date.now()): number {
    const steps = this.retentionSteps(now);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /** Live bytes of the database: pages in use, WAL included, freed pages not counted. */
  usedBytes(): number {
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const pages = (this.db.pragma('page_count', { simple: true }) as number) - (this.db.pragma('freelist_count', { simple: true }) as number);
    return pages * pageSize;
  }

  /**
   * Retention, one chunk of work per step: (1) events older than maxAgeMs; (2) all but the newest
   * maxRows per table; (3) while the live pages exceed maxBytes, the oldest events of every table
   * (a time cut-off estimated from the excess, repeated until under 90% of maxBytes); then the
   * rollups, services and metadata that only described deleted events, by the same time cut-off.
   */
  private *retentionSteps(now: number): Generator<void, number, void> {
    let deleted = 0;
    this.sizeRounds = 0;
    const db = this.db;
    const cutoffUs = (now - this.opts.maxAgeMs) * 1000;
    function* delChunks(table: string, where: string, arg: number): Generator<void, number, void> {
      const stmt = db.prepare(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE ${where} LIMIT ${CHUNK})`);
      let n = 0;
      for (;;) {
        const r = stmt.run(arg);
        n += r.changes;
        if (r.changes < CHUNK) return n;
        yield;
      }
    }
    const minTs = (t: string): number | null => (db.prepare(`SELECT min(ts) AS m FROM ${t}`).get() as { m: number | null }).m;
    const idRange = (t: string) => db.prepare(`SELECT min(id) AS lo, max(id) AS hi FROM ${t}`).get() as { lo: number | null; hi: number | null };

    for (const t of TABLES) {
      deleted += yield* delChunks(t, 'ts < ?', cutoffUs);
      // ids grow with insertion, so "the newest maxRows" is an id range: no count(*) scan.
      const { hi } = idRange(t);
      if (hi !== null && hi > this.opts.maxRows) deleted += yield* delChunks(t, 'id <= ?', hi - this.opts.maxRows);
    }

    // Size: delete the oldest events until the live pages are under 90% of maxBytes (headroom so
    // the next minutes of ingest do not trip it again at once).
    const target = this.opts.maxBytes * 0.9;
    for (let round = 0, used = this.usedBytes(); used > this.opts.maxBytes || (round > 0 && used > target); round++, used = this.usedBytes()) {
      if (round >= 100) break; // cannot get under (e.g. the cap is below the empty schema)
      // Fraction of rows to drop, from the excess; pages do not free exactly in proportion (random
      // trace_id index pages stay partly used), so the loop measures again and repeats.
      const f = Math.min(0.99, Math.max(0.02, (used - target) / used));
      // A time cut-off at that quantile of the largest table (an index-only walk of its ts index).
      let ref: string | undefined;
      let refRows = 0;
      for (const t of TABLES) {
        const { lo, hi } = idRange(t);
        if (lo !== null && hi !== null && hi - lo + 1 > refRows) [ref, refRows] = [t, hi - lo + 1];
      }
      if (!ref) break; // nothing left to delete
      const q = db.prepare(`SELECT ts FROM ${ref} ORDER BY ts LIMIT 1 OFFSET ?`).get(Math.min(refRows - 1, Math.floor(refRows * f))) as { ts: number } | undefined;
      const cut = q ? q.ts : Number.MAX_SAFE_INTEGER;
      let n = 0;
      for (const t of TABLES) n += yield* delChunks(t, 'ts < ?', cut);
      if (n === 0) {
        // Identical timestamps: fall back to the oldest rows by insertion order.
        for (const t of TABLES) {
          const { lo, hi } = idRange(t);
          if (lo !== null && hi !== null) n += yield* delChunks(t, 'id <= ?', lo + Math.max(0, Math.ceil((hi - lo + 1) * f) - 1));
        }
      }
      deleted += n;
      this.sizeRounds = round + 1;
      if (n === 0) break;
      yield;
    }

    // Rollups describe stored transactions: trim whole minutes / hours older than the oldest
    // transaction left (after age, row and size deletes alike); none left → no rollups.
    const txMin = minTs('transactions');
    const txCutS = txMin === null ? Number.MAX_SAFE_INTEGER : Math.floor(Math.max(txMin, cutoffUs) / 1e6);
    db.prepare('DELETE FROM rollup_tx WHERE minute < ?').run(Math.floor(txCutS / 60) * 60);
    db.prepare('DELETE FROM rollup_tx_hour WHERE minute < ?').run(Math.floor(txCutS / 3600) * 3600);
    // Services seen only before the oldest event left (or the age limit).
    let oldest: number | null = null;
    for (const t of TABLES) {
      const m = minTs(t);
      if (m !== null && (oldest === null || m < oldest)) oldest = m;
    }
    db.prepare('DELETE FROM services WHERE last_seen < ?').run(oldest === null ? Number.MAX_SAFE_INTEGER : Math.max(oldest, cutoffUs));
    // Metadata rows whose newest event is older than every event row that references metadata.
    let metaMin: number | null = null;
    for (const t of META_TABLES) {
      const m = minTs(t);
      if (m !== null && (metaMin === null || m < metaMin)) metaMin = m;
    }
    const metaGone = db.prepare('DELETE FROM metadata WHERE max_ts < ?').run(metaMin ?? Number.MAX_SAFE_INTEGER).changes;
    if (metaGone > 0) {
      this.metaGen++;
      this.metaIds.clear();
    }

    if (deleted > 0 || metaGone > 0) {
      // Give freed pages back to the file system (databases created with auto_vacuum=INCREMENTAL)
      // in chunks, then fold the WAL into the file and truncate it.
      while ((db.pragma('freelist_count', { simple: true }) as number) > 0 && (db.pragma('auto_vacuum', { simple: true }) as number) === 2) {
        const before = db.pragma('freelist_count', { simple: true }) as number;
        db.pragma('incremental_vacuum(2000)');
        if ((db.pragma('freelist_count', { simple: true }) as number) >= before) break;
        yield;
      }
      db.pragma('wal_checkpoint(TRUNCATE)');
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

// Transactions and spans: their state, sampling, span volume controls (transaction_max_spans, exit_span_min_duration,
// span compression, dropped_spans_stats, as the agent spec "handling huge traces" defines them), breakdown intervals,
// and serialisation to intake-v2 objects at end().
import type {
  CodeLocation,
  EndedSpanTiming,
  EndedTransactionTiming,
  IncomingRequestInfo,
  IntakeEvent,
  LabelValue,
  Logger,
  MessageInfo,
  Outcome,
  Span,
  StartSpanOptions,
  StartTransactionOptions,
  TracerHooks,
  Transaction,
} from './types.js';
import type { AgentConfig } from './config.js';
import { currentHolder } from './context.js';
import { nowMs, roundMs, spanId, traceId } from './ids.js';
import { formatTraceparent, formatTracestate, parseTraceparent, parseTracestate, type TraceState } from './traceparent.js';
import { isLibraryPath, isOwnFile, parseStack } from './stacktrace.js';
import { labelValue, matchesAny, parseCookies, REDACTED, sanitizeBody, sanitizeHeaders, sanitizeLabelKey, sanitizeOutgoingUrl, sanitizeQuery, sanitizeUrlQuery, truncate } from './sanitize.js';

/** What the tracer needs from the agent; the agent owns the config, transport and hooks. */
export interface TracerHost {
  readonly config: AgentConfig;
  readonly logger: Logger;
  readonly sanitizeRes: RegExp[];
  readonly ignoreUrlRes: RegExp[];
  /** Hooks registered by metrics; empty array when none (checked by length on the hot path). */
  readonly hooks: TracerHooks[];
  /** true when breakdown metrics are on and someone listens: spans then record child intervals. */
  readonly recordIntervals: boolean;
  emit(event: IntakeEvent): void;
}

const OUTCOMES = new Set<string>(['success', 'failure', 'unknown']);

function setLabelOn(target: { _labels: Record<string, LabelValue> | undefined }, key: string, value: LabelValue): void {
  (target._labels ??= {})[sanitizeLabelKey(String(key))] = labelValue(value);
}

/** Serialises a keyword value, or undefined for nullish input. */
function kw(v: string | undefined | null): string | undefined {
  return v === undefined || v === null ? undefined : truncate(String(v));
}

/** The spec's guard on agent overhead: at most this many span links per event (batches of messages). */
const MAX_LINKS = 1000;
/** dropped_spans_stats keeps at most this many destination/outcome buckets per transaction (agent spec). */
export const MAX_DROPPED_SPANS_STATS = 128;
/** The schema's maxLength of dropped_spans_stats[].service_target_type/_name. */
const TARGET_MAX = 512;

interface DroppedStat {
  destination_service_resource: string;
  service_target_type?: string;
  service_target_name?: string;
  outcome: Outcome;
  duration: { count: number; sum: { us: number } };
}

/** The span (or transaction) side of span compression: at most one ended, compression-eligible child buffered. */
type Parent = TransactionImpl | SpanImpl;

/** Reports the child a parent buffered for compression, if any (the spec's "buffered span gets reported"). */
function flushBuffered(p: Parent): void {
  const b = p._buffered;
  if (b !== undefined) {
    p._buffered = undefined;
    b._report();
  }
}

function addLinkTo(target: { _links: Array<{ trace_id: string; span_id: string }> | undefined }, traceparent: unknown): void {
  if (typeof traceparent !== 'string') return;
  const p = parseTraceparent(traceparent);
  if (!p) return;
  const links = (target._links ??= []);
  if (links.length < MAX_LINKS) links.push({ trace_id: p.traceId, span_id: p.parentId });
}

/** A message header value as intake takes it (string or string[]): Buffers read as UTF-8, scalars as text, objects left out. */
function headerValue(v: unknown): string | string[] | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
  if (Array.isArray(v)) {
    const out: string[] = [];
    for (const x of v) {
      const s = headerValue(x);
      if (typeof s === 'string') out.push(s);
    }
    return out;
  }
  return undefined;
}

/** `context.message` of a span (queue, routing key, age) or, with `full`, of a transaction (plus headers and body as configured). */
function messageContext(host: TracerHost, m: MessageInfo, full: boolean): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (m.queue !== undefined && m.queue !== null) o.queue = { name: truncate(String(m.queue)) };
  if (m.routingKey !== undefined && m.routingKey !== null) o.routing_key = truncate(String(m.routingKey));
  if (typeof m.ageMs === 'number' && Number.isFinite(m.ageMs)) o.age = { ms: Math.max(0, Math.round(m.ageMs)) };
  if (!full) return o;
  const cfg = host.config;
  if (cfg.captureHeaders && m.headers && typeof m.headers === 'object') {
    const h: Record<string, string | string[]> = {};
    for (const k of Object.keys(m.headers)) {
      const v = headerValue(m.headers[k]);
      if (v !== undefined) h[k] = v;
    }
    o.headers = sanitizeHeaders(h, host.sanitizeRes);
  }
  if (m.body !== undefined && m.body !== null && (cfg.captureBody === 'all' || cfg.captureBody === 'transactions')) {
    const b = m.body;
    const text = typeof b === 'string' ? b : b instanceof Uint8Array ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8') : JSON.stringify(b);
    if (typeof text === 'string') o.body = truncate(text, cfg.longFieldMaxLength);
  }
  return o;
}

// -------------------------------------------------------------------------------------------------
export class TransactionImpl implements Transaction {
  readonly kind = 'transaction' as const;
  readonly id: string;
  readonly traceId: string;
  readonly parentId: string | undefined;
  readonly sampled: boolean;
  /** Effective sample rate sent as sample_rate and in `es=s:`; undefined when an upstream decided without telling. */
  readonly sampleRate: number | undefined;
  name: string;
  type: string;
  result: string | undefined = undefined;
  outcome: Outcome = 'unknown';
  ended = false;
  /** Epoch ms (fractional). */
  readonly start: number;
  /** span_count.started: spans reported or still expected to be (the spec's `reported`); a span compressed into a composite or discarded as a fast exit span is taken off again. */
  spanStarted = 0;
  /** span_count.dropped: spans over transaction_max_spans, fast exit spans discarded (a composite counts its spans). */
  spanDropped = 0;
  /** Spans admitted under transaction_max_spans (the spec's `eligible_for_reporting`; never decremented). */
  _eligible = 0;
  /** transaction_max_spans read once at the start (the spec's configuration snapshot); -1 = unlimited. */
  readonly _maxSpans: number;
  _dropStats: Map<string, DroppedStat> | undefined = undefined;
  /** A compression-eligible child that ended and waits for its next sibling. */
  _buffered: SpanImpl | undefined = undefined;
  /** The transaction event (with its span counts) has been built: later drops can no longer be counted. */
  _counted = false;
  /** Set when the request URL matches transaction_ignore_urls: ended but never sent. */
  ignored = false;
  _labels: Record<string, LabelValue> | undefined = undefined;
  _user: Record<string, unknown> | undefined = undefined;
  _custom: Record<string, unknown> | undefined = undefined;
  /** context.service.framework of a request handled by Express or Fastify. */
  _framework: { name: string; version?: string } | undefined = undefined;
  _request: Record<string, unknown> | undefined = undefined;
  _response: Record<string, unknown> | undefined = undefined;
  _message: Record<string, unknown> | undefined = undefined;
  _links: Array<{ trace_id: string; span_id: string }> | undefined = undefined;
  /** `otel` (span_kind, attributes) of an event started or touched through @opentelemetry/api (runtime/otel-bridge.ts). */
  _otel: Record<string, unknown> | undefined = undefined;
  _otelStarted = false;
  /** The raw request body kept for errors when capture_body=errors. */
  _errorBody: unknown = undefined;
  _childIntervals: number[] | undefined;
  private readonly _state: TraceState | undefined;
  private _tracestate: string | undefined | null = null;
  private readonly _host: TracerHost;

  constructor(host: TracerHost, name: string | undefined, type: string | undefined, opts: StartTransactionOptions | undefined) {
    this._host = host;
    this.name = name || 'unnamed';
    this.type = type || 'custom';
    this.id = spanId();
    this.start = opts?.startTime ?? nowMs();
    this._maxSpans = host.config.transactionMaxSpans;
    this._childIntervals = host.recordIntervals ? [] : undefined;
    const parent = opts?.childOf !== undefined ? parseTraceparent(opts.childOf) : undefined;
    if (parent) {
      this.traceId = parent.traceId;
      this.parentId = parent.parentId;
      this.sampled = parent.sampled;
      this._state = parseTracestate(opts?.tracestate);
      // The sampling spec: continue the upstream decision and report its rate when it told us (es=s:).
      this.sampleRate = this.sampled ? this._state?.sampleRate : 0;
    } else {
      this.traceId = traceId();
      this.parentId = undefined;
      const rate = host.config.transactionSampleRate;
      this.sampled = rate >= 1 || (rate > 0 && Math.random() < rate);
      this.sampleRate = this.sampled ? rate : 0;
      this._state = undefined;
    }
    if (opts?.links) for (const l of opts.links) addLinkTo(this, l);
  }

  /** Counts spans that are not sent (count > 1 for a composite), and their statistics when they are exit spans with a destination. */
  _addDropped(span: SpanImpl, count: number, sumUs: number, counted = false): void {
    if (!counted) this.spanDropped += count;
    if (!span.exit) return;
    const t = span._target();
    const outcome = span.outcome ?? 'success';
    const key = `${t.type}\u0000${t.name ?? ''}\u0000${t.resource}\u0000${outcome}`;
    const m = (this._dropStats ??= new Map());
    let st = m.get(key);
    if (st === undefined) {
      if (m.size >= MAX_DROPPED_SPANS_STATS) return;
      st = { destination_service_resource: truncate(t.resource), service_target_type: truncate(t.type, TARGET_MAX), outcome, duration: { count: 0, sum: { us: 0 } } };
      if (t.name) st.service_target_name = truncate(t.name, TARGET_MAX);
      m.set(key, st);
    }
    st.duration.count += count;
    st.duration.sum.us += sumUs;
  }

  addLink(traceparent: string): void {
    if (!this.ended) addLinkTo(this, traceparent);
  }
  setMessageContext(message: MessageInfo): void {
    if (this.ended || !message || typeof message !== 'object') return;
    this._message = messageContext(this._host, message, true);
    if (message.framework !== undefined) this.setFramework(String(message.framework));
  }

  setLabel(key: string, value: LabelValue): void {
    if (!this.ended) setLabelOn(this, key, value);
  }
  addLabels(labels: Record<string, LabelValue>): void {
    if (this.ended || !labels || typeof labels !== 'object') return;
    for (const k of Object.keys(labels)) setLabelOn(this, k, labels[k]!);
  }
  setOutcome(outcome: Outcome): void {
    if (!this.ended && OUTCOMES.has(outcome)) this.outcome = outcome;
  }
  setResult(result: string): void {
    if (!this.ended) this.result = String(result);
  }
  setUserContext(user: { id?: string | number; username?: string; email?: string }): void {
    if (this.ended || !user || typeof user !== 'object') return;
    const u: Record<string, unknown> = (this._user ??= {});
    if (typeof user.id === 'number' || typeof user.id === 'string') u.id = typeof user.id === 'string' ? truncate(user.id) : user.id;
    if (user.username !== undefined) u.username = truncate(String(user.username));
    if (user.email !== undefined) u.email = truncate(String(user.email));
  }
  setCustomContext(custom: Record<string, unknown>): void {
    if (this.ended || !custom || typeof custom !== 'object') return;
    Object.assign((this._custom ??= {}), custom);
  }
  /** The web framework that handled the request (context.service.framework). */
  setFramework(name: string, version?: string): void {
    if (this.ended || typeof name !== 'string' || !name) return;
    this._framework = { name: truncate(name), ...(typeof version === 'string' && version ? { version: truncate(version) } : {}) };
  }
  /**
   * Names a request that no route matched as elastic-apm-node does: `GET unknown route`, or
   * `GET /the/path` when use_path_as_transaction_name is on.
   */
  nameUnmatched(method: string): void {
    if (this.ended) return;
    const m = String(method || 'GET').toUpperCase();
    const url = this._request?.url as { pathname?: unknown } | undefined;
    this.name = this._host.config.usePathAsTransactionName && typeof url?.pathname === 'string' ? `${m} ${url.pathname}` : `${m} unknown route`;
  }
  setRequestContext(req: IncomingRequestInfo): void {
    if (this.ended || !req || typeof req !== 'object') return;
    const cfg = this._host.config;
    const rawUrl = typeof req.url === 'string' ? req.url : '/';
    let path = rawUrl.split('?')[0]!;
    // Absolute-form request targets (sent to proxies): "http://host/path?q" → "/path".
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
      try {
        path = new URL(path).pathname;
      } catch {
        // keep it as received
      }
    }
    if (this._host.ignoreUrlRes.length && matchesAny(path, this._host.ignoreUrlRes)) this.ignored = true;
    const headers = req.headers ?? {};
    const hostHeader = typeof headers.host === 'string' ? headers.host : undefined;
    const protocol = req.socket?.encrypted ? 'https:' : 'http:';
    const r: Record<string, unknown> = { method: truncate(String(req.method || 'GET').toUpperCase()) };
    if (req.httpVersion) r.http_version = truncate(req.httpVersion);
    // sanitize_field_names applies to query parameters too (`?password=…` → `?password=[REDACTED]`).
    const sres = this._host.sanitizeRes;
    const url: Record<string, unknown> = { raw: truncate(sanitizeUrlQuery(rawUrl, sres)), pathname: truncate(path), protocol: protocol.slice(0, -1) };
    const q = rawUrl.indexOf('?');
    if (q >= 0) url.search = truncate(sanitizeQuery(rawUrl.slice(q), sres));
    if (hostHeader) {
      try {
        // Origin-form targets are appended to the origin, so "//x/y" stays a path and never becomes a host.
        const u = rawUrl.startsWith('/') ? new URL(`${protocol}//${hostHeader}${rawUrl}`) : new URL(rawUrl, `${protocol}//${hostHeader}`);
        url.hostname = truncate(u.hostname);
        if (u.port) url.port = truncate(u.port);
        url.full = truncate(sanitizeUrlQuery(u.href, sres));
      } catch {
        // a malformed Host header: keep what we have
      }
    }
    r.url = url;
    if (req.socket?.remoteAddress || req.socket?.encrypted !== undefined) {
      r.socket = { remote_address: req.socket.remoteAddress, encrypted: !!req.socket.encrypted };
    }
    if (cfg.captureHeaders) {
      r.headers = sanitizeHeaders(headers, this._host.sanitizeRes);
      const cookies = parseCookies(headers.cookie, this._host.sanitizeRes);
      if (cookies) r.cookies = cookies;
    }
    if (req.body !== undefined) {
      const ct = typeof headers['content-type'] === 'string' ? headers['content-type'] : undefined;
      if (cfg.captureBody === 'all' || cfg.captureBody === 'transactions') {
        r.body = sanitizeBody(req.body, ct, this._host.sanitizeRes, cfg.longFieldMaxLength);
      } else {
        // As Elastic: the field says a body existed without revealing it.
        r.body = REDACTED;
      }
      if (cfg.captureBody === 'all' || cfg.captureBody === 'errors') {
        this._errorBody = sanitizeBody(req.body, ct, this._host.sanitizeRes, cfg.longFieldMaxLength);
      }
    }
    this._request = r;
  }
  setResponseContext(res: { statusCode: number; headers?: Record<string, string | string[] | undefined> }): void {
    if (this.ended || !res || typeof res !== 'object') return;
    const status = Number(res.statusCode);
    const r: Record<string, unknown> = {};
    if (Number.isInteger(status)) {
      r.status_code = status;
      this.result = `HTTP ${Math.floor(status / 100)}xx`;
      // The outcome spec for HTTP servers: 5xx is a failure, everything else a success.
      this.outcome = status >= 500 ? 'failure' : 'success';
    }
    if (this._host.config.captureHeaders && res.headers) r.headers = sanitizeHeaders(res.headers, this._host.sanitizeRes);
    this._response = r;
  }
  traceparent(): string {
    return formatTraceparent(this.traceId, this.id, this.sampled);
  }
  tracestate(): string | undefined {
    if (this._tracestate === null) this._tracestate = formatTracestate(this.sampleRate, this._state);
    return this._tracestate;
  }

  end(endTime?: number): void {
    try {
      this._end(endTime);
    } catch {
      // hostile values stored earlier (e.g. a throwing getter in a code location) must not reach the caller
    }
  }

  private _end(endTime: number | undefined): void {
    if (this.ended) return;
    this.ended = true;
    const end = typeof endTime === 'number' && Number.isFinite(endTime) ? endTime : nowMs();
    const host = this._host;
    // An ignored transaction (transaction_ignore_urls) is neither sent nor counted in breakdown metrics.
    if (this.ignored) return;
    // The spec's onEnd(): the buffered (possibly composite) child goes out before the transaction, whose counts it changes.
    flushBuffered(this);
    this._counted = true;
    const startUs = Math.round(this.start * 1000);
    const endUs = Math.round(end * 1000);
    if (host.hooks.length) {
      const timing: EndedTransactionTiming = {
        type: this.type,
        name: this.name,
        sampled: this.sampled,
        startUs,
        endUs,
        childIntervals: this._childIntervals ? this._childIntervals.slice() : [],
      };
      for (const h of host.hooks) {
        try {
          h.onTransactionEnd?.(timing);
        } catch (e) {
          host.logger.debug('metrics hook failed: %s', (e as Error)?.message);
        }
      }
    }
    const o: Record<string, unknown> = {
      id: this.id,
      trace_id: this.traceId,
      name: truncate(this.name),
      type: truncate(this.type),
      timestamp: startUs,
      duration: roundMs(Math.max(0, end - this.start)),
      outcome: this.outcome,
      sampled: this.sampled,
      span_count: { started: this.spanStarted, dropped: this.spanDropped },
    };
    if (this.parentId) o.parent_id = this.parentId;
    if (this.result !== undefined) o.result = truncate(this.result);
    else o.result = this.type === 'request' ? undefined : 'success';
    if (o.result === undefined) delete o.result;
    if (this.sampleRate !== undefined) o.sample_rate = this.sampleRate;
    if (this._dropStats !== undefined && this.sampled) o.dropped_spans_stats = [...this._dropStats.values()];
    // Unsampled transactions carry no context (Elastic agents drop it too): only counts and timing matter.
    if (this.sampled) {
      if (this._links) o.links = this._links;
      if (this._otel) o.otel = this._otel;
      const c: Record<string, unknown> = {};
      if (this._request) c.request = this._request;
      if (this._response) c.response = this._response;
      if (this._message) c.message = this._message;
      if (this._user) c.user = this._user;
      if (this._labels) c.tags = this._labels;
      if (this._custom) c.custom = this._custom;
      if (this._framework) c.service = { framework: this._framework };
      for (const _ in c) {
        o.context = c;
        break;
      }
    }
    host.emit({ transaction: o });
  }
}

// -------------------------------------------------------------------------------------------------
export class SpanImpl implements Span {
  readonly kind = 'span' as const;
  readonly id: string;
  readonly traceId: string;
  readonly parentId: string;
  readonly transactionId: string;
  readonly tx: TransactionImpl;
  readonly parent: TransactionImpl | SpanImpl;
  readonly sampled = true;
  readonly exit: boolean;
  name: string;
  type: string;
  subtype: string | undefined;
  action: string | undefined;
  outcome: Outcome | undefined = undefined;
  ended = false;
  readonly start: number;
  _labels: Record<string, LabelValue> | undefined = undefined;
  _db: Record<string, unknown> | undefined = undefined;
  _http: Record<string, unknown> | undefined = undefined;
  _dest: { address?: string; port?: number; serviceTargetType?: string; serviceTargetName?: string } | undefined = undefined;
  _message: Record<string, unknown> | undefined = undefined;
  _links: Array<{ trace_id: string; span_id: string }> | undefined = undefined;
  /** `otel` (span_kind, attributes) of an event started or touched through @opentelemetry/api (runtime/otel-bridge.ts). */
  _otel: Record<string, unknown> | undefined = undefined;
  _otelStarted = false;
  _loc: CodeLocation | undefined = undefined;
  _childIntervals: number[] | undefined;
  /** Over transaction_max_spans: recorded for breakdown metrics and dropped_spans_stats, never sent. */
  readonly dropped: boolean;
  /** traceparent() was read: the context went downstream, so the span can be neither compressed nor discarded. */
  _propagated = false;
  /** A compression-eligible child that ended and waits for its next sibling. */
  _buffered: SpanImpl | undefined = undefined;
  _composite: { count: number; sumUs: number; strategy: 'exact_match' | 'same_kind' } | undefined = undefined;
  /** Integer µs, set at end(); a composite's end moves to its last compressed span's end. */
  _startUs = 0;
  _endUs = 0;
  _durUs = 0;
  /** The stack captured at start when span_stack_trace_min_duration is 0 or more (formatted only if used). */
  private _stackHolder: { stack?: string } | undefined = undefined;
  /** Index of this span's [start, end] pair in the parent's interval list. */
  private readonly _intervalIdx: number;
  private readonly _host: TracerHost;

  constructor(host: TracerHost, tx: TransactionImpl, parent: TransactionImpl | SpanImpl, name: string | undefined, type: string | undefined, opts: StartSpanOptions | undefined, dropped = false) {
    this._host = host;
    this.tx = tx;
    this.parent = parent;
    this.id = spanId();
    this.traceId = tx.traceId;
    this.parentId = parent.id;
    this.transactionId = tx.id;
    this.name = name || 'unnamed';
    this.type = type || 'custom';
    this.subtype = opts?.subtype;
    this.action = opts?.action;
    this.exit = opts?.exitSpan === true;
    this.dropped = dropped;
    this.start = opts?.startTime ?? nowMs();
    if (!dropped && host.config.spanStackTraceMinDuration >= 0) {
      // V8 formats the frames only when .stack is read, i.e. only for spans that end up long enough.
      const holder: { stack?: string } = {};
      Error.captureStackTrace(holder, SpanImpl);
      this._stackHolder = holder;
    }
    if (host.recordIntervals) {
      this._childIntervals = [];
      const list = parent._childIntervals;
      if (list) {
        this._intervalIdx = list.length;
        list.push(Math.round(this.start * 1000), NaN);
      } else this._intervalIdx = -1;
    } else {
      this._childIntervals = undefined;
      this._intervalIdx = -1;
    }
  }

  setLabel(key: string, value: LabelValue): void {
    if (!this.ended) setLabelOn(this, key, value);
  }
  addLabels(labels: Record<string, LabelValue>): void {
    if (this.ended || !labels || typeof labels !== 'object') return;
    for (const k of Object.keys(labels)) setLabelOn(this, k, labels[k]!);
  }
  setOutcome(outcome: Outcome): void {
    if (!this.ended && OUTCOMES.has(outcome)) this.outcome = outcome;
  }
  setDbContext(db: { type?: string; instance?: string; statement?: string; user?: string; rowsAffected?: number }): void {
    if (this.ended || !db || typeof db !== 'object') return;
    const d: Record<string, unknown> = (this._db ??= {});
    if (db.type !== undefined) d.type = kw(db.type);
    if (db.instance !== undefined) d.instance = kw(db.instance);
    if (db.user !== undefined) d.user = kw(db.user);
    if (db.statement !== undefined) d.statement = truncate(String(db.statement), this._host.config.longFieldMaxLength);
    if (typeof db.rowsAffected === 'number' && Number.isInteger(db.rowsAffected)) d.rows_affected = db.rowsAffected;
  }
  setHttpContext(http: { url?: string; method?: string; statusCode?: number }): void {
    if (this.ended || !http || typeof http !== 'object') return;
    const h: Record<string, unknown> = (this._http ??= {});
    // Credentials never leave the process: userinfo is stripped and the query sanitized.
    if (http.url !== undefined) h.url = kw(sanitizeOutgoingUrl(String(http.url), this._host.sanitizeRes));
    if (http.method !== undefined) h.method = kw(String(http.method).toUpperCase());
    if (typeof http.statusCode === 'number') {
      h.response = { status_code: http.statusCode };
      // Exit HTTP spans: 4xx/5xx from the callee is a failure of this call (outcome spec for HTTP clients).
      if (this.outcome === undefined) this.outcome = http.statusCode >= 400 ? 'failure' : 'success';
    }
  }
  setDestination(dest: { address?: string; port?: number; serviceTargetType?: string; serviceTargetName?: string }): void {
    if (this.ended || !dest || typeof dest !== 'object') return;
    this._dest = { ...this._dest, ...dest };
  }
  setCodeLocation(loc: CodeLocation): void {
    if (!this.ended && loc && typeof loc === 'object') this._loc = loc;
  }
  addLink(traceparent: string): void {
    if (!this.ended) addLinkTo(this, traceparent);
  }
  setMessageContext(message: MessageInfo): void {
    if (this.ended || !message || typeof message !== 'object') return;
    this._message = messageContext(this._host, message, false);
  }
  traceparent(): string {
    // A dropped span is never sent: downstream services continue from its nearest reported ancestor.
    if (this.dropped) return this.parent.traceparent();
    this._propagated = true;
    return formatTraceparent(this.traceId, this.id, true);
  }
  tracestate(): string | undefined {
    return this.tx.tracestate();
  }

  /**
   * The spec's isCompressionEligible(): an exit span whose context did not go downstream and that did not fail.
   * spanforge adds: a span with span links is never compressed (nor discarded, see _report): its links are the only
   * record of which message(s) a poll or a batch handled, and a composite keeps only its first span's links.
   */
  private _compressible(): boolean {
    return this.exit && !this._propagated && this._links === undefined && (this.outcome === undefined || this.outcome === 'success');
  }

  /** The spec's tryToCompress(): folds an ended sibling into this buffered span; false when it does not fit. */
  _tryToCompress(sib: SpanImpl): boolean {
    const cfg = this._host.config;
    const exactUs = Math.round(cfg.spanCompressionExactMatchMaxDuration * 1000);
    const sameUs = Math.round(cfg.spanCompressionSameKindMaxDuration * 1000);
    if (this.type !== sib.type || this.subtype !== sib.subtype) return false;
    const resource = this._target().resource;
    if (resource !== sib._target().resource) return false;
    const c = this._composite;
    if (c === undefined) {
      let strategy: 'exact_match' | 'same_kind';
      if (this.name === sib.name) {
        // Exact matches over the threshold end the sequence; same_kind is not tried (the spec says so).
        if (this._durUs > exactUs || sib._durUs > exactUs) return false;
        strategy = 'exact_match';
      } else {
        if (this._durUs > sameUs || sib._durUs > sameUs) return false;
        strategy = 'same_kind';
        this.name = `Calls to ${resource}`;
      }
      this._composite = { count: 2, sumUs: this._durUs + sib._durUs, strategy };
    } else {
      if (c.strategy === 'exact_match' ? this.name !== sib.name || sib._durUs > exactUs : sib._durUs > sameUs) return false;
      c.count++;
      c.sumUs += sib._durUs;
    }
    if (sib._endUs > this._endUs) this._endUs = sib._endUs;
    return true;
  }

  end(endTime?: number): void {
    try {
      this._end(endTime);
    } catch {
      // hostile values stored earlier (e.g. a throwing getter in a code location) must not reach the caller
    }
  }

  private _end(endTime: number | undefined): void {
    if (this.ended) return;
    this.ended = true;
    const end = typeof endTime === 'number' && Number.isFinite(endTime) ? endTime : nowMs();
    const host = this._host;
    const startUs = Math.round(this.start * 1000);
    const endUs = Math.max(startUs, Math.round(end * 1000));
    this._startUs = startUs;
    this._endUs = endUs;
    this._durUs = endUs - startUs;
    if (this._intervalIdx >= 0) this.parent._childIntervals![this._intervalIdx + 1] = endUs;
    if (this.tx.ignored) return; // as its transaction: not sent, not counted
    if (host.hooks.length) {
      const timing: EndedSpanTiming = {
        type: this.type,
        subtype: this.subtype,
        startUs,
        endUs,
        childIntervals: this._childIntervals ? this._childIntervals.slice() : [],
        transactionType: this.tx.type,
        transactionName: this.tx.name,
      };
      for (const h of host.hooks) {
        try {
          h.onSpanEnd?.(timing);
        } catch (e) {
          host.logger.debug('metrics hook failed: %s', (e as Error)?.message);
        }
      }
    }
    if (this.outcome === undefined) this.outcome = 'success';
    // Over transaction_max_spans (already counted in span_count.dropped at start): statistics only.
    if (this.dropped) {
      if (!this.tx._counted) this.tx._addDropped(this, 1, this._durUs, true);
      return;
    }
    // The spec's onEnd(): this span's own buffered child goes out first.
    flushBuffered(this);
    const parent = this.parent;
    if (parent.ended || this.tx.ended) {
      this._report();
      return;
    }
    if (host.config.spanCompressionEnabled && this._compressible()) {
      // The spec's onChildEnd() for an eligible child: buffer it, fold it into the buffered sibling, or swap them.
      const buf = parent._buffered;
      if (buf === undefined) {
        parent._buffered = this;
      } else if (buf._tryToCompress(this)) {
        this.tx.spanStarted--; // a compressed span is not reported: the composite counts as one
      } else {
        parent._buffered = this;
        buf._report();
      }
      return;
    }
    // A non-compressible sibling ends: the buffered one goes out before it.
    flushBuffered(parent);
    this._report();
  }

  /** Sends the span, or drops it as a fast exit span (exit_span_min_duration) into dropped_spans_stats. */
  _report(): void {
    const host = this._host;
    const tx = this.tx;
    const c = this._composite;
    const grossUs = this._endUs - this._startUs;
    const minUs = Math.round(host.config.exitSpanMinDuration * 1000);
    // Discardable: exit spans whose context was not propagated, without span links and whose outcome is success; a
    // composite is judged by its duration.
    if (this.exit && !this._propagated && this._links === undefined && this.outcome === 'success' && grossUs < minUs && !tx._counted) {
      tx.spanStarted--;
      tx._addDropped(this, c ? c.count : 1, c ? c.sumUs : this._durUs);
      return;
    }
    const o: Record<string, unknown> = {
      id: this.id,
      transaction_id: this.transactionId,
      parent_id: this.parentId,
      trace_id: this.traceId,
      name: truncate(this.name),
      type: truncate(this.type),
      timestamp: this._startUs,
      duration: grossUs / 1000,
      outcome: this.outcome ?? 'success',
    };
    if (this.subtype) o.subtype = truncate(this.subtype);
    if (this.action) o.action = truncate(this.action);
    if (tx.sampleRate !== undefined) o.sample_rate = tx.sampleRate;
    if (c) o.composite = { compression_strategy: c.strategy, count: c.count, sum: c.sumUs / 1000 };
    if (this._links) o.links = this._links;
    if (this._otel) o.otel = this._otel;
    const ctx = this._context();
    if (ctx) o.context = ctx;
    const stack = this._capturedFrames(grossUs);
    if (stack) o.stacktrace = stack;
    else {
      const loc = this._loc;
      if (loc) {
        const frame: Record<string, unknown> = { filename: String(loc.file), lineno: loc.line, library_frame: false };
        if (typeof loc.column === 'number') frame.colno = loc.column;
        if (loc.function) frame.function = String(loc.function);
        o.stacktrace = [frame];
      }
    }
    host.emit({ span: o });
  }

  /**
   * The stack captured at start, as intake frames, when span_stack_trace_min_duration asks for one: the option is
   * 0 or more and the span lasted at least that long. Frames of spanforge's own runtime are left out; frames are
   * the running JavaScript's (not mapped through source maps: that is asynchronous work, kept for errors).
   */
  private _capturedFrames(durUs: number): Record<string, unknown>[] | undefined {
    const h = this._stackHolder;
    if (h === undefined) return undefined;
    this._stackHolder = undefined;
    const min = this._host.config.spanStackTraceMinDuration;
    if (min < 0 || durUs < Math.round(min * 1000)) return undefined;
    const out: Record<string, unknown>[] = [];
    for (const f of parseStack(h.stack, this._host.config.stackTraceLimit + 16)) {
      if (f.native || !f.file || isOwnFile(f.file)) continue;
      if (out.length >= this._host.config.stackTraceLimit) break;
      const frame: Record<string, unknown> = { filename: f.file, abs_path: f.file, library_frame: isLibraryPath(f.file) };
      if (f.line !== undefined) frame.lineno = f.line;
      if (f.column !== undefined) frame.colno = f.column;
      if (f.function) frame.function = f.function;
      out.push(frame);
    }
    return out.length ? out : undefined;
  }

  /** Service target and destination resource, inferred as the service-target spec describes (exit spans). */
  _target(): { type: string; name: string | undefined; resource: string } {
    const d = this._dest ?? {};
    const type = d.serviceTargetType ?? this.subtype ?? this.type;
    let name = d.serviceTargetName;
    let resource: string | undefined;
    if (name === undefined && this._db && typeof this._db.instance === 'string') name = this._db.instance;
    if (name === undefined && this.type === 'external' && this._http && typeof this._http.url === 'string') {
      try {
        const u = new URL(this._http.url);
        name = u.port ? `${u.hostname}:${u.port}` : u.hostname;
        resource = u.port ? `${u.hostname}:${u.port}` : `${u.hostname}:${u.protocol === 'https:' ? 443 : 80}`;
      } catch {
        // not an absolute URL: no name
      }
    }
    // An HTTP target's resource is its host:port alone (service-target spec; OTel bridge spans set only the target).
    resource ??= name ? (type === 'http' ? name : `${type}/${name}`) : type;
    return { type, name, resource };
  }

  private _context(): Record<string, unknown> | undefined {
    if (!this._labels && !this._db && !this._http && !this._dest && !this._message && !this.exit) return undefined;
    const c: Record<string, unknown> = {};
    if (this._labels) c.tags = this._labels;
    if (this._db) c.db = this._db;
    if (this._http) c.http = this._http;
    if (this._message) c.message = this._message;
    if (this.exit) {
      const d = this._dest ?? {};
      const { type: targetType, name: targetName, resource } = this._target();
      const target: Record<string, string> = { type: truncate(targetType) };
      if (targetName) target.name = truncate(targetName);
      c.service = { target };
      const dest: Record<string, unknown> = { service: { resource: truncate(resource), name: '', type: '' } };
      if (d.address) dest.address = truncate(d.address);
      if (typeof d.port === 'number' && Number.isInteger(d.port)) dest.port = d.port;
      c.destination = dest;
    } else if (this._dest) {
      const d = this._dest;
      const dest: Record<string, unknown> = {};
      if (d.address) dest.address = truncate(d.address);
      if (typeof d.port === 'number' && Number.isInteger(d.port)) dest.port = d.port;
      c.destination = dest;
    }
    return c;
  }
}

// -------------------------------------------------------------------------------------------------
// Every public method of a recording object swallows its own failures (hostile arguments such as
// throwing getters or proxies): the runtime never throws into user code. Wrapping the prototype once
// keeps the method bodies readable; the extra frame is inlined by V8.
function guardMethods(proto: object, names: readonly string[]): void {
  for (const name of names) {
    const impl = (proto as Record<string, (...a: unknown[]) => unknown>)[name]!;
    Object.defineProperty(proto, name, {
      configurable: true,
      writable: true,
      value: {
        [name](this: unknown, ...args: unknown[]) {
          try {
            return impl.apply(this, args);
          } catch {
            return undefined;
          }
        },
      }[name],
    });
  }
}
guardMethods(TransactionImpl.prototype, ['setLabel', 'addLabels', 'setOutcome', 'setResult', 'setUserContext', 'setCustomContext', 'setRequestContext', 'setResponseContext', 'setFramework', 'nameUnmatched', 'addLink', 'setMessageContext']);
guardMethods(SpanImpl.prototype, ['setLabel', 'addLabels', 'setOutcome', 'setDbContext', 'setHttpContext', 'setDestination', 'setCodeLocation', 'addLink', 'setMessageContext']);

// -------------------------------------------------------------------------------------------------
// The shared non-recording objects (OTel's NonRecordingSpan): every method is a no-op; trace context
// questions are answered from the current transaction so that propagation survives unsampled paths.

function ctxTx(): TransactionImpl | undefined {
  const h = currentHolder() as TransactionImpl | SpanImpl | undefined;
  return h === undefined ? undefined : h.kind === 'transaction' ? h : h.tx;
}

// Classes (not object literals with defineProperties) so the shared instances keep fast properties;
// writable fields are accessors that ignore writes (freezing would make `span.name = x` throw in strict code).
class NoopSpan {
  readonly kind = 'span' as const;
  readonly id = '';
  readonly sampled = false;
  readonly parentId = '';
  readonly transactionId = '';
  readonly ended = true;
  get traceId(): string {
    return ctxTx()?.traceId ?? '';
  }
  get name(): string {
    return '';
  }
  set name(_v: string) {}
  get type(): string {
    return '';
  }
  set type(_v: string) {}
  get subtype(): string | undefined {
    return undefined;
  }
  set subtype(_v: string | undefined) {}
  get action(): string | undefined {
    return undefined;
  }
  set action(_v: string | undefined) {}
  setLabel(): void {}
  addLabels(): void {}
  setOutcome(): void {}
  setDbContext(): void {}
  setHttpContext(): void {}
  setDestination(): void {}
  setCodeLocation(): void {}
  addLink(): void {}
  setMessageContext(): void {}
  traceparent(): string {
    return ctxTx()?.traceparent() ?? '';
  }
  tracestate(): string | undefined {
    return ctxTx()?.tracestate();
  }
  end(): void {}
}

class NoopTransaction {
  readonly kind = 'transaction' as const;
  readonly id = '';
  readonly traceId = '';
  readonly sampled = false;
  readonly ended = true;
  get name(): string {
    return '';
  }
  set name(_v: string) {}
  get type(): string {
    return '';
  }
  set type(_v: string) {}
  get result(): string | undefined {
    return undefined;
  }
  set result(_v: string | undefined) {}
  setLabel(): void {}
  addLabels(): void {}
  setOutcome(): void {}
  setResult(): void {}
  setUserContext(): void {}
  setCustomContext(): void {}
  setRequestContext(): void {}
  setResponseContext(): void {}
  addLink(): void {}
  setMessageContext(): void {}
  traceparent(): string {
    return '';
  }
  tracestate(): string | undefined {
    return undefined;
  }
  end(): void {}
}

/** The shared non-recording span: returned whenever nothing is recorded. */
export const NOOP_SPAN: Span = new NoopSpan();
/** The shared non-recording transaction (agent inactive or not started). */
export const NOOP_TRANSACTION: Transaction = new NoopTransaction();

export function isNoop(x: unknown): boolean {
  return x === NOOP_SPAN || x === NOOP_TRANSACTION;
}

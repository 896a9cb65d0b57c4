// Transactions and spans: their state, sampling, span limits, breakdown intervals, and serialisation to intake-v2 objects at end().
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
  spanStarted = 0;
  spanDropped = 0;
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
  /** Index of this span's [start, end] pair in the parent's interval list. */
  private readonly _intervalIdx: number;
  private readonly _host: TracerHost;

  constructor(host: TracerHost, tx: TransactionImpl, parent: TransactionImpl | SpanImpl, name: string | undefined, type: string | undefined, opts: StartSpanOptions | undefined) {
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
    this.start = opts?.startTime ?? nowMs();
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
    return formatTraceparent(this.traceId, this.id, true);
  }
  tracestate(): string | undefined {
    return this.tx.tracestate();
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
    const endUs = Math.round(end * 1000);
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
    const o: Record<string, unknown> = {
      id: this.id,
      transaction_id: this.transactionId,
      parent_id: this.parentId,
      trace_id: this.traceId,
      name: truncate(this.name),
      type: truncate(this.type),
      timestamp: startUs,
      duration: roundMs(Math.max(0, end - this.start)),
      outcome: this.outcome ?? 'success',
    };
    if (this.subtype) o.subtype = truncate(this.subtype);
    if (this.action) o.action = truncate(this.action);
    if (this.tx.sampleRate !== undefined) o.sample_rate = this.tx.sampleRate;
    if (this._links) o.links = this._links;
    if (this._otel) o.otel = this._otel;
    const c = this._context();
    if (c) o.context = c;
    const loc = this._loc;
    if (loc) {
      const frame: Record<string, unknown> = { filename: String(loc.file), lineno: loc.line, library_frame: false };
      if (typeof loc.column === 'number') frame.colno = loc.column;
      if (loc.function) frame.function = String(loc.function);
      o.stacktrace = [frame];
    }
    host.emit({ span: o });
  }

  private _context(): Record<string, unknown> | undefined {
    if (!this._labels && !this._db && !this._http && !this._dest && !this._message && !this.exit) return undefined;
    const c: Record<string, unknown> = {};
    if (this._labels) c.tags = this._labels;
    if (this._db) c.db = this._db;
    if (this._http) c.http = this._http;
    if (this._message) c.message = this._message;
    if (this.exit) {
      // Service target and destination resource, inferred as the service-target spec describes.
      const d = this._dest ?? {};
      const targetType = d.serviceTargetType ?? this.subtype ?? this.type;
      let targetName = d.serviceTargetName;
      let resource: string | undefined;
      if (targetName === undefined && this._db && typeof this._db.instance === 'string') targetName = this._db.instance;
      if (targetName === undefined && this.type === 'external' && this._http && typeof this._http.url === 'string') {
        try {
          const u = new URL(this._http.url);
          targetName = u.port ? `${u.hostname}:${u.port}` : u.hostname;
          resource = u.port ? `${u.hostname}:${u.port}` : `${u.hostname}:${u.protocol === 'https:' ? 443 : 80}`;
        } catch {
          // not an absolute URL: no name
        }
      }
      // An HTTP target's resource is its host:port alone (service-target spec; OTel bridge spans set only the target).
      resource ??= targetName ? (targetType === 'http' ? targetName : `${targetType}/${targetName}`) : targetType;
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

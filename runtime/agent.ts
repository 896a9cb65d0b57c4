// The agent: one per process (global slot), wiring config → logger → transport → metrics, the tracer entry points, errors, filters and exit handling.
import { hostname } from 'node:os';
import { inspect } from 'node:util';
import { readFileSync } from 'node:fs';
import type {
  IntakeEvent,
  LabelValue,
  Logger,
  Span,
  StartSpanOptions,
  StartTransactionOptions,
  TraceIds,
  TracerHooks,
  Transaction,
  Transport,
} from './types.js';
import { BadValue, CENTRAL_ALIASES, OPTIONS, parseValue, resolveConfigDetailed, type AgentConfig, type AgentOptions, type ConfigSource } from './config.js';
import { CentralConfigPoller } from './central-config.js';
import { bootLogger, createLogger } from './log.js';
import { currentHolder, enter, runWith } from './context.js';
import { enableOtelBridge } from './otel-bridge.js';
import { nowUs, traceId as newErrorId } from './ids.js';
import { NOOP_SPAN, NOOP_TRANSACTION, SpanImpl, TransactionImpl, type TracerHost } from './tracer.js';
import { compileWildcards, labelValue, matchesAny, sanitizeBody, sanitizeHeaders, sanitizeLabelKey, truncate } from './sanitize.js';
import { culpritOf, parseStack, toIntakeFrames } from './stacktrace.js';
import { createTransport } from './transport/index.js';
import { OtlpTransport, otlpSettings } from './transport/otlp-transport.js';
import { startMetrics, type MetricsHandle } from './metrics/index.js';
import { VERSION } from './version.js';

export type EventKind = 'transaction' | 'span' | 'error' | 'metricset';
/**
 * A filter sees each event's inner object before it is sent. Return the (possibly changed or replaced)
 * object to keep it, null or false to drop it; returning nothing keeps the object as mutated in place.
 */
export type EventFilter = (payload: Record<string, unknown>, kind: EventKind) => Record<string, unknown> | null | false | undefined | void;

export interface CaptureErrorOptions {
  /** Default true for captureError(); false for uncaught exceptions and unhandled rejections. */
  handled?: boolean;
  labels?: Record<string, LabelValue>;
  custom?: Record<string, unknown>;
  user?: { id?: string | number; username?: string; email?: string };
  /** The span/transaction the error belongs to; default: the current one; null: none. */
  parent?: Transaction | Span | null;
  /** Epoch milliseconds. */
  timestamp?: number;
  /** Incoming request to attach (sanitized as transactions' are). */
  request?: import('./types.js').IncomingRequestInfo;
  /** Leave the parent span's outcome alone (by default a captured error marks its span as failure). */
  skipOutcome?: boolean;
}

/** Test/ABI hooks that are not options users set. */
export interface StartDeps {
  transport?: Transport;
  /** Skip the process handlers (uncaught, SIGTERM, beforeExit); used by in-process tests. */
  noProcessHandlers?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Extra transport settings (e.g. { compress: true } to gzip even to loopback in tests). */
  transportTuning?: Record<string, unknown>;
  /** Where the agent's own log lines go (tests); default stderr. */
  logWrite?: (line: string) => void;
}

/** Options never shown in clear in the start-up preamble. */
const SECRET_OPTIONS = new Set<string>(['secretToken', 'apiKey']);
const SOURCE_NAMES: Record<ConfigSource, string> = { default: 'default', file: 'config file', start: 'start() option', environment: 'environment' };

const ON_EXIT_FLUSH_MS = 1000;
/** setTimeout's longest delay (2^31-1 ms, ~24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;
/** runtime/abi-core.ts reads the core from this slot. */
const ABI_CORE_SLOT = Symbol.for('spanforge.abi.core.v1');

export class Agent implements TracerHost {
  config: AgentConfig;
  logger: Logger = bootLogger;
  sanitizeRes: RegExp[] = [];
  ignoreUrlRes: RegExp[] = [];
  ignoreQueueRes: RegExp[] = [];
  hooks: TracerHooks[] = [];
  recordIntervals = false;
  /** Started and active: the only state in which anything is recorded. */
  recording = false;
  started = false;
  transport: Transport | undefined;
  private _metrics: MetricsHandle | undefined;
  private _filters: EventFilter[] = [];
  private _emittedSinceFlush = 0;
  private _pendingErrors = new Set<Promise<void>>();
  private _handlers: Array<[string, (...a: any[]) => void]> = [];
  private _captured = new WeakSet<object>();
  private _dying = false;
  private _metadata: Record<string, unknown> | undefined;
  private _globalLabels: Record<string, LabelValue> = {};
  private _abiCore: object | undefined;
  /** The configuration before central configuration (what a removed central key reverts to). */
  private _localConfig: AgentConfig | undefined;
  /** Central-config keys currently applied, with the value given. */
  private _central: Record<string, string> = {};
  private _poller: CentralConfigPoller | undefined;
  private _logWrite: ((line: string) => void) | undefined;

  constructor() {
    this.config = undefined as unknown as AgentConfig;
  }

  // ---------------------------------------------------------------------------------------------
  start(opts: AgentOptions = {}, deps: StartDeps = {}): this {
    if (this.started) {
      this.logger.warn('start() was called more than once; the second call is ignored');
      return this;
    }
    this.started = true;
    try {
      this._logWrite = deps.logWrite;
      const boot = deps.logWrite ? createLogger('warning', deps.logWrite) : bootLogger;
      const resolved = resolveConfigDetailed(opts, deps.env ?? process.env, (m) => boot.warn(m), deps.cwd);
      const cfg = resolved.config;
      this.config = cfg;
      this._localConfig = cfg;
      this.logger = createLogger(cfg.logLevel, deps.logWrite);
      this._preamble(resolved.sources, resolved.file);
      if (!cfg.active) {
        this.logger.debug('active=false: the agent records nothing');
        return this;
      }
      this.sanitizeRes = compileWildcards(cfg.sanitizeFieldNames);
      this.ignoreUrlRes = compileWildcards(cfg.transactionIgnoreUrls);
      this.ignoreQueueRes = compileWildcards(cfg.ignoreMessageQueues);
      this._globalLabels = {};
      for (const [k, v] of Object.entries(cfg.globalLabels)) this._globalLabels[sanitizeLabelKey(k)] = labelValue(v);
      this.transport = deps.transport;
      const env = deps.env ?? process.env;
      const otlp = !this.transport && !cfg.disableSend ? otlpSettings(env, opts.exporter, (m) => this.logger.warn(m)) : undefined;
      if (otlp) {
        this.transport = new OtlpTransport({ ...otlp, metadata: () => this.metadata(), logger: this.logger, maxQueueSize: cfg.maxQueueSize, userAgent: this.userAgent(), scopeVersion: VERSION });
        this.logger.debug('exporting traces over OTLP (%s) to %s', otlp.protocol, otlp.url);
      }
      if (!this.transport && !cfg.disableSend) {
        try {
          this.transport = createTransport({
            serverUrl: cfg.serverUrl,
            secretToken: cfg.secretToken,
            apiKey: cfg.apiKey,
            serverTimeout: cfg.serverTimeout,
            apiRequestTime: cfg.apiRequestTime,
            apiRequestSize: cfg.apiRequestSize,
            verifyServerCert: cfg.verifyServerCert,
            serverCaCertFile: cfg.serverCaCertFile,
            userAgent: this.userAgent(),
            maxQueueSize: cfg.maxQueueSize,
            metadata: () => this.metadata(),
            logger: this.logger,
            ...deps.transportTuning,
          });
        } catch (e) {
          this.logger.error('could not create the transport, events will not be sent: %s', (e as Error)?.message);
        }
      }
      this.recording = true;
      try {
        this._metrics = startMetrics({
          metricsInterval: cfg.metricsInterval,
          breakdownMetrics: cfg.breakdownMetrics,
          disableMetrics: cfg.disableMetrics,
          globalLabels: this._globalLabels,
          send: (ev) => this.emit(ev),
          logger: this.logger,
          addHooks: (h) => this.addHooks(h),
        });
      } catch (e) {
        this.logger.error('metrics could not start: %s', (e as Error)?.message);
      }
      if (!deps.noProcessHandlers) this._installProcessHandlers();
      this._installAbiCore();
      // Central configuration talks to the APM Server the events go to: not with disableSend, an injected
      // transport or the OTLP exporter (an OpenTelemetry backend has no /config/v1/agents).
      if (cfg.centralConfig && !cfg.disableSend && !deps.transport && this.transport !== undefined && !(this.transport instanceof OtlpTransport)) {
        this._poller = new CentralConfigPoller({
          serverUrl: cfg.serverUrl,
          serviceName: cfg.serviceName,
          environment: cfg.environment,
          secretToken: cfg.secretToken,
          apiKey: cfg.apiKey,
          userAgent: this.userAgent(),
          verifyServerCert: cfg.verifyServerCert,
          serverCaCertFile: cfg.serverCaCertFile,
          logger: this.logger,
          apply: (settings) => this.applyCentralConfig(settings),
        });
        this._poller.start();
      }
      if (cfg.opentelemetryBridgeEnabled) enableOtelBridge(this);
      this.logger.debug('started: service %s, server %s', cfg.serviceName, cfg.serverUrl.replace(/\/\/[^/@]*@/, '//[REDACTED]@'));
    } catch (e) {
      // start() must never take the app down.
      this.recording = false;
      bootLogger.error('start failed, the agent stays inactive: %s', (e as Error)?.stack ?? e);
    }
    return this;
  }

  /**
   * The start-up "preamble" elastic-apm-node logs at debug level: agent and runtime versions, the config file,
   * and each option whose value is not the default with its source; secrets and URL credentials redacted.
   */
  private _preamble(sources: Partial<Record<keyof AgentConfig, ConfigSource>>, file: string | undefined): void {
    const cfg = this.config as unknown as Record<string, unknown>;
    const lines: string[] = [];
    for (const spec of OPTIONS) {
      const src = sources[spec.name];
      if (src === undefined) continue;
      let v = cfg[spec.name];
      if (SECRET_OPTIONS.has(spec.name)) v = '[REDACTED]';
      else if (spec.name === 'serverUrl' && typeof v === 'string') v = v.replace(/\/\/[^/@]*@/, '//[REDACTED]@');
      const where = src === 'environment' ? `environment ${spec.env}` : src === 'file' ? `config file` : SOURCE_NAMES[src];
      lines.push(`\n  ${spec.name}: ${JSON.stringify(v)} (${where})`);
    }
    this.logger.debug(
      'agent spanforge %s (elastic-apm-node compatible), node %s, service %s%s; config file: %s; non-default options:%s',
      VERSION,
      process.version,
      JSON.stringify(this.config.serviceName),
      this.config.environment ? ` (${this.config.environment})` : '',
      file ?? 'none',
      lines.length ? lines.join('') : ' none',
    );
  }

  /**
   * Applies a central configuration (the server's settings, string → string) over the local configuration:
   * the options Elastic allows to change at run time, each parsed as its environment variable would be. Keys
   * the server no longer sends go back to their local value; unknown keys and invalid values are named in a
   * warning and change nothing. Returns what was done (also logged: applied at info level).
   */
  applyCentralConfig(settings: Record<string, unknown>): { applied: string[]; reverted: string[]; unknown: string[]; invalid: string[] } {
    const done = { applied: [] as string[], reverted: [] as string[], unknown: [] as string[], invalid: [] as string[] };
    try {
      const local = this._localConfig ?? this.config;
      const next: Record<string, unknown> = { ...local };
      const current = this.config as unknown as Record<string, unknown>;
      const central: Record<string, string> = {};
      const byCentral = new Map<string, (typeof OPTIONS)[number]>();
      for (const o of OPTIONS) if (o.central) byCentral.set(o.central, o);
      for (const [alias, name] of Object.entries(CENTRAL_ALIASES)) byCentral.set(alias, OPTIONS.find((o) => o.name === name)!);
      for (const [key, raw] of Object.entries(settings ?? {})) {
        const spec = byCentral.get(key);
        if (spec === undefined) {
          done.unknown.push(key);
          continue;
        }
        const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
        try {
          let v = parseValue(spec.kind, typeof raw === 'string' ? raw : String(raw));
          if (spec.name === 'logLevel') v = v === 'warn' ? 'warning' : v === 'fatal' ? 'critical' : v;
          next[spec.name] = v;
          central[key] = text;
          if (this._central[key] !== text) done.applied.push(`${key}=${text}`);
        } catch (e) {
          if (!(e instanceof BadValue)) throw e;
          done.invalid.push(`${key}=${JSON.stringify(text)} (${e.message})`);
          // Keep what is in force now for this option (an earlier central value, or the local one).
          next[spec.name] = current[spec.name];
          if (this._central[key] !== undefined) central[key] = this._central[key]!;
        }
      }
      for (const key of Object.keys(this._central)) {
        if (!(key in central) && !done.invalid.some((x) => x.startsWith(`${key}=`))) done.reverted.push(key);
      }
      this._central = central;
      const before = this.config;
      this.config = next as unknown as AgentConfig;
      if (before.sanitizeFieldNames !== this.config.sanitizeFieldNames) this.sanitizeRes = compileWildcards(this.config.sanitizeFieldNames);
      if (before.transactionIgnoreUrls !== this.config.transactionIgnoreUrls) this.ignoreUrlRes = compileWildcards(this.config.transactionIgnoreUrls);
      if (before.ignoreMessageQueues !== this.config.ignoreMessageQueues) this.ignoreQueueRes = compileWildcards(this.config.ignoreMessageQueues);
      // The logger object is shared with the transport and metrics: change its methods in place.
      if (before.logLevel !== this.config.logLevel) Object.assign(this.logger, createLogger(this.config.logLevel, this._logWrite));
      if (done.unknown.length) this.logger.warn('central config failure: unsupported config names: %s', done.unknown.join(', '));
      if (done.invalid.length) this.logger.warn('central config: invalid values ignored: %s', done.invalid.join(', '));
      if (done.applied.length) this.logger.info('central config applied: %s', done.applied.join(', '));
      if (done.reverted.length) {
        this.logger.info('central config removed, back to the local value: %s', done.reverted.map((k) => `${k}=${JSON.stringify(localValue(local, byCentral.get(k)!.name))}`).join(', '));
      }
    } catch (e) {
      this.logger.debug('applying central config failed: %s', (e as Error)?.message);
    }
    return done;
  }

  /** The central-config poller (tests poll at once through it); undefined when central config is off. */
  get centralConfigPoller(): CentralConfigPoller | undefined {
    return this._poller;
  }

  /**
   * Hands the ABI helpers (runtime/abi.ts) their core through its global slot (see runtime/abi-core.ts);
   * set directly so the agent does not depend on the ABI module.
   */
  private _installAbiCore(): void {
    const core = {
      active: () => this.recording && this.config.recording,
      // Scoped: the ABI runs the handler with runWith(), so nothing leaks into the caller's context.
      startTransaction: (name: string, type: string, opts?: StartTransactionOptions): Transaction => {
        if (!this.recording || !this.config.recording) return NOOP_TRANSACTION;
        try {
          return new TransactionImpl(this, name, type, opts);
        } catch {
          return NOOP_TRANSACTION;
        }
      },
      startSpan: (name: string, type: string, opts?: StartSpanOptions): Span | undefined => {
        const s = this.startSpan(name, type, opts);
        return s === NOOP_SPAN ? undefined : s;
      },
      current: () => {
        let h = currentHolder() as TransactionImpl | SpanImpl | undefined;
        while (h !== undefined && h.kind === 'span' && h.ended) h = h.parent;
        return h !== undefined && !h.ended ? h : undefined;
      },
      currentTransaction: () => this.currentTransaction(),
      enter: (holder: Span | Transaction | undefined) => enter(holder as TransactionImpl | SpanImpl | undefined),
      runWith: <R>(holder: Span | Transaction | undefined, fn: (...a: any[]) => R, thisArg: unknown, args: ArrayLike<unknown>): R =>
        this.withSpan(holder, fn, thisArg, args as readonly unknown[]),
      captureError: (err: unknown, opts: { handled: boolean; parent?: Span | Transaction }) => {
        void this.captureError(err, { handled: opts?.handled, parent: opts?.parent });
      },
      warn: (msg: string) => this.logger.warn(msg),
      ignoreMessageQueue: (name: string) => this.ignoreQueueRes.length > 0 && matchesAny(String(name), this.ignoreQueueRes),
      flush: (timeoutMs?: number) => this.flush(timeoutMs),
      graphqlResolverSpans: () => this.config.graphqlResolverSpans,
    };
    this._abiCore = core;
    (globalThis as Record<symbol, unknown>)[ABI_CORE_SLOT] = core;
  }

  addHooks(h: TracerHooks): void {
    if (!h || typeof h !== 'object') return;
    this.hooks.push(h);
    this.recordIntervals = this.config?.breakdownMetrics === true;
  }

  addFilter(fn: EventFilter): void {
    if (typeof fn !== 'function') {
      this.logger.warn('addFilter() expects a function, got %s; ignored', typeof fn);
      return;
    }
    this._filters.push(fn);
  }

  /** The User-Agent of every request to the APM server (spec format, then our product token). */
  userAgent(): string {
    const c = this.config;
    const svc = c.serviceVersion ? `${c.serviceName} ${c.serviceVersion}` : c.serviceName;
    return `apm-agent-nodejs/${VERSION} (${svc}) spanforge/${VERSION}`;
  }

  /** The metadata object sent first on every intake request; computed once. */
  metadata(): Record<string, unknown> {
    if (this._metadata) return this._metadata;
    const c = this.config;
    const service: Record<string, unknown> = {
      name: c.serviceName,
      environment: truncate(c.environment),
      // agent.name must be one the server and Kibana know for Node.js services ("nodejs"); spanforge is
      // identified by the User-Agent product token and by agent.version's build metadata.
      agent: { name: 'nodejs', version: `${VERSION}+spanforge` },
      language: { name: 'javascript' },
      runtime: runtimeInfo(),
    };
    if (c.serviceVersion) service.version = truncate(c.serviceVersion);
    if (c.serviceNodeName) service.node = { configured_name: truncate(c.serviceNodeName) };
    let detected = '';
    try {
      detected = hostname();
    } catch {
      // keep empty
    }
    const system: Record<string, unknown> = { architecture: process.arch, platform: process.platform };
    if (detected) system.detected_hostname = truncate(detected);
    if (c.hostname) system.configured_hostname = truncate(c.hostname);
    const md: Record<string, unknown> = {
      service,
      process: processInfo(),
      system,
    };
    if (Object.keys(this._globalLabels).length) md.labels = this._globalLabels;
    this._metadata = md;
    return md;
  }

  /** Runs filters and hands the event to the transport; never throws. */
  emit(event: IntakeEvent): void {
    // recording=false (a pause central configuration can set and lift): nothing is sent.
    if (!this.recording || !this.config.recording) return;
    try {
      if (this._filters.length) {
        const kind = Object.keys(event)[0] as EventKind;
        let payload = (event as Record<string, Record<string, unknown>>)[kind]!;
        for (const f of this._filters) {
          let r: ReturnType<EventFilter>;
          try {
            r = f(payload, kind);
          } catch (e) {
            // A failing redaction filter must not leak the unredacted event: drop it.
            this.logger.warn('a filter threw (%s); the %s event was dropped', (e as Error)?.message, kind);
            return;
          }
          if (r === null || r === false) return;
          if (r && typeof r === 'object') payload = r;
        }
        event = { [kind]: payload } as IntakeEvent;
      }
      this._emittedSinceFlush++;
      this.transport?.send(event);
    } catch (e) {
      this.logger.debug('emit failed: %s', (e as Error)?.message);
    }
  }

  // ---------------------------------------------------------------------------------------------
  startTransaction(name?: string, type?: string, opts?: StartTransactionOptions): Transaction {
    if (!this.recording || !this.config.recording) return NOOP_TRANSACTION;
    try {
      const tx = new TransactionImpl(this, name, type, opts);
      enter(tx);
      return tx;
    } catch (e) {
      this.logger.debug('startTransaction failed: %s', (e as Error)?.message);
      return NOOP_TRANSACTION;
    }
  }

  /** Starts a span under opts.childOf or the current span/transaction; the shared no-op span when none records. */
  startSpan(name?: string, type?: string, opts?: StartSpanOptions): Span {
    if (!this.recording) return NOOP_SPAN;
    try {
      let parent = (opts?.childOf ?? currentHolder()) as TransactionImpl | SpanImpl | undefined;
      // An ended span cannot parent new work: climb to the nearest running ancestor.
      while (parent !== undefined && parent.ended && parent.kind === 'span') parent = parent.parent;
      if (parent === undefined || parent.ended || !(parent instanceof TransactionImpl || parent instanceof SpanImpl)) return NOOP_SPAN;
      const tx = parent.kind === 'transaction' ? parent : parent.tx;
      if (!tx.sampled || (parent.kind === 'span' && parent.exit)) return NOOP_SPAN;
      // The span-limit spec: a span over transaction_max_spans is still a span (breakdown metrics and
      // dropped_spans_stats need it) but is never sent; its children are over the limit too.
      const max = tx._maxSpans;
      if ((max >= 0 && tx._eligible >= max) || (parent.kind === 'span' && parent.dropped)) {
        tx.spanDropped++;
        return new SpanImpl(this, tx, parent, name, type, opts, true);
      }
      tx._eligible++;
      tx.spanStarted++;
      return new SpanImpl(this, tx, parent, name, type, opts);
    } catch (e) {
      this.logger.debug('startSpan failed: %s', (e as Error)?.message);
      return NOOP_SPAN;
    }
  }

  currentTransaction(): Transaction | undefined {
    const h = currentHolder() as TransactionImpl | SpanImpl | undefined;
    if (h === undefined) return undefined;
    const tx = h.kind === 'transaction' ? h : h.tx;
    return tx.ended ? undefined : tx;
  }

  currentSpan(): Span | undefined {
    let h = currentHolder() as TransactionImpl | SpanImpl | undefined;
    while (h !== undefined && h.kind === 'span' && h.ended) h = h.parent;
    return h !== undefined && h.kind === 'span' ? h : undefined;
  }

  currentTraceIds(): TraceIds {
    const h = currentHolder() as TransactionImpl | SpanImpl | undefined;
    if (h === undefined) return {};
    if (h.kind === 'transaction') return { 'trace.id': h.traceId, 'transaction.id': h.id };
    return { 'trace.id': h.traceId, 'transaction.id': h.transactionId, 'span.id': h.id };
  }

  /** Runs fn with span as the current context; the no-op span leaves the context as it is. */
  withSpan<R>(span: Span | Transaction | undefined, fn: (...args: any[]) => R, thisArg?: unknown, args?: readonly unknown[]): R {
    if (span === undefined || span === NOOP_SPAN || span === NOOP_TRANSACTION) return Reflect.apply(fn, thisArg, args ?? []);
    return runWith(span, fn, thisArg, args);
  }

  // ---------------------------------------------------------------------------------------------
  /** Captures an error; the returned promise resolves once the event was handed to the transport (never rejects). */
  captureError(err: unknown, opts: CaptureErrorOptions = {}): Promise<void> {
    if (!this.recording) return Promise.resolve();
    try {
      if (opts === null || typeof opts !== 'object') opts = {};
      const timestamp = typeof opts.timestamp === 'number' ? Math.round(opts.timestamp * 1000) : nowUs();
      const isErrorLike = err !== null && typeof err === 'object' && typeof (err as Error).message === 'string';
      // One error object is reported once: traced() reports what it sees thrown, and the same error is
      // often captured again by the code that catches it.
      if (isErrorLike) {
        if (this._captured.has(err as object)) return Promise.resolve();
        this._captured.add(err as object);
      }
      // The call-site stack of a captured message (Elastic's captureErrorLogStackTraces=messages).
      // Thrown non-Errors carry no stack, and ours (a process handler) would say nothing about them.
      const stack = isErrorLike ? (err as Error).stack : opts.handled === false ? undefined : callSiteStack();
      let parent = (opts.parent === undefined ? currentHolder() : opts.parent ?? undefined) as TransactionImpl | SpanImpl | undefined;
      if (parent !== undefined && !(parent instanceof TransactionImpl || parent instanceof SpanImpl)) parent = undefined;
      const tx = parent === undefined ? undefined : parent.kind === 'transaction' ? parent : parent.tx;
      if (parent?.kind === 'span' && !opts.skipOutcome) parent.setOutcome('failure');
      const base: Record<string, unknown> = { id: newErrorId(), timestamp };
      if (parent && tx) {
        base.trace_id = tx.traceId;
        base.transaction_id = tx.id;
        base.parent_id = parent.id;
        base.transaction = { sampled: tx.sampled, type: truncate(tx.type), name: truncate(tx.name) };
      }
      const context: Record<string, unknown> = {};
      if (tx?.sampled) {
        if (tx._request) context.request = tx._errorBody !== undefined ? { ...tx._request, body: tx._errorBody } : tx._request;
        if (tx._response) context.response = tx._response;
        if (tx._user) context.user = tx._user;
        if (tx._labels) context.tags = { ...tx._labels };
        if (tx._custom) context.custom = tx._custom;
      }
      if (opts.request) {
        const fake = new TransactionImpl(this, 'x', 'x', undefined);
        fake.setRequestContext(opts.request);
        if (fake._request) context.request = fake._errorBody !== undefined ? { ...fake._request, body: fake._errorBody } : fake._request;
      }
      if (opts.user) context.user = { ...(context.user as object), ...opts.user };
      if (opts.custom) context.custom = { ...(context.custom as object), ...opts.custom };
      if (opts.labels) {
        const tags: Record<string, LabelValue> = { ...(context.tags as Record<string, LabelValue>) };
        for (const [k, v] of Object.entries(opts.labels)) tags[sanitizeLabelKey(k)] = labelValue(v);
        context.tags = tags;
      }
      const handled = opts.handled !== false;
      // Stack parsing, source maps and file reads happen later, off the caller's path.
      const p = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => this._finishError(err, isErrorLike, stack, base, context, handled))
        .catch((e) => this.logger.debug('captureError failed: %s', (e as Error)?.message));
      this._pendingErrors.add(p);
      void p.finally(() => this._pendingErrors.delete(p));
      return p;
    } catch (e) {
      this.logger.debug('captureError failed: %s', (e as Error)?.message);
      return Promise.resolve();
    }
  }

  /** captureError unless this error object was already captured (nested traced calls rethrow the same error). */
  captureErrorOnce(err: unknown, parent: Span | Transaction): void {
    if (err !== null && typeof err === 'object' && this._captured.has(err)) return;
    void this.captureError(err, { handled: true, parent, skipOutcome: true });
  }

  private async _finishError(err: unknown, isErrorLike: boolean, stack: string | undefined, base: Record<string, unknown>, context: Record<string, unknown>, handled: boolean): Promise<void> {
    const c = this.config;
    const frames = await toIntakeFrames(parseStack(stack, c.stackTraceLimit), {
      appLines: c.sourceLinesErrorAppFrames,
      libraryLines: c.sourceLinesErrorLibraryFrames,
      cwd: process.cwd(),
    });
    const ev: Record<string, unknown> = { ...base };
    const culprit = culpritOf(frames);
    if (culprit) ev.culprit = truncate(culprit);
    if (isErrorLike) {
      const e = err as Error & { code?: unknown; cause?: unknown };
      const exception: Record<string, unknown> = {
        message: truncate(String(e.message), c.longFieldMaxLength),
        type: truncate(errorType(e)),
        handled,
        stacktrace: frames,
      };
      if (typeof e.code === 'string' || (typeof e.code === 'number' && Number.isInteger(e.code))) exception.code = typeof e.code === 'string' ? truncate(e.code) : e.code;
      const cause = await this._causes(e.cause, 0);
      if (cause.length) exception.cause = cause;
      ev.exception = exception;
    } else if (typeof err === 'string' && handled) {
      ev.log = { message: truncate(err, c.longFieldMaxLength), stacktrace: frames };
    } else if (typeof err === 'string') {
      // A thrown (unhandled) string is an exception, not a log message.
      ev.exception = { message: truncate(err, c.longFieldMaxLength), type: 'string', handled, stacktrace: frames };
    } else {
      // A thrown non-Error (number, object without message): report it as an exception of its type.
      let msg: string;
      try {
        msg = inspect(err, { depth: 2, breakLength: Infinity });
      } catch {
        msg = String(err);
      }
      ev.exception = { message: truncate(msg, c.longFieldMaxLength), type: err === null ? 'null' : typeof err, handled, stacktrace: frames };
    }
    for (const _ in context) {
      ev.context = context;
      break;
    }
    this.emit({ error: ev });
  }

  /** Chained causes (err.cause), outermost first, at most 5 deep. */
  private async _causes(cause: unknown, depth: number): Promise<Record<string, unknown>[]> {
    if (cause === undefined || cause === null || depth >= 5) return [];
    const c = this.config;
    if (typeof cause === 'object' && typeof (cause as Error).message === 'string') {
      const e = cause as Error & { cause?: unknown };
      const frames = await toIntakeFrames(parseStack(e.stack, c.stackTraceLimit), { appLines: 0, libraryLines: 0, cwd: process.cwd() });
      const one: Record<string, unknown> = { message: truncate(String(e.message), c.longFieldMaxLength), type: truncate(errorType(e)), stacktrace: frames };
      const deeper = await this._causes(e.cause, depth + 1);
      if (deeper.length) one.cause = deeper;
      return [one];
    }
    return [{ message: truncate(String(cause), c.longFieldMaxLength) }];
  }

  // ---------------------------------------------------------------------------------------------
  /** Waits for pending errors, then the transport; bounded by timeoutMs; never rejects. */
  async flush(timeoutMs = 10_000): Promise<void> {
    try {
      // Infinity (wait as long as it takes) and anything past setTimeout's 2^31-1 ms limit would make
      // Node print a TimeoutOverflowWarning and fire after 1 ms: clamp; NaN or a negative uses the default.
      timeoutMs = typeof timeoutMs === 'number' && timeoutMs >= 0 ? Math.min(timeoutMs, MAX_TIMER_MS) : 10_000;
      const deadline = Date.now() + timeoutMs;
      if (this._pendingErrors.size) await withTimeout(Promise.all([...this._pendingErrors]), timeoutMs);
      this._emittedSinceFlush = 0;
      const left = Math.max(0, deadline - Date.now());
      // In the edge build central configuration is polled here (no timers there: runtime/central-config.edge.ts).
      const poll = this._poller?.onFlush();
      if (this.transport) await withTimeout(this.transport.flush(left), Math.min(left + 50, MAX_TIMER_MS));
      if (poll) await withTimeout(poll, Math.min(Math.max(0, deadline - Date.now()) + 50, MAX_TIMER_MS));
    } catch (e) {
      this.logger.debug('flush failed: %s', (e as Error)?.message);
    }
  }

  /** Stops metrics, removes process handlers and closes the transport (used by tests and shutdown). */
  async stop(timeoutMs = 2000): Promise<void> {
    this._removeProcessHandlers();
    const poller = this._poller;
    this._poller = undefined;
    if (poller) void poller.stop();
    const g = globalThis as Record<symbol, unknown>;
    if (this._abiCore && g[ABI_CORE_SLOT] === this._abiCore) g[ABI_CORE_SLOT] = undefined;
    try {
      // One last collection so the breakdown of a short-lived process is not lost.
      if (this.recording) this._metrics?.collectNow();
      this._metrics?.stop();
    } catch {
      // ignore
    }
    await this.flush(timeoutMs);
    this.recording = false;
    try {
      await this.transport?.close(timeoutMs);
    } catch {
      // ignore
    }
  }

  setGlobalLabel(key: string, value: LabelValue): void {
    this._globalLabels[sanitizeLabelKey(String(key))] = labelValue(value);
    this._metadata = undefined;
  }

  sanitizedHeaders(h: Record<string, string | string[] | undefined>) {
    return sanitizeHeaders(h, this.sanitizeRes);
  }
  sanitizedBody(body: unknown, contentType?: string) {
    return sanitizeBody(body, contentType, this.sanitizeRes, this.config.longFieldMaxLength);
  }

  // ---------------------------------------------------------------------------------------------
  private _on(event: string, fn: (...a: any[]) => void): void {
    process.on(event as 'exit', fn);
    this._handlers.push([event, fn]);
  }

  private _removeProcessHandlers(): void {
    for (const [ev, fn] of this._handlers) process.removeListener(ev, fn);
    this._handlers = [];
  }

  private _installProcessHandlers(): void {
    if (this.config.captureExceptions) {
      this._on('uncaughtException', (err: unknown) => this._onUncaught(err));
      this._on('unhandledRejection', (reason: unknown, promise: Promise<unknown>) => this._onRejection(reason, promise));
    }
    // beforeExit: the loop is empty; one bounded flush (our timers are unref'd so this cannot loop forever).
    this._on('beforeExit', () => {
      if (this._emittedSinceFlush > 0 || this._pendingErrors.size) void this.flush(ON_EXIT_FLUSH_MS);
    });
    const onSignal = (signal: NodeJS.Signals) => {
      // With our listener installed Node no longer ends the process on SIGTERM/SIGINT; when nobody else listens we
      // flush (bounded) and re-raise the signal so the process ends exactly as it would have.
      const alone = process.listenerCount(signal) === 1;
      try {
        this._metrics?.collectNow(); // the last interval's metrics and breakdown go out with the flush
      } catch {
        // never into the app
      }
      void this.flush(ON_EXIT_FLUSH_MS).finally(() => {
        if (!alone) return;
        this._removeProcessHandlers();
        process.kill(process.pid, signal);
      });
    };
    this._on('SIGTERM', onSignal);
    this._on('SIGINT', onSignal);
  }

  private _onRejection(reason: unknown, promise: Promise<unknown>): void {
    const others = process.listenerCount('unhandledRejection') - 1;
    const p = this._captured.has(reason as object) ? Promise.resolve() : this.captureError(reason, { handled: false });
    if (others > 0 || this._dying) return; // someone else decides what happens, as without us
    this._dying = true;
    const flushed = p.then(() => this.flush(ON_EXIT_FLUSH_MS));
    const mode = rejectionMode();
    const isError = reason !== null && typeof reason === 'object' && typeof (reason as Error).stack === 'string';
    if ((mode === 'throw' || mode === 'strict') && isError) {
      // Node would print the error (caret at the stack's top frame) and exit 1. Re-raising is not exact:
      // once err.stack was read, V8 reports an internal location, so print what Node prints ourselves.
      void flushed.finally(() => this._die(reason, true));
      return;
    }
    // Other modes (warn, none, ...) and non-Error reasons: re-raise the same reason with our listener
    // removed so Node applies its own --unhandled-rejections behaviour, message and exit code.
    void flushed.finally(() => {
      this._removeHandler('unhandledRejection');
      this._removeHandler('uncaughtException');
      void promise;
      void Promise.reject(reason);
      // In warn/none modes the process goes on: put our listeners back for later rejections.
      setTimeout(() => {
        this._dying = false;
        if (this.recording && this.config.captureExceptions) {
          this._on('uncaughtException', (err: unknown) => this._onUncaught(err));
          this._on('unhandledRejection', (r: unknown, pr: Promise<unknown>) => this._onRejection(r, pr));
        }
      }, 0).unref();
    });
  }

  private _die(err: unknown, fromPromise: boolean): void {
    try {
      process.stderr.write(formatFatal(err, fromPromise));
    } catch {
      // nothing left to do
    }
    process.exit(1);
  }

  private _onUncaught(err: unknown): void {
    const others = process.listenerCount('uncaughtException') - 1;
    const p = this._captured.has(err as object) ? Promise.resolve() : this.captureError(err, { handled: false });
    if (others > 0) {
      void p.then(() => this.flush(ON_EXIT_FLUSH_MS));
      return;
    }
    if (this._dying) return;
    this._dying = true;
    // Without us Node would print the error and exit with code 1; do the same after a bounded flush.
    const die = () => this._die(err, false);
    const hard = setTimeout(die, ON_EXIT_FLUSH_MS + 500);
    hard.unref();
    void p.then(() => this.flush(ON_EXIT_FLUSH_MS)).finally(() => {
      clearTimeout(hard);
      die();
    });
  }

  private _removeHandler(event: string): void {
    this._handlers = this._handlers.filter(([ev, fn]) => {
      if (ev !== event) return true;
      process.removeListener(ev, fn);
      return false;
    });
  }
}

/** Node's --unhandled-rejections mode (default "throw"), from execArgv or NODE_OPTIONS. */
function rejectionMode(): string {
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  let mode = 'throw';
  for (const a of args) {
    const m = /^--unhandled-rejections=(\S+)$/.exec(a);
    if (m) mode = m[1]!;
  }
  return mode;
}

/** The stack of the code that called the API, without the runtime's own frames. */
function callSiteStack(): string | undefined {
  const lines = new Error().stack?.split('\n').slice(1);
  if (!lines?.length) return undefined;
  // Our own directory, from this function's frame (no __dirname/import.meta in code built for CJS and ESM).
  const own = parseStack(lines[0]!, 1)[0]?.file;
  const dir = own ? own.slice(0, Math.max(own.lastIndexOf('/'), own.lastIndexOf('\\')) + 1) : undefined;
  return lines.filter((l) => !dir || !l.includes(dir)).join('\n');
}

function localValue(c: AgentConfig, name: keyof AgentConfig): unknown {
  return (c as unknown as Record<string, unknown>)[name];
}

function errorType(e: Error): string {
  const name = typeof e.name === 'string' && e.name ? e.name : e.constructor?.name;
  return name || 'Error';
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    t.unref();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      () => {
        clearTimeout(t);
        resolve(undefined);
      },
    );
  });
}

/**
 * What Node prints for an uncaught exception: "<file>:<line>\n<source line>\n<caret>\n\n<inspected error>\n\nNode.js <version>".
 * The caret goes under `throw` when the line has exactly one, else under the stack's column (Node uses the
 * throw site, which JavaScript cannot see).
 */
export function formatFatal(err: unknown, fromPromise = false): string {
  const colors = !!(process.stderr.isTTY && process.stderr.hasColors?.());
  let header = '';
  const stack = err !== null && typeof err === 'object' ? (err as Error).stack : undefined;
  const top = parseStack(stack, 1)[0];
  if (top?.file && top.line !== undefined && /[\\/]/.test(top.file) && !top.file.startsWith('node:')) {
    try {
      const src = readFileSync(top.file, 'utf8').split(/\r?\n/)[top.line - 1];
      if (src !== undefined) {
        const throws = src.split(/\bthrow\b/).length - 1;
        // Rejections: Node points at the error's construction site, which is the stack's top frame.
        const col = throws === 1 && !fromPromise ? src.search(/\bthrow\b/) : (top.column ?? 1) - 1;
        header = `${top.file}:${top.line}\n${src}\n${' '.repeat(Math.max(0, col))}^\n\n`;
      }
    } catch {
      // no header
    }
  }
  if (stack !== undefined) {
    return `${header}${inspect(err, { colors, customInspect: false })}\n\nNode.js ${process.version}\n`;
  }
  // A thrown non-Error has no stack, so the "file:line / source / caret" header Node prints from the
  // throw site cannot be rebuilt; the rest matches Node's output.
  const primitive = err === null || (typeof err !== 'object' && typeof err !== 'function');
  let shown: string;
  try {
    shown = typeof err === 'string' ? err : inspect(err, { colors });
  } catch {
    shown = String(err);
  }
  return primitive
    ? `\n${shown}\n(Use \`node --trace-uncaught ...\` to show where the exception was thrown)\n\nNode.js ${process.version}\n`
    : `\n${shown}\n\nNode.js ${process.version}\n`;
}

// -------------------------------------------------------------------------------------------------
// One agent per process, shared by the CJS and ESM copies of the runtime.
const SLOT = Symbol.for('spanforge.runtime.v1');
type G = typeof globalThis & { [SLOT]?: Agent };

// A module-level copy of the slot: a symbol lookup on globalThis costs tens of ns on every API call
// (measured ~+30 ns per inactive startSpan+end on Node 20); both copies still cache the same object.
let cached: Agent | undefined;

export function getAgent(): Agent {
  if (cached !== undefined) return cached;
  const g = globalThis as G;
  return (cached = g[SLOT] ?? (g[SLOT] = new Agent()));
}

/** For tests: drop the global agent so the next getAgent() starts fresh. */
export async function resetAgentForTests(): Promise<void> {
  const g = globalThis as G;
  const a = g[SLOT];
  g[SLOT] = undefined;
  cached = undefined;
  if (a) await a.stop(200);
}

/**
 * The JavaScript runtime the agent runs in, for metadata.service.runtime: Bun and Deno report the Node.js
 * version they are compatible with in process.versions.node, so their own name and version come first;
 * Cloudflare's workerd says who it is in navigator.userAgent and has no version of its own to read.
 */
function runtimeInfo(): { name: string; version: string } {
  const g = globalThis as { Deno?: { version?: { deno?: unknown } }; navigator?: { userAgent?: unknown } };
  const versions = (typeof process === 'object' ? process.versions : undefined) as Record<string, string | undefined> | undefined;
  if (typeof versions?.bun === 'string') return { name: 'bun', version: versions.bun };
  if (typeof g.Deno?.version?.deno === 'string') return { name: 'deno', version: g.Deno.version.deno };
  if (g.navigator?.userAgent === 'Cloudflare-Workers') return { name: 'workerd', version: versions?.workerd ?? 'unknown' };
  return { name: 'node', version: versions?.node ?? 'unknown' };
}

/** metadata.process: a worker has no pid (workerd's process.pid is undefined); the intake requires one, 0 stands for none. */
function processInfo(): Record<string, unknown> {
  const pid = Number.isInteger(process.pid) ? process.pid : 0;
  const out: Record<string, unknown> = { pid };
  if (Number.isInteger(process.ppid)) out.ppid = process.ppid;
  if (typeof process.title === 'string') out.title = truncate(process.title);
  if (Array.isArray(process.argv)) out.argv = process.argv.slice();
  return out;
}

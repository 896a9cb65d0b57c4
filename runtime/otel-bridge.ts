// The @opentelemetry/api bridge (opentelemetryBridgeEnabled, ELASTIC_APM_OPENTELEMETRY_BRIDGE_ENABLED):
// registers a global TracerProvider and ContextManager so spans started through the OpenTelemetry
// API become spanforge transactions and spans, children of the current spanforge transaction or
// span, and spanforge's own spans started under an active OTel span its children — as
// elastic-apm-node's lib/opentelemetry-bridge does (the span kind and attributes sent as `otel`,
// types inferred from the attributes when the span ends). @opentelemetry/api is the app's: it is
// resolved only when the option is on, and its absence is a warning, never an error.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { currentHolder, runWith } from './context.js';
import { formatTraceparent } from './traceparent.js';
import { isNoop, SpanImpl, TransactionImpl } from './tracer.js';
import type { Logger } from './types.js';

// ---- the parts of @opentelemetry/api (>=1.0 <2) used here, declared locally (no type dependency)
type Ctx = { getValue(k: symbol): unknown; setValue(k: symbol, v: unknown): Ctx; deleteValue(k: symbol): Ctx };
interface SpanContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
  isRemote?: boolean;
  traceState?: { serialize(): string };
}
interface OSpan {
  spanContext(): SpanContext;
}
type TimeInput = number | Date | [number, number];
interface SpanOptions {
  kind?: number;
  attributes?: Record<string, unknown>;
  links?: Array<{ context: SpanContext; attributes?: Record<string, unknown> }>;
  startTime?: TimeInput;
  root?: boolean;
}
export interface OtelApi {
  trace: {
    setGlobalTracerProvider(p: unknown): boolean;
    getSpan(c: Ctx): OSpan | undefined;
    setSpan(c: Ctx, s: OSpan): Ctx;
    deleteSpan(c: Ctx): Ctx;
    wrapSpanContext(sc: SpanContext): OSpan;
    disable(): void;
  };
  context: { setGlobalContextManager(m: unknown): boolean; active(): Ctx; with(c: Ctx, fn: (...a: unknown[]) => unknown, thisArg?: unknown, ...args: unknown[]): unknown; disable(): void };
  isSpanContextValid(sc: SpanContext): boolean;
  ROOT_CONTEXT: Ctx;
  INVALID_SPAN_CONTEXT: SpanContext;
  SpanKind: Record<number, string>;
  SpanStatusCode: { UNSET: number; OK: number; ERROR: number };
}
const KIND = { INTERNAL: 0, SERVER: 1, CLIENT: 2, PRODUCER: 3, CONSUMER: 4 } as const;
const KIND_NAMES = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

/** What the bridge needs of the agent (runtime/agent.ts): recording state, spans, errors. */
export interface BridgeHost {
  readonly recording: boolean;
  readonly logger: Logger;
  startSpan(name: string, type: string, opts: { childOf: TransactionImpl | SpanImpl; exitSpan?: boolean; startTime?: number }): unknown;
  captureError(err: unknown, opts: { parent: TransactionImpl | SpanImpl; skipOutcome: boolean; timestamp?: number; handled?: boolean }): unknown;
}
type Impl = TransactionImpl | SpanImpl;

/** Loads the app's @opentelemetry/api: from the working directory, else beside the main script. */
export function loadOtelApi(): OtelApi | undefined {
  const from = [`${process.cwd()}/`];
  if (process.argv[1]) from.push(resolve(process.argv[1]));
  for (const base of from) {
    try {
      return createRequire(base)('@opentelemetry/api') as OtelApi;
    } catch {
      // next place
    }
  }
  return undefined;
}

/** OTel TimeInput → epoch ms: HrTime, Date, epoch ms, or (below the time origin) performance.now() ms. */
function epochMs(t: TimeInput | undefined): number | undefined {
  if (t === undefined || t === null) return undefined;
  if (Array.isArray(t)) return t[0] * 1000 + t[1] / 1e6;
  if (t instanceof Date) return t.getTime();
  if (typeof t !== 'number' || !Number.isFinite(t)) return undefined;
  return t < performance.timeOrigin ? performance.timeOrigin + t : t;
}

function homogeneous(arr: unknown[]): boolean {
  let type: string | undefined;
  for (const e of arr) {
    if (e === undefined || e === null) continue;
    const t = typeof e;
    if (type === undefined) {
      if (t !== 'string' && t !== 'number' && t !== 'boolean') return false;
      type = t;
    } else if (t !== type) return false;
  }
  return true;
}
/** elastic-apm-node's maybeSetOTelAttr: strings, numbers, booleans and homogeneous arrays of them. */
function setAttr(attrs: Record<string, unknown>, k: string, v: unknown): void {
  if (Array.isArray(v)) {
    if (homogeneous(v)) attrs[k] = v.slice();
  } else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') attrs[k] = v;
}

const SF = Symbol('spanforge.otel.impl');

/** An OpenTelemetry Span over a spanforge transaction or span. */
class BridgeSpan {
  readonly [SF]: Impl;
  private _sc: SpanContext | undefined;
  constructor(
    impl: Impl,
    private readonly host: BridgeHost,
    private readonly api: OtelApi,
  ) {
    this[SF] = impl;
  }
  private get _attrs(): Record<string, unknown> {
    const o = (this[SF]._otel ??= {});
    return ((o.attributes as Record<string, unknown> | undefined) ??= {}) as Record<string, unknown>;
  }
  spanContext(): SpanContext {
    const i = this[SF];
    return (this._sc ??= { traceId: i.traceId, spanId: i.id, traceFlags: i.sampled ? 1 : 0, isRemote: false });
  }
  setAttribute(key: string, value: unknown): this {
    if (!this[SF].ended && typeof key === 'string' && key) setAttr(this._attrs, key, value);
    return this;
  }
  setAttributes(attributes: Record<string, unknown> | undefined): this {
    if (this[SF].ended || !attributes || typeof attributes !== 'object') return this;
    for (const k of Object.keys(attributes)) if (k) setAttr(this._attrs, k, attributes[k]);
    return this;
  }
  /** Span events are not sent (as elastic-apm-node). */
  addEvent(): this {
    return this;
  }
  addLink(link: { context?: SpanContext }): this {
    const sc = link?.context;
    if (sc && this.api.isSpanContextValid(sc)) this[SF].addLink(traceparentOf(sc));
    return this;
  }
  addLinks(links: Array<{ context?: SpanContext }>): this {
    if (Array.isArray(links)) for (const l of links) this.addLink(l);
    return this;
  }
  setStatus(status: { code?: number } | undefined): this {
    const i = this[SF];
    if (i.ended || !status) return this;
    const { OK, ERROR, UNSET } = this.api.SpanStatusCode;
    if (status.code === ERROR) i.setOutcome('failure');
    else if (status.code === OK) i.setOutcome('success');
    else if (status.code === UNSET) i.setOutcome('unknown');
    if (i.kind === 'transaction') {
      if (status.code === ERROR) i.result = 'failure';
      else if (status.code === OK) i.result = 'success';
    }
    return this;
  }
  updateName(name: string): this {
    if (!this[SF].ended && typeof name === 'string') this[SF].name = name;
    return this;
  }
  isRecording(): boolean {
    return !this[SF].ended && this[SF].sampled;
  }
  recordException(exception: unknown, time?: TimeInput): void {
    const ts = epochMs(time);
    this.host.captureError(exception, { parent: this[SF], skipOutcome: true, ...(ts !== undefined ? { timestamp: ts } : {}) });
  }
  end(endTime?: TimeInput): void {
    const i = this[SF];
    if (i.ended) return;
    // Spans started by spanforge itself (not through the API) keep their own type.
    if (i._otelStarted) {
      if (i.kind === 'transaction') transactionMapping(i);
      else spanMapping(i);
    }
    i.end(epochMs(endTime));
  }
}

function traceparentOf(sc: SpanContext): string {
  return formatTraceparent(sc.traceId, sc.spanId, (sc.traceFlags & 1) === 1);
}

const attrsOf = (i: Impl): Record<string, unknown> | undefined => i._otel?.attributes as Record<string, unknown> | undefined;
const kindOf = (i: Impl): number => KIND_NAMES.indexOf(String(i._otel?.span_kind ?? 'INTERNAL'));

/** elastic-apm-node's _transCompatMapping: `request` for SERVER rpc/http, `messaging` for CONSUMER messaging, else `unknown`. */
function transactionMapping(t: TransactionImpl): void {
  const a = attrsOf(t);
  const kind = kindOf(t);
  let type = 'unknown';
  if (a) {
    const isRpc = a['rpc.system'] !== undefined;
    const isHttp = a['http.url'] !== undefined || a['http.scheme'] !== undefined || a['url.scheme'] !== undefined || a['http.request.method'] !== undefined;
    if (kind === KIND.SERVER && (isRpc || isHttp)) type = 'request';
    else if (kind === KIND.CONSUMER && a['messaging.system'] !== undefined) type = 'messaging';
  }
  t.type = type;
}

const portOfScheme = (s: unknown): number => (s === 'http' ? 80 : s === 'https' ? 443 : -1);
function netNameOfUrl(url: unknown): string | undefined {
  try {
    const u = new URL(String(url));
    if (u.port !== '') return u.host;
    const p = portOfScheme(u.protocol.slice(0, -1));
    return p > 0 ? `${u.hostname}:${p}` : u.hostname;
  } catch {
    return undefined;
  }
}

/** elastic-apm-node's _spanCompatMapping: type/subtype and service target from the attributes. */
function spanMapping(s: SpanImpl): void {
  const a = attrsOf(s);
  const kind = kindOf(s);
  if (!a) {
    if (kind === KIND.INTERNAL) [s.type, s.subtype] = ['app', 'internal'];
    else s.type = 'unknown';
    return;
  }
  let type: string | undefined;
  let subtype: string | undefined;
  let targetType: string | null = null;
  let targetName: string | null = null;
  let netPort = Number(a['net.peer.port'] ?? a['server.port'] ?? -1) || -1;
  const netPeer = (a['net.peer.name'] ?? a['net.peer.ip'] ?? a['server.address']) as string | undefined;
  let netName = netPeer && netPort > 0 ? `${netPeer}:${netPort}` : netPeer;
  const dbSystem = a['db.system'] ?? a['db.system.name'];
  const httpUrl = a['http.url'] ?? a['url.full'];
  const httpScheme = a['http.scheme'] ?? a['url.scheme'];
  if (dbSystem) {
    type = 'db';
    subtype = String(dbSystem);
    targetType = subtype;
    targetName = (a['db.name'] ?? a['db.namespace'] ?? null) as string | null;
  } else if (a['messaging.system']) {
    type = 'messaging';
    subtype = String(a['messaging.system']);
    if (!netName && a['messaging.url']) netName = netNameOfUrl(a['messaging.url']);
    targetType = subtype;
    targetName = (a['messaging.destination'] ?? a['messaging.destination.name'] ?? null) as string | null;
  } else if (a['rpc.system']) {
    type = 'external';
    subtype = String(a['rpc.system']);
    targetType = subtype;
    targetName = (netName ?? a['rpc.service'] ?? null) as string | null;
  } else if (httpUrl || httpScheme) {
    type = 'external';
    subtype = 'http';
    targetType = 'http';
    const httpHost = (a['http.host'] ?? netPeer) as string | undefined;
    if (httpHost) {
      if (netPort < 0) netPort = portOfScheme(httpScheme);
      targetName = netPort < 0 ? httpHost : `${httpHost}:${netPort}`;
    } else if (httpUrl) targetName = netNameOfUrl(httpUrl) ?? null;
  }
  if (type === undefined) {
    if (kind === KIND.INTERNAL) [type, subtype] = ['app', 'internal'];
    else type = 'unknown';
  }
  s.type = type;
  if (subtype) s.subtype = subtype;
  if (targetType || targetName) s.setDestination({ serviceTargetType: targetType ?? undefined, serviceTargetName: targetName ?? undefined });
}

class BridgeTracer {
  constructor(
    private readonly host: BridgeHost,
    private readonly api: OtelApi,
    private readonly wrap: (i: Impl) => BridgeSpan,
  ) {}

  startSpan(name: string, options: SpanOptions = {}, context: Ctx = this.api.context.active()): OSpan {
    const api = this.api;
    try {
      if (!this.host.recording) return api.trace.wrapSpanContext(api.INVALID_SPAN_CONTEXT);
      const opts = options && typeof options === 'object' ? options : {};
      let parent: Impl | undefined;
      let parentSc: SpanContext | undefined;
      if (!opts.root) {
        const ps = context ? api.trace.getSpan(context) : undefined;
        if (ps instanceof BridgeSpan) parent = ps[SF];
        else if (ps) parentSc = ps.spanContext();
      }
      const kind = typeof opts.kind === 'number' && opts.kind >= 0 && opts.kind <= 4 ? opts.kind : KIND.INTERNAL;
      const startTime = epochMs(opts.startTime);
      const links = Array.isArray(opts.links) ? opts.links.filter((l) => l?.context && api.isSpanContextValid(l.context)).map((l) => traceparentOf(l.context)) : undefined;
      let impl: Impl;
      const label = typeof name === 'string' && name ? name : 'unnamed';
      if (parent) {
        const s = this.host.startSpan(label, 'unknown', { childOf: parent, exitSpan: kind === KIND.CLIENT || kind === KIND.PRODUCER, ...(startTime !== undefined ? { startTime } : {}) });
        // No span (exit parent, span limit, unsampled): a non-recording span carrying the parent's ids.
        if (isNoop(s) || !(s instanceof SpanImpl)) return api.trace.wrapSpanContext(this.wrap(parent).spanContext());
        impl = s;
        if (links) for (const l of links) s.addLink(l);
      } else {
        const remote = parentSc && api.isSpanContextValid(parentSc) ? parentSc : undefined;
        impl = new TransactionImpl(this.host as never, label, 'unknown', {
          ...(remote ? { childOf: traceparentOf(remote), tracestate: remote.traceState?.serialize() } : {}),
          ...(startTime !== undefined ? { startTime } : {}),
          ...(links ? { links } : {}),
        });
      }
      impl._otelStarted = true;
      impl._otel = { span_kind: KIND_NAMES[kind] };
      impl.setOutcome('unknown');
      const span = this.wrap(impl);
      span.setAttributes(opts.attributes);
      return span;
    } catch (e) {
      this.host.logger.debug('OpenTelemetry bridge: startSpan failed: %s', (e as Error)?.message);
      return api.trace.wrapSpanContext(api.INVALID_SPAN_CONTEXT);
    }
  }

  startActiveSpan(name: string, ...rest: unknown[]): unknown {
    let opts: SpanOptions | undefined;
    let ctx: Ctx | undefined;
    let fn: (span: OSpan) => unknown;
    if (rest.length < 1) return undefined;
    if (rest.length === 1) fn = rest[0] as typeof fn;
    else if (rest.length === 2) [opts, fn] = rest as [SpanOptions, typeof fn];
    else [opts, ctx, fn] = rest as [SpanOptions, Ctx, typeof fn];
    const parentCtx = ctx ?? this.api.context.active();
    const span = this.startSpan(name, opts, parentCtx);
    return this.api.context.with(this.api.trace.setSpan(parentCtx, span), fn as (...a: unknown[]) => unknown, undefined, span);
  }
}

/**
 * The context manager: the OTel Context of the current async task kept in its own storage, its
 * active span kept in step with spanforge's run context both ways (an OTel span made active runs
 * its callback with the spanforge span current; a spanforge span current is the OTel active span).
 */
class BridgeContextManager {
  private readonly store = new AsyncLocalStorage<Ctx>();
  constructor(
    private readonly api: OtelApi,
    private readonly wrap: (i: Impl) => BridgeSpan,
  ) {}
  active(): Ctx {
    const api = this.api;
    const h = currentHolder() as Impl | undefined;
    const c = this.store.getStore();
    const s = c ? api.trace.getSpan(c) : undefined;
    const cur = s instanceof BridgeSpan ? s[SF] : undefined;
    if (c && cur === h) return c;
    if (c && h === undefined) return cur ? api.trace.deleteSpan(c) : c;
    if (h === undefined || !(h instanceof TransactionImpl || h instanceof SpanImpl)) return c ?? api.ROOT_CONTEXT;
    return api.trace.setSpan(c ?? api.ROOT_CONTEXT, this.wrap(h));
  }
  with(context: Ctx, fn: (...a: unknown[]) => unknown, thisArg?: unknown, ...args: unknown[]): unknown {
    const s = context ? this.api.trace.getSpan(context) : undefined;
    const holder = s instanceof BridgeSpan ? s[SF] : undefined;
    return this.store.run(context, () => runWith(holder, fn, thisArg, args));
  }
  bind<T>(context: Ctx, target: T): T {
    if (typeof target !== 'function') return target;
    const self = this;
    const fn = target as unknown as (...a: unknown[]) => unknown;
    return function (this: unknown, ...args: unknown[]) {
      return self.with(context, fn, this, ...args);
    } as unknown as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    return this;
  }
}

/**
 * Registers the bridge as @opentelemetry/api's global tracer provider and context manager. Returns
 * false (with a warning) when @opentelemetry/api cannot be loaded or another provider is already
 * registered. `apiModule` is for tests (null: not installed); by default the app's own copy is loaded.
 */
export function enableOtelBridge(host: BridgeHost, apiModule?: OtelApi | null): boolean {
  try {
    const api = apiModule === undefined ? loadOtelApi() : apiModule ?? undefined;
    if (!api) {
      host.logger.warn('opentelemetryBridgeEnabled is set but @opentelemetry/api cannot be loaded (install it in the app: npm install @opentelemetry/api); the bridge is off');
      return false;
    }
    const spans = new WeakMap<Impl, BridgeSpan>();
    const wrap = (i: Impl): BridgeSpan => {
      let s = spans.get(i);
      if (!s) spans.set(i, (s = new BridgeSpan(i, host, api)));
      return s;
    };
    const tracer = new BridgeTracer(host, api, wrap);
    const provider = { getTracer: () => tracer };
    const okCtx = api.context.setGlobalContextManager(new BridgeContextManager(api, wrap));
    const okTrace = api.trace.setGlobalTracerProvider(provider);
    if (!okCtx || !okTrace) {
      if (okCtx) api.context.disable();
      if (okTrace) api.trace.disable();
      host.logger.warn('opentelemetryBridgeEnabled: @opentelemetry/api already has a global %s registered; the bridge is off', okTrace ? 'context manager' : 'tracer provider');
      return false;
    }
    host.logger.debug('OpenTelemetry bridge: registered the global tracer provider and context manager');
    return true;
  } catch (e) {
    host.logger.warn('opentelemetryBridgeEnabled: the bridge could not be registered: %s', (e as Error)?.message);
    return false;
  }
}

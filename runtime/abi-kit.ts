// The toolkit integrations' run-time handlers are written with (integrations/<name>/runtime.ts): the
// site shape, starting and ending exit spans, settling promises and callbacks in the caller's context,
// reporting errors once, HTTP and SQL helpers. Part of runtime/: imports nothing build-time.
import { abiCore, type AbiCore, type Holder } from './abi-core.js';
import type { CodeLocation, Span, StartSpanOptions, Transaction } from './types.js';

export type { AbiCore, Holder } from './abi-core.js';
export type { Span } from './types.js';

/** One static site as emitted by a front-end (see rules/abi.ts SiteDescriptor). */
export interface SiteDescriptor {
  rule: string;
  handler: string;
  name: string | null;
  type: string;
  subtype?: string;
  action?: string;
  method?: string;
  line: number;
  column: number;
  function: string;
}

/** A site after `sites()`: the descriptor plus what run time derives once from it. */
export interface Site extends SiteDescriptor {
  readonly file: string;
  readonly loc: CodeLocation;
  /** true when the module was built for another ABI version: helpers then only pass through. */
  readonly off: boolean;
  /** Span options of an app (internal) span at this site, built once: subtype and action are fixed per site. */
  readonly appSpanOptions: StartSpanOptions;
  /** The same for an exit span (pg, fetch, undici, http). */
  readonly exitSpanOptions: StartSpanOptions;
}

/**
 * One run-time handler: what `call(site, thisArg, fn, ...args)` does for the sites whose descriptor
 * names it (`site.handler`). Must call `fn` exactly once with `thisArg` and (a copy of) `args`, return
 * what the caller must see, and never throw anything `fn` did not throw.
 */
export type CallHandler = (core: AbiCore, site: Site, thisArg: unknown, fn: (...a: unknown[]) => unknown, args: unknown[]) => unknown;

// ---------------------------------------------------------------------------------------------
// Errors: reported once per thrown object however many wrappers it crosses.
export const reported = new WeakSet<object>();
/**
 * Errors seen failing a call span or a traced body, not yet reported: whether the app caught them is
 * decided by what happens next — they escape a route handler or reach the framework's final handler
 * (handled: false), or the request ends / the next turn of the event loop comes without that (handled: true).
 */
export const provisional = new Map<object, { core: AbiCore; parent: Holder | undefined; held: boolean }>();

export function report(core: AbiCore, err: unknown, parent: Holder | undefined, handled: boolean): void {
  try {
    if (err !== null && typeof err === 'object') {
      if (reported.has(err)) return;
      reported.add(err);
      // Where it happened (the failed span) says more than where it escaped.
      const p = provisional.get(err);
      if (p) {
        provisional.delete(err);
        parent = p.parent ?? parent;
      }
    }
    core.captureError(err, parent ? { handled, parent } : { handled });
  } catch {
    // never into user code
  }
}

/** An error that failed a span or traced body: reported handled unless it is seen escaping soon (see provisional). */
export function reportLater(core: AbiCore, err: unknown, parent: Holder | undefined): void {
  if (err === null || typeof err !== 'object') return report(core, err, parent, true);
  if (reported.has(err) || provisional.has(err)) return;
  provisional.set(err, { core, parent, held: false });
  // An uncaught error propagates through promise reactions (microtasks) or synchronously: by the next
  // macrotask it has escaped a wrapper, or the app caught it.
  try {
    setImmediate(() => {
      const p = provisional.get(err);
      if (p && !p.held) report(p.core, err, p.parent, true);
    });
  } catch {
    report(core, err, parent, true);
  }
}

/** Keeps a provisional error undecided until its request ends (passed to Express's next(err)). */
export function holdProvisional(err: unknown): void {
  if (err === null || typeof err !== 'object') return;
  const p = provisional.get(err);
  if (p) p.held = true;
}

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Calls `done(err, value)` when `result` settles and returns what the caller must return: native
 * promises get a derived promise resolving/rejecting with the same value (so an unhandled rejection
 * stays unhandled); other thenables (Promise subclasses such as API clients' promises) are returned
 * untouched and observed on a side chain.
 */
export function settle(result: unknown, done: (failed: boolean, value: unknown) => void): unknown {
  if (!isThenable(result)) {
    done(false, result);
    return result;
  }
  if (result instanceof Promise && result.constructor === Promise) {
    return result.then(
      (v) => {
        done(false, v);
        return v;
      },
      (e) => {
        done(true, e);
        throw e;
      },
    );
  }
  try {
    result.then((v) => done(false, v), (e) => done(true, e));
  } catch {
    done(false, undefined);
  }
  return result;
}

/** Spans whose outcome was decided from a response status (a 404 must stay a failure when the call resolves). */
export const outcomeDecided = new WeakSet<Span>();

export function endSpan(core: AbiCore, span: Span, failed: boolean, err: unknown): void {
  try {
    if (failed) {
      span.setOutcome('failure');
      reportLater(core, err, span);
    } else if (!span.ended && !outcomeDecided.has(span)) span.setOutcome('success');
    span.end();
  } catch {
    // never into user code
  }
}

export function startSpan(core: AbiCore, site: Site, name: string, exit: boolean): Span | undefined {
  try {
    const span = core.startSpan(name, site.type, exit ? site.exitSpanOptions : site.appSpanOptions);
    if (span) span.setCodeLocation(site.loc);
    return span;
  } catch {
    return undefined;
  }
}

/**
 * `fn` run with the exit span as the current context, so that what the library does inside the call
 * (pg-pool's Client#query, mysql2's pool calling the connection, an ORM's driver call) sees an exit span
 * as its parent and opens no second span: the agent records no child of an exit span, as
 * elastic-apm-node does. This is what keeps a user-code site and the driver's own instrumented function
 * (a dependency rule) from recording the same query twice.
 */
export function inExitSpan(core: AbiCore, span: Span, fn: (...a: unknown[]) => unknown): (...a: unknown[]) => unknown {
  return function (this: unknown, ...a: unknown[]) {
    return core.runWith(span, fn, this, a);
  };
}

/** Runs the call, ending the span when it settles; sync throws are reported and rethrown as is. */
export function runCall(core: AbiCore, span: Span, thisArg: unknown, fn: (...a: unknown[]) => unknown, args: unknown[], onValue?: (v: unknown) => void): unknown {
  let result: unknown;
  try {
    result = Reflect.apply(fn, thisArg, args);
  } catch (err) {
    endSpan(core, span, true, err);
    throw err;
  }
  return settle(result, (failed, v) => {
    if (!failed && onValue) {
      try {
        onValue(v);
      } catch {
        // never into user code
      }
    }
    endSpan(core, span, failed, v);
  });
}

/**
 * Runs a call whose completion is reported through a callback (already wrapped by wrapCallback): the
 * span ends in the callback, or here on a synchronous throw — not when the call returns (pg and undici
 * return undefined at once in their callback forms).
 */
export function runCallbackCall(core: AbiCore, span: Span, thisArg: unknown, fn: (...a: unknown[]) => unknown, args: unknown[]): unknown {
  try {
    return Reflect.apply(fn, thisArg, args);
  } catch (err) {
    endSpan(core, span, true, err);
    throw err;
  }
}

/** Wraps a node-style callback so it ends the span first and runs in the caller's context. */
export function wrapCallback(core: AbiCore, span: Span, cb: (...a: unknown[]) => unknown, onValue?: (v: unknown) => void): (...a: unknown[]) => unknown {
  const ctx = core.current();
  return function (this: unknown, err: unknown, value: unknown) {
    if (err == null && onValue) {
      try {
        onValue(value);
      } catch {
        // ignore
      }
    }
    endSpan(core, span, err != null, err);
    // pg and undici call back from socket events; run the user's callback in the context it was registered in.
    return core.runWith(ctx, cb, this, arguments);
  };
}

// ---------------------------------------------------------------------------------------------
// Incoming requests (frameworks whose handlers are units: integrations/koa)

/** The ABI's request handling, for handlers that run in an incoming node:http request; runtime/abi.ts provides it when it loads. */
export interface RequestKit {
  /** The request's transaction (started at arrival, or here when the channel did not fire; ends with the response). */
  requestTransaction(core: AbiCore, req: object, res: object, body?: unknown): Transaction | undefined;
  /** Names the transaction, unless the app renamed it since the ABI last did; isRoute: a route matched. */
  setName(tx: Transaction, name: string, isRoute: boolean): void;
  /** context.service.framework of the transaction. */
  setFramework(tx: Transaction, name: string, version?: string): void;
}

let requestKitImpl: RequestKit | undefined;
export function provideRequestKit(kit: RequestKit): void {
  requestKitImpl = kit;
}
/** undefined only while runtime/abi.ts has not loaded (then no site has run either). */
export function requestKit(): RequestKit | undefined {
  return requestKitImpl;
}

// ---------------------------------------------------------------------------------------------
// HTTP client helpers (fetch, undici, http)

/** Copies a headers object/array with traceparent/tracestate added; undefined when the user set them. */
export function withTraceHeaders(h: unknown, carrier: Holder): Record<string, unknown> | unknown[] | undefined {
  try {
    const tp = carrier.traceparent();
    if (!tp) return undefined;
    const ts = carrier.tracestate();
    if (Array.isArray(h)) {
      for (let i = 0; i < h.length; i += 2) if (String(h[i]).toLowerCase() === 'traceparent') return undefined;
      return ts ? [...h, 'traceparent', tp, 'tracestate', ts] : [...h, 'traceparent', tp];
    }
    const obj = (h && typeof h === 'object' ? h : {}) as Record<string, unknown>;
    for (const k of Object.keys(obj)) if (k.toLowerCase() === 'traceparent') return undefined;
    return ts ? { ...obj, traceparent: tp, tracestate: ts } : { ...obj, traceparent: tp };
  } catch {
    return undefined;
  }
}

export function httpSpanContext(span: Span, url: URL, method: string): void {
  try {
    span.setHttpContext({ url: url.href, method });
    const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    span.setDestination({ address: url.hostname.replace(/^\[|\]$/g, ''), port, serviceTargetType: 'http', serviceTargetName: url.host });
  } catch {
    // best effort
  }
}

export function httpStatus(span: Span, status: number | undefined): void {
  if (typeof status !== 'number') return;
  span.setHttpContext({ statusCode: status });
  span.setOutcome(status >= 400 ? 'failure' : 'success');
  outcomeDecided.add(span);
}

// node:http client requests end their span from the diagnostics channel (adding a 'response' listener

// ---------------------------------------------------------------------------------------------
/** `SELECT users` from a SQL text (same algorithm as rules/naming.ts sqlSummary; runtime/ may not import rules/). */
export function sqlSummary(sql: string): string {
  const s = sql.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, ' ').trim();
  const verbMatch = /^([A-Za-z]+)/.exec(s);
  if (!verbMatch) return 'SQL';
  const verb = verbMatch[1]!.toUpperCase();
  const ident = '((?:"[^"]+"|`[^`]+`|[\\w$]+)(?:\\.(?:"[^"]+"|`[^`]+`|[\\w$]+))*)';
  let re: RegExp | undefined;
  switch (verb) {
    case 'SELECT':
    case 'DELETE':
      re = new RegExp(`\\bFROM\\s+(?:ONLY\\s+)?${ident}`, 'i');
      break;
    case 'INSERT':
      re = new RegExp(`^INSERT\\s+INTO\\s+${ident}`, 'i');
      break;
    case 'UPDATE':
      re = new RegExp(`^UPDATE\\s+(?:ONLY\\s+)?${ident}`, 'i');
      break;
    case 'CREATE':
    case 'DROP':
    case 'ALTER':
    case 'TRUNCATE':
      re = new RegExp(`^${verb}\\s+(?:TEMP(?:ORARY)?\\s+|UNLOGGED\\s+)?(?:TABLE\\s+|INDEX\\s+|VIEW\\s+)?(?:IF\\s+(?:NOT\\s+)?EXISTS\\s+)?${ident}`, 'i');
      break;
    default:
      return verb;
  }
  const m = re.exec(s);
  if (!m) return verb;
  return `${verb} ${m[1]!.replace(/["`]/g, '')}`;
}

// ---------------------------------------------------------------------------------------------
/**
 * The ECS correlation fields of the current context, read at the moment a log record is written (the
 * installed core then, not the one when the logger was made: loggers are often created before start()),
 * or undefined outside a transaction. Never throws.
 */
export function logTraceIds(): { 'trace.id': string; 'transaction.id': string; 'span.id'?: string } | undefined {
  try {
    const h = abiCore().current();
    if (h === undefined) return undefined;
    if (h.kind === 'transaction') return { 'trace.id': h.traceId, 'transaction.id': h.id };
    return { 'trace.id': h.traceId, 'transaction.id': h.transactionId, 'span.id': h.id };
  } catch {
    return undefined;
  }
}

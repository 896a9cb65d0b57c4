// The versioned runtime ABI ("spanforge/runtime") that build-time emitted code calls: the site table,
// instrumented calls (dispatched by handler name to the integrations' handlers, runtime/integrations.ts,
// and user rules), route handlers, traced bodies and functions.
// Contract (names, site shape, version) is rules/abi.ts; a test pins that the two agree.
import { subscribe } from 'node:diagnostics_channel';
import { abiCore, onAbiCore, setAbiCore as installCore, type AbiCore, type Holder } from './abi-core.js';
import { report, isThenable, settle, startSpan, runCall, sqlSummary as summarize, type CallHandler, type Site, type SiteDescriptor } from './abi-kit.js';
import * as integrations from './integrations.js';
import type { CodeLocation, StartSpanOptions, Transaction } from './types.js';

export type { Site, SiteDescriptor } from './abi-kit.js';

/** Bumped on any incompatible change of the helpers or of the site shape. */
export const ABI_VERSION = 1;


const EMPTY: readonly unknown[] = [];
// Same clock as the tracer (timeOrigin + performance.now()), so arrival times compare with span times.
const origin = performance.timeOrigin;
const nowMs = (): number => origin + performance.now();
const TX = Symbol.for('spanforge.request.transaction');
const ARRIVAL = Symbol.for('spanforge.request.arrival');
const WRAPPED = Symbol.for('spanforge.wrapped');
const warnedVersions = new Set<number>();
let arrivalSubscribed = false;
/**
 * The installed core (undefined: none, i.e. inactive), kept current through the global slot's setter
 * (abi-core.ts): every helper tests this module-level variable instead of reading the global symbol
 * slot per call (bench/overhead/abi-dispatch.cjs: ~4.4 against ~10 ns per inactive call).
 */
let installed: AbiCore | undefined;
onAbiCore((core) => {
  installed = core;
});

/**
 * Builds a module's site table; emitted once at the top of each instrumented module.
 * @example const __spanforge_sites = __spanforge.sites(1, "src/app.ts", [{ rule: "pg.query", ... }]);
 */
export function sites(version: number, file: string, list: readonly SiteDescriptor[]): Site[] {
  const off = version !== ABI_VERSION;
  if (off && !warnedVersions.has(version)) {
    warnedVersions.add(version);
    abiCore().warn(`spanforge: ${file} was built for runtime ABI v${version} but this runtime speaks v${ABI_VERSION}; ` +
      `its sites are not instrumented. Rebuild with the same spanforge version as the one installed.`);
  }
  const out: Site[] = [];
  for (const d of list) {
    const loc: CodeLocation = { file, line: d.line, column: d.column, function: d.function };
    // Built here once instead of spreading a fresh options object for every span (startSpan below).
    const fixed: StartSpanOptions = { ...(d.subtype !== undefined ? { subtype: d.subtype } : {}), ...(d.action !== undefined ? { action: d.action } : {}) };
    out.push({ ...d, file, loc, off, appSpanOptions: { ...fixed, exitSpan: false }, exitSpanOptions: { ...fixed, exitSpan: true } });
    if (!arrivalSubscribed && (d.handler === 'express' || d.handler === 'fastify' || d.handler === 'node-http')) subscribeArrival();
  }
  return out;
}

/** Records when each request arrived, so its transaction starts then and not at the first handler. */
function subscribeArrival(): void {
  arrivalSubscribed = true;
  try {
    subscribe('http.server.request.start', (msg) => {
      const req = (msg as { request?: Record<symbol, unknown> }).request;
      if (req && req[ARRIVAL] === undefined) req[ARRIVAL] = nowMs();
    });
  } catch {
    // Older Node without the channel: transactions start at the first wrapped handler instead.
  }
}

// ---------------------------------------------------------------------------------------------
// Instrumented calls

/**
 * An instrumented call: `fn.apply(thisArg, args)` inside an exit or app span chosen by the site's
 * handler. Receiver, function and arguments are evaluated by the caller in source order.
 * @example __spanforge.call(__spanforge_sites[0], pool, pool.query, "SELECT 1")
 */
export function call(site: Site, thisArg: unknown, fn: (...a: unknown[]) => unknown, ...args: unknown[]): unknown {
  const core = installed;
  if (core === undefined || site.off || !core.active() || typeof fn !== 'function') return Reflect.apply(fn, thisArg, args);
  const h = CALLS[site.handler];
  return h === undefined ? Reflect.apply(fn, thisArg, args) : h(core, site, thisArg, fn, args);
}

/**
 * Handler name → handler: `app` (user rules: an internal span) plus every integration's handlers,
 * flattened once at load into one plain object so `call()` does a single property lookup.
 */
const CALLS: Record<string, CallHandler> = Object.create(null);
CALLS.app = (core, site, thisArg, fn, args) => {
  const span = startSpan(core, site, site.name ?? 'call', false);
  if (!span) return Reflect.apply(fn, thisArg, args);
  return core.runWith(span, runCall, undefined, [core, span, thisArg, fn, args]);
};
for (const unit of Object.values(integrations) as Array<Record<string, CallHandler>>) {
  for (const name of Object.keys(unit)) CALLS[name] = unit[name]!;
}

// ---------------------------------------------------------------------------------------------
// Route handlers → one transaction per request, named by the route template.

interface Req {
  method?: string;
  url?: string;
  baseUrl?: string;
  httpVersion?: string;
  headers?: Record<string, string | string[] | undefined>;
  socket?: { remoteAddress?: string; encrypted?: boolean };
  /** set by Express body parsers before route handlers run */
  body?: unknown;
  [TX]?: Transaction;
  [ARRIVAL]?: number;
}
interface Res {
  statusCode?: number;
  getHeaders?(): Record<string, string | string[] | number | undefined>;
  once?(ev: string, f: () => void): void;
}

/** The request's transaction, started (at arrival time) by the first wrapped handler that sees it. */
/** `body`: the parsed request body when the framework has one (Express `req.body` from a body parser, Fastify `request.body`); capture_body decides what is kept. */
function requestTransaction(core: AbiCore, req: Req, res: Res, body?: unknown): Transaction | undefined {
  const existing = req[TX];
  if (existing) return existing;
  try {
    const tp = req.headers?.traceparent;
    const ts = req.headers?.tracestate;
    const tx = core.startTransaction(`${req.method ?? 'GET'} unknown route`, 'request', {
      ...(typeof tp === 'string' ? { childOf: tp } : {}),
      ...(typeof ts === 'string' ? { tracestate: ts } : Array.isArray(ts) ? { tracestate: ts.join(',') } : {}),
      ...(req[ARRIVAL] !== undefined ? { startTime: req[ARRIVAL] } : {}),
    });
    req[TX] = tx;
    tx.setRequestContext({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      ...(req.httpVersion ? { httpVersion: req.httpVersion } : {}),
      ...(req.headers ? { headers: req.headers } : {}),
      ...(req.socket ? { socket: { remoteAddress: req.socket.remoteAddress, encrypted: Boolean(req.socket.encrypted) } } : {}),
      ...((body ?? req.body) !== undefined ? { body: body ?? req.body } : {}),
    });
    const end = () => {
      if (tx.ended) return;
      const status = res.statusCode ?? 200;
      try {
        const headers = res.getHeaders?.() ?? {};
        const h: Record<string, string | string[] | undefined> = {};
        for (const k of Object.keys(headers)) {
          const v = headers[k];
          h[k] = typeof v === 'number' ? String(v) : v;
        }
        tx.setResponseContext({ statusCode: status, headers: h });
        tx.setResult(`HTTP ${Math.floor(status / 100)}xx`);
        tx.setOutcome(status >= 500 ? 'failure' : 'success');
      } catch {
        // ignore
      }
      tx.end();
    };
    res.once?.('finish', end);
    res.once?.('close', end);
    return tx;
  } catch {
    return undefined;
  }
}

function nameTransaction(tx: Transaction, site: Site, req: Req, template: string | undefined): void {
  if (template === undefined) return;
  try {
    tx.name = `${req.method ?? site.method ?? 'GET'} ${template}`;
  } catch {
    // ignore
  }
}

/** Calls the handler in the transaction's context, reporting what it throws or rejects with. */
function runHandler(core: AbiCore, tx: Transaction, handler: (...a: unknown[]) => unknown, thisArg: unknown, args: IArguments): unknown {
  let result: unknown;
  try {
    result = core.runWith(tx, handler, thisArg, args);
  } catch (err) {
    report(core, err, tx, false);
    throw err;
  }
  if (!isThenable(result)) return result;
  return settle(result, (failed, v) => {
    if (failed) report(core, v, tx, false);
  });
}

function sameShape<F extends (...a: any[]) => any>(wrapper: F, original: (...a: any[]) => any): F {
  try {
    Object.defineProperty(wrapper, 'length', { value: original.length });
    Object.defineProperty(wrapper, 'name', { value: original.name });
    Object.defineProperty(wrapper, WRAPPED, { value: original });
  } catch {
    // ignore
  }
  return wrapper;
}

/**
 * Wraps a route handler (or an array of them) registered at a site: the request's transaction is
 * found or started, named by the site's template, and made current while the handler runs.
 * `length`, `name` and `this` are kept (Express tells error middleware apart by `length === 4`).
 * @example app.get("/users/:id", __spanforge.route(__spanforge_sites[1], handler))
 */
export function route<T>(site: Site, handler: T): T {
  if (Array.isArray(handler)) return handler.map((h) => route(site, h)) as T;
  if (typeof handler !== 'function' || site.off) return handler;
  const original = handler as unknown as (...a: unknown[]) => unknown;
  if ((original as unknown as Record<symbol, unknown>)[WRAPPED]) return handler;
  let wrapper: (...a: any[]) => unknown;
  switch (site.handler) {
    case 'express': {
      const errorMiddleware = original.length === 4;
      // use(): only error middleware is wrapped; plain middleware and routers pass untouched.
      if (site.rule === 'express.error-middleware' && !errorMiddleware) return handler;
      const template = site.name ?? undefined;
      wrapper = function (this: unknown) {
        const core = installed;
        const req = (errorMiddleware ? arguments[1] : arguments[0]) as Req | undefined;
        const res = (errorMiddleware ? arguments[2] : arguments[1]) as Res | undefined;
        if (core === undefined || !core.active() || !req || !res) return Reflect.apply(original, this, arguments);
        const tx = requestTransaction(core, req, res);
        if (!tx) return Reflect.apply(original, this, arguments);
        if (errorMiddleware) report(core, arguments[0], tx, true);
        else nameTransaction(tx, site, req, template === undefined ? undefined : (req.baseUrl ?? '') + template);
        return runHandler(core, tx, original, this, arguments);
      };
      break;
    }
    case 'fastify': {
      const template = site.name ?? undefined;
      wrapper = function (this: unknown, request: { raw?: Req; body?: unknown; routeOptions?: { url?: unknown } }, reply: { raw?: Res }) {
        const core = installed;
        const req = request?.raw;
        const res = reply?.raw;
        if (core === undefined || !core.active() || !req || !res) return Reflect.apply(original, this, arguments);
        const tx = requestTransaction(core, req, res, request.body);
        if (!tx) return Reflect.apply(original, this, arguments);
        // routeOptions.url includes any register() prefix, which build time cannot see.
        const url = request.routeOptions?.url;
        nameTransaction(tx, site, req, typeof url === 'string' ? url : template);
        return runHandler(core, tx, original, this, arguments);
      };
      break;
    }
    case 'node-http': {
      wrapper = function (this: unknown, req: Req, res: Res) {
        const core = installed;
        if (core === undefined || !core.active() || !req || !res) return Reflect.apply(original, this, arguments);
        const tx = requestTransaction(core, req, res);
        if (!tx) return Reflect.apply(original, this, arguments);
        return runHandler(core, tx, original, this, arguments);
      };
      break;
    }
    default:
      return handler;
  }
  return sameShape(wrapper, original) as unknown as T;
}

// ---------------------------------------------------------------------------------------------
// Traced bodies and functions

/**
 * Runs a decorated method's body inside a span (or a `background` transaction when none is active).
 * The body is an arrow function, so `this`, `arguments` and `super` are the method's own.
 * @example m(a) { return __spanforge.trace(__spanforge_sites[2], () => { return a * 2; }); }
 */
export function trace<R>(site: Site, body: () => R): R {
  const core = installed;
  if (core === undefined || site.off || !core.active()) return body();
  return traceWith(core, site, site.name ?? site.function, body, undefined, EMPTY);
}

function traceWith<R>(core: AbiCore, site: Site, name: string, fn: (...a: any[]) => R, thisArg: unknown, args: ArrayLike<unknown>): R {
  let holder: Holder | undefined;
  let isTx = false;
  try {
    if (core.currentTransaction()) holder = startSpan(core, site, name, false);
    else {
      holder = core.startTransaction(name, 'background');
      isTx = true;
    }
  } catch {
    holder = undefined;
  }
  if (!holder) return Reflect.apply(fn, thisArg, args) as R;
  const h = holder;
  const done = (failed: boolean, v: unknown) => {
    try {
      if (failed) {
        h.setOutcome('failure');
        report(core, v, h, true);
      } else h.setOutcome('success');
      if (isTx) (h as Transaction).setResult(failed ? 'failure' : 'success');
      h.end();
    } catch {
      // ignore
    }
  };
  let result: R;
  try {
    result = core.runWith(h, fn, thisArg, args);
  } catch (err) {
    done(true, err);
    throw err;
  }
  return settle(result, done) as R;
}

/**
 * `traced(fn)` compiled: a function with fn's length and name whose every call is a span.
 * Generator functions are returned unchanged (a span cannot follow a generator's resumptions).
 */
export function wrap<F>(site: Site, fn: F): F {
  if (typeof fn !== 'function' || site.off) return fn;
  const original = fn as unknown as (...a: unknown[]) => unknown;
  const kind = original.constructor?.name;
  if (kind === 'GeneratorFunction' || kind === 'AsyncGeneratorFunction') return fn;
  const name = site.name ?? (original.name || site.function);
  const wrapper = function (this: unknown): unknown {
    if (new.target) return Reflect.construct(original, arguments, new.target);
    const core = installed;
    if (core === undefined || !core.active()) return Reflect.apply(original, this, arguments);
    return traceWith(core, site, name, original, this, arguments);
  };
  return sameShape(wrapper, original) as unknown as F;
}

// ---------------------------------------------------------------------------------------------

/** `SELECT users` from a SQL text (same algorithm as rules/naming.ts sqlSummary; runtime/ may not import rules/). */
export function sqlSummary(sql: string): string {
  return summarize(sql);
}

/**
 * Installs the core the helpers use (the agent does this when it starts; tests install a recorder).
 * A local function, not a re-export: TS compiles re-exports to accessor properties on `exports`, which
 * made every `__spanforge.call` lookup several times slower (bench/abi-hotpath.mjs).
 */
export function setAbiCore(core: AbiCore | undefined): void {
  installCore(core);
}
export type { AbiCore } from './abi-core.js';

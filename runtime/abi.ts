// The versioned runtime ABI ("spanforge/runtime") that build-time emitted code calls: the site table,
// instrumented calls (dispatched by handler name to the integrations' handlers, runtime/integrations.ts,
// and user rules), route handlers, traced bodies and functions.
// Contract (names, site shape, version) is rules/abi.ts; a test pins that the two agree.
import { subscribe } from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { abiCore, onAbiCore, setAbiCore as installCore, type AbiCore, type Holder } from './abi-core.js';
import { holdProvisional, provideRequestKit, report, reportLater, isThenable, settle, startSpan, runCall, sqlSummary as summarize, type CallHandler, type Site, type SiteDescriptor } from './abi-kit.js';
import * as integrations from './integrations.js';
import * as integrationWrappers from './integration-wrappers.js';
import * as integrationLoops from './integration-loops.js';
import { consumeIteration, type HandlerWrapper, type LoopDelivery, type LoopIteration } from './messaging.js';
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
/** Express: the mount-path templates of the use() layers a request is inside (pushed and popped by our wrappers). */
const MOUNT = Symbol.for('spanforge.request.mount');
/** Express: an error passed to next(err) that no error middleware of the app has taken yet. */
const NEXT_ERR = Symbol.for('spanforge.request.nextError');
/** The parsed body already added to the request context. */
const BODY = Symbol.for('spanforge.request.body');
const HOOKED = Symbol.for('spanforge.fastify.hooked');
/**
 * Set (to true) by `spanforge/next`'s register(): each request's arrival transaction is made the current
 * context of the server's handling of that request, so that handlers of a framework whose server code
 * is not instrumented (Next.js) find it instead of starting a second one.
 */
const BIND_ARRIVAL = Symbol.for('spanforge.request.bindArrival');
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
subscribeArrival();

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
    if (!arrivalSubscribed && (d.handler === 'express' || d.handler === 'fastify' || d.handler === 'koa' || d.handler === 'node-http')) subscribeArrival();

  }
  return out;
}

/**
 * Every incoming request gets its transaction when it arrives (node:http publishes
 * `http.server.request.start` before any listener runs), so requests that a middleware, a hook or a
 * not-found handler answers are recorded too; route wrappers only name it. Subscribed once, when this
 * module loads (and again harmlessly from sites()); the subscriber does nothing while no agent is active.
 */
function subscribeArrival(): void {
  if (arrivalSubscribed) return;
  arrivalSubscribed = true;
  try {
    subscribe('http.server.request.start', (msg) => {
      const m = msg as { request?: Req; response?: Res };
      const req = m.request;
      if (!req) return;
      if (req[ARRIVAL] === undefined) req[ARRIVAL] = nowMs();
      const core = installed;
      if (core === undefined || !m.response) return;
      try {
        if (core.active()) {
          const tx = requestTransaction(core, req, m.response);
          if (tx && (globalThis as Record<symbol, unknown>)[BIND_ARRIVAL] === true && core.enter) core.enter(tx);
        }
      } catch {
        // never into the server
      }
    });
  } catch {
    // Older Node without the channel: transactions start at the first wrapped handler instead.
  }
  try {
    // Fastify publishes each new instance: hooks name the request's transaction once the route is known
    // (requests rejected by later hooks, validation or the not-found handler included) and report the
    // errors that reach Fastify's error handling, as elastic-apm-node's fastify instrumentation does.
    subscribe('fastify.initialization', (msg) => {
      const core = installed;
      if (core === undefined || !core.active()) return;
      try {
        fastifyHooks((msg as { fastify?: FastifyLike }).fastify);
      } catch {
        // never into the app
      }
    });
  } catch {
    // no diagnostics_channel
  }
}

// ---------------------------------------------------------------------------------------------
// Instrumented calls

/**
 * An instrumented call: `fn.apply(thisArg, args)` inside an exit or app span chosen by the site's
 * handler. Receiver, function and arguments are evaluated by the caller in source order.
 * @example __spanforge.call(__spanforge_sites[0], pool, pool.query, "SELECT 1")
 */
// `any` in the signature on purpose: emitted code passes any function (an overloaded `pool.query`, `fetch`) and
// uses the result as the original call's, so a type-checking loader (ts-node) accepts instrumented source.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function call(site: Site, thisArg: unknown, fn: (...a: any[]) => any, ...args: unknown[]): any {
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

/** Site handler name → handler wrapper, flattened once from every integration's `wrappers`. */
const WRAPPERS: Record<string, HandlerWrapper> = Object.create(null);
for (const unit of Object.values(integrationWrappers) as Array<Record<string, HandlerWrapper>>) {
  for (const name of Object.keys(unit)) WRAPPERS[name] = unit[name]!;
}

// ---------------------------------------------------------------------------------------------
// Route handlers → one transaction per request (started at arrival), named by the route.

interface Req {
  method?: string;
  url?: string;
  /** Express: the URL before mounted routers rewrote req.url. */
  originalUrl?: string;
  baseUrl?: string;
  httpVersion?: string;
  headers?: Record<string, string | string[] | undefined>;
  socket?: { remoteAddress?: string; encrypted?: boolean };
  /** set by Express body parsers before route handlers run */
  body?: unknown;
  /** Express: the matched route (set by Express before its handlers run). */
  route?: { path?: unknown; regexp?: { source?: string } };
  /** Express: the application handling the request (from app.request, Express 4 and 5). */
  app?: { handle?: unknown; set?: unknown };
  [TX]?: Transaction;
  [ARRIVAL]?: number;
  [MOUNT]?: unknown[];
  [NEXT_ERR]?: unknown;
  [BODY]?: unknown;
}
interface Res {
  statusCode?: number;
  getHeaders?(): Record<string, string | string[] | number | undefined>;
  getHeader?(name: string): unknown;
  once?(ev: string, f: () => void): void;
}

/** The optional tracer methods a request transaction has (TransactionImpl; test cores may lack them). */
interface RequestTx extends Transaction {
  setFramework?(name: string, version?: string): void;
  nameUnmatched?(method: string): void;
}

/** The name the ABI last gave each transaction: a different current name was set by the app and is kept. */
const assignedName = new WeakMap<Transaction, string>();
/** Transactions named from a route (not the unmatched-request name). */
const routed = new WeakSet<Transaction>();

function setName(tx: Transaction, name: string, isRoute: boolean): void {
  try {
    const prev = assignedName.get(tx);
    if (prev !== undefined && tx.name !== prev) return; // renamed by the app
    tx.name = name;
    assignedName.set(tx, tx.name);
    if (isRoute) routed.add(tx);
  } catch {
    // ignore
  }
}

/** `GET unknown route` as elastic-apm-node names a request no route matched (the path with use_path_as_transaction_name). */
function nameUnmatched(tx: RequestTx, method: string): void {
  try {
    const prev = assignedName.get(tx);
    if (prev !== undefined && tx.name !== prev) return;
    if (typeof tx.nameUnmatched === 'function') tx.nameUnmatched(method);
    else tx.name = `${method} unknown route`;
    assignedName.set(tx, tx.name);
  } catch {
    // ignore
  }
}

// Express naming, as elastic-apm-node's express-utils.js: the templates of the routers' mount paths
// (`app.use('/users', router)`), then the matched route's path; `/` parts are dropped, so a `/` route in
// a router mounted at `/users` is `GET /users`.
function normalizeSlash(v: unknown): string {
  return (v as { [0]?: unknown })[0] === '/' ? String(v) : '/' + String(v);
}
function joinPaths(parts: readonly unknown[] | undefined): string | undefined {
  if (!parts) return undefined;
  return parts.filter((p) => p !== '/').map(normalizeSlash).join('') || '/';
}
/** The route part of an Express request's name, or undefined when no route matched and no mount applies. */
function expressRouteName(req: { route?: { path?: unknown; regexp?: { source?: string } }; [MOUNT]?: unknown[] }): string | undefined {
  const path = joinPaths(req[MOUNT]);
  const r = req.route;
  const route = r ? r.path || r.regexp?.source : undefined;
  if (route) return path ? joinPaths([path, route]) : String(route);
  if (path && path !== '/') return path;
  return undefined;
}

function isExpressRequest(req: Req): boolean {
  const app = req.app as unknown as { handle?: unknown; set?: unknown } | undefined;
  return typeof app === 'function' && typeof (app as { handle?: unknown }).handle === 'function' && typeof (app as { set?: unknown }).set === 'function';
}

let expressVersion: string | null | undefined;
/** Express's version from the app's own install (elastic-apm-node reports it too); undefined when not resolvable (bundles). */
function frameworkVersion(): string | undefined {
  if (expressVersion === undefined) {
    expressVersion = null;
    try {
      const req = createRequire(`${process.cwd()}/`);
      const v = (req('express/package.json') as { version?: unknown }).version;
      if (typeof v === 'string') expressVersion = v;
    } catch {
      // not installed where the app runs from
    }
  }
  return expressVersion ?? undefined;
}

function setFramework(tx: RequestTx, name: string, version?: string): void {
  try {
    if (typeof tx.setFramework === 'function') tx.setFramework(name, version);
  } catch {
    // ignore
  }
}

// The request helpers integration units use for handlers that run in an incoming request (integrations/koa).
provideRequestKit({
  requestTransaction: (core, req, res, body) => requestTransaction(core, req as Req, res as Res, body),
  setName,
  setFramework: (tx, name, version) => setFramework(tx as RequestTx, name, version),
});

function requestInfo(req: Req, body: unknown) {
  return {
    method: req.method ?? 'GET',
    url: req.originalUrl ?? req.url ?? '/',
    ...(req.httpVersion ? { httpVersion: req.httpVersion } : {}),
    ...(req.headers ? { headers: req.headers } : {}),
    ...(req.socket ? { socket: { remoteAddress: req.socket.remoteAddress, encrypted: Boolean(req.socket.encrypted) } } : {}),
    ...(body !== undefined ? { body } : {}),
  };
}

/** Adds the parsed body to the request context once a framework has it (capture_body decides what is kept). */
function noteBody(tx: Transaction, req: Req, body: unknown): void {
  if (body === undefined || req[BODY] !== undefined) return;
  req[BODY] = body;
  try {
    tx.setRequestContext(requestInfo(req, body));
  } catch {
    // ignore
  }
}

/**
 * The request's transaction: started at arrival (subscribeArrival), or here by the first wrapped handler
 * that sees the request when the channel did not fire. Ends when the response finishes or the connection closes.
 * `body`: the parsed request body when the framework has one (Express `req.body`, Fastify `request.body`).
 */
function requestTransaction(core: AbiCore, req: Req, res: Res, body?: unknown): Transaction | undefined {
  const existing = req[TX];
  if (existing) {
    noteBody(existing, req, body ?? req.body);
    return existing;
  }
  try {
    const tp = req.headers?.traceparent;
    const ts = req.headers?.tracestate;
    const method = req.method ?? 'GET';
    const tx = core.startTransaction(`${method} unknown route`, 'request', {
      ...(typeof tp === 'string' ? { childOf: tp } : {}),
      ...(typeof ts === 'string' ? { tracestate: ts } : Array.isArray(ts) ? { tracestate: ts.join(',') } : {}),
      ...(req[ARRIVAL] !== undefined ? { startTime: req[ARRIVAL] } : {}),
    }) as RequestTx;
    req[TX] = tx;
    const b = body ?? req.body;
    if (b !== undefined) req[BODY] = b;
    tx.setRequestContext(requestInfo(req, b));
    nameUnmatched(tx, method);
    const end = () => {
      if (tx.ended) return;
      try {
        finishRequest(core, tx, req, res);
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

/** At the end of a request: framework and name from what the framework left on the request, status, result, final-handler errors. */
function finishRequest(core: AbiCore, tx: RequestTx, req: Req, res: Res): void {
  const method = req.method ?? 'GET';
  if (isExpressRequest(req) || req[MOUNT] !== undefined) {
    setFramework(tx, 'express', frameworkVersion());
    const route = expressRouteName(req);
    if (route !== undefined) setName(tx, `${method} ${route}`, true);
  }
  const status = res.statusCode ?? 200;
  const headers = res.getHeaders?.() ?? {};
  const h: Record<string, string | string[] | undefined> = {};
  for (const k of Object.keys(headers)) {
    const v = headers[k];
    h[k] = typeof v === 'number' ? String(v) : (v as string | string[] | undefined);
  }
  tx.setResponseContext({ statusCode: status, headers: h });
  tx.setResult(`HTTP ${Math.floor(status / 100)}xx`);
  tx.setOutcome(status >= 500 ? 'failure' : 'success');
  // An error passed to Express's next(err) that no error middleware of the app took reached the
  // framework's final handler: the app did not handle it.
  const err = req[NEXT_ERR];
  if (err !== undefined) {
    req[NEXT_ERR] = undefined;
    report(core, err, tx, false);
  }
}

/** Calls the handler in the transaction's context, reporting what it throws or rejects with. */
function runHandler(core: AbiCore, tx: Transaction, handler: (...a: unknown[]) => unknown, thisArg: unknown, args: IArguments | unknown[]): unknown {
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
 * Express's `next` for a wrapped function: an error passed on is remembered until an error middleware
 * takes it (else it reached the final handler); `mounted` pops the mount path pushed for this layer
 * when Express moves on to other layers (elastic-apm-node's mount stack).
 */
function wrapNext(req: Req, next: unknown, mounted: boolean): unknown {
  if (typeof next !== 'function') return next;
  return function (this: unknown, arg?: unknown) {
    try {
      if (arg && arg !== 'route' && arg !== 'router') {
        req[NEXT_ERR] = arg;
        holdProvisional(arg);
      } else if (mounted) req[MOUNT]?.pop();
    } catch {
      // ignore
    }
    return Reflect.apply(next as (...a: unknown[]) => unknown, this, arguments);
  };
}

function isRouterLike(fn: unknown): boolean {
  const f = fn as { handle?: unknown; stack?: unknown };
  return typeof f.handle === 'function' && Array.isArray(f.stack);
}

function isSubApp(fn: unknown): boolean {
  const f = fn as { handle?: unknown; set?: unknown };
  return typeof f.handle === 'function' && typeof f.set === 'function';
}

/** Express handler wrappers: route handlers, use() middleware (mounted or not) and error middleware. */
function expressWrapper(site: Site, original: (...a: unknown[]) => unknown): ((...a: any[]) => unknown) | undefined {
  const errorMiddleware = original.length === 4;
  const isUse = site.rule === 'express.error-middleware';
  const template = site.name ?? undefined;
  if (errorMiddleware) {
    return function (this: unknown) {
      const core = installed;
      const req = arguments[1] as Req | undefined;
      const res = arguments[2] as Res | undefined;
      if (core === undefined || !core.active() || !req || !res) return Reflect.apply(original, this, arguments);
      const tx = requestTransaction(core, req, res);
      if (!tx) return Reflect.apply(original, this, arguments);
      setFramework(tx, 'express', frameworkVersion());
      const err = arguments[0];
      // The app's own error middleware took it: handled, unless it escaped a handler already (reported then).
      if (req[NEXT_ERR] === err) req[NEXT_ERR] = undefined;
      report(core, err, tx, true);
      const args = Array.prototype.slice.call(arguments);
      args[3] = wrapNext(req, args[3], false);
      return runHandler(core, tx, original, this, args);
    };
  }
  if (isUse) {
    // A sub-application keeps its identity (Express mounts it, sets its parent, emits 'mount').
    if (isSubApp(original)) return undefined;
    const mountPath = typeof template === 'string' ? template : undefined;
    // A router used without a path adds nothing to the name and passes errors on through its own next.
    if (mountPath === undefined && isRouterLike(original)) return undefined;
    const wrapper = function (this: unknown) {
      const core = installed;
      const req = arguments[0] as Req | undefined;
      const res = arguments[1] as Res | undefined;
      if (core === undefined || !core.active() || !req || !res || typeof arguments[2] !== 'function') return Reflect.apply(original, this, arguments);
      const tx = requestTransaction(core, req, res);
      if (!tx) return Reflect.apply(original, this, arguments);
      setFramework(tx, 'express', frameworkVersion());
      if (mountPath !== undefined) (req[MOUNT] ??= []).push(mountPath);
      const args = Array.prototype.slice.call(arguments);
      args[2] = wrapNext(req, args[2], mountPath !== undefined);
      return runHandler(core, tx, original, this, args);
    };
    // A mounted router stays inspectable (router.stack, router.handle) through the wrapper.
    if (isRouterLike(original)) {
      try {
        Object.setPrototypeOf(wrapper, original);
      } catch {
        // ignore
      }
    }
    return wrapper;
  }
  return function (this: unknown) {
    const core = installed;
    const req = arguments[0] as Req | undefined;
    const res = arguments[1] as Res | undefined;
    if (core === undefined || !core.active() || !req || !res) return Reflect.apply(original, this, arguments);
    const tx = requestTransaction(core, req, res);
    if (!tx) return Reflect.apply(original, this, arguments);
    setFramework(tx, 'express', frameworkVersion());
    const method = req.method ?? site.method ?? 'GET';
    const route = expressRouteName(req);
    if (route !== undefined) setName(tx, `${method} ${route}`, true);
    else if (template !== undefined) setName(tx, `${method} ${joinPaths([...(req[MOUNT] ?? []), template])}`, true);
    const args = Array.prototype.slice.call(arguments);
    if (args.length >= 3) args[2] = wrapNext(req, args[2], false);
    return runHandler(core, tx, original, this, args);
  };
}

// Fastify: hooks added to each instance when it is created (fastify.initialization).
interface FastifyRequestLike {
  raw?: Req;
  method?: string;
  body?: unknown;
  routeOptions?: { url?: unknown };
}
interface FastifyLike {
  server?: unknown;
  version?: unknown;
  addHook?(name: string, fn: (...a: any[]) => unknown): unknown;
}

function fastifyHooks(fastify: FastifyLike | undefined): void {
  if (!fastify || typeof fastify.addHook !== 'function') return;
  // Once per instance, however many copies of the runtime are loaded.
  const mark = fastify as unknown as Record<symbol, unknown>;
  if (mark[HOOKED]) return;
  mark[HOOKED] = true;
  const version = typeof fastify.version === 'string' ? fastify.version : undefined;
  fastify.addHook('onRequest', function spanforgeOnRequest(request: FastifyRequestLike, _reply: unknown, done: () => void) {
    try {
      const tx = request?.raw?.[TX] as RequestTx | undefined;
      if (tx) {
        setFramework(tx, 'fastify', version);
        const url = request.routeOptions?.url;
        const method = request.method ?? request.raw?.method ?? 'GET';
        // routeOptions.url includes register() prefixes; it is undefined for the not-found handler.
        if (typeof url === 'string') setName(tx, `${method} ${url}`, true);
      }
    } catch {
      // never into the app
    }
    done();
  });
  fastify.addHook('onError', function spanforgeOnError(request: FastifyRequestLike, _reply: unknown, error: unknown, done: () => void) {
    try {
      const core = installed;
      const tx = request?.raw?.[TX];
      // Reached Fastify's error handling: the app's code did not catch it (schema validation and
      // thrown HTTP errors included, as elastic-apm-node reports them).
      if (core !== undefined && tx) report(core, error, tx, false);
    } catch {
      // never into the app
    }
    done();
  });
}

/**
 * Wraps a route handler (or an array of them) registered at a site: the request's transaction (started at
 * arrival) is named from the route and made current while the handler runs. `length`, `name` and `this`
 * are kept (Express tells error middleware apart by `length === 4`). At use() sites, plain middleware is
 * run in the transaction's context and a mount path (`app.use('/users', router)`) names the requests it
 * answers; routers used without a path and sub-applications are returned untouched.
 * @example app.get("/users/:id", __spanforge.route(__spanforge_sites[1], handler))
 */
export function route<T>(site: Site, handler: T): T {
  if (Array.isArray(handler)) return handler.map((h) => route(site, h)) as T;
  if (typeof handler !== 'function' || site.off) return handler;
  const original = handler as unknown as (...a: unknown[]) => unknown;
  if ((original as unknown as Record<symbol, unknown>)[WRAPPED]) return handler;
  let wrapper: ((...a: any[]) => unknown) | undefined;
  switch (site.handler) {
    case 'express': {
      wrapper = expressWrapper(site, original);
      if (wrapper === undefined) return handler;
      break;
    }
    case 'fastify': {
      const template = site.name ?? undefined;
      wrapper = function (this: unknown, request: FastifyRequestLike, reply: { raw?: Res }) {
        const core = installed;
        const req = request?.raw;
        const res = reply?.raw;
        if (core === undefined || !core.active() || !req || !res) return Reflect.apply(original, this, arguments);
        const tx = requestTransaction(core, req, res, request.body) as RequestTx | undefined;
        if (!tx) return Reflect.apply(original, this, arguments);
        setFramework(tx, 'fastify', typeof (this as FastifyLike | undefined)?.version === 'string' ? ((this as FastifyLike).version as string) : undefined);
        // routeOptions.url includes any register() prefix, which build time cannot see.
        const url = request.routeOptions?.url;
        const name = typeof url === 'string' ? url : template;
        if (name !== undefined) setName(tx, `${req.method ?? site.method ?? 'GET'} ${name}`, true);
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
    default: {
      // Handlers of an integration unit (Koa's middleware, BullMQ's Worker processor): runtime/integration-wrappers.ts;
      // undefined from the wrapper: leave this one as it is (a nested @koa/router router).
      const w = WRAPPERS[site.handler];
      if (w === undefined) return handler;
      wrapper = w(site, original, () => installed);
      if (wrapper === undefined) return handler;
      break;
    }
  }
  return sameShape(wrapper, original) as unknown as T;
}

/** Site handler name → what an iterated value is, flattened once from every integration's `loops`. */
const LOOPS: Record<string, LoopDelivery> = Object.create(null);
for (const unit of Object.values(integrationLoops) as Array<Record<string, LoopDelivery>>) {
  for (const name of Object.keys(unit)) LOOPS[name] = unit[name]!;
}

const NO_ITERATION: LoopIteration = { fail: (err: unknown) => err, end: () => {} };

/**
 * One iteration of a `for await` consumer loop: the body, rewritten by the front-ends, runs as
 * `const it = loop(site, value); try { body } catch (e) { throw it.fail(e); } finally { it.end(); }`,
 * so each iteration is the integration's transaction (nats: `NATS RECEIVE from <subject>`), current in
 * the body; break, continue, return, labels and await keep their meaning. Never throws.
 * @example for await (const m of sub) { const __spanforge_it = __spanforge.loop(__spanforge_sites[3], m); try { … } catch (__spanforge_e) { throw __spanforge_it.fail(__spanforge_e); } finally { __spanforge_it.end(); } }
 */
export function loop(site: Site, value: unknown): LoopIteration {
  const core = installed;
  if (core === undefined || site.off || !core.active()) return NO_ITERATION;
  const h = LOOPS[site.handler];
  if (h === undefined) return NO_ITERATION;
  try {
    const d = h(core, site, value);
    return (d && consumeIteration(core, d)) || NO_ITERATION;
  } catch {
    return NO_ITERATION;
  }
}

// ---------------------------------------------------------------------------------------------
// Traced bodies and functions

/**
 * Runs a decorated method's body inside a span (or a `background` transaction when none is active).
 * The body is an arrow function, so `this`, `arguments` and `super` are the method's own.
 * @example m(a) { return __spanforge.trace(__spanforge_sites[2], () => { return a * 2; }); }
 */
export function trace<R>(site: Site, body: () => R, args?: ArrayLike<unknown>): R {
  const core = installed;
  if (core === undefined || site.off || !core.active()) return body();
  // File-convention handlers (Next.js route handlers, server actions, proxy): the integration's wrapper
  // sees the function's arguments (`args`) and runs the body.
  if (site.handler !== 'traced') {
    const w = WRAPPERS[site.handler];
    if (w !== undefined) {
      let wrapped: ((...a: unknown[]) => unknown) | undefined;
      try {
        wrapped = w(site, body as () => unknown, () => installed);
      } catch {
        wrapped = undefined;
      }
      if (wrapped === undefined) return body();
      return Reflect.apply(wrapped, undefined, args ?? EMPTY) as R;
    }
  }
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
        reportLater(core, v, h);
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

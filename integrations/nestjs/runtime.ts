// NestJS run-time handler. Every matched call (integrations/nestjs/rules.ts) runs as written; what it
// returns or receives is wrapped:
// - `@Controller(path)` returns a class decorator that also records the controller's path;
// - `@Get(path)` (and the other route decorators) return a method decorator that, after Nest's own,
//   replaces the method by a wrapper carrying the same reflect-metadata (Nest reads its route, guards,
//   pipes… from the function it finds on the prototype). Each call of the wrapper names the request
//   transaction `GET /<global prefix>/<controller path>/<route path>` and runs the method in an
//   app/nestjs span `UsersController.findOne`;
// - `@UseGuards/@UseInterceptors/@UsePipes/@UseFilters(...)`, the pipes of `@Param/@Body/@Query`,
//   `app.useGlobal*(...)`, the APP_* providers of `@Module` and `@Catch()` classes: the guard's
//   `canActivate`, interceptor's `intercept`, pipe's `transform`, filter's `catch` are wrapped once on
//   the prototype that declares them (a span each, named by the instance's class);
// - `app.setGlobalPrefix(prefix)` records the prefix.
// Nest answers every exception itself (its exceptions handler, then the filters): an error thrown in a
// span is kept undecided until the turn ends; an app filter's `catch` reports it `handled: true`,
// otherwise it reached Nest's built-in handler and is reported `handled: false`. The status and result
// (`HTTP 4xx` for an HttpException, 500 for anything else) come from the response, as for any request.
// The request transaction is the one node:http's arrival channel started; this unit asks the ABI to
// make it the current context for the whole request (pipes and services run outside any wrapper of ours).
import { endSpan, holdProvisional, provisional, report, reported, settle, startSpan, type AbiCore, type CallHandler, type Site, type Span } from '../../runtime/abi-kit.js';

/** runtime/abi.ts: when set, the request transaction started at arrival is entered (current for everything the request runs). */
const BIND_ARRIVAL = Symbol.for('spanforge.request.bindArrival');
const WRAPPED = Symbol.for('spanforge.wrapped');
/** On a wrapped controller method: its route as its decorator gave it. */
const ROUTE = Symbol.for('spanforge.nestjs.route');

type Fn = (...a: unknown[]) => unknown;
type Tx = NonNullable<ReturnType<AbiCore['currentTransaction']>>;

interface RouteInfo {
  /** `GET`, or '' for `@All()` (the request's method). */
  verb: string;
  /** The route decorator's path, normalised; null when it is not one string (an array: left to the runtime route). */
  path: string | null;
}

const PROVIDER_METHOD: Record<string, string> = { APP_GUARD: 'canActivate', APP_INTERCEPTOR: 'intercept', APP_PIPE: 'transform', APP_FILTER: 'catch' };

/** Controller class → its path (normalised); null when it is not one string. */
const controllers = new WeakMap<object, string | null>();
let globalPrefix = '';
/** Transactions this unit named (named once per request). */
const named = new WeakSet<object>();
/** Errors waiting for the end of the turn: taken by an app filter (handled) or by Nest's own handler. */
const pending = new WeakSet<object>();

function bindArrival(): void {
  (globalThis as Record<symbol, unknown>)[BIND_ARRIVAL] = true;
}

function sameShape(wrapper: Fn, original: Fn): Fn {
  try {
    Object.defineProperty(wrapper, 'length', { value: original.length });
    Object.defineProperty(wrapper, 'name', { value: original.name });
    Object.defineProperty(wrapper, WRAPPED, { value: original });
  } catch {
    // ignore
  }
  return wrapper;
}

/** Nest's path normalisation: one leading slash, no trailing one, '' for none. */
function normalise(p: string): string {
  const parts = p.split('/').filter((s) => s !== '');
  return parts.length === 0 ? '' : '/' + parts.join('/');
}
function onePath(v: unknown): string | null {
  if (v === undefined) return '';
  if (typeof v === 'string') return normalise(v);
  return null;
}

function className(thisArg: unknown): string {
  try {
    const c = (thisArg as { constructor?: { name?: unknown } } | null)?.constructor;
    const n = c?.name;
    return typeof n === 'string' && n ? n : 'anonymous';
  } catch {
    return 'anonymous';
  }
}

/** Names the current request transaction from a controller method's route (once per request). */
function nameTransaction(core: AbiCore, route: RouteInfo | undefined, controller: unknown): void {
  try {
    if (!route || route.path === null) return;
    const tx = core.currentTransaction() as Tx | undefined;
    if (!tx || tx.type !== 'request' || named.has(tx)) return;
    const base = controller !== null && (typeof controller === 'function' || typeof controller === 'object') ? controllers.get(controller as object) : undefined;
    if (base === undefined || base === null) return; // not a controller we saw: the runtime route names it
    const method = route.verb || String(tx.name).split(' ')[0] || 'GET';
    tx.name = `${method} ${globalPrefix + base + route.path || '/'}`;
    named.add(tx);
  } catch {
    // ignore
  }
}

/**
 * An error that failed one of our spans: kept undecided (not the toolkit's next-turn `handled: true`)
 * until the end of the turn. Nest runs the filters within the promise reactions of the failure, so by
 * then an app filter has reported it handled; otherwise Nest's own handler answered it.
 */
function failed(core: AbiCore, span: Span, err: unknown): void {
  endSpan(core, span, true, err);
  if (err === null || typeof err !== 'object' || reported.has(err) || pending.has(err)) return;
  holdProvisional(err);
  pending.add(err);
  try {
    setImmediate(() => {
      pending.delete(err);
      if (provisional.has(err)) report(core, err, undefined, false);
    });
  } catch {
    report(core, err, undefined, false);
  }
}

function runInSpan(core: AbiCore, span: Span, thisArg: unknown, fn: Fn, args: ArrayLike<unknown>): unknown {
  let result: unknown;
  try {
    result = Reflect.apply(fn, thisArg, args);
  } catch (err) {
    failed(core, span, err);
    throw err;
  }
  return settle(result, (bad, v) => {
    if (bad) failed(core, span, v);
    else endSpan(core, span, false, undefined);
  });
}

/** A span `<Class>.<method>` around fn, in the request's context. */
function spanned(core: AbiCore, site: Site, thisArg: unknown, fn: Fn, method: string, args: ArrayLike<unknown>): unknown {
  const span = startSpan(core, site, `${className(thisArg)}.${method}`, false);
  if (!span) return Reflect.apply(fn, thisArg, args);
  return core.runWith(span, runInSpan, undefined, [core, span, thisArg, fn, args]);
}

/** reflect-metadata's own keys of `from` onto `to` (Nest reads routes, guards, pipes… from the method). */
function copyMetadata(from: object, to: object): void {
  const R = Reflect as unknown as {
    getOwnMetadataKeys?(t: object): unknown[];
    getOwnMetadata?(k: unknown, t: object): unknown;
    defineMetadata?(k: unknown, v: unknown, t: object): void;
  };
  if (typeof R.getOwnMetadataKeys !== 'function' || typeof R.getOwnMetadata !== 'function' || typeof R.defineMetadata !== 'function') return;
  for (const k of R.getOwnMetadataKeys(from)) R.defineMetadata(k, R.getOwnMetadata(k, from), to);
}

function wrapMethod(core: AbiCore, site: Site, original: Fn, route: RouteInfo, key: string): Fn {
  const wrapper = sameShape(function (this: unknown) {
    if (!core.active()) return Reflect.apply(original, this, arguments);
    nameTransaction(core, route, (this as { constructor?: unknown } | null)?.constructor);
    return spanned(core, site, this, original, key, arguments);
  }, original);
  try {
    Object.defineProperty(wrapper, ROUTE, { value: route });
  } catch {
    // ignore
  }
  return wrapper;
}

/** The method decorator of `@Get(path)`: Nest's, then the method replaced by its wrapper. */
function routeDecorator(core: AbiCore, site: Site, decorator: Fn, path: string | null): Fn {
  return sameShape(function (this: unknown, target: unknown, key: unknown, descriptor: unknown) {
    const result = Reflect.apply(decorator, this, arguments) as PropertyDescriptor | undefined;
    try {
      const d = (result ?? descriptor) as PropertyDescriptor | undefined;
      const original = d?.value as Fn | undefined;
      if (d && typeof original === 'function' && !(original as unknown as Record<symbol, unknown>)[WRAPPED] && (typeof key === 'string' || typeof key === 'symbol')) {
        const m = readMetadata('method', original);
        const verb = typeof m === 'number' ? REQUEST_METHODS[m] : undefined;
        const route: RouteInfo = { verb: verb ?? '', path: verb === undefined ? null : path };
        const wrapper = wrapMethod(core, site, original, route, String(key));
        copyMetadata(original, wrapper);
        d.value = wrapper;
        return d;
      }
    } catch {
      // leave Nest's result as it is
    }
    return result;
  }, decorator);
}

/** Wraps `method` once on the prototype (of a class, or of an instance) that declares it. */
function wrapRole(core: AbiCore, site: Site, enhancer: unknown, method: string): void {
  try {
    let proto: unknown = typeof enhancer === 'function' ? (enhancer as { prototype?: unknown }).prototype : enhancer !== null && typeof enhancer === 'object' ? Object.getPrototypeOf(enhancer) : undefined;
    while (proto !== null && typeof proto === 'object' && proto !== Object.prototype) {
      const own = Object.getOwnPropertyDescriptor(proto, method);
      if (own) {
        const original = own.value as Fn | undefined;
        if (typeof original !== 'function' || (original as unknown as Record<symbol, unknown>)[WRAPPED] || !own.writable) return;
        const wrapper = method === 'catch' ? filterWrapper(core, site, original) : enhancerWrapper(core, site, original, method);
        Object.defineProperty(proto, method, { ...own, value: wrapper });
        return;
      }
      proto = Object.getPrototypeOf(proto);
    }
  } catch {
    // not wrapped: no span
  }
}

function enhancerWrapper(core: AbiCore, site: Site, original: Fn, method: string): Fn {
  return sameShape(function (this: unknown) {
    if (!core.active()) return Reflect.apply(original, this, arguments);
    if (method !== 'transform') {
      // canActivate(context) / intercept(context, next): the context knows the controller method.
      try {
        const ctx = arguments[0] as { getHandler?(): unknown; getClass?(): unknown } | undefined;
        const handler = ctx?.getHandler?.() as Record<symbol, unknown> | undefined;
        if (handler && typeof handler === 'function') nameTransaction(core, handler[ROUTE] as RouteInfo | undefined, ctx?.getClass?.());
      } catch {
        // ignore
      }
    }
    return spanned(core, site, this, original, method, arguments);
  }, original);
}

/** An app exception filter's `catch(exception, host)`: the exception was taken by the app. */
function filterWrapper(core: AbiCore, site: Site, original: Fn): Fn {
  return sameShape(function (this: unknown, exception: unknown) {
    if (!core.active()) return Reflect.apply(original, this, arguments);
    try {
      if (exception !== null && typeof exception === 'object') pending.delete(exception);
      report(core, exception, core.currentTransaction(), true);
    } catch {
      // ignore
    }
    return spanned(core, site, this, original, 'catch', arguments);
  }, original);
}

/** `@Controller(path)`: records the path on the class the decorator is applied to. */
function controllerDecorator(decorator: Fn, path: string | null): Fn {
  return sameShape(function (this: unknown, target: unknown) {
    try {
      if (typeof target === 'function') controllers.set(target, path);
    } catch {
      // ignore
    }
    return Reflect.apply(decorator, this, arguments);
  }, decorator);
}

/** `@Catch()`: the filter class's `catch` is wrapped when the decorator is applied. */
function catchDecorator(core: AbiCore, site: Site, decorator: Fn): Fn {
  return sameShape(function (this: unknown, target: unknown) {
    wrapRole(core, site, target, 'catch');
    return Reflect.apply(decorator, this, arguments);
  }, decorator);
}

function controllerPath(arg: unknown): string | null {
  if (arg === undefined || typeof arg === 'string') return onePath(arg);
  if (arg !== null && typeof arg === 'object' && !Array.isArray(arg)) {
    const o = arg as { path?: unknown; version?: unknown };
    if (o.version !== undefined) return null; // versioned: the runtime route has the version
    return onePath(o.path);
  }
  return null;
}

/** The HTTP verb of a method Nest's route decorator marked (reflect-metadata `method`: Nest's RequestMethod enum). */
const REQUEST_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', '', 'OPTIONS', 'HEAD', 'SEARCH', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'QUERY'];

function readMetadata(key: string, target: unknown): unknown {
  const R = Reflect as unknown as { getMetadata?(k: unknown, t: object): unknown };
  return typeof R.getMetadata === 'function' && target !== null && (typeof target === 'object' || typeof target === 'function') ? R.getMetadata(key, target) : undefined;
}

/** Passes the call through (never throwing what it did not throw) after `before`, then hands the result to `after`. */
function through(fn: Fn, thisArg: unknown, args: unknown[], before?: () => void, after?: (result: Fn) => unknown): unknown {
  try {
    bindArrival();
    before?.();
  } catch {
    // instrumentation only
  }
  const result = Reflect.apply(fn, thisArg, args);
  if (after === undefined || typeof result !== 'function') return result;
  try {
    return after(result as Fn);
  } catch {
    return result;
  }
}

function roleHandler(method: string): CallHandler {
  return (core, site, thisArg, fn, args) =>
    through(fn, thisArg, args, () => {
      for (const a of args) if (typeof a === 'function' || (a !== null && typeof a === 'object')) wrapRole(core, site, a, method);
    });
}

const APP_METHOD: Record<string, string> = { useGlobalGuards: 'canActivate', useGlobalInterceptors: 'intercept', useGlobalPipes: 'transform', useGlobalFilters: 'catch' };

/** Handlers by name, each the `handler` of a rule in rules.ts. */
export const handlers: Record<string, CallHandler> = {
  'nestjs-controller': (_core, _site, thisArg, fn, args) => through(fn, thisArg, args, undefined, (d) => controllerDecorator(d, controllerPath(args[0]))),
  'nestjs-route': (core, site, thisArg, fn, args) => through(fn, thisArg, args, undefined, (d) => routeDecorator(core, site, d, onePath(args[0]))),
  'nestjs-guard': roleHandler('canActivate'),
  'nestjs-interceptor': roleHandler('intercept'),
  'nestjs-pipe': roleHandler('transform'),
  'nestjs-filter': roleHandler('catch'),
  'nestjs-catch': (core, site, thisArg, fn, args) => through(fn, thisArg, args, undefined, (d) => catchDecorator(core, site, d)),
  'nestjs-module': (core, site, thisArg, fn, args) =>
    through(fn, thisArg, args, () => {
      const providers = (args[0] as { providers?: unknown } | undefined)?.providers;
      if (!Array.isArray(providers)) return;
      for (const p of providers) {
        const m = PROVIDER_METHOD[String((p as { provide?: unknown } | null)?.provide)];
        if (m === undefined) continue;
        const q = p as { useClass?: unknown; useValue?: unknown };
        wrapRole(core, site, q.useClass ?? q.useValue, m);
      }
    }),
  'nestjs-app': (core, site, thisArg, fn, args) =>
    through(fn, thisArg, args, () => {
      const member = site.name ?? '';
      if (member === 'setGlobalPrefix') {
        if (typeof args[0] === 'string') globalPrefix = normalise(args[0]);
        return;
      }
      const method = APP_METHOD[member];
      if (method !== undefined) for (const a of args) if (a !== null && (typeof a === 'object' || typeof a === 'function')) wrapRole(core, site, a, method);
    }),
};

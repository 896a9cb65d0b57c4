// Hono run-time handler. A registration call (`app.get(path, ...handlers)`, `use`, `on`, `onError`,
// `route`) is passed through with its function arguments wrapped, and the app's own `fetch` property is
// wrapped once per instance. fetch(request, env, ctx) is where every runtime enters a Hono app (Bun,
// Deno and workerd call it directly, @hono/node-server from its node:http listener): it starts the
// request transaction from the Request (incoming traceparent from request.headers), or, on Node, takes
// the one node:http's arrival channel started for env.incoming; runs the dispatch in its context; and
// ends it with the Response's status, handing the agent's flush to ctx.waitUntil when there is one
// (workerd), so the events leave before the worker's request is over. Route handlers name the
// transaction from Hono's own matched path (`c.req.routePath`: basePath and route() prefixes included)
// and note what they throw; a user onError handler marks it handled, Hono's default handler does not.
import { report, settle, type AbiCore, type CallHandler } from '../../runtime/abi-kit.js';

/** The node:http request's transaction (runtime/abi.ts puts it there at arrival). */
const TX = Symbol.for('spanforge.request.transaction');
const WRAPPED = Symbol.for('spanforge.wrapped');

type Tx = NonNullable<ReturnType<AbiCore['currentTransaction']>> & {
  setFramework?(name: string, version?: string): void;
  nameUnmatched?(method: string): void;
};

interface RequestState {
  tx: Tx;
  /** What a wrapped handler threw and no user onError has taken yet. */
  err?: unknown;
  /** The name this handler gave the transaction (a different current name was set by the app and is kept). */
  named?: string;
}

/** Per incoming Request (Hono's `c.req.raw` is the object fetch received). */
const states = new WeakMap<object, RequestState>();

interface RequestLike {
  method?: string;
  url?: string;
  headers?: { get?(name: string): string | null; forEach?(f: (v: string, k: string) => void): void };
}
interface ContextLike {
  req?: { raw?: object; method?: string; routePath?: string };
}
type Fn = (...a: unknown[]) => unknown;

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

function stateOf(c: unknown): RequestState | undefined {
  const raw = (c as ContextLike | undefined)?.req?.raw;
  return raw !== null && typeof raw === 'object' ? states.get(raw) : undefined;
}

function rename(st: RequestState, name: string): void {
  try {
    if (st.named !== undefined && st.tx.name !== st.named) return; // renamed by the app
    st.tx.name = name;
    st.named = st.tx.name;
  } catch {
    // ignore
  }
}

/** A route handler or middleware: names the transaction (route handlers only) and notes what it throws. */
function wrapHandler(core: AbiCore, original: Fn, middleware: boolean): Fn {
  if ((original as unknown as Record<symbol, unknown>)[WRAPPED]) return original;
  return sameShape(function (this: unknown, c: unknown) {
    const st = core.active() ? stateOf(c) : undefined;
    if (st === undefined) return Reflect.apply(original, this, arguments);
    if (!middleware) {
      try {
        const req = (c as ContextLike).req!;
        const path = req.routePath;
        if (typeof path === 'string' && path) rename(st, `${req.method ?? 'GET'} ${path}`);
      } catch {
        // ignore
      }
    }
    let result: unknown;
    try {
      result = Reflect.apply(original, this, arguments);
    } catch (err) {
      st.err = err;
      throw err;
    }
    return settle(result, (failed, v) => {
      if (failed) st.err = v;
    });
  }, original);
}

/** The app's onError handler: the error it is given was taken by the app (handled). */
function wrapErrorHandler(core: AbiCore, original: Fn): Fn {
  if ((original as unknown as Record<symbol, unknown>)[WRAPPED]) return original;
  return sameShape(function (this: unknown, err: unknown, c: unknown) {
    const st = core.active() ? stateOf(c) : undefined;
    if (st !== undefined) {
      if (st.err === err) st.err = undefined;
      report(core, err, st.tx, true);
    }
    return Reflect.apply(original, this, arguments);
  }, original);
}

function headerObject(req: RequestLike, url: URL | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    req.headers?.forEach?.((v, k) => {
      out[k] = v;
    });
  } catch {
    // ignore
  }
  if (out.host === undefined && url) out.host = url.host;
  return out;
}

/** Ends what fetch started: status from the Response, errors Hono's default handler answered, flush for workerd. */
function finish(core: AbiCore, st: RequestState, own: boolean, failed: boolean, value: unknown, ctx: unknown): void {
  try {
    const tx = st.tx;
    if (st.err !== undefined) {
      report(core, st.err, tx, false);
      st.err = undefined;
    }
    if (failed) report(core, value, tx, false);
    if (!own) return; // node:http ends it with the status it wrote
    const res = value as { status?: unknown; headers?: { forEach?(f: (v: string, k: string) => void): void } } | undefined;
    if (!failed && res && typeof res.status === 'number') {
      const headers: Record<string, string> = {};
      try {
        res.headers?.forEach?.((v, k) => {
          headers[k] = v;
        });
      } catch {
        // ignore
      }
      tx.setResponseContext({ statusCode: res.status, headers });
    } else if (failed) {
      tx.setResult('HTTP 5xx');
      tx.setOutcome('failure');
    }
    tx.end();
    const waitUntil = (ctx as { waitUntil?: unknown } | undefined)?.waitUntil;
    if (typeof waitUntil === 'function' && typeof core.flush === 'function') {
      Reflect.apply(waitUntil, ctx, [core.flush()]);
    }
  } catch {
    // never into the app
  }
}

/** The app instance's fetch, wrapped once: the request transaction around Hono's dispatch. */
function wrapFetch(core: AbiCore, app: unknown): void {
  const a = app as { fetch?: unknown } | null;
  if (a === null || typeof a !== 'object') return;
  const original = a.fetch as Fn | undefined;
  if (typeof original !== 'function' || (original as unknown as Record<symbol, unknown>)[WRAPPED]) return;
  const wrapper = sameShape(function (this: unknown, request: unknown, env: unknown, ctx: unknown) {
    if (!core.active() || request === null || typeof request !== 'object' || states.has(request)) return Reflect.apply(original, this, arguments);
    let st: RequestState;
    let own = false;
    try {
      const r = request as RequestLike;
      const method = String(r.method ?? 'GET').toUpperCase();
      const nodeTx = (env as { incoming?: Record<symbol, unknown> } | undefined)?.incoming?.[TX] as Tx | undefined;
      let tx: Tx;
      if (nodeTx !== undefined && !nodeTx.ended) tx = nodeTx; // @hono/node-server: node:http started it
      else {
        const tp = r.headers?.get?.('traceparent');
        const ts = r.headers?.get?.('tracestate');
        tx = core.startTransaction(`${method} unknown route`, 'request', {
          ...(typeof tp === 'string' ? { childOf: tp } : {}),
          ...(typeof ts === 'string' ? { tracestate: ts } : {}),
        }) as Tx;
        own = true;
        let url: URL | undefined;
        try {
          url = new URL(String(r.url));
        } catch {
          // keep undefined
        }
        tx.setRequestContext({
          method,
          url: url ? url.pathname + url.search : '/',
          headers: headerObject(r, url),
          socket: { encrypted: url?.protocol === 'https:' },
        });
        if (typeof tx.nameUnmatched === 'function') tx.nameUnmatched(method);
      }
      tx.setFramework?.('hono');
      st = { tx, named: tx.name };
      states.set(request, st);
    } catch {
      return Reflect.apply(original, this, arguments);
    }
    let result: unknown;
    try {
      result = core.runWith(st.tx, original, this, arguments);
    } catch (err) {
      finish(core, st, own, true, err, ctx);
      throw err;
    }
    return settle(result, (failed, v) => finish(core, st, own, failed, v, ctx));
  }, original);
  try {
    a.fetch = wrapper;
  } catch {
    // a frozen app: requests are not traced
  }
}

/** Handlers by name; the rule (integrations/hono/rules.ts) emits `handler: 'hono'` with the member's name. */
export const handlers: Record<string, CallHandler> = {
  hono(core, site, thisArg, fn, args) {
    let copy: unknown[] = args;
    try {
      wrapFetch(core, thisArg);
      const member = site.name;
      if (member === 'onError') {
        if (typeof args[0] === 'function') copy = [wrapErrorHandler(core, args[0] as Fn), ...args.slice(1)];
      } else if (member !== 'route') {
        const middleware = member === 'use';
        copy = args.map((a) => (typeof a === 'function' ? wrapHandler(core, a as Fn, middleware) : a));
      }
    } catch {
      copy = args;
    }
    return Reflect.apply(fn, thisArg, copy);
  },
};

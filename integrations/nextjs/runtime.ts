// Next.js (App Router) at run time, in the Node.js server runtime. Next's own server code is not
// instrumented (it is in node_modules), so a request's transaction is the one node:http's arrival
// channel started (runtime/abi.ts), made current for the request by `spanforge/next`'s register():
// a route handler names it by its file route (`GET /api/users/[id]`) and reports what the handler
// throws; a server action is an `app`/`nextjs`/`action` span (and names a transaction nothing else
// named `action <name>`); the proxy is an `app`/`nextjs`/`proxy` span. Without an arrival transaction
// (the agent started without register(), or a Request not from node:http) a route handler starts its
// own transaction from the Web `Request`: its traceparent, method, URL and headers, ended with the
// returned `Response`'s status. Never throws into the app; the handler's value and throws are its own.
import type { AbiCore, Holder } from '../../runtime/abi-core.js';
import { endSpan, report, settle, startSpan, type Site } from '../../runtime/abi-kit.js';
import type { HandlerWrapper } from '../../runtime/messaging.js';
import type { Transaction } from '../../runtime/types.js';

const FRAMEWORK = 'Next.js';

interface RequestTx extends Transaction {
  setFramework?(name: string, version?: string): void;
}

interface WebRequestLike {
  method?: unknown;
  url?: unknown;
  headers?: { get?(name: string): string | null; forEach?(cb: (value: string, key: string) => void): void };
}

function isWebRequest(v: unknown): v is WebRequestLike {
  return v !== null && typeof v === 'object' && typeof (v as WebRequestLike).headers?.get === 'function';
}

function methodOf(req: unknown, fallback: string): string {
  try {
    const m = isWebRequest(req) ? req.method : undefined;
    return typeof m === 'string' && m ? m.toUpperCase() : fallback;
  } catch {
    return fallback;
  }
}

function setFramework(tx: RequestTx): void {
  try {
    if (typeof tx.setFramework === 'function') tx.setFramework(FRAMEWORK);
  } catch {
    // ignore
  }
}

/** The current request transaction (the arrival one), if any is current and still open. */
function currentRequest(core: AbiCore): RequestTx | undefined {
  try {
    const tx = core.currentTransaction() as RequestTx | undefined;
    return tx && !tx.ended && tx.type === 'request' ? tx : undefined;
  } catch {
    return undefined;
  }
}

/** Runs fn with holder current; what fn throws or rejects with is reported on `tx` (unhandled: Next turns it into a 500). */
function runReporting(core: AbiCore, holder: Holder, tx: Transaction, fn: (...a: unknown[]) => unknown, thisArg: unknown, args: ArrayLike<unknown>, done?: (failed: boolean, v: unknown) => void): unknown {
  let result: unknown;
  try {
    result = core.runWith(holder, fn, thisArg, args);
  } catch (err) {
    report(core, err, holder, false);
    done?.(true, err);
    throw err;
  }
  return settle(result, (failed, v) => {
    if (failed) report(core, v, holder === tx ? tx : holder, false);
    done?.(failed, v);
  });
}

/** A route handler's own transaction, from the Web Request (no arrival transaction to name). */
function ownTransaction(core: AbiCore, name: string, method: string, req: unknown): RequestTx | undefined {
  try {
    const r = isWebRequest(req) ? req : undefined;
    const tp = r?.headers?.get?.('traceparent') ?? undefined;
    const ts = r?.headers?.get?.('tracestate') ?? undefined;
    const tx = core.startTransaction(name, 'request', {
      ...(tp ? { childOf: tp } : {}),
      ...(ts ? { tracestate: ts } : {}),
    }) as RequestTx;
    setFramework(tx);
    if (r) {
      const headers: Record<string, string> = {};
      r.headers?.forEach?.((v, k) => {
        headers[k] = v;
      });
      let url = '/';
      try {
        const u = new URL(String(r.url));
        url = u.pathname + u.search;
      } catch {
        // keep '/'
      }
      tx.setRequestContext({ method, url, headers });
    }
    return tx;
  } catch {
    return undefined;
  }
}

function finishOwn(tx: Transaction, failed: boolean, value: unknown): void {
  try {
    const status = failed ? 500 : typeof (value as { status?: unknown })?.status === 'number' ? ((value as { status: number }).status) : 200;
    tx.setResponseContext({ statusCode: status });
    tx.setResult(`HTTP ${Math.floor(status / 100)}xx`);
    tx.setOutcome(status >= 500 ? 'failure' : 'success');
    tx.end();
  } catch {
    // never into the app
  }
}

export const wrappers: Record<string, HandlerWrapper> = {
  /** `app/…/route.ts` `GET`/`POST`/…: called with (request, { params }). */
  'nextjs-route'(site: Site, handler, installed) {
    return function (this: unknown, request: unknown) {
      const core = installed();
      if (core === undefined || !core.active()) return Reflect.apply(handler, this, arguments);
      const method = methodOf(request, site.method ?? 'GET');
      const name = `${method} ${site.name ?? '/'}`;
      const tx = currentRequest(core);
      if (tx) {
        try {
          tx.name = name;
          setFramework(tx);
        } catch {
          // ignore
        }
        return runReporting(core, tx, tx, handler, this, arguments);
      }
      const own = ownTransaction(core, name, method, request);
      if (!own) return Reflect.apply(handler, this, arguments);
      return runReporting(core, own, own, handler, this, arguments, (failed, v) => finishOwn(own, failed, v));
    };
  },

  /** A server action, called by Next with the action's arguments (form data, bound values). */
  'nextjs-action'(site: Site, handler, installed) {
    return function (this: unknown) {
      const core = installed();
      if (core === undefined || !core.active()) return Reflect.apply(handler, this, arguments);
      const name = site.name ?? site.function;
      let tx: Transaction | undefined = currentRequest(core);
      let own = false;
      if (tx) {
        try {
          // The POST that invoked the action matched no route handler: the action names it.
          if (/ unknown route$/.test(tx.name)) tx.name = `action ${name}`;
          setFramework(tx as RequestTx);
        } catch {
          // ignore
        }
      } else if (!core.currentTransaction()) {
        try {
          tx = core.startTransaction(`action ${name}`, 'request');
          setFramework(tx as RequestTx);
          own = true;
        } catch {
          tx = undefined;
        }
      }
      const holderTx = tx;
      const span = startSpan(core, site, name, false);
      if (!span) {
        if (!holderTx) return Reflect.apply(handler, this, arguments);
        return runReporting(core, holderTx, holderTx, handler, this, arguments, own ? (f) => endOwnAction(holderTx, f) : undefined);
      }
      let result: unknown;
      try {
        result = core.runWith(span, handler, this, arguments);
      } catch (err) {
        report(core, err, span, false); // Next catches it and sends it to the client as the action's error
        endSpan(core, span, true, err);
        if (own && holderTx) endOwnAction(holderTx, true);
        throw err;
      }
      return settle(result, (failed, v) => {
        if (failed) report(core, v, span, false);
        endSpan(core, span, failed, v);
        if (own && holderTx) endOwnAction(holderTx, failed);
      });
    };
  },

  /** proxy.ts's `proxy(request)`: a span of the request's transaction. */
  'nextjs-proxy'(site: Site, handler, installed) {
    return function (this: unknown) {
      const core = installed();
      if (core === undefined || !core.active()) return Reflect.apply(handler, this, arguments);
      const tx = currentRequest(core);
      if (tx) setFramework(tx);
      const span = tx ? startSpan(core, site, 'proxy', false) : undefined;
      if (!span) return Reflect.apply(handler, this, arguments);
      let result: unknown;
      try {
        result = core.runWith(span, handler, this, arguments);
      } catch (err) {
        report(core, err, span, false);
        endSpan(core, span, true, err);
        throw err;
      }
      return settle(result, (failed, v) => {
        if (failed) report(core, v, span, false);
        endSpan(core, span, failed, v);
      });
    };
  },
};

function endOwnAction(tx: Transaction, failed: boolean): void {
  try {
    tx.setOutcome(failed ? 'failure' : 'success');
    tx.setResult(failed ? 'failure' : 'success');
    tx.end();
  } catch {
    // never into the app
  }
}

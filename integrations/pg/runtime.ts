// pg run-time handler: `db`/`postgresql`/`query` spans for Client/Pool/PoolClient query (promise,
// callback, query config, Submittable), with statement, database, user, destination and rows affected.
import { endSpan, inExitSpan, runCall, runCallbackCall, sqlSummary, startSpan, wrapCallback, type CallHandler } from '../../runtime/abi-kit.js';

/** Handlers by name; the rules (integrations/pg/rules.ts) emit `handler: 'pg'`. */
export const handlers: Record<string, CallHandler> = {
  pg(core, site, thisArg, fn, args) {
    const q = args[0] as { text?: unknown; submit?: unknown; callback?: unknown; on?: unknown } | string | undefined;
    const text = typeof q === 'string' ? q : q && typeof q.text === 'string' ? q.text : undefined;
    const span = startSpan(core, site, text === undefined ? 'SQL' : sqlSummary(text), true);
    if (!span) return Reflect.apply(fn, thisArg, args);
    fn = inExitSpan(core, span, fn); // the driver's inner query (a dependency rule) records nothing
    try {
      const t = (thisArg ?? {}) as { host?: string; port?: number | string; database?: string; user?: string; options?: Record<string, unknown> };
      const o = (t.options ?? t) as { host?: string; port?: number | string; database?: string; user?: string };
      const database = typeof o.database === 'string' ? o.database : undefined;
      span.setDbContext({ type: 'sql', ...(database ? { instance: database } : {}), ...(text !== undefined ? { statement: text } : {}), ...(typeof o.user === 'string' ? { user: o.user } : {}) });
      const port = Number(o.port ?? 5432);
      span.setDestination({
        address: typeof o.host === 'string' && !o.host.startsWith('/') ? o.host : 'localhost',
        ...(Number.isInteger(port) ? { port } : {}),
        serviceTargetType: 'postgresql',
        ...(database ? { serviceTargetName: database } : {}),
      });
    } catch {
      // context is best effort
    }
    const rows = (v: unknown) => {
      const n = (v as { rowCount?: unknown } | undefined)?.rowCount;
      if (typeof n === 'number') span.setDbContext({ rowsAffected: n });
    };
    const last = args.length - 1;
    if (last >= 1 && typeof args[last] === 'function') {
      const copy = args.slice();
      copy[last] = wrapCallback(core, span, args[last] as (...a: unknown[]) => unknown, rows);
      return runCallbackCall(core, span, thisArg, fn, copy);
    }
    if (q && typeof q === 'object' && typeof q.submit !== 'function' && typeof q.callback === 'function') {
      // query({ text, callback }): pass a copy, never mutate the user's config object.
      const copy = args.slice();
      copy[0] = { ...q, callback: wrapCallback(core, span, q.callback as (...a: unknown[]) => unknown, rows) };
      return runCallbackCall(core, span, thisArg, fn, copy);
    }
    if (q && typeof q === 'object' && typeof q.submit === 'function' && typeof q.on === 'function') {
      // A Submittable (Query, Cursor) is returned as is; the span ends with its 'end' event. No 'error'
      // listener is added: that would change what an unhandled 'error' event does.
      let result: unknown;
      try {
        result = Reflect.apply(fn, thisArg, args);
      } catch (err) {
        endSpan(core, span, true, err);
        throw err;
      }
      try {
        (q as unknown as { once(ev: string, f: () => void): void }).once('end', () => endSpan(core, span, false, undefined));
      } catch {
        // ignore
      }
      return result;
    }
    return runCall(core, span, thisArg, fn, args, rows);
  },
};

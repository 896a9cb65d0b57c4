// mysql / mysql2 run-time handler (one handler, `mysql`, for both libraries and both mysql2 APIs):
// a `db`/`mysql`/`query` exit span named `SELECT users`, with the statement, database (db.instance),
// user, rows affected and destination / service target `mysql`. The span ends in the callback
// (callback API), when the promise settles (mysql2/promise), or on the returned Query's 'end' event.
import { endSpan, inExitSpan, runCall, runCallbackCall, sqlSummary, startSpan, wrapCallback, type AbiCore, type CallHandler, type Span } from '../../runtime/abi-kit.js';

interface MysqlConfig {
  host?: unknown;
  port?: unknown;
  socketPath?: unknown;
  user?: unknown;
  database?: unknown;
}

/** Connection settings of a connection, pool or pool connection, callback or promise wrapper. */
function configOf(t: unknown): MysqlConfig | undefined {
  const o = t as { config?: { connectionConfig?: MysqlConfig } & MysqlConfig; connection?: { config?: MysqlConfig }; pool?: { config?: { connectionConfig?: MysqlConfig } } } | null | undefined;
  if (!o || typeof o !== 'object') return undefined;
  return o.config?.connectionConfig ?? o.config ?? o.connection?.config ?? o.pool?.config?.connectionConfig;
}

/** Rows a result reports: `affectedRows` of a write, the row count of a SELECT. */
function rowsOf(r: unknown): number | undefined {
  if (Array.isArray(r)) return r.length;
  const n = (r as { affectedRows?: unknown } | null | undefined)?.affectedRows;
  return typeof n === 'number' ? n : undefined;
}

/** Ends the span with a returned Query emitter: on 'end' (emitted after 'error' too), failed when 'error' came first. */
function trackQuery(core: AbiCore, span: Span, q: { on(ev: string, f: (...a: unknown[]) => void): unknown; once(ev: string, f: () => void): unknown; listenerCount?(ev: string): number }): void {
  let failure: unknown;
  let failed = false;
  q.on('error', function onError(this: { listenerCount?(ev: string): number }, err: unknown) {
    failed = true;
    failure = err;
    // Alone, this listener must not swallow the error: emitting 'error' with no other listener throws it.
    if (typeof this.listenerCount === 'function' && this.listenerCount('error') === 1) {
      endSpan(core, span, true, err);
      throw err;
    }
  });
  q.once('end', () => endSpan(core, span, failed, failure));
}

export const handlers: Record<string, CallHandler> = {
  mysql(core, site, thisArg, fn, args) {
    const a0 = args[0] as string | { sql?: unknown } | undefined;
    const text = typeof a0 === 'string' ? a0 : a0 && typeof a0 === 'object' && typeof a0.sql === 'string' ? a0.sql : undefined;
    const span = startSpan(core, site, text === undefined ? 'SQL' : sqlSummary(text), true);
    if (!span) return Reflect.apply(fn, thisArg, args);
    fn = inExitSpan(core, span, fn); // the driver's inner query (a dependency rule) records nothing
    try {
      const c = configOf(thisArg) ?? {};
      const database = typeof c.database === 'string' && c.database !== '' ? c.database : undefined;
      span.setDbContext({ type: 'sql', ...(database ? { instance: database } : {}), ...(text !== undefined ? { statement: text } : {}), ...(typeof c.user === 'string' ? { user: c.user } : {}) });
      const port = Number(c.port ?? 3306);
      span.setDestination({
        address: typeof c.host === 'string' && c.host !== '' && typeof c.socketPath !== 'string' ? c.host : 'localhost',
        ...(Number.isInteger(port) && port > 0 ? { port } : {}),
        serviceTargetType: 'mysql',
        ...(database ? { serviceTargetName: database } : {}),
      });
    } catch {
      // context is best effort
    }
    const rows = (v: unknown) => {
      const n = rowsOf(v);
      if (n !== undefined) span.setDbContext({ rowsAffected: n });
    };
    // mysql2/promise resolves with [rows, fields].
    const promisedRows = (v: unknown) => rows(Array.isArray(v) ? v[0] : undefined);
    const last = args.length - 1;
    if (last >= 0 && typeof args[last] === 'function') {
      const copy = args.slice();
      copy[last] = wrapCallback(core, span, args[last] as (...a: unknown[]) => unknown, rows);
      return runCallbackCall(core, span, thisArg, fn, copy);
    }
    let result: unknown;
    try {
      result = Reflect.apply(fn, thisArg, args);
    } catch (err) {
      endSpan(core, span, true, err);
      throw err;
    }
    const r = result as { then?: unknown; on?: unknown; once?: unknown } | null | undefined;
    // A Query emitter first: mysql2's Query has a `then` that only reports misuse (it is no promise).
    if (r && typeof r.on === 'function' && typeof r.once === 'function') {
      try {
        trackQuery(core, span, r as Parameters<typeof trackQuery>[2]);
      } catch {
        endSpan(core, span, false, undefined);
      }
      return result;
    }
    if (r && typeof r.then === 'function') return runCall(core, span, undefined, () => result, [], promisedRows);
    endSpan(core, span, false, undefined);
    return result;
  },
};

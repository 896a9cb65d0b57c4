// bunyan run-time handler: the logger `bunyan.createLogger(...)` returns, and every child it makes, get
// an `_emit` of their own that adds `trace.id`, `transaction.id` and `span.id` to each record written
// inside a transaction (the record is bunyan's own fresh object, built per call). The options are
// passed on untouched; fields of the same name the app set win.
import { logTraceIds, type CallHandler } from '../../runtime/abi-kit.js';

type Fn = (...a: unknown[]) => unknown;

function own(obj: object, name: string, value: Fn): void {
  Object.defineProperty(obj, name, { configurable: true, writable: true, enumerable: false, value });
}

function wrapLogger(log: unknown): void {
  if (log === null || typeof log !== 'object') return;
  const emit = (log as { _emit?: unknown })._emit;
  const child = (log as { child?: unknown }).child;
  if (typeof emit !== 'function') return;
  own(log, '_emit', function spanforgeEmit(this: unknown, ...a: unknown[]): unknown {
    const rec = a[0];
    if (rec !== null && typeof rec === 'object') {
      const ids = logTraceIds();
      if (ids !== undefined) for (const [k, v] of Object.entries(ids)) if (!(k in rec)) (rec as Record<string, unknown>)[k] = v;
    }
    return Reflect.apply(emit as Fn, this, a);
  });
  if (typeof child === 'function') {
    own(log, 'child', function spanforgeChild(this: unknown, ...a: unknown[]): unknown {
      const c = Reflect.apply(child as Fn, this, a);
      try {
        wrapLogger(c);
      } catch {
        // left as bunyan made it
      }
      return c;
    });
  }
}

/** Handlers by name; the rules (integrations/bunyan/rules.ts) emit `handler: 'bunyan'`. */
export const handlers: Record<string, CallHandler> = {
  bunyan(_core, _site, thisArg, fn, args) {
    const log = Reflect.apply(fn, thisArg, args);
    try {
      wrapLogger(log);
    } catch {
      // a frozen or exotic logger: left as it is
    }
    return log;
  },
};

// winston run-time handler: the logger `winston.createLogger(...)` returns gets a `write` of its own
// that adds `trace.id`, `transaction.id` and `span.id` to a copy of each record written inside a
// transaction, before the logger's formats (json, Elastic's ecsFormat, …) run. Child loggers write
// through their parent's `write`, so they carry the ids too. The options are passed on untouched.
import { logTraceIds, type CallHandler } from '../../runtime/abi-kit.js';

type Write = (chunk: unknown, ...rest: unknown[]) => unknown;

function wrapWrite(logger: unknown): void {
  if (logger === null || typeof logger !== 'object') return;
  const write = (logger as { write?: unknown }).write;
  if (typeof write !== 'function') return;
  Object.defineProperty(logger, 'write', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function spanforgeWrite(this: unknown, chunk: unknown, ...rest: unknown[]): unknown {
      let info = chunk;
      // An Error written as the record itself keeps its identity (format.errors() checks instanceof).
      if (chunk !== null && typeof chunk === 'object' && !(chunk instanceof Error)) {
        const ids = logTraceIds();
        if (ids !== undefined) {
          const copy = Object.assign({}, chunk) as Record<string | symbol, unknown>;
          for (const [k, v] of Object.entries(ids)) if (!(k in copy)) copy[k] = v;
          info = copy;
        }
      }
      return Reflect.apply(write as Write, this, [info, ...rest]);
    },
  });
}

/** Handlers by name; the rules (integrations/winston/rules.ts) emit `handler: 'winston'`. */
export const handlers: Record<string, CallHandler> = {
  winston(_core, _site, thisArg, fn, args) {
    const logger = Reflect.apply(fn, thisArg, args);
    try {
      wrapWrite(logger);
    } catch {
      // a frozen or exotic logger: left as it is
    }
    return logger;
  },
};

// pino run-time handler: `pino(...)` is called with a copy of its options that has a `mixin` adding
// `trace.id`, `transaction.id` and `span.id` to every record written inside a transaction, as
// OpenTelemetry's pino instrumentation does at run time. A mixin of the user's own still runs and its
// fields win; the user's options object is never mutated; children inherit the mixin (pino's own rule).
import { logTraceIds, type CallHandler } from '../../runtime/abi-kit.js';

type Mixin = (mergeObject: object, level: number, logger: unknown) => object;

function correlationMixin(this: unknown): object {
  // A fresh object per record: pino's default merge strategy assigns the record's fields into it.
  return logTraceIds() ?? {};
}

function combined(user: Mixin): Mixin {
  return function spanforgeMixin(this: unknown, ...a: Parameters<Mixin>): object {
    const own = Reflect.apply(user, this, a) as object;
    const ids = logTraceIds();
    return ids === undefined ? own : Object.assign(ids, own);
  };
}

/** The arguments pino is called with: options first (added when absent), mixin set on a copy. */
function withMixin(args: unknown[]): unknown[] {
  const a0 = args[0] as Record<string, unknown> | string | null | undefined;
  if (args.length === 0 || a0 === undefined || a0 === null) return [{ mixin: correlationMixin }, ...args.slice(1)];
  // pino(destination) / pino(stream): options go before it.
  if (typeof a0 === 'string' || typeof (a0 as { write?: unknown }).write === 'function') return [{ mixin: correlationMixin }, ...args];
  if (typeof a0 !== 'object') return args;
  const user = a0.mixin;
  // A non-function mixin: pino throws its own error, unchanged.
  if (user !== undefined && typeof user !== 'function') return args;
  const copy = args.slice();
  copy[0] = { ...a0, mixin: user === undefined ? correlationMixin : combined(user as Mixin) };
  return copy;
}

/** Handlers by name; the rules (integrations/pino/rules.ts) emit `handler: 'pino'`. */
export const handlers: Record<string, CallHandler> = {
  pino(_core, _site, thisArg, fn, args) {
    let copy = args;
    try {
      copy = withMixin(args);
    } catch {
      // options spanforge cannot copy (a throwing getter): pino sees them as the user wrote them
    }
    return Reflect.apply(fn, thisArg, copy);
  },
};

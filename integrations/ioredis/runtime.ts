// ioredis run-time handler: a `db`/`redis`/`query` exit span per command, named by the command
// (`GET`; `call('hset', ...)` → `HSET`; `getBuffer` → `GET`), with destination / service target `redis`
// and no statement (arguments and values are never recorded). On a pipeline or multi, commands are only
// queued; `exec()` opens one span per queued command, all ending when exec settles.
import { endSpan, runCall, startSpan, type AbiCore, type CallHandler, type Site, type Span } from '../../runtime/abi-kit.js';

interface RedisLike {
  isPipeline?: unknown;
  options?: { host?: unknown; port?: unknown; path?: unknown };
  redis?: { options?: { host?: unknown; port?: unknown; path?: unknown } };
}

/** Command names queued on each pipeline by instrumented sites, until its exec(). */
const queued = new WeakMap<object, string[]>();

function commandOf(site: Site, args: unknown[]): string {
  const member = site.name ?? 'call';
  if (member === 'call' || member === 'callBuffer') return typeof args[0] === 'string' ? args[0].toUpperCase() : 'CALL';
  return member.replace(/Buffer$/, '').toUpperCase();
}

function open(core: AbiCore, site: Site, name: string, t: RedisLike | undefined): Span | undefined {
  const span = startSpan(core, site, name, true);
  if (!span) return undefined;
  try {
    span.setDbContext({ type: 'redis' });
    const o = (t?.isPipeline === true ? t.redis?.options : t?.options) ?? {};
    const port = Number(o.port ?? 6379);
    span.setDestination({
      address: typeof o.host === 'string' && typeof o.path !== 'string' ? o.host : 'localhost',
      ...(Number.isInteger(port) && port > 0 ? { port } : {}),
      serviceTargetType: 'redis',
    });
  } catch {
    // context is best effort
  }
  return span;
}

/** Ends the span when `result` settles, watching it on a side chain: the promise the caller gets is ioredis's own. */
function observe(core: AbiCore, spans: Span[], result: unknown): unknown {
  const done = (failed: boolean, v: unknown) => {
    for (const s of spans) endSpan(core, s, failed, failed && s === spans[spans.length - 1] ? v : undefined);
  };
  try {
    (result as PromiseLike<unknown>).then((v) => done(false, v), (e) => done(true, e));
  } catch {
    done(false, undefined);
  }
  return result;
}

export const handlers: Record<string, CallHandler> = {
  ioredis(core, site, thisArg, fn, args) {
    const t = thisArg as RedisLike | undefined;
    const command = commandOf(site, args);
    if (t && typeof t === 'object' && t.isPipeline === true) {
      if (command !== 'EXEC') {
        try {
          const list = queued.get(t) ?? [];
          list.push(command);
          queued.set(t, list);
        } catch {
          // ignore
        }
        return Reflect.apply(fn, thisArg, args);
      }
      const names = queued.get(t) ?? [];
      queued.delete(t);
      const spans = names.map((n) => open(core, site, n, t)).filter((s): s is Span => s !== undefined);
      if (spans.length === 0) return Reflect.apply(fn, thisArg, args);
      let result: unknown;
      try {
        result = Reflect.apply(fn, thisArg, args);
      } catch (err) {
        for (const s of spans) endSpan(core, s, true, err);
        throw err;
      }
      return result && typeof (result as { then?: unknown }).then === 'function' ? observe(core, spans, result) : (spans.forEach((s) => endSpan(core, s, false, undefined)), result);
    }
    const span = open(core, site, command, t);
    if (!span) return Reflect.apply(fn, thisArg, args);
    if (typeof args[args.length - 1] === 'function') {
      // Callback form: ioredis handles its own promise's rejection; a derived promise would be a new
      // unhandled one, so the span follows the returned promise on a side chain.
      let result: unknown;
      try {
        result = Reflect.apply(fn, thisArg, args);
      } catch (err) {
        endSpan(core, span, true, err);
        throw err;
      }
      return result && typeof (result as { then?: unknown }).then === 'function' ? observe(core, [span], result) : (endSpan(core, span, false, undefined), result);
    }
    return runCall(core, span, thisArg, fn, args);
  },
};

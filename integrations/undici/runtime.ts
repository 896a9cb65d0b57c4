// undici run-time handlers: `external`/`http` exit spans for request(url[, opts][, cb]) and
// stream(url, opts, factory[, cb]), trace headers added to a copy of the options, status read.
import { httpSpanContext, httpStatus, runCall, runCallbackCall, startSpan, withTraceHeaders, wrapCallback, type AbiCore, type CallHandler, type Site } from '../../runtime/abi-kit.js';

/** Handlers by name; the rules (integrations/undici/rules.ts) emit `handler: 'undici' | 'undici-stream'`. */
export const handlers: Record<string, CallHandler> = {
  undici(core, site, thisArg, fn, args) {
    return undiciCall(core, site, thisArg, fn, args, false);
  },

  'undici-stream'(core, site, thisArg, fn, args) {
    return undiciCall(core, site, thisArg, fn, args, true);
  },
};

/** undici request(url[, opts][, cb]) and stream(url, opts, factory[, cb]). */
function undiciCall(core: AbiCore, site: Site, thisArg: unknown, fn: (...a: unknown[]) => unknown, args: unknown[], isStream: boolean): unknown {
  const target = args[0] as string | URL | { origin?: string; path?: string } | undefined;
  const hasOpts = args[1] !== null && typeof args[1] === 'object';
  const opts = (hasOpts ? args[1] : undefined) as { method?: string; headers?: unknown } | undefined;
  let url: URL;
  try {
    url = new URL(typeof target === 'string' ? target : target instanceof URL ? target.href : `${target?.origin}${target?.path ?? ''}`);
  } catch {
    return Reflect.apply(fn, thisArg, args);
  }
  const method = String(opts?.method ?? 'GET').toUpperCase();
  const span = startSpan(core, site, `${method} ${url.host}`, true);
  const carrier = span ?? core.current();
  if (!carrier) return Reflect.apply(fn, thisArg, args);
  const copy = args.slice();
  const headers = withTraceHeaders(opts?.headers, carrier);
  if (headers !== undefined) {
    if (hasOpts) copy[1] = { ...opts, headers };
    else if (!isStream && (args.length < 2 || args[1] === undefined || typeof args[1] === 'function')) {
      if (args[1] === undefined && args.length >= 2) copy[1] = { headers };
      else copy.splice(1, 0, { headers });
    }
  }
  if (!span) return Reflect.apply(fn, thisArg, copy);
  httpSpanContext(span, url, method);
  const status = (d: unknown) => httpStatus(span, (d as { statusCode?: number } | undefined)?.statusCode);
  if (isStream && typeof copy[2] === 'function') {
    // stream() settles with { opaque, trailers }: the status is only seen by the factory ({ statusCode, headers, opaque }).
    const factory = copy[2] as (...a: unknown[]) => unknown;
    copy[2] = function (this: unknown, data: unknown) {
      try {
        status(data);
      } catch {
        // never into user code
      }
      return Reflect.apply(factory, this, arguments);
    };
  }
  const cbIndex = isStream ? 3 : 2;
  if (typeof copy[cbIndex] === 'function') {
    copy[cbIndex] = wrapCallback(core, span, copy[cbIndex] as (...a: unknown[]) => unknown, status);
    return runCallbackCall(core, span, thisArg, fn, copy);
  }
  return runCall(core, span, thisArg, fn, copy, status);
}

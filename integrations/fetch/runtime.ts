// fetch run-time handler: an `external`/`http` exit span for global fetch and undici fetch, with
// traceparent/tracestate added to a copy of the request's headers and the response status read.
import { httpSpanContext, httpStatus, runCall, startSpan, type CallHandler } from '../../runtime/abi-kit.js';

/** Handlers by name; the rules (integrations/fetch/rules.ts) emit `handler: 'fetch'`. */
export const handlers: Record<string, CallHandler> = {
  fetch(core, site, thisArg, fn, args) {
    const input = args[0] as string | URL | { url?: string; method?: string; headers?: unknown } | undefined;
    const init = args[1] as { method?: string; headers?: unknown } | undefined | null;
    let url: URL | undefined;
    try {
      url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : String(input?.url));
    } catch {
      return Reflect.apply(fn, thisArg, args);
    }
    const method = String(init?.method ?? (typeof input === 'object' && !(input instanceof URL) ? input?.method : undefined) ?? 'GET').toUpperCase();
    const span = startSpan(core, site, `${method} ${url.host}`, true);
    const carrier = span ?? core.current();
    if (!carrier) return Reflect.apply(fn, thisArg, args);
    const copy = args.slice();
    try {
      const base = init?.headers ?? (typeof input === 'object' && !(input instanceof URL) ? input?.headers : undefined);
      const headers = new Headers(base as ConstructorParameters<typeof Headers>[0]);
      if (!headers.has('traceparent')) {
        headers.set('traceparent', carrier.traceparent());
        const ts = carrier.tracestate();
        if (ts && !headers.has('tracestate')) headers.set('tracestate', ts);
      }
      // A shallow copy of init with a new Headers: the user's init and headers objects are never mutated.
      copy[1] = { ...(init ?? {}), headers };
    } catch {
      // unusual headers: send the request as the user wrote it
    }
    if (!span) return Reflect.apply(fn, thisArg, copy);
    httpSpanContext(span, url, method);
    return runCall(core, span, thisArg, fn, copy, (res) => httpStatus(span, (res as { status?: number })?.status));
  },
};

// node:http / node:https client run-time handlers: `external`/`http` exit spans for request()/get(),
// trace headers added to a copy of the options; the span ends from the diagnostics channel or on 'close'.
import { subscribe } from 'node:diagnostics_channel';
import { endSpan, httpSpanContext, httpStatus, startSpan, withTraceHeaders, type AbiCore, type CallHandler, type Site, type Span } from '../../runtime/abi-kit.js';

/** Handlers by name; the rules (integrations/http/rules.ts) emit `handler: 'http' | 'https'`. */
export const handlers: Record<string, CallHandler> = {
  https(core, site, thisArg, fn, args) {
    return httpCall(core, site, thisArg, fn, args, 'https:');
  },

  http(core, site, thisArg, fn, args) {
    return httpCall(core, site, thisArg, fn, args, 'http:');
  },
};

/** node:http(s) request(url[, options][, cb]) | request(options[, cb]), and get(). */
function httpCall(core: AbiCore, site: Site, thisArg: unknown, fn: (...a: unknown[]) => unknown, args: unknown[], defaultProtocol: string): unknown {
  const a0 = args[0];
  const urlFirst = typeof a0 === 'string' || a0 instanceof URL;
  const optIndex = urlFirst ? (args[1] && typeof args[1] === 'object' ? 1 : -1) : a0 && typeof a0 === 'object' ? 0 : -1;
  const opts = (optIndex >= 0 ? args[optIndex] : undefined) as { method?: string; headers?: unknown; host?: string; hostname?: string; port?: number | string; path?: string; protocol?: string } | undefined;
  let url: URL;
  try {
    if (urlFirst) url = new URL(String(a0 instanceof URL ? a0.href : a0));
    else {
      const proto = opts?.protocol ?? defaultProtocol;
      const host = opts?.hostname ?? opts?.host ?? 'localhost';
      url = new URL(`${proto}//${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}${opts?.port ? `:${opts.port}` : ''}${opts?.path ?? '/'}`);
    }
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
    if (optIndex >= 0) copy[optIndex] = { ...opts, headers };
    else copy.splice(1, 0, { headers });
  }
  if (!span) return Reflect.apply(fn, thisArg, copy);
  httpSpanContext(span, url, method);
  let req: unknown;
  try {
    req = Reflect.apply(fn, thisArg, copy);
  } catch (err) {
    endSpan(core, span, true, err);
    throw err;
  }
  trackClientRequest(core, span, req);
  return req;
}


// node:http client requests end their span from the diagnostics channel (adding a 'response' listener
// would stop Node from discarding unread responses) or on 'close'.
const clientSpans = new WeakMap<object, { core: AbiCore; span: Span }>();
let clientSubscribed = false;

function trackClientRequest(core: AbiCore, span: Span, req: unknown): void {
  if (!req || typeof req !== 'object' || typeof (req as { once?: unknown }).once !== 'function') {
    endSpan(core, span, false, undefined);
    return;
  }
  clientSpans.set(req, { core, span });
  if (!clientSubscribed) {
    clientSubscribed = true;
    try {
      subscribe('http.client.response.finish', (msg) => {
        const m = msg as { request?: object; response?: { statusCode?: number } };
        const e = m.request && clientSpans.get(m.request);
        if (!e) return;
        clientSpans.delete(m.request!);
        httpStatus(e.span, m.response?.statusCode);
        endSpan(e.core, e.span, false, undefined);
      });
    } catch {
      // without the channel, 'close' ends the span
    }
  }
  (req as { once(ev: string, f: () => void): void }).once('close', () => {
    const e = clientSpans.get(req);
    if (!e) return;
    clientSpans.delete(req);
    try {
      e.span.setOutcome('failure');
    } catch {
      // ignore
    }
    endSpan(core, span, false, undefined);
  });
}

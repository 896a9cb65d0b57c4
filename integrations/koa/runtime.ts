// Koa run-time wrapper (route(site, fn) for the koa.* rules, through runtime/integration-wrappers.ts):
// Koa's middleware and @koa/router's route middleware run in the request's transaction (started at
// arrival by runtime/abi.ts, reached through abi-kit's requestKit). The name is the matched layer's
// path (`ctx._matchedRoute`, set by @koa/router before a layer's middleware run; it has the router's
// prefix and the mount paths of nested routers), as elastic-apm-node's koa-router instrumentation names
// it from the router's match; the build-time template when it is missing.
import { createRequire } from 'node:module';
import { isThenable, report, reportLater, requestKit, settle, type AbiCore, type Site } from '../../runtime/abi-kit.js';
import type { HandlerWrapper } from '../../runtime/messaging.js';
import type { Transaction } from '../../runtime/types.js';

interface KoaContextLike {
  req?: { method?: string };
  res?: object;
  method?: string;
  request?: { body?: unknown };
  _matchedRoute?: unknown;
  onerror?: (err: unknown) => unknown;
  [KOA_HOOKED]?: boolean;
}
const KOA_HOOKED = Symbol.for('spanforge.koa.onerror');

let koaVersion: string | null | undefined;
function koaFrameworkVersion(): string | undefined {
  if (koaVersion === undefined) {
    koaVersion = null;
    try {
      const v = (createRequire(`${process.cwd()}/`)('koa/package.json') as { version?: unknown }).version;
      if (typeof v === 'string') koaVersion = v;
    } catch {
      // not resolvable from where the app runs (bundles)
    }
  }
  return koaVersion ?? undefined;
}

/**
 * Koa's default error handling (`ctx.onerror`, called by the application when the middleware chain
 * rejects) answers 500 (or the error's `status`): an error that gets there was not handled by the app.
 * An own, non-enumerable `onerror` that reports and then calls Koa's, once per request context.
 */
function hookKoaOnerror(core: AbiCore, ctx: KoaContextLike, tx: Transaction): void {
  if (ctx[KOA_HOOKED]) return;
  const original = ctx.onerror;
  if (typeof original !== 'function') return;
  try {
    Object.defineProperty(ctx, KOA_HOOKED, { value: true, configurable: true });
    Object.defineProperty(ctx, 'onerror', {
      value: function onerror(this: unknown, err: unknown) {
        try {
          if (err !== null && err !== undefined) report(core, err, tx, false);
        } catch {
          // never into the app
        }
        return Reflect.apply(original, this, arguments);
      },
      writable: true,
      configurable: true,
      enumerable: false,
    });
  } catch {
    // a frozen or exotic context: errors are then reported when they fail a wrapper only
  }
}

function koaWrapper(site: Site, original: (...a: unknown[]) => unknown, installed: () => AbiCore | undefined): ((...a: any[]) => unknown) | undefined {
  const isRoute = site.rule === 'koa.route';
  // router.use('/nested', other.routes()): @koa/router reads `.router` of the middleware to nest it.
  if (!isRoute && (original as { router?: unknown }).router !== undefined && site.rule === 'koa.router-use') return undefined;
  const template = isRoute ? site.name ?? undefined : undefined;
  return function (this: unknown, ctx: KoaContextLike) {
    const core = installed();
    const kit = requestKit();
    const req = ctx?.req;
    const res = ctx?.res;
    if (core === undefined || kit === undefined || !core.active() || !req || !res) return Reflect.apply(original, this, arguments);
    const tx = kit.requestTransaction(core, req, res, ctx.request?.body);
    if (!tx) return Reflect.apply(original, this, arguments);
    kit.setFramework(tx, 'koa', koaFrameworkVersion());
    hookKoaOnerror(core, ctx, tx);
    if (isRoute) {
      const matched = ctx._matchedRoute;
      const name = typeof matched === 'string' ? matched : template;
      if (name !== undefined) kit.setName(tx, `${req.method ?? site.method ?? 'GET'} ${name}`, true);
    }
    // What a middleware throws or rejects with is reported by Koa's onerror (handled: false) when it
    // escapes the chain, else (an upstream middleware caught it) handled: true.
    let result: unknown;
    try {
      result = core.runWith(tx, original, this, arguments);
    } catch (err) {
      reportLater(core, err, tx);
      throw err;
    }
    if (!isThenable(result)) return result;
    return settle(result, (failed, v) => {
      if (failed) reportLater(core, v, tx);
    });
  };
}

export const wrappers: Record<string, HandlerWrapper> = {
  koa: koaWrapper,
};

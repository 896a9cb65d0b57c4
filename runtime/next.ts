// `spanforge/next`: the agent for a Next.js app, started from the app's `instrumentation.ts`:
//
//   export async function register() {
//     if (process.env.NEXT_RUNTIME === 'nodejs') (await import('spanforge/next')).register({ serviceName: 'shop' });
//   }
//
// Starts the agent (options as for start(); ELASTIC_APM_* variables override them) and makes each
// request's transaction, started by node:http's arrival channel, the current context of Next's handling
// of that request, so that instrumented route handlers, server actions and the proxy name it and add
// their spans to it instead of starting transactions of their own. Requests for Next's build assets
// (`/_next/static/*`, `/_next/image*`, `/favicon.ico`) are not recorded unless `transactionIgnoreUrls`
// is given. On the Edge runtime (NEXT_RUNTIME=edge) it does nothing: the agent needs Node.js.
import { start } from './index.js';
import './abi.js'; // subscribes to node:http's arrival channel now, before the first request
import type { AgentOptions } from './config.js';

const BIND_ARRIVAL = Symbol.for('spanforge.request.bindArrival');

/** Next's own asset routes, not recorded by default. */
export const NEXT_ASSET_URLS: readonly string[] = ['/_next/static/*', '/_next/image*', '/favicon.ico'];

/** Starts the agent in Next's Node.js server runtime (instrumentation.ts `register()`); never throws. */
export function register(options: AgentOptions = {}): void {
  try {
    if (process.env.NEXT_RUNTIME !== undefined && process.env.NEXT_RUNTIME !== 'nodejs') return;
    (globalThis as Record<symbol, unknown>)[BIND_ARRIVAL] = true;
    const opts: AgentOptions = options.transactionIgnoreUrls === undefined && process.env.ELASTIC_APM_TRANSACTION_IGNORE_URLS === undefined
      ? { ...options, transactionIgnoreUrls: [...NEXT_ASSET_URLS] }
      : options;
    start(opts);
  } catch {
    // never into the app
  }
}

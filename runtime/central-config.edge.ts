// Central configuration in the edge build (dist/edge: Cloudflare's workerd and other worker runtimes; the build,
// scripts/build.mjs, puts this file where ./central-config.js is, so undici, node:http and node:fs never load
// there). A worker may do no I/O at global scope (where start() runs) and its isolate runs no timers between
// requests, so there is no timer: each flush() — which a worker hands to ctx.waitUntil after a request
// (integrations/hono/runtime.ts) — polls /config/v1/agents with fetch when the last answer's max-age has passed.
// So the first request of an isolate runs with the local configuration, and a change is seen by the requests
// after the flush that fetched it. Each isolate polls on its own.
import { type CentralConfigOptions, type ConfigAnswer, MAX_BODY, PollerBase, RESPONSE_TIMEOUT_MS } from './central-config-core.js';

export { DEFAULT_INTERVAL_S, MAX_INTERVAL_S, MIN_INTERVAL_S, intervalFromCacheControl, type CentralConfigOptions } from './central-config-core.js';

export class CentralConfigPoller extends PollerBase {
  private stopped = false;
  /** Epoch ms after which the next flush polls (0: the first flush does). */
  private dueAt = 0;

  constructor(o: CentralConfigOptions) {
    super(o);
  }

  /** Nothing at start: no I/O at a worker's global scope. */
  start(): void {}

  /** Called by the agent's flush(): polls when due; the promise resolves when the answer was applied, never rejects. */
  onFlush(): Promise<void> | undefined {
    if (this.stopped || Date.now() < this.dueAt) return undefined;
    // Set before the poll so concurrent flushes do not poll twice; the answer's max-age then sets it again.
    this.dueAt = Date.now() + this.lastIntervalS * 1000;
    return this.pollNow().then(() => {
      this.dueAt = Date.now() + this.lastIntervalS * 1000;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }

  protected async fetchOnce(headers: Record<string, string>): Promise<ConfigAnswer> {
    if (typeof fetch !== 'function') throw new Error('this runtime has no fetch');
    const ctl = typeof AbortController === 'function' ? new AbortController() : undefined;
    const t = ctl ? setTimeout(() => ctl.abort(), RESPONSE_TIMEOUT_MS) : undefined;
    try {
      const res = await fetch(this.url, { method: 'GET', headers, signal: ctl?.signal });
      let text = await res.text();
      if (text.length > MAX_BODY) text = text.slice(0, MAX_BODY);
      return { status: res.status, header: (n) => res.headers.get(n), text };
    } finally {
      if (t !== undefined) clearTimeout(t);
    }
  }
}

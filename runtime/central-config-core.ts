// What both central-configuration pollers share (runtime/central-config.ts on Node with undici and timers,
// runtime/central-config.edge.ts in the edge build with fetch and no timers): the /config/v1/agents URL and
// headers, the interval from Cache-Control max-age, the ETag / If-None-Match bookkeeping and the handling of
// each answer. No Node.js module is imported here, so the edge bundle can take it as it is.
import type { Logger } from './types.js';

/** Node's INTERVAL_DEFAULT_S, used when max-age is missing, invalid or <= 0, and after errors. */
export const DEFAULT_INTERVAL_S = 300;
/** The agent spec: never poll more often than every 5 s. */
export const MIN_INTERVAL_S = 5;
/** elastic-apm-node caps the wait at one day. */
export const MAX_INTERVAL_S = 86_400;
export const RESPONSE_TIMEOUT_MS = 10_000;
export const MAX_BODY = 1 << 20;

export interface CentralConfigOptions {
  serverUrl: string;
  serviceName: string;
  environment: string;
  secretToken?: string;
  apiKey?: string;
  userAgent: string;
  verifyServerCert: boolean;
  serverCaCertFile?: string;
  logger: Logger;
  /** Called with the server's settings (string → string) whenever they changed (a 200). */
  apply(settings: Record<string, unknown>): void;
}

/** The poll interval in seconds from a Cache-Control header: max-age clamped to [5 s, 1 day]; 300 s when absent. */
export function intervalFromCacheControl(header: string | string[] | undefined | null): number {
  const h = Array.isArray(header) ? header.join(',') : header ?? '';
  const m = /(?:^|[,\s])max-age\s*=\s*"?(-?\d+)"?/i.exec(h);
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isFinite(n) || n <= 0) return DEFAULT_INTERVAL_S;
  return Math.min(MAX_INTERVAL_S, Math.max(MIN_INTERVAL_S, n));
}

/** One answer of the server, as either poller read it. */
export interface ConfigAnswer {
  status: number;
  /** A response header by lower-case name. */
  header(name: string): string | string[] | undefined | null;
  text: string;
}

/** The poll logic without I/O: subclasses only send the GET (fetchOnce) and decide when to poll. */
export abstract class PollerBase {
  protected etag: string | undefined;
  private inFlight: Promise<void> | undefined;
  protected readonly url: string;
  protected readonly headers: Record<string, string>;
  /** Seconds until the next poll, as the last answer said. */
  lastIntervalS = DEFAULT_INTERVAL_S;
  polls = 0;

  constructor(protected readonly o: CentralConfigOptions) {
    const q = new URLSearchParams({ 'service.name': o.serviceName });
    if (o.environment) q.set('service.environment', o.environment);
    this.url = `${o.serverUrl.replace(/\/+$/, '')}/config/v1/agents?${q.toString()}`;
    this.headers = { accept: 'application/json', 'user-agent': o.userAgent };
    if (o.apiKey) this.headers.authorization = `ApiKey ${o.apiKey}`;
    else if (o.secretToken) this.headers.authorization = `Bearer ${o.secretToken}`;
  }

  /** Sends the GET with these headers; rejects on network errors and timeouts. */
  protected abstract fetchOnce(headers: Record<string, string>): Promise<ConfigAnswer>;

  /** Polls now; resolves when the answer was handled; never rejects. */
  pollNow(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    this.inFlight = this.poll().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async poll(): Promise<void> {
    const log = this.o.logger;
    this.polls++;
    let interval = DEFAULT_INTERVAL_S;
    try {
      const headers = { ...this.headers };
      if (this.etag !== undefined) headers['if-none-match'] = `"${this.etag}"`;
      const res = await this.fetchOnce(headers);
      if (res.status === 304) {
        interval = intervalFromCacheControl(res.header('cache-control'));
        log.trace('central config: not modified (etag %s)', this.etag);
      } else if (res.status === 200) {
        interval = intervalFromCacheControl(res.header('cache-control'));
        let settings: unknown;
        try {
          settings = JSON.parse(res.text);
        } catch {
          log.warn('central config: the server answered with a body that is not JSON; ignored');
          return;
        }
        if (settings === null || typeof settings !== 'object' || Array.isArray(settings)) {
          log.warn('central config: the server answered with JSON that is not an object; ignored');
          return;
        }
        const et = res.header('etag');
        this.etag = typeof et === 'string' ? et.replace(/^W\//, '').replace(/"/g, '') : undefined;
        this.o.apply(settings as Record<string, unknown>);
      } else if (res.status === 403 || res.status === 404) {
        // The feature is not available on this server (old, managed or not allowed): debug at most.
        log.debug('central config: %s answered %d; central configuration is not available', this.url, res.status);
      } else if (res.status >= 500) {
        log.error('central config: %s answered %d%s', this.url, res.status, errorText(res.text));
      } else {
        log.warn('central config: %s answered %d%s', this.url, res.status, errorText(res.text));
      }
    } catch (e) {
      log.debug('central config: polling %s failed: %s', this.url, (e as Error)?.message);
    } finally {
      this.lastIntervalS = interval;
    }
  }
}

function errorText(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: unknown };
    if (typeof j?.error === 'string') return `: ${j.error}`;
  } catch {
    // not JSON
  }
  return text ? `: ${text.slice(0, 200)}` : '';
}

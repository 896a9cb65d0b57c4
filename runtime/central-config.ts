// Central configuration: polls the server's /config/v1/agents for this service and environment with ETag /
// If-None-Match, waits as Cache-Control max-age says (clamped to 5 s .. 1 day, 300 s when absent or on errors), and
// hands each new settings object to the agent, which applies the options Elastic allows to change at run time.
// Uses undici like the transport (never node:http, whose diagnostics channels the http integration watches).
import { readFileSync } from 'node:fs';
import type { Logger } from './types.js';

/** Node's INTERVAL_DEFAULT_S, used when max-age is missing, invalid or <= 0, and after errors. */
export const DEFAULT_INTERVAL_S = 300;
/** The agent spec: never poll more often than every 5 s. */
export const MIN_INTERVAL_S = 5;
/** elastic-apm-node caps the wait at one day. */
export const MAX_INTERVAL_S = 86_400;
const RESPONSE_TIMEOUT_MS = 10_000;
const MAX_BODY = 1 << 20;

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
export function intervalFromCacheControl(header: string | string[] | undefined): number {
  const h = Array.isArray(header) ? header.join(',') : header ?? '';
  const m = /(?:^|[,\s])max-age\s*=\s*"?(-?\d+)"?/i.exec(h);
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isFinite(n) || n <= 0) return DEFAULT_INTERVAL_S;
  return Math.min(MAX_INTERVAL_S, Math.max(MIN_INTERVAL_S, n));
}

type RequestFn = (url: string, opts: Record<string, unknown>) => Promise<{ statusCode: number; headers: Record<string, string | string[] | undefined>; body: AsyncIterable<Buffer> & { dump?: () => Promise<void> } }>;

type Connector = (o: unknown, cb: unknown) => unknown;

async function loadUndici(): Promise<{ request: RequestFn; Agent: new (o: Record<string, unknown>) => unknown; buildConnector: (o: Record<string, unknown>) => Connector }> {
  const u = typeof require === 'function' ? (require('undici') as typeof import('undici')) : await import('undici');
  return {
    request: u.request as unknown as RequestFn,
    Agent: u.Agent as unknown as new (o: Record<string, unknown>) => unknown,
    buildConnector: u.buildConnector as unknown as (o: Record<string, unknown>) => Connector,
  };
}

/** As the transport's: the poll's sockets stay unref'd for good, so a poll never keeps the process alive. */
function unrefConnector(build: (o: Record<string, unknown>) => Connector, options: Record<string, unknown>): Connector {
  const connector = build(options);
  return (o, cb) => {
    const socket = connector(o, cb);
    if (socket && typeof (socket as { unref?: unknown }).unref === 'function') {
      const sk = socket as { unref: () => unknown; ref: () => unknown };
      sk.unref();
      sk.ref = () => socket;
    }
    return socket;
  };
}

export class CentralConfigPoller {
  private etag: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private inFlight: Promise<void> | undefined;
  private dispatcher: { close?: () => Promise<void> } | undefined;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  /** Seconds until the next poll, as the last answer said. */
  lastIntervalS = DEFAULT_INTERVAL_S;
  polls = 0;

  constructor(private readonly o: CentralConfigOptions) {
    const q = new URLSearchParams({ 'service.name': o.serviceName });
    if (o.environment) q.set('service.environment', o.environment);
    this.url = `${o.serverUrl}/config/v1/agents?${q.toString()}`;
    this.headers = { accept: 'application/json', 'user-agent': o.userAgent };
    if (o.apiKey) this.headers.authorization = `ApiKey ${o.apiKey}`;
    else if (o.secretToken) this.headers.authorization = `Bearer ${o.secretToken}`;
  }

  /** The first poll at once (off the caller's path), then as max-age says. */
  start(): void {
    this.schedule(0);
  }

  /** Polls now (tests and start); resolves when the answer was handled; never rejects. */
  pollNow(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    this.inFlight = this.poll().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      await this.dispatcher?.close?.();
    } catch {
      // ignore
    }
  }

  private schedule(seconds: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.pollNow().finally(() => this.schedule(this.lastIntervalS));
    }, seconds * 1000);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const log = this.o.logger;
    this.polls++;
    let interval = DEFAULT_INTERVAL_S;
    try {
      const { request, Agent, buildConnector } = await loadUndici();
      if (this.dispatcher === undefined) {
        let ca: Buffer | undefined;
        if (this.o.serverCaCertFile) {
          try {
            ca = readFileSync(this.o.serverCaCertFile);
          } catch {
            // the transport already said so
          }
        }
        const connect = unrefConnector(buildConnector, { rejectUnauthorized: this.o.verifyServerCert, timeout: 5000, ...(ca ? { ca } : {}) });
        this.dispatcher = new Agent({ connect, keepAliveTimeout: 4000 }) as { close?: () => Promise<void> };
      }
      const headers = { ...this.headers };
      if (this.etag !== undefined) headers['if-none-match'] = `"${this.etag}"`;
      const res = await request(this.url, {
        method: 'GET',
        headers,
        dispatcher: this.dispatcher,
        headersTimeout: RESPONSE_TIMEOUT_MS,
        bodyTimeout: RESPONSE_TIMEOUT_MS,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of res.body) {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      if (res.statusCode === 304) {
        interval = intervalFromCacheControl(res.headers['cache-control']);
        log.trace('central config: not modified (etag %s)', this.etag);
      } else if (res.statusCode === 200) {
        interval = intervalFromCacheControl(res.headers['cache-control']);
        let settings: unknown;
        try {
          settings = JSON.parse(text);
        } catch {
          log.warn('central config: the server answered with a body that is not JSON; ignored');
          return;
        }
        if (settings === null || typeof settings !== 'object' || Array.isArray(settings)) {
          log.warn('central config: the server answered with JSON that is not an object; ignored');
          return;
        }
        const et = res.headers.etag;
        this.etag = typeof et === 'string' ? et.replace(/^W\//, '').replace(/"/g, '') : undefined;
        this.o.apply(settings as Record<string, unknown>);
      } else if (res.statusCode === 403 || res.statusCode === 404) {
        // The feature is not available on this server (old, managed or not allowed): debug at most.
        log.debug('central config: %s answered %d; central configuration is not available', this.url, res.statusCode);
      } else if (res.statusCode >= 500) {
        log.error('central config: %s answered %d%s', this.url, res.statusCode, errorText(text));
      } else {
        log.warn('central config: %s answered %d%s', this.url, res.statusCode, errorText(text));
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

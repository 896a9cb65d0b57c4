// Central configuration on Node.js: polls the server's /config/v1/agents for this service and environment with
// ETag / If-None-Match, waits as Cache-Control max-age says (clamped to 5 s .. 1 day, 300 s when absent or on
// errors), and hands each new settings object to the agent, which applies the options Elastic allows to change at
// run time. Uses undici like the transport (never node:http, whose diagnostics channels the http integration
// watches). The edge build (dist/edge) puts runtime/central-config.edge.ts here instead (scripts/build.mjs).
import { readFileSync } from 'node:fs';
import { type CentralConfigOptions, type ConfigAnswer, MAX_BODY, PollerBase, RESPONSE_TIMEOUT_MS } from './central-config-core.js';

export { DEFAULT_INTERVAL_S, MAX_INTERVAL_S, MIN_INTERVAL_S, intervalFromCacheControl, type CentralConfigOptions } from './central-config-core.js';

type RequestFn = (url: string, opts: Record<string, unknown>) => Promise<{ statusCode: number; headers: Record<string, string | string[] | undefined>; body: AsyncIterable<Buffer> }>;

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

export class CentralConfigPoller extends PollerBase {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private dispatcher: { close?: () => Promise<void> } | undefined;

  constructor(o: CentralConfigOptions) {
    super(o);
  }

  /** The first poll at once (off the caller's path), then as max-age says. */
  start(): void {
    this.schedule(0);
  }

  /** The edge poller polls from flush(); here the timer does it. */
  onFlush(): Promise<void> | undefined {
    return undefined;
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

  protected async fetchOnce(headers: Record<string, string>): Promise<ConfigAnswer> {
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
    const res = await request(this.url, { method: 'GET', headers, dispatcher: this.dispatcher, headersTimeout: RESPONSE_TIMEOUT_MS, bodyTimeout: RESPONSE_TIMEOUT_MS });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res.body) {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    }
    return { status: res.statusCode, header: (n) => res.headers[n], text: Buffer.concat(chunks).toString('utf8') };
  }
}

// The intake-v2 sender for runtimes with fetch but no undici/node:http client to stream through
// (Cloudflare's workerd: the package's `workerd`/`worker` export conditions, dist/edge). Events are
// encoded as they are sent and kept in a bounded buffer; a batch (metadata line + events, gzip through
// CompressionStream when there is one) is one POST, started by flush() — which a worker hands to
// ctx.waitUntil after each request (integrations/hono/runtime.ts) — or when the buffer passes
// api_request_size. No timers of its own: a worker's isolate may not run them between requests.
import type { IntakeEvent, Transport, TransportOptions, TransportStats } from '../types.js';
import { INTAKE_LIMITS } from './limits.js';
import { applyLimits, parseServerVersion, stringifySafe } from './wire.js';

const MAX_EVENT_BYTES = 1024 * 1024;

export class FetchTransport implements Transport {
  private readonly url: string = '';
  private readonly headers: Record<string, string> = {};
  private readonly disabled: string | undefined;
  private lines: string[] = [];
  private bytes = 0;
  private inFlight = new Set<Promise<void>>();
  private closed = false;
  private version: string | undefined;
  private readonly logged = new Set<string>();
  private readonly counters: TransportStats = { queued: 0, sent: 0, dropped: 0, droppedByReason: {}, requests: 0, failedRequests: 0 };

  constructor(private readonly opts: TransportOptions) {
    try {
      const base = new URL(opts.serverUrl);
      if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error(`unsupported protocol ${base.protocol}`);
      this.url = new URL(`${base.pathname.replace(/\/+$/, '')}/intake/v2/events`, base).href;
      this.headers = { 'content-type': 'application/x-ndjson', 'user-agent': opts.userAgent };
      if (opts.apiKey) this.headers.authorization = `ApiKey ${opts.apiKey}`;
      else if (opts.secretToken) this.headers.authorization = `Bearer ${opts.secretToken}`;
      if (typeof fetch !== 'function') throw new Error('this runtime has no fetch');
    } catch (err) {
      this.disabled = (err as Error).message;
      this.logOnce('disabled', 'error', `cannot send to ${opts.serverUrl} (${this.disabled}); events will be dropped`);
    }
  }

  send(event: IntakeEvent): void {
    try {
      if (this.disabled !== undefined || this.closed) return this.drop(this.disabled !== undefined ? 'disabled' : 'closed');
      if (this.lines.length >= this.opts.maxQueueSize) return this.drop('queue_full');
      for (const kind in event) {
        const tree = INTAKE_LIMITS[kind];
        if (tree !== undefined) applyLimits((event as Record<string, unknown>)[kind], tree);
      }
      let line: string | undefined;
      try {
        line = JSON.stringify(event);
      } catch {
        line = stringifySafe(event);
      }
      if (line === undefined) return this.drop('encode_error');
      if (line.length > MAX_EVENT_BYTES) return this.drop('too_large');
      this.lines.push(line);
      this.bytes += line.length + 1;
      this.counters.queued = this.lines.length;
      if (this.bytes >= this.opts.apiRequestSize) void this.sendBatch();
    } catch {
      // never into the app
    }
  }

  async flush(timeoutMs = 10_000): Promise<void> {
    try {
      void this.sendBatch();
      const all = Promise.allSettled([...this.inFlight]).then(() => undefined);
      if (!(timeoutMs > 0 && Number.isFinite(timeoutMs))) return await all;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      if (timer !== undefined) clearTimeout(timer);
    } catch {
      // resolves, never rejects
    }
  }

  async close(timeoutMs?: number): Promise<void> {
    await this.flush(timeoutMs);
    this.closed = true;
  }

  stats(): TransportStats {
    return { ...this.counters, queued: this.lines.length, droppedByReason: { ...this.counters.droppedByReason } };
  }

  serverVersion(): string | undefined {
    return this.version;
  }

  private drop(reason: string, n = 1): void {
    this.counters.dropped += n;
    this.counters.droppedByReason[reason] = (this.counters.droppedByReason[reason] ?? 0) + n;
    if (reason !== 'disabled') this.logOnce(`drop:${reason}`, 'warn', `dropped ${n} event(s): ${reason}`);
  }

  private logOnce(key: string, level: 'warn' | 'error', msg: string): void {
    if (this.logged.has(key)) return;
    this.logged.add(key);
    try {
      this.opts.logger[level](msg);
    } catch {
      // ignore
    }
  }

  private sendBatch(): Promise<void> {
    if (this.lines.length === 0 || this.disabled !== undefined) return Promise.resolve();
    const lines = this.lines;
    this.lines = [];
    this.bytes = 0;
    const p = this.post(lines).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
    return p;
  }

  private async post(lines: string[]): Promise<void> {
    this.counters.requests++;
    try {
      const metadata = this.opts.metadata();
      applyLimits(metadata, INTAKE_LIMITS.metadata!);
      const text = `${stringifySafe({ metadata })}\n${lines.join('\n')}\n`;
      const headers: Record<string, string> = { ...this.headers };
      let body: string | ArrayBuffer = text;
      const CS = (globalThis as { CompressionStream?: new (f: string) => TransformStream<Uint8Array, Uint8Array> }).CompressionStream;
      if (CS !== undefined) {
        body = await new Response(new Blob([text]).stream().pipeThrough(new CS('gzip'))).arrayBuffer();
        headers['content-encoding'] = 'gzip';
      }
      const ctrl = typeof AbortController === 'function' && this.opts.serverTimeout > 0 ? new AbortController() : undefined;
      const timer = ctrl ? setTimeout(() => ctrl.abort(), this.opts.serverTimeout) : undefined;
      try {
        const res = await fetch(this.url, { method: 'POST', headers, body, ...(ctrl ? { signal: ctrl.signal } : {}) });
        const answer = await res.text();
        if (res.status >= 200 && res.status < 300) this.counters.sent += lines.length;
        else {
          this.counters.failedRequests++;
          this.drop('server_error', lines.length);
          this.logOnce(`status:${res.status}`, 'error', `the APM server answered ${res.status}: ${answer.slice(0, 500)}`);
        }
        if (this.version === undefined) this.version = parseServerVersion(answer);
      } finally {
        if (timer !== undefined) clearTimeout(timer);
      }
    } catch (err) {
      this.counters.failedRequests++;
      this.drop('network', lines.length);
      this.logOnce('network', 'error', `could not send to ${this.url}: ${(err as Error)?.message}`);
    }
  }
}

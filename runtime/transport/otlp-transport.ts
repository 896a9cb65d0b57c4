// The OTLP/HTTP trace exporter: the same Transport interface as the intake-v2 sender, so one build ships
// to any OpenTelemetry backend (Collector, Jaeger, Tempo, Elastic's OTLP intake). Events are queued as
// the tracer hands them over (bounded; drops counted), converted and encoded off the caller's path in
// batches (otlp.ts), and POSTed one request at a time with node:http(s), which the build never rewrites,
// so the exporter's own requests are never traced. Errors and metricsets are not exported (OTLP logs
// and metrics are not built); settings come from the standard OTEL_EXPORTER_OTLP_* variables.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { gzipSync } from 'node:zlib';
import type { IntakeEvent, Logger, Transport, TransportStats } from '../types.js';
import { encodeJson, encodeProtobuf, parseKeyValues, resourceOf, spanToOtlp, transactionToOtlp, type OtlpSpan } from './otlp.js';

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export interface OtlpSettings {
  /** The traces URL (`…/v1/traces`). */
  url: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
  /** ms per export request. */
  timeoutMs: number;
  compression: 'gzip' | 'none';
  /** OTEL_RESOURCE_ATTRIBUTES */
  resourceAttributes: [string, string][];
  /** OTEL_SERVICE_NAME (wins over the service name of the configuration). */
  serviceName?: string;
}

export interface OtlpTransportOptions extends OtlpSettings {
  metadata: () => Record<string, any>;
  logger: Logger;
  maxQueueSize: number;
  userAgent: string;
  scopeVersion: string;
  /** Spans per request (default 512, as the OpenTelemetry SDK's BatchSpanProcessor). */
  batchSize?: number;
  /** ms between exports of a partial batch (default 1000; the SDK's is 5000). */
  scheduleDelayMs?: number;
}

/**
 * The exporter settings from the standard variables, or undefined when OTLP is not selected: it is when
 * `exporter` is 'otlp', or when `exporter` is unset and OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set while ELASTIC_APM_SERVER_URL is not. Problems go to warn.
 */
export function otlpSettings(env: Record<string, string | undefined>, exporter: string | undefined, warn: (m: string) => void): OtlpSettings | undefined {
  const tracesEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const chosen = exporter ?? env.SPANFORGE_EXPORTER?.trim();
  if (chosen !== undefined && chosen !== '' && chosen !== 'otlp' && chosen !== 'elastic') warn(`exporter: unknown value "${chosen}" (elastic or otlp); using elastic`);
  const selected = chosen === 'otlp' || ((chosen === undefined || chosen === '') && (!!tracesEndpoint || !!endpoint) && !env.ELASTIC_APM_SERVER_URL);
  if (!selected) return undefined;
  // The signal-specific endpoint is used as it is; the general one gets /v1/traces appended (OTLP spec).
  const url = tracesEndpoint || (endpoint ? endpoint.replace(/\/+$/, '') + '/v1/traces' : 'http://localhost:4318/v1/traces');
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    warn(`OTLP endpoint "${url}" is not an http(s) URL; using http://localhost:4318/v1/traces`);
    return otlpSettings({ ...env, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://localhost:4318/v1/traces' }, 'otlp', warn);
  }
  let protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf').trim() as OtlpProtocol;
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    warn(`OTLP protocol "${protocol}" is not supported (http/protobuf or http/json; gRPC is not built); using http/protobuf`);
    protocol = 'http/protobuf';
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of [...parseKeyValues(env.OTEL_EXPORTER_OTLP_HEADERS), ...parseKeyValues(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS)]) headers[k.toLowerCase()] = v;
  const timeoutRaw = env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT;
  let timeoutMs = 10_000;
  if (timeoutRaw !== undefined && timeoutRaw.trim() !== '') {
    const n = Number(timeoutRaw);
    if (Number.isFinite(n) && n > 0) timeoutMs = n;
    else warn(`OTEL_EXPORTER_OTLP_TIMEOUT "${timeoutRaw}" is not a positive number of ms; using 10000`);
  }
  const comp = (env.OTEL_EXPORTER_OTLP_TRACES_COMPRESSION ?? env.OTEL_EXPORTER_OTLP_COMPRESSION ?? 'none').trim();
  const serviceName = env.OTEL_SERVICE_NAME?.trim() || undefined;
  return { url, protocol, headers, timeoutMs, compression: comp === 'gzip' ? 'gzip' : 'none', resourceAttributes: parseKeyValues(env.OTEL_RESOURCE_ATTRIBUTES), serviceName };
}

export class OtlpTransport implements Transport {
  private queue: Record<string, any>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private closed = false;
  private warnedFailure = false;
  private readonly counts: TransportStats = { queued: 0, sent: 0, dropped: 0, droppedByReason: {}, requests: 0, failedRequests: 0 };
  private readonly batchSize: number;
  private readonly delay: number;

  constructor(private readonly o: OtlpTransportOptions) {
    this.batchSize = o.batchSize ?? 512;
    this.delay = o.scheduleDelayMs ?? 1000;
  }

  send(event: IntakeEvent): void {
    try {
      if (this.closed) return this.drop('closed');
      const e = 'transaction' in event ? { t: event.transaction } : 'span' in event ? { s: event.span } : undefined;
      if (e === undefined) return; // errors and metricsets: not exported over OTLP
      if (this.queue.length >= this.o.maxQueueSize) return this.drop('queue_full');
      this.queue.push(e);
      this.counts.queued = this.queue.length;
      if (this.queue.length >= this.batchSize) this.kick(0);
      else this.kick(this.delay);
    } catch {
      // never into the app
    }
  }

  private drop(reason: string, n = 1): void {
    this.counts.dropped += n;
    this.counts.droppedByReason[reason] = (this.counts.droppedByReason[reason] ?? 0) + n;
  }

  private kick(ms: number): void {
    if (this.timer !== undefined && ms > 0) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain();
    }, ms);
    this.timer.unref();
  }

  /** Exports batches one request at a time until the queue is empty. */
  private drain(): Promise<void> {
    if (this.inflight) return this.inflight;
    const run = async () => {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.batchSize);
        this.counts.queued = this.queue.length;
        await this.export(batch);
      }
    };
    this.inflight = run().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async export(events: Record<string, any>[]): Promise<void> {
    const spans: OtlpSpan[] = [];
    for (const e of events) {
      try {
        const s = e.t ? transactionToOtlp(e.t) : spanToOtlp(e.s);
        if (s) spans.push(s);
      } catch {
        this.drop('encoding');
      }
    }
    if (spans.length === 0) return;
    let body: Uint8Array;
    try {
      const batch = {
        resource: resourceOf(this.o.metadata(), this.o.resourceAttributes, this.o.serviceName),
        scope: { name: 'spanforge', version: this.o.scopeVersion },
        spans,
      };
      body = this.o.protocol === 'http/json' ? Buffer.from(encodeJson(batch), 'utf8') : encodeProtobuf(batch);
    } catch (err) {
      this.drop('encoding', spans.length);
      this.o.logger.error('OTLP: could not encode %d spans: %s', spans.length, (err as Error)?.message);
      return;
    }
    const headers: Record<string, string> = {
      ...this.o.headers,
      'content-type': this.o.protocol === 'http/json' ? 'application/json' : 'application/x-protobuf',
      'user-agent': this.o.userAgent,
    };
    if (this.o.compression === 'gzip') {
      body = gzipSync(body);
      headers['content-encoding'] = 'gzip';
    }
    headers['content-length'] = String(body.length);
    this.counts.requests++;
    const status = await this.post(body, headers);
    if (status >= 200 && status < 300) {
      this.counts.sent += spans.length;
      this.warnedFailure = false;
    } else {
      this.counts.failedRequests++;
      this.drop(status === 0 ? 'network' : 'server_error', spans.length);
      if (!this.warnedFailure) {
        this.warnedFailure = true;
        this.o.logger.error('OTLP export to %s failed (%s); %d spans dropped', this.o.url, status === 0 ? 'no answer' : `HTTP ${status}`, spans.length);
      }
    }
  }

  /** The response status, or 0 when there was none (network error, timeout). Never rejects. */
  private post(body: Uint8Array, headers: Record<string, string>): Promise<number> {
    return new Promise((resolve) => {
      try {
        const u = new URL(this.o.url);
        const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: 'POST', headers, timeout: this.o.timeoutMs }, (res: IncomingMessage) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', () => resolve(res.statusCode ?? 0));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', () => resolve(0));
        req.end(body);
      } catch {
        resolve(0);
      }
    });
  }

  async flush(timeoutMs = 10_000): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      (async () => {
        if (this.inflight) await this.inflight;
        await this.drain();
      })(),
      new Promise<void>((r) => {
        t = setTimeout(r, timeoutMs);
        t.unref();
      }),
    ]);
    if (t) clearTimeout(t);
  }

  async close(timeoutMs = 10_000): Promise<void> {
    await this.flush(timeoutMs);
    this.closed = true;
  }

  stats(): TransportStats {
    return { ...this.counts, droppedByReason: { ...this.counts.droppedByReason } };
  }

  serverVersion(): string | undefined {
    return undefined;
  }
}

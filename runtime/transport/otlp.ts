// OTLP/HTTP trace encoding: intake-v2 transaction and span events (what the tracer produces) become
// OpenTelemetry spans with the semantic-convention attribute names for HTTP, database and messaging
// spans, encoded as an ExportTraceServiceRequest in protobuf (a small hand-written writer: no protobuf
// library in the runtime) or in OTLP/JSON. Field numbers are those of opentelemetry-proto v1
// (collector/trace/v1/trace_service.proto, trace/v1/trace.proto, common/v1/common.proto,
// resource/v1/resource.proto). Pure functions; the transport (otlp-transport.ts) batches and sends.

/** One attribute value as OTLP carries it. */
export type AttrValue = string | boolean | number | bigint | readonly string[];

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  /** SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: [string, AttrValue][];
  links: { traceId: string; spanId: string }[];
  /** StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  /** W3C trace flags (bit 0 sampled) in the low byte. */
  flags: number;
}

export interface OtlpBatch {
  resource: [string, AttrValue][];
  scope: { name: string; version: string };
  spans: OtlpSpan[];
}

export const SPAN_KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

type Obj = Record<string, any>;

const HEX = /^[0-9a-f]+$/;
function hexId(v: unknown, len: number): string | undefined {
  return typeof v === 'string' && v.length === len && HEX.test(v) ? v : undefined;
}

/** µs since the epoch (intake `timestamp`) to ns, exactly (beyond 2^53, hence bigint). */
function usToNs(us: number): bigint {
  return BigInt(Math.round(us)) * 1000n;
}

function push(attrs: [string, AttrValue][], key: string, v: unknown): void {
  if (v === undefined || v === null || v === '') return;
  if (typeof v === 'string' || typeof v === 'boolean') attrs.push([key, v]);
  else if (typeof v === 'number' && Number.isFinite(v)) attrs.push([key, v]);
}

/** Integers (status codes, ports) as int values; other numbers stay doubles. */
function pushInt(attrs: [string, AttrValue][], key: string, v: unknown): void {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n)) attrs.push([key, BigInt(n)]);
}

function labels(attrs: [string, AttrValue][], tags: unknown): void {
  if (tags === null || typeof tags !== 'object') return;
  for (const [k, v] of Object.entries(tags as Obj)) push(attrs, k, v);
}

/** The database systems intake `subtype`s name, as OpenTelemetry's `db.system.name` values. */
const DB_SYSTEM: Record<string, string> = { postgresql: 'postgresql', mysql: 'mysql', redis: 'redis', mongodb: 'mongodb', sqlite: 'sqlite', mssql: 'microsoft.sql_server', elasticsearch: 'elasticsearch' };
/** Messaging subtypes as `messaging.system` values. */
const MSG_SYSTEM: Record<string, string> = { rabbitmq: 'rabbitmq', kafka: 'kafka', nats: 'nats', bullmq: 'bullmq', sqs: 'aws_sqs', sns: 'aws_sns', mqtt: 'mqtt' };

function status(outcome: unknown): { code: number } {
  return { code: outcome === 'failure' ? 2 : 0 };
}

function linksOf(e: Obj): { traceId: string; spanId: string }[] {
  const out: { traceId: string; spanId: string }[] = [];
  if (Array.isArray(e.links)) {
    for (const l of e.links) {
      const traceId = hexId(l?.trace_id, 32);
      const spanId = hexId(l?.span_id, 16);
      if (traceId && spanId) out.push({ traceId, spanId });
    }
  }
  return out;
}

function urlParts(full: unknown): URL | undefined {
  if (typeof full !== 'string') return undefined;
  try {
    return new URL(full);
  } catch {
    return undefined;
  }
}

/** A transaction event as an OTLP span (server, consumer or internal). Undefined: not exportable. */
export function transactionToOtlp(tx: Obj): OtlpSpan | undefined {
  const traceId = hexId(tx.trace_id, 32);
  const spanId = hexId(tx.id, 16);
  if (!traceId || !spanId || tx.sampled === false) return undefined;
  const startUs = Number(tx.timestamp);
  const attrs: [string, AttrValue][] = [];
  const ctx: Obj = tx.context ?? {};
  let kind: number = SPAN_KIND.internal;
  const req: Obj | undefined = ctx.request;
  if (tx.type === 'request' || req) {
    kind = SPAN_KIND.server;
    const method = typeof req?.method === 'string' ? req.method.toUpperCase() : undefined;
    push(attrs, 'http.request.method', method);
    const url: Obj = req?.url ?? {};
    const path = url.pathname;
    push(attrs, 'url.path', path);
    if (typeof url.search === 'string' && url.search.length > 1) push(attrs, 'url.query', url.search.replace(/^\?/, ''));
    if (typeof url.protocol === 'string') push(attrs, 'url.scheme', url.protocol.replace(/:$/, ''));
    push(attrs, 'server.address', url.hostname);
    pushInt(attrs, 'server.port', url.port);
    // The route template spanforge names the transaction by (`GET /users/:id`).
    if (typeof tx.name === 'string' && method && tx.name.startsWith(method + ' /')) push(attrs, 'http.route', tx.name.slice(method.length + 1));
    pushInt(attrs, 'http.response.status_code', ctx.response?.status_code);
    const ua = req?.headers?.['user-agent'];
    push(attrs, 'user_agent.original', Array.isArray(ua) ? ua[0] : ua);
    push(attrs, 'client.address', req?.socket?.remote_address);
  } else if (tx.type === 'messaging' || ctx.message) {
    kind = SPAN_KIND.consumer;
    const system = messagingSystemFromName(tx.name);
    push(attrs, 'messaging.system', system);
    push(attrs, 'messaging.operation.type', 'process');
    push(attrs, 'messaging.destination.name', ctx.message?.queue?.name);
  }
  push(attrs, 'spanforge.transaction.type', tx.type);
  push(attrs, 'spanforge.transaction.result', tx.result);
  labels(attrs, ctx.tags);
  push(attrs, 'enduser.id', ctx.user?.id === undefined ? undefined : String(ctx.user.id));
  const parent = hexId(tx.parent_id, 16);
  return {
    traceId,
    spanId,
    parentSpanId: parent,
    name: String(tx.name ?? ''),
    kind,
    startNs: usToNs(startUs),
    endNs: usToNs(startUs + Number(tx.duration) * 1000),
    attributes: attrs,
    links: linksOf(tx),
    status: status(tx.outcome),
    flags: 1,
  };
}

function messagingSystemFromName(name: unknown): string | undefined {
  if (typeof name !== 'string') return undefined;
  const m = /^(RabbitMQ|NATS|BullMQ|Kafka)\b/.exec(name);
  return m ? m[1]!.toLowerCase() : undefined;
}

/** A span event as an OTLP span with the semantic conventions of its kind (db, HTTP client, messaging). */
export function spanToOtlp(s: Obj): OtlpSpan | undefined {
  const traceId = hexId(s.trace_id, 32);
  const spanId = hexId(s.id, 16);
  if (!traceId || !spanId) return undefined;
  const startUs = Number(s.timestamp);
  const attrs: [string, AttrValue][] = [];
  const ctx: Obj = s.context ?? {};
  const dest: Obj = ctx.destination ?? {};
  let kind: number = SPAN_KIND.internal;
  const type = String(s.type ?? '');
  const subtype = typeof s.subtype === 'string' ? s.subtype : undefined;
  if (type === 'db' || ctx.db) {
    kind = SPAN_KIND.client;
    const system = subtype ? (DB_SYSTEM[subtype] ?? subtype) : undefined;
    push(attrs, 'db.system.name', system);
    push(attrs, 'db.system', system);
    push(attrs, 'db.namespace', ctx.db?.instance);
    push(attrs, 'db.query.text', ctx.db?.statement);
    // `SELECT users`: the operation is the first word of spanforge's summary name.
    const op = typeof s.name === 'string' ? /^([A-Z][A-Z_]*)\b/.exec(s.name)?.[1] : undefined;
    push(attrs, 'db.operation.name', op);
    push(attrs, 'db.user', ctx.db?.user);
    pushInt(attrs, 'db.response.returned_rows', ctx.db?.rows_affected);
    push(attrs, 'server.address', dest.address);
    pushInt(attrs, 'server.port', dest.port);
  } else if (type === 'external' && (subtype === 'http' || ctx.http)) {
    kind = SPAN_KIND.client;
    const http: Obj = ctx.http ?? {};
    push(attrs, 'http.request.method', typeof http.method === 'string' ? http.method.toUpperCase() : undefined);
    push(attrs, 'url.full', http.url);
    const u = urlParts(http.url);
    push(attrs, 'server.address', dest.address ?? u?.hostname);
    pushInt(attrs, 'server.port', dest.port ?? (u ? (u.port || (u.protocol === 'https:' ? 443 : 80)) : undefined));
    pushInt(attrs, 'http.response.status_code', http.status_code ?? http.response?.status_code);
  } else if (type === 'messaging') {
    const action = typeof s.action === 'string' ? s.action : undefined;
    kind = action === 'send' ? SPAN_KIND.producer : action === 'receive' || action === 'poll' ? SPAN_KIND.consumer : SPAN_KIND.client;
    push(attrs, 'messaging.system', subtype ? (MSG_SYSTEM[subtype] ?? subtype) : undefined);
    push(attrs, 'messaging.operation.type', action === 'poll' ? 'receive' : action);
    push(attrs, 'messaging.destination.name', ctx.message?.queue?.name);
    push(attrs, 'server.address', dest.address);
    pushInt(attrs, 'server.port', dest.port);
  } else if (type === 'external') {
    kind = SPAN_KIND.client;
    push(attrs, 'server.address', dest.address);
    pushInt(attrs, 'server.port', dest.port);
  }
  push(attrs, 'spanforge.span.type', type);
  push(attrs, 'spanforge.span.subtype', subtype);
  push(attrs, 'spanforge.span.action', s.action);
  const frame = Array.isArray(s.stacktrace) ? s.stacktrace[0] : undefined;
  if (frame) {
    push(attrs, 'code.file.path', frame.abs_path ?? frame.filename);
    pushInt(attrs, 'code.line.number', frame.lineno);
    push(attrs, 'code.function.name', frame.function);
  }
  labels(attrs, ctx.tags);
  const parent = hexId(s.parent_id, 16);
  return {
    traceId,
    spanId,
    parentSpanId: parent,
    name: String(s.name ?? ''),
    kind,
    startNs: usToNs(startUs),
    endNs: usToNs(startUs + Number(s.duration) * 1000),
    attributes: attrs,
    links: linksOf(s),
    status: status(s.outcome),
    flags: 1,
  };
}

/** OTEL_RESOURCE_ATTRIBUTES: `key=value,key2=value2`, values percent-decoded; bad pairs are skipped. */
export function parseKeyValues(text: string | undefined): [string, string][] {
  const out: [string, string][] = [];
  if (!text) return out;
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    let v = part.slice(i + 1).trim();
    try {
      v = decodeURIComponent(v);
    } catch {
      continue;
    }
    if (k) out.push([k, v]);
  }
  return out;
}

/** The OTLP resource of the agent's intake metadata (service, process, host), plus resource attributes. */
export function resourceOf(metadata: Obj, extra: readonly [string, string][], serviceNameOverride?: string): [string, AttrValue][] {
  const attrs: [string, AttrValue][] = [];
  const service: Obj = metadata.service ?? {};
  const fromExtra = new Map(extra);
  const name = serviceNameOverride || fromExtra.get('service.name') || service.name;
  push(attrs, 'service.name', name);
  push(attrs, 'service.version', service.version);
  push(attrs, 'service.instance.id', service.node?.configured_name);
  push(attrs, 'deployment.environment.name', service.environment);
  push(attrs, 'telemetry.sdk.name', 'spanforge');
  push(attrs, 'telemetry.sdk.language', 'nodejs');
  push(attrs, 'telemetry.sdk.version', String(service.agent?.version ?? '').replace(/\+spanforge$/, ''));
  push(attrs, 'process.runtime.name', service.runtime?.name === 'node' ? 'nodejs' : service.runtime?.name);
  push(attrs, 'process.runtime.version', service.runtime?.version);
  pushInt(attrs, 'process.pid', metadata.process?.pid);
  push(attrs, 'host.name', metadata.system?.configured_hostname ?? metadata.system?.detected_hostname);
  push(attrs, 'host.arch', metadata.system?.architecture);
  const seen = new Set(attrs.map(([k]) => k));
  for (const [k, v] of extra) {
    if (k === 'service.name') continue;
    if (seen.has(k)) {
      const i = attrs.findIndex(([kk]) => kk === k);
      attrs[i] = [k, v];
    } else attrs.push([k, v]);
  }
  return attrs;
}

// ---------------------------------------------------------------------------------------------
// Protobuf: a minimal writer for the messages above (wire types 0 varint, 1 fixed64, 2 length-
// delimited, 5 fixed32). Sub-messages are encoded first into their own buffers and then framed;
// batches are small (≤ 512 spans), so the copies cost less than a two-pass size computation.

class PbWriter {
  private chunks: Uint8Array[] = [];
  private buf = new Uint8Array(256);
  private pos = 0;
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.chunks.push(this.buf.subarray(0, this.pos));
    this.buf = new Uint8Array(Math.max(256, n));
    this.pos = 0;
  }
  private varint(v: number): void {
    this.ensure(10);
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  private varint64(v: bigint): void {
    this.ensure(10);
    let x = BigInt.asUintN(64, v);
    while (x > 0x7fn) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
  }
  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
  uint(field: number, v: number): void {
    if (v === 0) return;
    this.tag(field, 0);
    this.varint(v);
  }
  int64(field: number, v: bigint): void {
    this.tag(field, 0);
    this.varint64(v);
  }
  bool(field: number, v: boolean): void {
    this.tag(field, 0);
    this.varint(v ? 1 : 0);
  }
  double(field: number, v: number): void {
    this.tag(field, 1);
    this.ensure(8);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).setFloat64(0, v, true);
    this.pos += 8;
  }
  fixed64(field: number, v: bigint): void {
    this.tag(field, 1);
    this.ensure(8);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).setBigUint64(0, BigInt.asUintN(64, v), true);
    this.pos += 8;
  }
  fixed32(field: number, v: number): void {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).setUint32(0, v >>> 0, true);
    this.pos += 4;
  }
  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.varint(b.length);
    this.raw(b);
  }
  string(field: number, s: string): void {
    this.bytes(field, Buffer.from(s, 'utf8'));
  }
  message(field: number, w: PbWriter): void {
    this.bytes(field, w.finish());
  }
  finish(): Uint8Array {
    if (this.chunks.length === 0) return this.buf.subarray(0, this.pos);
    const all = [...this.chunks, this.buf.subarray(0, this.pos)];
    const out = new Uint8Array(all.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of all) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

function pbAnyValue(v: AttrValue): PbWriter {
  const w = new PbWriter();
  if (typeof v === 'string') w.string(1, v);
  else if (typeof v === 'boolean') w.bool(2, v);
  else if (typeof v === 'bigint') w.int64(3, v);
  else if (typeof v === 'number') w.double(4, v);
  else {
    const arr = new PbWriter();
    for (const s of v) arr.message(1, pbAnyValue(s));
    w.message(5, arr);
  }
  return w;
}

function pbKeyValue(w: PbWriter, field: number, k: string, v: AttrValue): void {
  const kv = new PbWriter();
  kv.string(1, k);
  kv.message(2, pbAnyValue(v));
  w.message(field, kv);
}

function hexBytes(hex: string): Uint8Array {
  return Buffer.from(hex, 'hex');
}

function pbSpan(s: OtlpSpan): PbWriter {
  const w = new PbWriter();
  w.bytes(1, hexBytes(s.traceId));
  w.bytes(2, hexBytes(s.spanId));
  if (s.traceState) w.string(3, s.traceState);
  if (s.parentSpanId) w.bytes(4, hexBytes(s.parentSpanId));
  w.string(5, s.name);
  w.uint(6, s.kind);
  w.fixed64(7, s.startNs);
  w.fixed64(8, s.endNs);
  for (const [k, v] of s.attributes) pbKeyValue(w, 9, k, v);
  for (const l of s.links) {
    const lw = new PbWriter();
    lw.bytes(1, hexBytes(l.traceId));
    lw.bytes(2, hexBytes(l.spanId));
    w.message(13, lw);
  }
  const st = new PbWriter();
  if (s.status.message) st.string(2, s.status.message);
  st.uint(3, s.status.code);
  w.message(15, st);
  w.fixed32(16, s.flags);
  return w;
}

/** ExportTraceServiceRequest { resource_spans = 1 } in protobuf. */
export function encodeProtobuf(batch: OtlpBatch): Uint8Array {
  const resource = new PbWriter();
  for (const [k, v] of batch.resource) pbKeyValue(resource, 1, k, v);
  const scope = new PbWriter();
  scope.string(1, batch.scope.name);
  scope.string(2, batch.scope.version);
  const scopeSpans = new PbWriter();
  scopeSpans.message(1, scope);
  for (const s of batch.spans) scopeSpans.message(2, pbSpan(s));
  const rs = new PbWriter();
  rs.message(1, resource);
  rs.message(2, scopeSpans);
  const req = new PbWriter();
  req.message(1, rs);
  return req.finish();
}

// ---------------------------------------------------------------------------------------------
// OTLP/JSON (the protobuf JSON mapping with OTLP's exceptions: ids as hex strings, enums as numbers,
// 64-bit integers as decimal strings).

function jsonAnyValue(v: AttrValue): Obj {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'bigint') return { intValue: v.toString() };
  if (typeof v === 'number') return { doubleValue: v };
  return { arrayValue: { values: v.map(jsonAnyValue) } };
}

function jsonAttrs(attrs: [string, AttrValue][]): Obj[] {
  return attrs.map(([key, v]) => ({ key, value: jsonAnyValue(v) }));
}

/** ExportTraceServiceRequest in OTLP/JSON. */
export function encodeJson(batch: OtlpBatch): string {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: jsonAttrs(batch.resource) },
        scopeSpans: [
          {
            scope: { name: batch.scope.name, version: batch.scope.version },
            spans: batch.spans.map((s) => {
              const o: Obj = { traceId: s.traceId, spanId: s.spanId };
              if (s.traceState) o.traceState = s.traceState;
              if (s.parentSpanId) o.parentSpanId = s.parentSpanId;
              o.name = s.name;
              o.kind = s.kind;
              o.startTimeUnixNano = s.startNs.toString();
              o.endTimeUnixNano = s.endNs.toString();
              o.attributes = jsonAttrs(s.attributes);
              if (s.links.length) o.links = s.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId }));
              o.status = s.status.message ? { code: s.status.code, message: s.status.message } : { code: s.status.code };
              o.flags = s.flags;
              return o;
            }),
          },
        ],
      },
    ],
  });
}

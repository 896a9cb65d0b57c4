// OTLP/HTTP trace intake (`POST /v1/traces`, protobuf or JSON): an ExportTraceServiceRequest becomes
// intake-v2 transactions and spans in the store, as APM Server maps OTLP: a span with no parent, or
// of kind SERVER or CONSUMER, is a transaction; the others are spans of the nearest transaction above
// them in the same request (else of their parent). The protobuf reader is hand-written (field numbers
// of opentelemetry-proto v1); nothing here imports a protobuf library.
import type { RequestMeta } from './store.js';

type Obj = Record<string, any>;

export class OtlpError extends Error {}

// ---------------------------------------------------------------------------------------------
// Protobuf: a reader of the messages ExportTraceServiceRequest needs (unknown fields skipped).
type Field = { n: number; w: number; v: number | bigint | Uint8Array };

function readFields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  let p = 0;
  const varint = (): bigint => {
    let r = 0n;
    let shift = 0n;
    for (;;) {
      if (p >= b.length) throw new OtlpError('truncated varint');
      const byte = b[p++]!;
      r |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return r;
      shift += 7n;
      if (shift > 63n) throw new OtlpError('varint too long');
    }
  };
  while (p < b.length) {
    const key = Number(varint());
    const n = key >>> 3;
    const w = key & 7;
    if (n === 0) throw new OtlpError('field number 0');
    if (w === 0) out.push({ n, w, v: varint() });
    else if (w === 1) {
      if (p + 8 > b.length) throw new OtlpError('truncated fixed64');
      out.push({ n, w, v: new DataView(b.buffer, b.byteOffset + p, 8).getBigUint64(0, true) });
      p += 8;
    } else if (w === 2) {
      const len = Number(varint());
      if (p + len > b.length) throw new OtlpError('truncated bytes');
      out.push({ n, w, v: b.subarray(p, p + len) });
      p += len;
    } else if (w === 5) {
      if (p + 4 > b.length) throw new OtlpError('truncated fixed32');
      out.push({ n, w, v: new DataView(b.buffer, b.byteOffset + p, 4).getUint32(0, true) });
      p += 4;
    } else throw new OtlpError(`unsupported wire type ${w}`);
  }
  return out;
}

const utf8 = new TextDecoder('utf-8');
const str = (v: Field['v']): string => (v instanceof Uint8Array ? utf8.decode(v) : '');
const hex = (v: Field['v']): string => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : '');
const bytesOf = (v: Field['v']): Uint8Array => (v instanceof Uint8Array ? v : new Uint8Array());

function pbAnyValue(b: Uint8Array): unknown {
  for (const f of readFields(b)) {
    switch (f.n) {
      case 1:
        return str(f.v);
      case 2:
        return f.v !== 0n;
      case 3:
        return Number(BigInt.asIntN(64, f.v as bigint));
      case 4:
        return typeof f.v === 'bigint' ? new DataView(new BigUint64Array([f.v]).buffer).getFloat64(0, true) : undefined;
      case 5:
        return readFields(bytesOf(f.v)).filter((x) => x.n === 1).map((x) => pbAnyValue(bytesOf(x.v)));
      case 6:
        return pbAttrs(readFields(bytesOf(f.v)).filter((x) => x.n === 1).map((x) => bytesOf(x.v)));
      case 7:
        return Buffer.from(bytesOf(f.v)).toString('base64');
    }
  }
  return undefined;
}

function pbAttrs(kvs: Uint8Array[]): Obj {
  const o: Obj = {};
  for (const kv of kvs) {
    let key = '';
    let value: unknown;
    for (const f of readFields(kv)) {
      if (f.n === 1) key = str(f.v);
      else if (f.n === 2) value = pbAnyValue(bytesOf(f.v));
    }
    if (key) o[key] = value;
  }
  return o;
}

/** The neutral shape both encodings decode to. */
interface Decoded {
  service: Obj;
  spans: { traceId: string; spanId: string; parentSpanId: string; name: string; kind: number; startNs: bigint; endNs: bigint; attributes: Obj; status: number; statusMessage: string; links: { traceId: string; spanId: string }[] }[];
}

function decodeProtobuf(body: Uint8Array): Decoded[] {
  const out: Decoded[] = [];
  for (const rs of readFields(body)) {
    if (rs.n !== 1) continue;
    let resource: Obj = {};
    const spans: Decoded['spans'] = [];
    for (const f of readFields(bytesOf(rs.v))) {
      if (f.n === 1) resource = pbAttrs(readFields(bytesOf(f.v)).filter((x) => x.n === 1).map((x) => bytesOf(x.v)));
      else if (f.n === 2) {
        for (const g of readFields(bytesOf(f.v))) {
          if (g.n !== 2) continue;
          const s: Decoded['spans'][number] = { traceId: '', spanId: '', parentSpanId: '', name: '', kind: 0, startNs: 0n, endNs: 0n, attributes: {}, status: 0, statusMessage: '', links: [] };
          const kvs: Uint8Array[] = [];
          for (const h of readFields(bytesOf(g.v))) {
            if (h.n === 1) s.traceId = hex(h.v);
            else if (h.n === 2) s.spanId = hex(h.v);
            else if (h.n === 4) s.parentSpanId = hex(h.v);
            else if (h.n === 5) s.name = str(h.v);
            else if (h.n === 6) s.kind = Number(h.v);
            else if (h.n === 7) s.startNs = h.v as bigint;
            else if (h.n === 8) s.endNs = h.v as bigint;
            else if (h.n === 9) kvs.push(bytesOf(h.v));
            else if (h.n === 13) {
              const l = { traceId: '', spanId: '' };
              for (const x of readFields(bytesOf(h.v))) {
                if (x.n === 1) l.traceId = hex(x.v);
                else if (x.n === 2) l.spanId = hex(x.v);
              }
              s.links.push(l);
            } else if (h.n === 15) {
              for (const x of readFields(bytesOf(h.v))) {
                if (x.n === 3) s.status = Number(x.v);
                else if (x.n === 2) s.statusMessage = str(x.v);
              }
            }
          }
          s.attributes = pbAttrs(kvs);
          spans.push(s);
        }
      }
    }
    out.push({ service: resource, spans });
  }
  return out;
}

function jsonValue(v: Obj | undefined): unknown {
  if (!v || typeof v !== 'object') return undefined;
  if ('stringValue' in v) return String(v.stringValue);
  if ('boolValue' in v) return Boolean(v.boolValue);
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('arrayValue' in v) return Array.isArray(v.arrayValue?.values) ? v.arrayValue.values.map(jsonValue) : [];
  if ('kvlistValue' in v) return jsonAttrs(v.kvlistValue?.values);
  if ('bytesValue' in v) return String(v.bytesValue);
  return undefined;
}

function jsonAttrs(list: unknown): Obj {
  const o: Obj = {};
  if (Array.isArray(list)) for (const kv of list) if (kv && typeof kv.key === 'string') o[kv.key] = jsonValue(kv.value);
  return o;
}

/** OTLP/JSON ids are hex; some senders use base64 (the protobuf JSON mapping): both are read. */
function jsonId(v: unknown, len: number): string {
  if (typeof v !== 'string' || v === '') return '';
  if (v.length === len && /^[0-9a-fA-F]+$/.test(v)) return v.toLowerCase();
  const b = Buffer.from(v, 'base64');
  return b.length * 2 === len ? b.toString('hex') : '';
}

function decodeJson(text: string): Decoded[] {
  let doc: Obj;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new OtlpError(`invalid JSON: ${(e as Error).message}`);
  }
  const out: Decoded[] = [];
  for (const rs of Array.isArray(doc?.resourceSpans) ? doc.resourceSpans : []) {
    const spans: Decoded['spans'] = [];
    for (const ss of Array.isArray(rs?.scopeSpans) ? rs.scopeSpans : []) {
      for (const s of Array.isArray(ss?.spans) ? ss.spans : []) {
        spans.push({
          traceId: jsonId(s.traceId, 32),
          spanId: jsonId(s.spanId, 16),
          parentSpanId: jsonId(s.parentSpanId, 16),
          name: String(s.name ?? ''),
          kind: Number(s.kind ?? 0),
          startNs: BigInt(String(s.startTimeUnixNano ?? '0').replace(/\D.*$/, '') || '0'),
          endNs: BigInt(String(s.endTimeUnixNano ?? '0').replace(/\D.*$/, '') || '0'),
          attributes: jsonAttrs(s.attributes),
          status: Number(s.status?.code ?? 0),
          statusMessage: String(s.status?.message ?? ''),
          links: (Array.isArray(s.links) ? s.links : []).map((l: Obj) => ({ traceId: jsonId(l.traceId, 32), spanId: jsonId(l.spanId, 16) })),
        });
      }
    }
    out.push({ service: jsonAttrs(rs?.resource?.attributes), spans });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// OTLP → intake v2 (the fields the store and the UI read).

const first = (a: Obj, ...keys: string[]): unknown => {
  for (const k of keys) if (a[k] !== undefined) return a[k];
  return undefined;
};

function typeOf(kind: number, a: Obj, isTx: boolean): { type: string; subtype?: string; action?: string } {
  const db = first(a, 'db.system.name', 'db.system');
  if (db !== undefined) return { type: 'db', subtype: String(db), action: 'query' };
  const msg = a['messaging.system'];
  if (msg !== undefined) return { type: 'messaging', subtype: String(msg), action: String(first(a, 'messaging.operation.type', 'messaging.operation') ?? (kind === 4 ? 'send' : 'receive')) };
  if (isTx) return { type: kind === 5 ? 'messaging' : kind === 2 || first(a, 'http.request.method', 'http.method') !== undefined ? 'request' : 'unknown' };
  if (first(a, 'http.request.method', 'http.method') !== undefined) return { type: 'external', subtype: 'http', action: 'request' };
  if (kind === 3 || kind === 4) return { type: 'external' };
  return { type: 'app', subtype: 'internal' };
}

export interface OtlpEvents {
  events: { kind: 'transaction' | 'span'; body: Obj; meta: RequestMeta }[];
}

/** Decodes a request body (protobuf or JSON by `contentType`) into intake events with their metadata. */
export function otlpToIntake(body: Uint8Array, contentType: string, rxUs: number): OtlpEvents {
  const json = contentType.includes('json');
  const decoded = json ? decodeJson(utf8.decode(body)) : decodeProtobuf(body);
  const events: OtlpEvents['events'] = [];
  for (const d of decoded) {
    const name = typeof d.service['service.name'] === 'string' ? d.service['service.name'] : 'unknown_service';
    const sdk = d.service['telemetry.sdk.name'];
    const lang = d.service['telemetry.sdk.language'];
    const metaRaw: Obj = {
      service: {
        name,
        version: d.service['service.version'],
        environment: first(d.service, 'deployment.environment.name', 'deployment.environment'),
        agent: { name: typeof lang === 'string' ? `opentelemetry/${lang}` : 'opentelemetry', version: String(d.service['telemetry.sdk.version'] ?? '') },
        language: { name: lang },
      },
      labels: { 'telemetry.sdk.name': sdk },
    };
    const meta: RequestMeta = {
      raw: metaRaw,
      service: name,
      environment: typeof metaRaw.service.environment === 'string' ? metaRaw.service.environment : null,
      agentName: metaRaw.service.agent.name,
      agentVersion: metaRaw.service.agent.version,
      rxUs,
    };
    const isTx = (s: Decoded['spans'][number]) => s.parentSpanId === '' || s.kind === 2 || s.kind === 5;
    const byId = new Map(d.spans.map((s) => [s.spanId, s]));
    const txOf = (s: Decoded['spans'][number]): string => {
      let cur = byId.get(s.parentSpanId);
      for (let i = 0; cur && i < 1000; i++) {
        if (isTx(cur)) return cur.spanId;
        cur = byId.get(cur.parentSpanId);
      }
      return s.parentSpanId;
    };
    for (const s of d.spans) {
      if (s.traceId.length !== 32 || s.spanId.length !== 16) continue;
      const tx = isTx(s);
      const a = s.attributes;
      const facts = typeOf(s.kind, a, tx);
      const startUs = Number(s.startNs / 1000n);
      const duration = Math.max(0, Number(s.endNs - s.startNs) / 1e6);
      const outcome = s.status === 2 ? 'failure' : s.status === 1 ? 'success' : 'unknown';
      const links = s.links.filter((l) => l.traceId.length === 32 && l.spanId.length === 16).map((l) => ({ trace_id: l.traceId, span_id: l.spanId }));
      const otel = { span_kind: ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'][s.kind] ?? 'UNSPECIFIED', attributes: a };
      if (tx) {
        const status = first(a, 'http.response.status_code', 'http.status_code');
        const body: Obj = {
          id: s.spanId,
          trace_id: s.traceId,
          name: s.name,
          type: facts.type,
          duration,
          timestamp: startUs,
          outcome,
          sampled: true,
          span_count: { started: 0 },
          otel,
        };
        if (s.parentSpanId) body.parent_id = s.parentSpanId;
        if (status !== undefined) body.result = `HTTP ${String(status).charAt(0)}xx`;
        if (links.length) body.links = links;
        events.push({ kind: 'transaction', body, meta });
      } else {
        const body: Obj = {
          id: s.spanId,
          trace_id: s.traceId,
          parent_id: s.parentSpanId,
          transaction_id: txOf(s),
          name: s.name,
          type: facts.type,
          duration,
          timestamp: startUs,
          outcome,
          otel,
        };
        if (facts.subtype) body.subtype = facts.subtype;
        if (facts.action) body.action = facts.action;
        const stmt = first(a, 'db.query.text', 'db.statement');
        if (stmt !== undefined) body.context = { db: { statement: String(stmt), type: 'sql' } };
        const url = first(a, 'url.full', 'http.url');
        if (url !== undefined) body.context = { ...(body.context ?? {}), http: { url: String(url), method: first(a, 'http.request.method', 'http.method') } };
        if (links.length) body.links = links;
        events.push({ kind: 'span', body, meta });
      }
    }
  }
  return { events };
}

// Decodes and validates one intake-v2 NDJSON line the way APM Server does: event kind from the
// first quoted token, one JSON value per line, the official JSON schemas (ajv, compiled once)
// plus the server rules the schemas cannot express.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { decodeLog } from './logs.js';

export type EventKind = 'metadata' | 'transaction' | 'span' | 'error' | 'metricset' | 'log';
const EVENT_KINDS = new Set(['transaction', 'span', 'error', 'metricset', 'log']);
const SCHEMA_NAMES = ['metadata', 'transaction', 'span', 'error', 'metricset'] as const;

import { LineError } from './line-error.js';

export { LineError };

type Validators = Record<(typeof SCHEMA_NAMES)[number], ValidateFunction>;
let validators: Validators | undefined;

/** Compiles the five schemas once per process (≈100 ms); later calls reuse them. */
export function loadValidators(schemaDir: string): Validators {
  if (validators) return validators;
  const ajv = new Ajv({ allowUnionTypes: true, allErrors: false });
  const out: Partial<Validators> = {};
  for (const name of SCHEMA_NAMES) {
    const schema = JSON.parse(readFileSync(join(schemaDir, `${name}.json`), 'utf8'));
    out[name] = ajv.compile(schema);
  }
  validators = out as Validators;
  return validators;
}

// RUM v3 compact metadata (`{"m": {...}}`): apm-data's rumv3 metadata model (input/elasticapm/
// internal/modeldecoder/rumv3), the fields it declares and their validation rules. APM Server reads
// it with the same processor on every intake route, /intake/v2/events included.
const RUMV3_STR = { type: ['string', 'null'], maxLength: 1024 };
const RUMV3_NAME_VERSION = { type: ['object', 'null'], properties: { n: RUMV3_STR, ve: RUMV3_STR } };
const RUMV3_METADATA_SCHEMA = {
  type: 'object',
  required: ['se'],
  properties: {
    se: {
      type: 'object',
      required: ['a', 'n'],
      properties: {
        a: {
          type: 'object',
          required: ['n', 've'],
          properties: { n: { type: 'string', minLength: 1, maxLength: 1024 }, ve: { type: 'string', maxLength: 1024 } },
        },
        n: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[a-zA-Z0-9 _-]+$' },
        en: RUMV3_STR,
        ve: RUMV3_STR,
        fw: RUMV3_NAME_VERSION,
        la: RUMV3_NAME_VERSION,
        ru: RUMV3_NAME_VERSION,
      },
    },
    l: { type: ['object', 'null'], additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } },
    u: {
      type: ['object', 'null'],
      properties: { id: { type: ['string', 'integer', 'null'] }, em: RUMV3_STR, un: RUMV3_STR },
    },
    n: { type: ['object', 'null'], properties: { c: { type: ['object', 'null'], properties: { t: RUMV3_STR } } } },
  },
};
let rumv3Metadata: ValidateFunction | undefined;

type Obj = Record<string, unknown>;
const o = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const nv = (v: unknown): Obj | undefined => {
  const x = o(v);
  return x && (x.n != null || x.ve != null) ? { name: x.n ?? undefined, version: x.ve ?? undefined } : undefined;
};

/** Validates RUM v3 metadata and returns it in the intake-v2 shape the store indexes and keeps. */
function decodeRumV3Metadata(m: Obj, line: string): Obj {
  rumv3Metadata ??= new Ajv({ allowUnionTypes: true }).compile(RUMV3_METADATA_SCHEMA);
  if (!rumv3Metadata(m)) {
    const err = rumv3Metadata.errors![0]!;
    const segs = err.instancePath.split('/').filter(Boolean);
    if (err.keyword === 'required') segs.push(String((err.params as { missingProperty?: string }).missingProperty ?? ''));
    const field = segs.join('.');
    throw new LineError(err.keyword === 'required' ? `validation error: '${field}' required` : `validation error: '${field}': ${err.message ?? 'invalid'}`, line);
  }
  const se = m.se as Obj;
  const agent = se.a as Obj;
  const user = o(m.u);
  const out: Obj = {
    service: {
      name: se.n,
      environment: se.en ?? undefined,
      version: se.ve ?? undefined,
      agent: { name: agent.n, version: agent.ve },
      framework: nv(se.fw),
      language: nv(se.la),
      runtime: nv(se.ru),
    },
    labels: o(m.l),
    user: user ? { id: user.id ?? undefined, email: user.em ?? undefined, username: user.un ?? undefined } : undefined,
    network: o(o(m.n)?.c) ? { connection: { type: o(o(m.n)?.c)!.t ?? undefined } } : undefined,
  };
  return JSON.parse(JSON.stringify(out)) as Obj; // drops the undefined fields
}

/** APM Server's identifyEventType: the first single- or double-quoted token of the line. */
export function identifyKind(line: string): string | undefined {
  let start = -1;
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"' || c === "'") {
      quote = c;
      start = i + 1;
      break;
    }
  }
  if (start < 0) return undefined;
  const end = line.indexOf(quote, start);
  return end < 0 ? undefined : line.slice(start, end);
}

/**
 * Parses the first JSON value of a line. Go's stream decoder reads exactly one value and ignores
 * trailing bytes (testdata/metricsets.ndjson line 7 ends in a stray backtick), so on a strict
 * JSON.parse failure we retry with the text up to the end of the first balanced object.
 */
export function parseFirstValue(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch (err) {
    const end = endOfFirstObject(line);
    if (end > 0 && end < line.length) {
      try {
        return JSON.parse(line.slice(0, end));
      } catch {
        // fall through to the original error
      }
    }
    throw err;
  }
}

function endOfFirstObject(s: string): number {
  let depth = 0;
  let inStr = false;
  let started = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (inStr) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inStr = false;
      continue;
    }
    if (c === 34) inStr = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++;
      started = true;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
      if (started && depth === 0) return i + 1;
    }
  }
  return -1;
}

// Go struct names used in the server's decode errors ("v2.transaction.ID").
export const GO_ROOT: Record<string, string> = {
  metadata: 'v2.metadataRoot.Metadata',
  transaction: 'v2.transaction',
  span: 'v2.span',
  error: 'v2.errorEvent',
  metricset: 'v2.metricset',
  log: 'v2.logRoot.Log',
};
const GO_UPPER = new Set(['id', 'url', 'http', 'db', 'ip', 'faas', 'os', 'pid', 'ppid']);
function goName(seg: string): string {
  return seg
    .split('_')
    .map((p) => (GO_UPPER.has(p) ? p.toUpperCase() : p.charAt(0).toUpperCase() + p.slice(1)))
    .join('');
}

/** Turns the first ajv error into a server-shaped message: type mismatches are decode errors, the rest validation errors. */
export function describeSchemaError(kind: EventKind, err: ErrorObject): string {
  const segs = err.instancePath.split('/').filter(Boolean).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (err.keyword === 'type') {
    const path = [GO_ROOT[kind] ?? kind, ...segs.map(goName)].join('.');
    return `decode error: data read error: ${path}: expected ${String(err.params.type)}`;
  }
  let field = segs.join('.');
  if (err.keyword === 'required') {
    const missing = String((err.params as { missingProperty?: string }).missingProperty ?? '');
    field = field ? `${field}.${missing}` : missing;
    return `validation error: '${field}' required`;
  }
  if (err.keyword === 'anyOf' || err.keyword === 'if') {
    return `validation error: ${field ? `'${field}' ` : ''}${err.message ?? 'invalid'}`;
  }
  return `validation error: '${field || kind}': ${err.message ?? 'invalid'}`;
}

function isEmptyObject(o: Record<string, unknown>): boolean {
  for (const k in o) if (o[k] !== null && o[k] !== undefined) return false;
  return true;
}

/**
 * Decodes one non-blank line. Returns the kind and the inner object, or throws LineError with the
 * server's message. `expectMetadata` is true for the first line of a request.
 */
export function decodeLine(
  line: string,
  expectMetadata: boolean,
  v: Validators,
): { kind: EventKind; body: Record<string, unknown>; raw: string | undefined } {
  const key = identifyKind(line);
  if (expectMetadata) {
    if (key === 'm') return { kind: 'metadata', body: decodeRumV3MetadataLine(line), raw: undefined };
    if (key !== 'metadata') throw new LineError('"metadata" or "m" required', line);
  } else if (key === undefined || !EVENT_KINDS.has(key)) {
    throw new LineError(`did not recognize object type: ${JSON.stringify(key ?? '')}`, line);
  }
  const kind = key as EventKind;
  let parsed: unknown;
  let strict = true;
  try {
    try {
      parsed = JSON.parse(line);
    } catch {
      strict = false;
      parsed = parseFirstValue(line);
    }
  } catch (err) {
    throw new LineError(`decode error: data read error: ${GO_ROOT[kind] ?? 'v2.' + kind}: ${(err as Error).message}`, line);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new LineError(`decode error: data read error: ${GO_ROOT[kind] ?? 'v2.' + kind}: expected object`, line);
  }
  const body = (parsed as Record<string, unknown>)[kind];
  if (body === null || body === undefined || (typeof body === 'object' && !Array.isArray(body) && isEmptyObject(body as Record<string, unknown>))) {
    // The Go decoder treats an all-null object as absent: {"metadata":{"user":null}}.
    throw new LineError(`validation error: '${kind}' required`, line);
  }
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new LineError(`decode error: data read error: ${GO_ROOT[kind] ?? 'v2.' + kind}: expected object`, line);
  }
  const inner = body as Record<string, unknown>;
  if (kind !== 'log') {
    const validate = v[kind];
    if (!validate(inner)) throw new LineError(describeSchemaError(kind, validate.errors![0]!), line);
  } else decodeLog(inner, line); // no schema: APM Server's log decoder rules (receiver/logs.ts)
  if (kind === 'metricset') checkMetricset(inner, line);
  // A strictly valid line is stored as received: no re-serialisation on the ingest path.
  return { kind, body: inner, raw: strict ? line : undefined };
}

function decodeRumV3MetadataLine(line: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parseFirstValue(line);
  } catch (err) {
    throw new LineError(`decode error: data read error: v3.metadataRoot.Metadata: ${(err as Error).message}`, line);
  }
  const m = o(o(parsed)?.m);
  if (!m || isEmptyObject(m)) throw new LineError("validation error: 'm' required", line);
  return decodeRumV3Metadata(m, line);
}

// Server rule the schema cannot express: histogram values must be ascending.
function checkMetricset(m: Record<string, unknown>, line: string): void {
  const samples = m.samples as Record<string, { values?: unknown }> | undefined;
  if (!samples) return;
  for (const [name, s] of Object.entries(samples)) {
    const values = s?.values;
    if (!Array.isArray(values)) continue;
    for (let i = 1; i < values.length; i++) {
      if ((values[i] as number) < (values[i - 1] as number)) {
        throw new LineError(`validation error: 'samples.${name}.values': values must be sorted in ascending order`, line);
      }
    }
  }
}

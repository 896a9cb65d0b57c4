// Intake-v2 `log` events: APM Server's decoding and validation (there is no JSON schema for them;
// apm-data's model.go type `log` and its generated validate/processNestedSource code are the
// reference), their normalised fields, and the /api routes that read them back (a trace's logs,
// the logs of a time range).
import { int, RANGE, rangeOf, route, str, type ApiRoute } from './params.js';
import type { SqlStatement } from './sqlite.js';
import type { Store } from './store.js';
import { LineError } from './line-error.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The fields APM Server keeps of a log event, flat and nested ECS keys merged (nested wins). */
export interface LogFields {
  /** Epoch µs, undefined when the event has none (the request's receive time is used). */
  timestampUs: number | undefined;
  message: string | undefined;
  traceId: string | undefined;
  transactionId: string | undefined;
  /** span.id, else transaction.id (APM Server sets span.id from transaction.id). */
  spanId: string | undefined;
  level: string | undefined;
  logger: string | undefined;
  originFile: string | undefined;
  originLine: number | undefined;
  originFunction: string | undefined;
  serviceName: string | undefined;
  serviceVersion: string | undefined;
  serviceEnvironment: string | undefined;
  serviceNodeName: string | undefined;
  threadName: string | undefined;
  dataset: string | undefined;
  errorType: string | undefined;
  errorMessage: string | undefined;
  errorStackTrace: string | undefined;
  labels: Obj | undefined;
}

const decodeErr = (field: string, detail: string, line: string): LineError =>
  new LineError(`decode error: data read error: v2.logRoot.Log: v2.log.${field}: ${detail}`, line);
const validationErr = (msg: string, line: string): LineError => new LineError(`validation error: ${msg}`, line);

/** A nullable.String: absent/null is unset, a string is set, anything else fails to decode (ReadString). */
function nstr(e: Obj, key: string, goField: string, line: string): string | undefined {
  const v = e[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw decodeErr(goField, `ReadString: expects " or n, but found ${typeof v === 'number' ? 'a number' : JSON.stringify(v).slice(0, 1)}`, line);
  return v;
}
/** A nullable.Int (ReadInt). */
function nint(e: Obj, key: string, goField: string, line: string): number | undefined {
  const v = e[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw decodeErr(goField, 'ReadInt: expects an integer', line);
  return v;
}
/** A nested ECS object (NestedStruct map): absent/null is empty, an object is read, anything else fails. */
function nested(e: Obj, key: string, line: string): Obj | undefined {
  const v = e[key];
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw decodeErr('NestedStruct', `expected an object for "${key}"`, line);
  return v;
}
const at = (o: Obj | undefined, ...path: string[]): unknown => {
  let cur: unknown = o;
  for (const p of path) cur = isObj(cur) ? cur[p] : undefined;
  return cur;
};
const s = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const runes = (v: string): number => (v.length <= 1024 ? v.length : [...v].length);

// nullable.TimeMicrosUnix's string layouts (Go's RFC3339 and two offset variants); when parsing, Go
// accepts a fractional second after the seconds even where the layout has none.
const TS_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:\d{2}|[+-]\d{4}|[+-]\d{2})$/;

/** `@timestamp`: integer µs since the epoch, or an RFC 3339 string; undefined when absent or null. */
export function parseLogTimestamp(v: unknown): number | undefined | Error {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return Number.isInteger(v) ? v : new Error('ReadInt64: can not decode float as int');
  if (typeof v !== 'string') return new Error('invalid input type for timestamp');
  const m = TS_RE.exec(v);
  if (!m) return new Error('failed to parse the provided time string');
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysIn = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (mo < 1 || mo > 12 || d < 1 || d > daysIn || h > 23 || mi > 59 || se > 59) return new Error('failed to parse the provided time string');
  const z = m[8]!;
  let offMin = 0;
  if (z !== 'Z') {
    const digits = z.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (oh > 23 || om > 59) return new Error('failed to parse the provided time string');
    offMin = (z[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const frac = m[7] ? Math.trunc(Number(`0.${m[7]}`) * 1e6) : 0;
  const utc = Date.UTC(y, mo - 1, d, h, mi, se);
  // Date.UTC maps years 0-99 to 1900-1999.
  const ms = y < 100 ? new Date(utc).setUTCFullYear(y) : utc;
  return (ms - offMin * 60_000) * 1000 + frac;
}

/**
 * Decodes and validates the inner object of a `{"log": {...}}` line as APM Server does (decode
 * errors first, then the nested ECS objects flattened onto the flat keys, then validation), and
 * returns its fields. Throws LineError with the server's message.
 */
export function decodeLog(e: Obj, line: string): LogFields {
  // --- decode (jsoniter): types of the declared fields ---
  const labelsRaw = e.labels;
  if (labelsRaw !== undefined && labelsRaw !== null && !isObj(labelsRaw)) throw decodeErr('Labels', 'expected an object', line);
  const ts = parseLogTimestamp(e['@timestamp']);
  if (ts instanceof Error) throw decodeErr('Timestamp', ts.message, line);
  const f: LogFields = {
    timestampUs: ts,
    message: nstr(e, 'message', 'Message', line),
    traceId: nstr(e, 'trace.id', 'TraceID', line),
    transactionId: nstr(e, 'transaction.id', 'TransactionID', line),
    spanId: nstr(e, 'span.id', 'SpanID', line),
    level: nstr(e, 'log.level', 'Level', line),
    logger: nstr(e, 'log.logger', 'Logger', line),
    originFile: nstr(e, 'log.origin.file.name', 'OriginFileName', line),
    originLine: nint(e, 'log.origin.file.line', 'OriginFileLine', line),
    originFunction: nstr(e, 'log.origin.function', 'OriginFunction', line),
    serviceName: nstr(e, 'service.name', 'ServiceName', line),
    serviceVersion: nstr(e, 'service.version', 'ServiceVersion', line),
    serviceEnvironment: nstr(e, 'service.environment', 'ServiceEnvironment', line),
    serviceNodeName: nstr(e, 'service.node.name', 'ServiceNodeName', line),
    threadName: nstr(e, 'process.thread.name', 'ProcessThreadName', line),
    dataset: nstr(e, 'event.dataset', 'EventDataset', line),
    errorType: nstr(e, 'error.type', 'ErrorType', line),
    errorMessage: nstr(e, 'error.message', 'ErrorMessage', line),
    errorStackTrace: nstr(e, 'error.stack_trace', 'ErrorStacktrace', line),
    labels: isObj(labelsRaw) ? labelsRaw : undefined,
  };
  const nLog = nested(e, 'log', line);
  const nService = nested(e, 'service', line);
  const nProcess = nested(e, 'process', line);
  const nEvent = nested(e, 'event', line);
  const nError = nested(e, 'error', line);
  const faas = e.faas;
  let faasSet = false;
  if (faas !== undefined && faas !== null) {
    if (!isObj(faas)) throw decodeErr('FAAS', 'expected an object', line);
    for (const k of ['id', 'execution', 'name', 'version']) if (nstr(faas, k, `FAAS.${k}`, line) !== undefined) faasSet = true;
    if (faas.coldstart !== undefined && faas.coldstart !== null) {
      if (typeof faas.coldstart !== 'boolean') throw decodeErr('FAAS.Coldstart', 'ReadBool: expect t or f', line);
      faasSet = true;
    }
    const trig = faas.trigger;
    if (trig !== undefined && trig !== null) {
      if (!isObj(trig)) throw decodeErr('FAAS.Trigger', 'expected an object', line);
      for (const k of ['type', 'request_id']) if (nstr(trig, k, `FAAS.Trigger.${k}`, line) !== undefined) faasSet = true;
    }
  }
  // --- processNestedSource: a nested string value replaces the flat one ---
  const setIf = (k: keyof LogFields, v: unknown): void => {
    if (typeof v === 'string') (f as unknown as Obj)[k] = v;
  };
  setIf('serviceName', at(nService, 'name'));
  setIf('serviceVersion', at(nService, 'version'));
  setIf('serviceEnvironment', at(nService, 'environment'));
  setIf('serviceNodeName', at(nService, 'node', 'name'));
  setIf('errorType', at(nError, 'type'));
  setIf('errorMessage', at(nError, 'message'));
  setIf('errorStackTrace', at(nError, 'stack_trace'));
  setIf('dataset', at(nEvent, 'dataset'));
  setIf('threadName', at(nProcess, 'thread', 'name'));
  setIf('level', at(nLog, 'level'));
  setIf('logger', at(nLog, 'logger'));
  setIf('originFile', at(nLog, 'origin', 'file', 'name'));
  setIf('originFunction', at(nLog, 'origin', 'function'));
  const line2 = at(nLog, 'origin', 'file', 'line');
  if (typeof line2 === 'number') {
    if (!Number.isInteger(line2)) throw new LineError(`strconv.ParseInt: parsing "${line2}": invalid syntax`, line);
    f.originLine = line2;
  }
  // --- validate ---
  const nonEmpty = (o: Obj | undefined): boolean => o !== undefined && Object.keys(o).length > 0;
  const set =
    (f.labels !== undefined && Object.keys(f.labels).length > 0) ||
    f.timestampUs !== undefined ||
    [f.message, f.traceId, f.transactionId, f.spanId, f.level, f.logger, f.originFile, f.originFunction, f.serviceName, f.serviceVersion]
      .concat([f.serviceEnvironment, f.serviceNodeName, f.threadName, f.dataset, f.errorType, f.errorMessage, f.errorStackTrace])
      .some((v) => v !== undefined) ||
    f.originLine !== undefined ||
    faasSet ||
    [nLog, nService, nProcess, nEvent, nError].some(nonEmpty);
  if (!set) throw validationErr("'log' required", line);
  if (f.labels) {
    for (const [k, v] of Object.entries(f.labels)) {
      if (v === null) continue;
      if (typeof v === 'string') {
        if (runes(v) > 1024) throw validationErr("log: 'labels': validation rule 'maxLengthVals(1024)' violated", line);
      } else if (typeof v !== 'boolean' && typeof v !== 'number') {
        throw validationErr(`log: 'labels': validation rule 'inputTypesVals(string;bool;number)' violated for key ${k}`, line);
      }
    }
  }
  const max = (group: string, key: string, v: string | undefined): void => {
    if (v !== undefined && runes(v) > 1024) throw validationErr(`log: ${group}'${key}': validation rule 'maxLength(1024)' violated`, line);
  };
  max('ecslogservicefields: ', 'service.name', f.serviceName);
  max('ecslogservicefields: ', 'service.version', f.serviceVersion);
  max('ecslogservicefields: ', 'service.environment', f.serviceEnvironment);
  max('ecslogservicefields: ', 'service.node.name', f.serviceNodeName);
  max('ecslogeventfields: ', 'event.dataset', f.dataset);
  max('ecslogprocessfields: ', 'process.thread.name', f.threadName);
  max('', 'trace.id', f.traceId);
  max('', 'transaction.id', f.transactionId);
  max('', 'span.id', f.spanId);
  max('ecsloglogfields: ', 'log.level', f.level);
  max('ecsloglogfields: ', 'log.logger', f.logger);
  max('ecsloglogfields: ', 'log.origin.file.name', f.originFile);
  if (f.spanId === undefined && f.transactionId !== undefined) f.spanId = f.transactionId;
  return f;
}

/** decodeLog for a stored (already accepted) document; never throws. */
export function storedLogFields(e: Obj): LogFields | undefined {
  try {
    return decodeLog(e, '');
  } catch {
    return undefined;
  }
}

/** What the API answers for one stored log event. */
function logRow(row: { ts: number; service: string; doc: string }): Obj {
  let e: Obj = {};
  try {
    const parsed = JSON.parse(row.doc) as Obj;
    if (isObj(parsed.log)) e = parsed.log;
  } catch {
    // a stored document always parses; keep the row with what the columns hold
  }
  const f = storedLogFields(e);
  const out: Obj = {
    ts: row.ts,
    service: row.service,
    message: f?.message ?? '',
    level: f?.level ?? null,
    logger: f?.logger ?? null,
    traceId: f?.traceId ?? null,
    transactionId: f?.transactionId ?? null,
    spanId: f?.spanId ?? null,
  };
  if (f?.originFile !== undefined || f?.originFunction !== undefined || f?.originLine !== undefined) {
    out.origin = { file: f.originFile ?? null, line: f.originLine ?? null, function: f.originFunction ?? null };
  }
  if (f?.errorType !== undefined || f?.errorMessage !== undefined || f?.errorStackTrace !== undefined) {
    out.error = { type: f.errorType ?? null, message: f.errorMessage ?? null, stackTrace: f.errorStackTrace ?? null };
  }
  if (f?.labels && Object.keys(f.labels).length) out.labels = f.labels;
  if (f?.dataset !== undefined) out.dataset = f.dataset;
  if (f?.threadName !== undefined) out.threadName = f.threadName;
  if (f?.serviceVersion !== undefined) out.serviceVersion = f.serviceVersion;
  if (f?.serviceEnvironment !== undefined) out.environment = f.serviceEnvironment;
  return out;
}

/** Most log events one API answer returns (a trace's, or a range's). */
export const MAX_LOGS = 1000;

/** The log routes: `/api/traces/:traceId/logs` (oldest first) and `/api/logs` (a range, newest first). */
export function logsRoutes(store: Store): ApiRoute[] {
  const db = store.db;
  let st: Record<string, SqlStatement> | undefined;
  const stmts = (): Record<string, SqlStatement> =>
    (st ??= {
      trace: db.prepare('SELECT ts, service, doc FROM logs WHERE trace_id = ? ORDER BY ts, id LIMIT ?'),
      range: db.prepare('SELECT ts, service, doc FROM logs WHERE ts BETWEEN ? AND ? ORDER BY ts DESC, id DESC LIMIT ?'),
      rangeService: db.prepare('SELECT ts, service, doc FROM logs WHERE service = ? AND ts BETWEEN ? AND ? ORDER BY ts DESC, id DESC LIMIT ?'),
      rangeLevel: db.prepare('SELECT ts, service, doc FROM logs WHERE level = ? AND ts BETWEEN ? AND ? ORDER BY ts DESC, id DESC LIMIT ?'),
      rangeServiceLevel: db.prepare('SELECT ts, service, doc FROM logs WHERE service = ? AND level = ? AND ts BETWEEN ? AND ? ORDER BY ts DESC, id DESC LIMIT ?'),
    });
  const limit = int({ min: 1, max: MAX_LOGS, dflt: 500 });
  // One row more than asked tells whether the answer was cut.
  const answer = (rows: unknown[], n: number): { logs: Obj[]; truncated?: true } => {
    const logs = (rows.slice(0, n) as Array<{ ts: number; service: string; doc: string }>).map(logRow);
    return rows.length > n ? { logs, truncated: true } : { logs };
  };
  return [
    route('/api/traces/:traceId/logs', { limit }, (m, p) => ({ traceId: m.traceId, ...answer(stmts().trace!.all(m.traceId!, p.limit + 1), p.limit) })),
    route('/api/logs', { ...RANGE, service: str(), level: str({ maxLength: 1024 }), limit }, (_m, p) => {
      const r = rangeOf(p);
      const n = p.limit + 1;
      const s2 = stmts();
      const rows = p.service
        ? p.level
          ? s2.rangeServiceLevel!.all(p.service, p.level, r.fromUs, r.toUs, n)
          : s2.rangeService!.all(p.service, r.fromUs, r.toUs, n)
        : p.level
          ? s2.rangeLevel!.all(p.level, r.fromUs, r.toUs, n)
          : s2.range!.all(r.fromUs, r.toUs, n);
      return answer(rows, p.limit);
    }),
  ];
}

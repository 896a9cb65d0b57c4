// Validation of the web UI's JSON API input (/api/...): query parameters and path segments. Every
// /api route declares its parameters with these helpers; anything else, a malformed value, a value
// out of its bounds or a repeated parameter is a 400 naming the parameter, before a query runs.
import type { Range } from './queries.js';

/** A bad query parameter or path segment: the server answers 400 `{ error, parameter }`. */
export class ParamError extends Error {
  override readonly name = 'ParamError';
  constructor(
    /** The query parameter (`from`) or path part (`path segment 3`) at fault. */
    readonly parameter: string,
    message: string,
  ) {
    super(message);
  }
}

/** Latest instant a JS Date can hold (ms): seconds and µs derived from it stay exact integers. */
export const MAX_TIME_MS = 8_640_000_000_000_000;
/** Default range when `from`/`to` are absent: the last hour. */
export const DEFAULT_RANGE_MS = 3600_000;
/** Longest service name, transaction name, id or group key we look up (the intake schemas' 1024). */
export const MAX_KEY_LENGTH = 1024;

/** One parameter's parser: gets every value given for it (none when absent). */
export type ParamParser<T> = (values: string[], name: string) => T;

const show = (v: string): string => (v.length > 40 ? `'${v.slice(0, 40)}…' (${v.length} characters)` : `'${v}'`);

function single(values: string[], name: string): string | undefined {
  if (values.length > 1) throw new ParamError(name, `query parameter '${name}' is given ${values.length} times; give it once`);
  return values[0];
}

/**
 * An integer query parameter in [min, max]; absent or empty gives `dflt`. Example:
 * `limit: int({ min: 1, max: 500, dflt: 50 })`.
 */
export function int<D extends number | undefined>(o: { min: number; max: number; dflt: D }): ParamParser<number | D> {
  return (values, name) => {
    const v = single(values, name);
    if (v === undefined || v === '') return o.dflt;
    if (!/^-?\d{1,16}$/.test(v)) throw new ParamError(name, `query parameter '${name}' must be an integer from ${o.min} to ${o.max}, got ${show(v)}`);
    const n = Number(v);
    if (n < o.min || n > o.max) throw new ParamError(name, `query parameter '${name}' must be an integer from ${o.min} to ${o.max}, got ${show(v)}`);
    return n;
  };
}

/** A time in epoch milliseconds (decimal digits only, 0 … MAX_TIME_MS); absent gives undefined. */
export const time: ParamParser<number | undefined> = (values, name) => {
  const v = single(values, name);
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,16}$/.test(v) || Number(v) > MAX_TIME_MS) {
    throw new ParamError(name, `query parameter '${name}' must be a time in milliseconds since 1970 (an integer from 0 to ${MAX_TIME_MS}), got ${show(v)}`);
  }
  return Number(v);
};

/** A free-text string (a name, a type) of at most maxLength characters; absent gives undefined. */
export function str(o: { maxLength?: number } = {}): ParamParser<string | undefined> {
  const max = o.maxLength ?? MAX_KEY_LENGTH;
  return (values, name) => {
    const v = single(values, name);
    if (v === undefined) return undefined;
    if (v.length > max) throw new ParamError(name, `query parameter '${name}' must be at most ${max} characters, got ${v.length}`);
    return v;
  };
}

/** A repeatable string parameter (`?name=a&name=b`): at most maxItems values of maxLength each. */
export function list(o: { maxItems: number; maxLength?: number }): ParamParser<string[]> {
  const max = o.maxLength ?? MAX_KEY_LENGTH;
  return (values, name) => {
    if (values.length > o.maxItems) throw new ParamError(name, `query parameter '${name}' is given ${values.length} times; at most ${o.maxItems} are allowed`);
    for (const v of values) if (v.length > max) throw new ParamError(name, `query parameter '${name}' must be at most ${max} characters, got ${v.length}`);
    return values.filter((v) => v !== '');
  };
}

/** A flag parameter (`?verbose`, `?x=1`): true when present. */
export const flag: ParamParser<boolean> = (values) => values.length > 0;

/** The `from`/`to` pair every ranged route takes. */
export const RANGE = { from: time, to: time } as const;

export type ParamSpec = Record<string, ParamParser<unknown>>;
export type Parsed<S extends ParamSpec> = { [K in keyof S]: ReturnType<S[K]> };

/** One /api route: its path pattern, its declared query parameters and what it answers. */
export interface ApiRoute {
  path: string;
  params: ParamSpec;
  /** Returns the JSON body (200), or an ApiNotFound (404). */
  run(segments: Record<string, string>, params: Record<string, unknown>): unknown;
}

/** What a route returns for a missing item: the server answers 404 `{ error: message }`. */
export class ApiNotFound {
  constructor(readonly message: string) {}
}

/**
 * Declares a route with typed parameters. Example:
 * `route('/api/services/:name/charts', { ...RANGE, type: str() }, (m, p) => q.serviceCharts(m.name, rangeOf(p), p.type))`
 */
export function route<S extends ParamSpec>(path: string, params: S, run: (segments: Record<string, string>, params: Parsed<S>) => unknown): ApiRoute {
  return { path, params, run: run as ApiRoute['run'] };
}

/**
 * Parses a query string against a route's declared parameters; an undeclared parameter is a 400
 * too (a typo must not silently widen a query). Example:
 * `const p = parseQuery(url.searchParams, { ...RANGE, type: str() });`
 */
export function parseQuery<S extends ParamSpec>(q: URLSearchParams, spec: S): Parsed<S> {
  for (const k of new Set(q.keys())) {
    if (!Object.prototype.hasOwnProperty.call(spec, k)) {
      const known = Object.keys(spec);
      throw new ParamError(k, `unknown query parameter ${show(k)}${known.length ? `; this route takes ${known.join(', ')}` : '; this route takes none'}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, parse] of Object.entries(spec)) out[k] = parse(q.getAll(k), k);
  return out as Parsed<S>;
}

/**
 * The µs range of parsed `from`/`to` (epoch ms). Defaults: `to` now, `from` an hour before `to`.
 * `to` before `from` is a 400. Any length within 0 … MAX_TIME_MS is fine: charts choose their step
 * for about 60 points whatever the length, and every row query has a LIMIT.
 */
export function rangeOf(p: { from?: number; to?: number }, now = Date.now()): Range {
  const to = p.to ?? Math.min(now, MAX_TIME_MS);
  const from = p.from ?? Math.max(0, to - DEFAULT_RANGE_MS);
  if (to < from) throw new ParamError('to', `query parameter 'to' (${to}) must not be before 'from' (${from})`);
  return { fromUs: from * 1000, toUs: to * 1000 };
}

/**
 * Splits an /api path into its decoded segments. Malformed percent-encoding (`/api/traces/%`), an
 * empty segment inside the path or a segment longer than MAX_KEY_LENGTH is a 400.
 */
export function pathSegments(path: string): string[] {
  const raw = path.split('/');
  // '/api/x/' → ['', 'api', 'x', '']: the leading and one trailing slash are not segments.
  const parts = raw.slice(1, raw[raw.length - 1] === '' && raw.length > 2 ? -1 : undefined);
  return parts.map((s, i) => {
    let v: string;
    try {
      v = decodeURIComponent(s);
    } catch {
      throw new ParamError(`path segment ${i + 1}`, `path segment ${i + 1} of ${show(path)} has malformed percent-encoding`);
    }
    if (v === '') throw new ParamError(`path segment ${i + 1}`, `path segment ${i + 1} of ${show(path)} is empty`);
    if (v.length > MAX_KEY_LENGTH) throw new ParamError(`path segment ${i + 1}`, `path segment ${i + 1} must be at most ${MAX_KEY_LENGTH} characters, got ${v.length}`);
    return v;
  });
}

/**
 * Matches decoded path segments against a route pattern such as `/api/services/:name/charts`;
 * returns the named segments, or undefined when the path is not this route's.
 */
export function matchPath(pattern: string, segments: string[]): Record<string, string> | undefined {
  const want = pattern.split('/').filter(Boolean);
  if (want.length !== segments.length) return undefined;
  const out: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    if (w.startsWith(':')) out[w.slice(1)] = segments[i]!;
    else if (w !== segments[i]) return undefined;
  }
  return out;
}

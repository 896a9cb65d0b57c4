// W3C trace context: parse and format `traceparent` and `tracestate`, including Elastic's `es=s:<rate>` entry.

export interface TraceParent {
  traceId: string;
  /** The caller's span id: our transaction's parent_id. */
  parentId: string;
  sampled: boolean;
  /** The raw flags byte, kept so we pass unknown flags along. */
  flags: number;
}

const HEX = /^[0-9a-f]+$/;
const ZERO32 = '00000000000000000000000000000000';
const ZERO16 = '0000000000000000';

/**
 * Parses a traceparent header; returns undefined for anything invalid (never throws). Accepts future versions
 * as W3C requires (first 55 chars parsed, the rest must start with "-"), rejects version ff, uppercase hex,
 * all-zero ids and wrong lengths.
 */
export function parseTraceparent(header: unknown): TraceParent | undefined {
  if (typeof header !== 'string') return undefined;
  const h = header.trim();
  if (h.length < 55) return undefined;
  const version = h.slice(0, 2);
  if (!HEX.test(version) || version === 'ff') return undefined;
  if (version === '00' ? h.length !== 55 : h.length > 55 && h[55] !== '-') return undefined;
  if (h[2] !== '-' || h[35] !== '-' || h[52] !== '-') return undefined;
  const traceId = h.slice(3, 35);
  const parentId = h.slice(36, 52);
  const flagsHex = h.slice(53, 55);
  if (!HEX.test(traceId) || !HEX.test(parentId) || !HEX.test(flagsHex)) return undefined;
  if (traceId === ZERO32 || parentId === ZERO16) return undefined;
  const flags = parseInt(flagsHex, 16);
  return { traceId, parentId, sampled: (flags & 1) === 1, flags };
}

/** Formats "00-<trace>-<span>-<flags>". */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

export interface TraceState {
  /** Elastic's sample rate from `es=s:<rate>`, when present and valid. */
  sampleRate: number | undefined;
  /** Other members of the `es` entry (e.g. "x:y"), kept to pass along. */
  esOther: string[];
  /** Other vendors' "key=value" members in order, passed along untouched. */
  others: string[];
}

const KEY = /^(?:[a-z0-9][_0-9a-z*/-]{0,255}|[a-z0-9][_0-9a-z*/-]{0,240}@[a-z][_0-9a-z*/-]{0,13})$/;
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/** Parses a tracestate header (string or repeated headers); undefined when absent or invalid as a whole. */
export function parseTracestate(header: unknown): TraceState | undefined {
  if (Array.isArray(header)) header = header.join(',');
  if (typeof header !== 'string') return undefined;
  const out: TraceState = { sampleRate: undefined, esOther: [], others: [] };
  const seen = new Set<string>();
  for (const raw of header.split(',')) {
    const m = raw.trim();
    if (!m) continue;
    const eq = m.indexOf('=');
    if (eq <= 0) return undefined;
    const key = m.slice(0, eq);
    const value = m.slice(eq + 1);
    if (!KEY.test(key) || !VALUE.test(value) || seen.has(key)) return undefined;
    seen.add(key);
    if (key === 'es') {
      for (const part of value.split(';')) {
        const colon = part.indexOf(':');
        if (colon > 0 && part.slice(0, colon) === 's') {
          const rateStr = part.slice(colon + 1);
          const rate = /^\d+(?:\.\d+)?$/.test(rateStr) ? Number(rateStr) : NaN;
          if (rate >= 0 && rate <= 1) out.sampleRate = rate;
        } else if (colon > 0) out.esOther.push(part);
      }
    } else out.others.push(m);
  }
  if (seen.size > 32) return undefined;
  return out;
}

/** Formats a sample rate as Elastic does: at most 4 decimals, no trailing zeros ("0.5", "1", "0.0001"). */
export function formatRate(rate: number): string {
  return String(Math.round(rate * 10000) / 10000);
}

/** Builds the outgoing tracestate: our `es` entry first (W3C: the updating vendor moves to the front). */
export function formatTracestate(sampleRate: number | undefined, state: TraceState | undefined): string | undefined {
  const es: string[] = [];
  if (sampleRate !== undefined) es.push(`s:${formatRate(sampleRate)}`);
  if (state) es.push(...state.esOther);
  const members: string[] = es.length ? [`es=${es.join(';')}`] : [];
  if (state) members.push(...state.others.slice(0, 31));
  return members.length ? members.join(',') : undefined;
}

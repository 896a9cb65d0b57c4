// Pure helpers of the intake-v2 wire contract: backoff delay, error-body parsing, URL/host rules,
// field limits and encoding of values JSON.stringify refuses.
import type { LimitTree } from './limits.js';

/**
 * Delay before the next intake request after `failures` consecutive failed requests, per the
 * agent spec (transport.md): min(failures - 1, 6)² seconds ± 10 % jitter, i.e. 0, 1, 4, 9, 16, 25,
 * 36 s. `unitMs` is one "second" (tests shrink it); `random` is injectable for exact tests.
 */
export function backoffDelayMs(failures: number, unitMs = 1000, random: () => number = Math.random): number {
  if (failures <= 1) return 0;
  const base = Math.min(failures - 1, 6) ** 2;
  const jitter = base * (0.2 * random() - 0.1);
  return Math.round((base + jitter) * unitMs);
}

/** What an intake error response says, in the two shapes APM Server uses (PROTOCOL.md §1.2). */
export interface IntakeErrorInfo {
  /** Events the server accepted despite the error (only in the `{accepted, errors}` shape). */
  accepted?: number;
  /** Human-readable message: the per-event error messages joined, or the `error` string, or raw text. */
  message: string;
}

const MAX_MESSAGE = 1000;

/** Parses an error body: `{accepted, errors: [{message, document?}]}`, `{error}`, or plain text. */
export function parseErrorBody(body: string): IntakeErrorInfo {
  const text = body.trim();
  if (text === '') return { message: '(empty response body)' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { message: clip(text) };
  }
  if (parsed !== null && typeof parsed === 'object') {
    const o = parsed as Record<string, unknown>;
    const accepted = typeof o.accepted === 'number' && Number.isFinite(o.accepted) ? o.accepted : undefined;
    if (Array.isArray(o.errors)) {
      const msgs: string[] = [];
      for (const e of o.errors) {
        if (e !== null && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') {
          msgs.push((e as { message: string }).message);
        }
      }
      return { accepted, message: clip(msgs.length ? msgs.join('; ') : text) };
    }
    if (typeof o.error === 'string') return { accepted, message: clip(o.error) };
    return { accepted, message: clip(text) };
  }
  return { message: clip(text) };
}

function clip(s: string): string {
  return s.length > MAX_MESSAGE ? s.slice(0, MAX_MESSAGE - 1) + '…' : s;
}

/** Hosts the agent spec says SHOULD NOT get compressed requests (transport.md §Compression). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '127.0.0.1' || h === '::1' || h === '0:0:0:0:0:0:0:1';
}

/** The version in a `GET /` body; pre-7.0 servers nested the fields under "ok". */
export function parseServerVersion(body: string): string | undefined {
  try {
    const o = JSON.parse(body) as { version?: unknown; ok?: { version?: unknown } } | null;
    if (o && typeof o.version === 'string') return o.version;
    if (o && o.ok && typeof o.ok.version === 'string') return o.ok.version;
  } catch {
    // not JSON: unknown version
  }
  return undefined;
}

/**
 * Shortens, in place, every string longer than its schema's maxLength (see limits.ts) to that many
 * characters: APM Server rejects a whole request when one field is too long, so
 * one overlong service name (or label, URL, user id) would otherwise lose every event.
 */
export function applyLimits(obj: unknown, tree: LimitTree): void {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return;
  const o = obj as Record<string, unknown>;
  const any = tree['*'];
  for (const k in tree) {
    if (k !== '*' && k in o) limitField(o, k, tree[k]!);
  }
  if (any !== undefined) {
    for (const k in o) if (!(k in tree)) limitField(o, k, any);
  }
}

function limitField(o: Record<string, unknown>, k: string, limit: number | LimitTree): void {
  const v = o[k];
  if (typeof limit === 'number') {
    if (typeof v === 'string' && v.length > limit) o[k] = clipTo(v, limit);
    return;
  }
  if (v === null || typeof v !== 'object') return;
  if (!Array.isArray(v)) {
    applyLimits(v, limit);
    return;
  }
  const item = limit['[]'];
  if (item === undefined) return;
  for (let i = 0; i < v.length; i++) {
    if (typeof item === 'number') {
      if (typeof v[i] === 'string' && (v[i] as string).length > item) v[i] = clipTo(v[i] as string, item);
    } else applyLimits(v[i], item);
  }
}

/**
 * The first `max` UTF-16 units (so at most `max` characters), never splitting a surrogate pair. No
 * "…" marker, as elastic-apm-node's truncate.js: some limited fields also have a pattern (service.name).
 */
function clipTo(s: string, max: number): string {
  const c = s.charCodeAt(max - 1);
  return s.slice(0, c >= 0xd800 && c <= 0xdbff ? max - 1 : max);
}

/**
 * JSON for a value JSON.stringify refuses: a reference cycle becomes "[Circular]" (only true cycles:
 * an object seen twice side by side is written twice) and a BigInt its decimal string, as
 * elastic-apm-node's encoder does. Throws only when a toJSON or getter throws.
 */
export function stringifySafe(value: unknown): string | undefined {
  const ancestors: object[] = [];
  return JSON.stringify(value, function (this: unknown, _key: string, v: unknown) {
    if (typeof v === 'bigint') return v.toString();
    if (v === null || typeof v !== 'object') return v;
    while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop();
    if (ancestors.includes(v)) return '[Circular]';
    ancestors.push(v);
    return v;
  });
}

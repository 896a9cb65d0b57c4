// The receiver's fuzzer (issue 12): a seeded generator of hostile requests built from APM Server's
// own intake payloads (testdata/*.ndjson): truncated, byte-mutated, JSON-mutated (huge, negative,
// wrong-typed, deeply nested, oversized values), re-framed (gzip/deflate, wrong headers, methods)
// and query API calls with hostile parameters and paths. runFuzz() sends them to a receiver and
// checks every answer: within the time limit, never 5xx except 503 for overload. Used by
// test/receiver/fuzz.test.ts (CI) and scripts/fuzz-receiver.mjs (long runs).
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import { safeStringify } from '../../receiver/safe-json.js';

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzCase {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface Corpus {
  files: Array<{ name: string; lines: string[] }>;
  traceIds: string[];
}

/**
 * The testdata payloads, split into lines (the first maxLines of each: the 3.9 MB Node agent
 * capture would otherwise make most of the run's bytes), and the trace ids they carry.
 */
export function loadCorpus(testdataDir: string, maxLines = 300): Corpus {
  const files = readdirSync(testdataDir)
    .filter((n) => n.endsWith('.ndjson'))
    .sort()
    .map((name) => ({ name, lines: readFileSync(join(testdataDir, name), 'utf8').split('\n').filter((l) => l.trim() !== '').slice(0, maxLines) }));
  const traceIds = new Set<string>();
  for (const f of files) for (const l of f.lines) for (const m of l.matchAll(/"trace_id"\s*:\s*"([^"]{1,64})"/g)) traceIds.add(m[1]!);
  return { files, traceIds: [...traceIds].sort() };
}

const HOSTILE_VALUES: unknown[] = [
  null, true, -1, 0, 1e308, -1e308, 2 ** 53 + 1, 1e22, 0.5, '', ' ', 'x'.repeat(2000), '\u0000', '\ud800', '<script>alert(1)</script>',
  '%', '%E0%A4%A', '../../etc/passwd', [], {}, [[[[]]]], { a: { b: { c: {} } } }, 'NaN', '1e22', -0,
];
const HOSTILE_PARAMS = [
  '1e22', '-1', 'NaN', 'Infinity', '', '0', '8640000000000000', '8640000000000001', '99999999999999999999', '1.5', '0x10', 'abc', '%', '%E0%A4%A',
  '%00', 'x'.repeat(1100), '<svg onload=alert(1)>', "' OR 1=1 --", '\u202e', '2', '50', '500', '501', 'success', 'transaction', 'span',
];
const API_PATHS = [
  '/api/services', '/api/services/:s/charts', '/api/services/:s/transactions', '/api/services/:s/samples', '/api/services/:s/metrics',
  '/api/services/:s/distribution', '/api/traces/:t', '/api/errors', '/api/errors/:s', '/api/stats', '/api/service-map', '/api/dependencies',
  '/api/dependency', '/api/search', '/api/events/:s/:t/:s', '/api/nope', '/api/services/:s/charts/extra', '/api', '/api/',
];
const PARAM_NAMES = ['from', 'to', 'type', 'name', 'limit', 'service', 'traceId', 'outcome', 'minUs', 'maxUs', 'label', 'bogus', 'from', 'to'];
const SEGMENTS = ['opbeans-node', 'checkout', '%', '%zz', '%E0%A4%A', '%C0%AF', '%ED%A0%80', 'x'.repeat(1100), '..', '%2e%2e', 'transaction', 'span', '🙂', '%F0%9F%99%82', ''];

/** A value nested `depth` levels: arrays or objects at random. */
function nestedText(depth: number, rnd: () => number): string {
  const obj = rnd() < 0.5;
  return obj ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) : '['.repeat(depth) + '1' + ']'.repeat(depth);
}

/** Replaces one randomly chosen value of a JSON line with a hostile one (or returns it unchanged). */
function mutateJson(line: string, rnd: () => number, pick: <T>(a: T[]) => T): string {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch {
    return line;
  }
  const holders: Array<[Record<string, unknown> | unknown[], string | number]> = [];
  const stack: unknown[] = [doc];
  while (stack.length && holders.length < 2000) {
    const v = stack.pop();
    if (Array.isArray(v)) v.forEach((x, i) => (holders.push([v, i]), stack.push(x)));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) holders.push([v as Record<string, unknown>, k]), stack.push(x);
  }
  if (holders.length === 0) return line;
  const [h, k] = pick(holders);
  const r = rnd();
  const marker = '"__SF_DEEP__"';
  if (r < 0.12) {
    (h as Record<string, unknown>)[k as string] = '__SF_DEEP__';
    const depth = pick([50, 1000, 4999, 9990, 10_001, 30_000]);
    return safeStringify(doc).replace(marker, nestedText(depth, rnd));
  }
  if (r < 0.2) (h as Record<string, unknown>)[k as string] = 'y'.repeat(pick([1025, 10_000, 310 * 1024]));
  else if (r < 0.25) delete (h as Record<string, unknown>)[k as string];
  else (h as Record<string, unknown>)[k as string] = pick(HOSTILE_VALUES);
  return safeStringify(doc);
}

function mutateBytes(buf: Buffer, rnd: () => number): Buffer {
  const out = Buffer.from(buf);
  const n = 1 + Math.floor(rnd() * 8);
  for (let i = 0; i < n && out.length > 0; i++) out[Math.floor(rnd() * out.length)] = Math.floor(rnd() * 256);
  return out;
}

/** The generator: case `i` of seed `seed` is always the same request. */
export function* cases(corpus: Corpus, seed: number, count: number): Generator<FuzzCase> {
  const rnd = prng(seed);
  const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
  for (let i = 0; i < count; i++) {
    const headers: Record<string, string> = { 'Content-Type': 'application/x-ndjson', Accept: 'application/json' };
    const r = rnd();
    if (r < 0.3) {
      // query API
      const tmpl = pick(API_PATHS);
      // Non-ASCII is percent-encoded (an HTTP request line cannot carry it); raw `%` stays raw.
      const path = tmpl
        .replace(/:t/g, () => (rnd() < 0.7 ? pick(corpus.traceIds) : pick(SEGMENTS)))
        .replace(/:s/g, () => pick(SEGMENTS))
        .replace(/[^\x21-\x7e]/gu, (ch) => encodeURIComponent(ch));
      const q = new URLSearchParams();
      const n = Math.floor(rnd() * 4);
      const raws: string[] = [];
      for (let j = 0; j < n; j++) {
        const name = pick(PARAM_NAMES);
        const value = pick(HOSTILE_PARAMS);
        if (value.startsWith('%')) raws.push(`${name}=${value}`);
        else q.append(name, value);
      }
      const qs = [q.toString(), ...raws].filter(Boolean).join('&');
      yield { kind: 'api', method: rnd() < 0.95 ? 'GET' : pick(['POST', 'HEAD', 'DELETE', 'OPTIONS']), path: qs ? `${path}?${qs}` : path, headers: { Accept: 'application/json' } };
      continue;
    }
    const file = pick(corpus.files);
    let lines = [...file.lines];
    let kind: string;
    const m = rnd();
    if (m < 0.35) {
      kind = 'json-mutated';
      const times = 1 + Math.floor(rnd() * 3);
      for (let j = 0; j < times; j++) {
        const at = Math.floor(rnd() * lines.length);
        lines[at] = mutateJson(lines[at]!, rnd, pick);
      }
    } else if (m < 0.45) {
      kind = 'reframed';
      if (rnd() < 0.5) lines = lines.filter(() => rnd() < 0.7);
      else lines.splice(Math.floor(rnd() * lines.length), 0, ...lines.slice(0, 1 + Math.floor(rnd() * 3)));
      if (rnd() < 0.3) lines.unshift(pick(lines));
    } else if (m < 0.5) {
      kind = 'oversized';
      lines.splice(1, 0, `{"span":{"name":"${'z'.repeat(320 * 1024)}"}}`);
    } else if (m < 0.55) {
      kind = 'deep';
      lines.splice(1, 0, `{"transaction":{"id":"1","trace_id":"2","context":{"custom":{"d":${nestedText(pick([9_996, 10_000, 20_000, 100_000]), rnd)}}}}}`);
    } else kind = 'as-is';
    let body = Buffer.from(lines.join('\n') + (rnd() < 0.8 ? '\n' : ''));
    const b = rnd();
    if (b < 0.15) {
      kind += '+truncated';
      body = body.subarray(0, Math.floor(rnd() * body.length));
    } else if (b < 0.3) {
      kind += '+bytes';
      body = mutateBytes(body, rnd);
    }
    const e = rnd();
    if (e < 0.2) {
      headers['Content-Encoding'] = 'gzip';
      body = gzipSync(body);
      if (rnd() < 0.3) body = rnd() < 0.5 ? body.subarray(0, Math.floor(rnd() * body.length)) : mutateBytes(body, rnd);
      kind += '+gzip';
    } else if (e < 0.3) {
      body = deflateSync(body);
      if (rnd() < 0.5) headers['Content-Encoding'] = 'deflate';
      if (rnd() < 0.3) body = mutateBytes(body, rnd);
      kind += '+deflate';
    } else if (e < 0.33) {
      headers['Content-Encoding'] = pick(['gzip', 'deflate', 'br', 'identity']);
      kind += '+wrong-encoding';
    }
    const h = rnd();
    if (h < 0.04) headers['Content-Type'] = pick(['application/json', 'text/plain', '', 'application/x-ndjson; charset=utf-8']);
    else if (h < 0.07) delete headers['Content-Type'];
    const method = rnd() < 0.97 ? 'POST' : pick(['GET', 'PUT', 'OPTIONS', 'DELETE']);
    yield { kind, method, path: rnd() < 0.5 ? '/intake/v2/events' : '/intake/v2/events?verbose', headers, body };
  }
}

export interface FuzzResult {
  cases: number;
  byStatus: Record<string, number>;
  byKind: Record<string, number>;
  /** Cases that broke a rule: too slow, 5xx other than 503, or no answer. */
  failures: Array<{ i: number; kind: string; method: string; path: string; problem: string }>;
  maxMs: number;
  p99Ms: number;
  totalMs: number;
  maxRss?: number;
}

/** Sends every case (`concurrency` at a time) and checks each answer. */
export async function runFuzz(o: {
  url: string;
  corpus: Corpus;
  seed: number;
  count: number;
  timeLimitMs: number;
  concurrency?: number;
  rss?: () => number | undefined;
  onProgress?: (done: number) => void;
}): Promise<FuzzResult> {
  const u = new URL(o.url);
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency ?? 4 });
  const res: FuzzResult = { cases: 0, byStatus: {}, byKind: {}, failures: [], maxMs: 0, p99Ms: 0, totalMs: 0 };
  const times: number[] = [];
  const started = Date.now();
  const it = cases(o.corpus, o.seed, o.count);
  let i = 0;
  const one = (c: FuzzCase, n: number): Promise<void> =>
    new Promise((resolve) => {
      const t0 = Date.now();
      let settled = false;
      const done = (status: string, body: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const ms = Date.now() - t0;
        times.push(ms);
        res.byStatus[status] = (res.byStatus[status] ?? 0) + 1;
        const k = c.kind.split('+')[0]!;
        res.byKind[k] = (res.byKind[k] ?? 0) + 1;
        const code = Number(status);
        let problem: string | undefined;
        if (!Number.isFinite(code)) problem = status;
        else if (code >= 500 && code !== 503) problem = `status ${code}: ${body.slice(0, 300)}`;
        else if (code === 503 && !/request timed out|queue is full|server is shutting down/.test(body)) problem = `503 that is not overload: ${body.slice(0, 300)}`;
        else if (ms > o.timeLimitMs) problem = `answered after ${ms} ms`;
        if (problem) res.failures.push({ i: n, kind: c.kind, method: c.method, path: c.path.slice(0, 200), problem });
        resolve();
      };
      let req: ReturnType<typeof request> | undefined;
      const timer = setTimeout(() => {
        req?.destroy();
        done('timeout', '');
      }, o.timeLimitMs + 1000);
      const headers = { ...c.headers, ...(c.body ? { 'Content-Length': String(c.body.length) } : {}) };
      try {
        req = request({ host: u.hostname, port: u.port, method: c.method, path: c.path, headers, agent }, (r) => {
        const chunks: Buffer[] = [];
        let size = 0;
        r.on('data', (b: Buffer) => {
          size += b.length;
          if (size < 4096) chunks.push(b);
        });
        r.on('end', () => done(String(r.statusCode), Buffer.concat(chunks).toString('utf8')));
        r.on('error', (e) => done(`response error ${e.message}`, ''));
      });
      } catch (err) {
        return done(`could not send: ${(err as Error).message}`, '');
      }
      // The receiver may answer early (a bad first line) and close while we still send: that is fine.
      req.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNRESET' || e.code === 'EPIPE' ? 'reset' : `request error ${e.message}`, ''));
      req.end(c.body);
    });
  const worker = async (): Promise<void> => {
    for (;;) {
      const next = it.next();
      if (next.done) return;
      const n = i++;
      await one(next.value, n);
      res.cases++;
      if (o.rss && n % 50 === 0) {
        const r = o.rss();
        if (r !== undefined) res.maxRss = Math.max(res.maxRss ?? 0, r);
      }
      if (o.onProgress && n % 500 === 0) o.onProgress(n);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 4 }, worker));
  agent.destroy();
  res.totalMs = Date.now() - started;
  times.sort((a, b) => a - b);
  res.maxMs = times[times.length - 1] ?? 0;
  res.p99Ms = times[Math.floor(times.length * 0.99)] ?? 0;
  // 'reset': the receiver answered early and closed while the body was still being sent; not a failure.
  return res;
}

// Helpers of the receiver's security tests: `spanforge serve` in a child process (a receiver that
// hangs or blows up cannot take the test process with it; the test measures its RSS and kills it),
// and raw HTTP requests with exact headers and a hard time limit.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { tempDir } from './helpers.js';

const ROOT = join(__dirname, '..', '..');

export interface Served {
  url: string;
  /** host:port as agents and browsers put it in Host. */
  hostPort: string;
  port: number;
  child: ChildProcess;
  dataDir: string;
  stdout(): string;
  /** The child's resident set size in bytes (Linux /proc), or undefined once it exited. */
  rss(): number | undefined;
  stop(): Promise<void>;
}

/**
 * Starts `spanforge serve --port 0` with extra flags and env (and an existing data dir, else a
 * fresh one removed by stop()); resolves once it prints its URLs.
 */
export async function serveChild(args: string[] = [], env: Record<string, string> = {}, dataDir?: string): Promise<Served> {
  const t = dataDir ? { dir: dataDir, remove: () => {} } : tempDir('sf-sec-');
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'index.ts'), 'serve', '--port', '0', '--data-dir', t.dir, ...args], {
    cwd: ROOT,
    env: { ...process.env, SPANFORGE_FLUSH_INTERVAL_MS: '20', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed no URL in 20 s; stdout=${out} stderr=${err}`)), 20_000);
    const check = (): void => {
      const m = /intake: {2}(http:\/\/\S+)\/intake\/v2\/events/.exec(out);
      if (m && out.includes('Press Ctrl+C to stop.')) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => reject(new Error(`serve exited ${code}; stdout=${out} stderr=${err}`)));
  });
  const u = new URL(url);
  return {
    url,
    hostPort: u.host,
    port: Number(u.port),
    child,
    dataDir: t.dir,
    stdout: () => out,
    rss() {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return m ? Number(m[1]) * 1024 : undefined;
      } catch {
        return undefined;
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t2 = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t2);
      }
      t.remove();
    },
  };
}

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  ms: number;
  json(): any;
}

/**
 * One HTTP request with exact headers (no Host or Origin added beyond what is given, except the
 * Host node:http needs) that rejects after timeoutMs instead of waiting forever.
 */
export function raw(
  url: string,
  o: { method?: string; headers?: Record<string, string>; body?: Buffer | string; timeoutMs?: number; path?: string } = {},
): Promise<RawReply> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      { host: u.hostname, port: u.port, path: o.path ?? u.pathname + u.search, method: o.method ?? 'GET', headers: o.headers ?? {}, setHost: !(o.headers && 'Host' in o.headers) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, ms: Date.now() - started, json: () => JSON.parse(text) });
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`${o.method ?? 'GET'} ${o.path ?? u.pathname + u.search}: no answer within ${o.timeoutMs ?? 5000} ms`));
    }, o.timeoutMs ?? 5000);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(o.body);
  });
}

/**
 * Waits (at most 5 s) until the receiver has stored `n` transactions: accepted events are written in
 * batches a few ms after the 202, so a count read at once can still be the old one.
 */
export async function waitStored(s: Served, n: number, headers: Record<string, string> = {}): Promise<void> {
  for (const end = Date.now() + 5000; ; await new Promise((r) => setTimeout(r, 25))) {
    const st = await raw(`${s.url}/api/stats`, { headers, timeoutMs: 3000 });
    if (st.status === 200 && st.json().transactions === n) return;
    if (Date.now() > end) throw new Error(`the receiver did not store ${n} transaction(s) within 5 s: ${st.status} ${st.text}`);
  }
}

// Shared helpers for the receiver tests: temp data dirs, a receiver on an ephemeral port, and
// raw HTTP posting (node:http, so tests control chunking, encoding and headers exactly).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startReceiver, type Receiver, type ReceiverOptions } from '../../receiver/index.js';
import { INTAKE_SCHEMAS, INTAKE_TESTDATA } from '../_shared.js';

export const TESTDATA = INTAKE_TESTDATA;
export const REFERENCE_SCHEMAS = INTAKE_SCHEMAS;

export function testdata(name: string): Buffer {
  return readFileSync(join(TESTDATA, name));
}

export function tempDir(prefix = 'sf-recv-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function withReceiver(opts: Partial<ReceiverOptions> = {}): Promise<Receiver & { dataDir: string; cleanup(): Promise<void> }> {
  const t = opts.dataDir ? { dir: opts.dataDir, remove: () => {} } : tempDir();
  const r = await startReceiver({ port: 0, ...opts, dataDir: t.dir });
  return Object.assign(r, {
    dataDir: t.dir,
    async cleanup() {
      await r.close();
      t.remove();
    },
  });
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): any;
}

/** POSTs (or sends `method`) a body in one or more chunks and collects the reply. */
export function send(
  url: string,
  body: Buffer | string | Array<Buffer | string> | undefined,
  opts: { method?: string; headers?: Record<string, string>; chunkDelayMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'POST', headers: { ...(opts.headers ?? {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    const parts = body === undefined ? [] : Array.isArray(body) ? body : [body];
    (async () => {
      for (const p of parts) {
        if (!req.write(p)) await new Promise((r) => req.once('drain', r));
        if (opts.chunkDelayMs) await new Promise((r) => setTimeout(r, opts.chunkDelayMs));
      }
      req.end();
    })().catch(reject);
  });
}

export const NDJSON = { 'Content-Type': 'application/x-ndjson', Accept: 'application/json' };

/** Polls until fn() returns a truthy value (the store flushes every 100 ms). */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 3000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function getJson(url: string): Promise<any> {
  const r = await fetch(url);
  if (r.status !== 200) throw new Error(`GET ${url} -> ${r.status}: ${await r.text()}`);
  return r.json();
}

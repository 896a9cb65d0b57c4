// Public entry of the local receiver: startReceiver() opens the store, starts the intake-v2 +
// web UI server and returns its URL and a close() that flushes every accepted event to disk.
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { createReceiverServer } from './server.js';
import { SqliteUnavailableError, Store } from './store.js';

export interface ReceiverOptions {
  /** TCP port; 0 picks a free one. Default 8200 (APM Server's port). */
  port?: number;
  /** Interface to bind. Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Folder of the SQLite store (created if missing). */
  dataDir: string;
  /** When set, agents must send `Authorization: Bearer <secretToken>`. */
  secretToken?: string;
  /** When set, agents may send `Authorization: ApiKey <apiKey>` (the base64 of id:key). */
  apiKey?: string;
  /** Max bytes of one NDJSON line after decompression. Default 300 KiB, as APM Server. */
  maxEventSize?: number;
  /** Max bytes of one request (compressed and decompressed); beyond it: 413. Default 64 MiB. */
  maxRequestSize?: number;
  /** Retention: max event age in ms (default 7 days), rows per table, database bytes. */
  maxAgeMs?: number;
  maxRows?: number;
  maxBytes?: number;
  /** Max ms an accepted event waits in memory before its batch is written. Default 100. */
  flushIntervalMs?: number;
  /** Intake requests decoded at the same time; more wait (paused) for a slot. Default 200. */
  maxConcurrentIntake?: number;
  /**
   * APM Server's read_timeout: a request (waiting for a slot included) must have arrived whole
   * within this many ms, else it is answered 503 `request timed out` and its connection closed.
   * Default 30 000.
   */
  readTimeoutMs?: number;
  /**
   * Host names, besides localhost and the listening address, that browsers may use to reach the UI
   * and API (the DNS-rebinding check): `name`, `.example.com` (a domain and its subdomains), `*` (any).
   */
  allowedHosts?: string[];
  /**
   * Origins whose web pages may send events (RUM), as APM Server's `rum.allow_origins`:
   * `https://shop.example.com`, `https://*.example.com`, `*`. Default none: cross-origin browser
   * requests are refused.
   */
  rumAllowOrigins?: string[];
  /** Cache-Control max-age (seconds) of /config/v1/agents answers; default 30, as APM Server. */
  agentConfigMaxAgeS?: number;
}

export interface Receiver {
  /** Base URL, e.g. http://127.0.0.1:8200 (agents use it as serverUrl). */
  url: string;
  /** The web UI, `${url}/ui/`. */
  uiUrl: string;
  /**
   * With a secret token or API key: a new one-time link that signs a browser in to the UI
   * (`${url}/ui/login?code=…`); undefined without one.
   */
  loginUrl(): string | undefined;
  /** Stops accepting, ends open requests, flushes the pending batch and closes the store. */
  close(): Promise<void>;
}

/**
 * Finds a folder shipped with the package: next to the sources (tsx), or in the package root's
 * receiver/ when running compiled code (dist/cjs/receiver/ → ../../../receiver/).
 */
function assetDir(name: string): string | undefined {
  // dirname(__filename), not __dirname: tsx defines only __filename when ESM code imports this file.
  let dir = dirname(__filename);
  if (existsSync(join(dir, name))) return join(dir, name);
  for (let up = 0; up < 4; up++) {
    dir = dirname(dir);
    const candidate = join(dir, 'receiver', name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Starts the local receiver. Example:
 * `const r = await startReceiver({ port: 0, dataDir: '/tmp/sf' }); …; await r.close();`
 */
export async function startReceiver(options: ReceiverOptions): Promise<Receiver> {
  if (!options || typeof options.dataDir !== 'string' || options.dataDir === '') {
    throw new TypeError('startReceiver: dataDir is required (a folder for the SQLite store)');
  }
  const port = options.port ?? 8200;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`startReceiver: port must be an integer 0-65535, got ${String(options.port)}`);
  const host = options.host ?? '127.0.0.1';
  const schemaDir = assetDir('schemas');
  if (!schemaDir) throw new Error('startReceiver: the intake-v2 JSON schemas (receiver/schemas) are missing from the installation');
  let store: Store;
  try {
    store = new Store({ dataDir: options.dataDir, maxAgeMs: options.maxAgeMs, maxRows: options.maxRows, maxBytes: options.maxBytes, flushIntervalMs: options.flushIntervalMs });
  } catch (err) {
    if (err instanceof SqliteUnavailableError) throw err;
    throw new Error(`startReceiver: cannot open the store in data dir ${options.dataDir}: ${(err as Error).message}`, { cause: err });
  }
  // A failed batch write (disk full, file removed) is reported on stderr, at most once a minute.
  let lastReport = 0;
  store.on('error-logged', (err: Error) => {
    if (Date.now() - lastReport < 60_000) return;
    lastReport = Date.now();
    process.stderr.write(`spanforge receiver: could not write to the store (${err.message}); events of that batch were lost\n`);
  });
  const server = createReceiverServer({
    store,
    schemaDir,
    uiDir: assetDir('ui'),
    limits: { maxEventSize: options.maxEventSize ?? 300 * 1024, maxRequestSize: options.maxRequestSize ?? 64 * 1024 * 1024 },
    secretToken: options.secretToken,
    apiKey: options.apiKey,
    maxConcurrentIntake: options.maxConcurrentIntake,
    readTimeoutMs: options.readTimeoutMs,
    listenHost: host,
    allowedHosts: options.allowedHosts,
    rumAllowOrigins: options.rumAllowOrigins,
    agentConfigMaxAgeS: options.agentConfigMaxAgeS,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    store.close();
    throw err;
  }
  const addr = server.address() as AddressInfo;
  const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${hostPart}:${addr.port}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    uiUrl: `${url}/ui/`,
    loginUrl() {
      const code = (server as unknown as { loginCode(): string | undefined }).loginCode();
      return code === undefined ? undefined : `${url}/ui/login?code=${code}`;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        const srv = server as unknown as { closeLive?: () => void; shutdownIntake?: () => void };
        srv.closeLive?.();
        srv.shutdownIntake?.();
        server.close(() => {
          store.close();
          resolve();
        });
        // Idle keep-alive sockets would hold close() open; requests in flight get 2 s to finish.
        server.closeIdleConnections();
        const t = setTimeout(() => server.closeAllConnections(), 2000);
        t.unref();
      });
      return closing;
    },
  };
}

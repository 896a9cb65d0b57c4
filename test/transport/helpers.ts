// Test doubles for the transport tests: a mock APM Server on loopback (port 0) that decodes and
// schema-validates every intake line, a recording logger, and schema-valid sample events.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import zlib from 'node:zlib';
import Ajv from 'ajv';
import type { IntakeEvent, Logger } from '../../runtime/types.js';
import { INTAKE_SCHEMAS } from '../_shared.js';

const SCHEMA_DIR = INTAKE_SCHEMAS;
const LOCAL_SCHEMA_DIR = join(__dirname, '..', '..', 'receiver', 'schemas');

type Validators = Record<string, ((v: unknown) => boolean) | undefined> & { errors: () => string };

function loadValidators(): Validators {
  const ajv = new Ajv({ allowUnionTypes: true });
  const out: Record<string, ((v: unknown) => boolean) | undefined> = {};
  let last: unknown = null;
  for (const kind of ['metadata', 'transaction', 'span', 'error', 'metricset']) {
    let text: string;
    try {
      text = readFileSync(join(SCHEMA_DIR, `${kind}.json`), 'utf8');
    } catch {
      text = readFileSync(join(LOCAL_SCHEMA_DIR, `${kind}.json`), 'utf8');
    }
    const validate = ajv.compile(JSON.parse(text));
    out[kind] = (v: unknown) => {
      const ok = validate(v);
      last = validate.errors;
      return ok as boolean;
    };
  }
  return Object.assign(out, { errors: () => JSON.stringify(last) });
}
const validators = loadValidators();

export interface IntakeRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The body as received, before decoding. */
  raw: Buffer;
  /** NDJSON lines, parsed. */
  lines: Record<string, unknown>[];
}

type Responder = (r: IntakeRequest, res: http.ServerResponse) => void;
/** Takes over a request before the body is read; return true when handled. */
type RawHandler = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

export class MockApmServer {
  readonly intake: IntakeRequest[] = [];
  readonly info: http.IncomingHttpHeaders[] = [];
  /** Lines that failed schema validation (must stay empty). */
  readonly invalid: string[] = [];
  respond: Responder = (_r, res) => {
    res.statusCode = 202;
    res.end();
  };
  raw: RawHandler | undefined;
  infoBody = '{"build_date":"2024-01-01T00:00:00Z","build_sha":"abc","publish_ready":true,"version":"8.12.2"}';
  port = 0;
  private server!: http.Server;
  private readonly sockets = new Set<Socket>();

  static async start(opts: { port?: number; tls?: boolean; host?: string } = {}): Promise<MockApmServer> {
    const s = new MockApmServer();
    await s.listen(opts.port ?? 0, opts.tls ?? false, opts.host);
    return s;
  }

  host = '127.0.0.1';

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  async listen(port: number, tls: boolean, host = '127.0.0.1'): Promise<void> {
    this.host = host;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    this.server = tls
      ? https.createServer(
          {
            key: readFileSync(join(__dirname, 'fixtures', 'server-key.pem')),
            cert: readFileSync(join(__dirname, 'fixtures', 'server-cert.pem')),
          },
          handler,
        )
      : http.createServer(handler);
    this.server.on('connection', (sock: Socket) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    this.server.on('secureConnection', (sock: Socket) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    this.server.on('tlsClientError', () => {});
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** URLs of the central-config polls received (GET /config/v1/agents). */
  configPolls: string[] = [];

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.on('error', () => {});
    res.on('error', () => {});
    if (req.method === 'GET' && req.url?.endsWith('/') && !req.url.includes('intake')) {
      this.info.push(req.headers);
      req.resume();
      res.setHeader('content-type', 'application/json');
      res.end(this.infoBody);
      return;
    }
    // Agents poll central configuration (on by default, as Elastic's): answered as APM Server does with
    // nothing configured, and kept apart from the intake requests.
    if (req.method === 'GET' && req.url?.startsWith('/config/v1/agents')) {
      this.configPolls.push(req.url);
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', etag: '"-"', 'cache-control': 'max-age=30, must-revalidate' });
      res.end('{}');
      return;
    }
    if (this.raw?.(req, res)) return;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const r: IntakeRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw, lines: [] };
      const text = (req.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(raw) : raw).toString('utf8');
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const obj = JSON.parse(line) as Record<string, unknown>;
        r.lines.push(obj);
        const kind = Object.keys(obj)[0] as string;
        const v = validators[kind];
        if (!v || !v(obj[kind])) this.invalid.push(`${line} -> ${v ? validators.errors() : 'unknown kind'}`);
      }
      this.intake.push(r);
      this.respond(r, res);
    });
  }

  /** How long the server keeps an idle keep-alive connection open (node:http's keepAliveTimeout). */
  setKeepAliveTimeout(ms: number): void {
    this.server.keepAliveTimeout = ms;
  }

  /** All non-metadata lines received, in order. */
  events(): Record<string, unknown>[] {
    return this.intake.flatMap((r) => r.lines.filter((l) => !('metadata' in l)));
  }

  /** Names of the span events received, in order (sample events carry their index in the name). */
  names(): string[] {
    return this.events().map((l) => String((l.span as { name: string }).name));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A mock server closed by the test's own cleanup (t.after), so a failing assertion fails the test
 * instead of leaving a listening socket that keeps the test process alive.
 */
export async function serve(t: { after(fn: () => unknown): void }, opts: { port?: number; tls?: boolean; host?: string } = {}): Promise<MockApmServer> {
  const s = await MockApmServer.start(opts);
  t.after(() => s.close());
  return s;
}

/** A port that nothing listens on (bound then released). */
export async function deadPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface RecordingLogger extends Logger {
  lines: { level: string; msg: string }[];
  at(level: string): string[];
}

export function recordingLogger(): RecordingLogger {
  const lines: { level: string; msg: string }[] = [];
  const rec = (level: string) => (msg: string) => {
    lines.push({ level, msg });
  };
  return {
    lines,
    at: (level) => lines.filter((l) => l.level === level).map((l) => l.msg),
    error: rec('error'),
    warn: rec('warn'),
    info: rec('info'),
    debug: rec('debug'),
    trace: rec('trace'),
  };
}

export const METADATA = {
  service: {
    name: 'transport-test',
    version: '1.0.0',
    agent: { name: 'spanforge', version: '0.1.0' },
    language: { name: 'javascript' },
    runtime: { name: 'node', version: process.versions.node },
  },
  process: { pid: process.pid, title: 'node' },
};

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const TX_ID = 'b7ad6b7169203331';

/** A schema-valid span whose name carries `i`; every span of the same `i` width has the same size. */
export function span(i: number, pad = 0): IntakeEvent {
  return {
    span: {
      id: (0x1000000000000000n + BigInt(i)).toString(16),
      trace_id: TRACE_ID,
      parent_id: TX_ID,
      transaction_id: TX_ID,
      name: `span-${String(i).padStart(6, '0')}${'x'.repeat(pad)}`,
      type: 'db',
      subtype: 'postgresql',
      action: 'query',
      timestamp: 1_700_000_000_000_000 + i,
      duration: 1.25,
      outcome: 'success',
    },
  };
}

export function baseOptions(url: string, logger: Logger) {
  return {
    serverUrl: url,
    serverTimeout: 2000,
    apiRequestTime: 10_000,
    apiRequestSize: 768 * 1024,
    verifyServerCert: true,
    userAgent: 'spanforge/0.1.0 (transport-test 1.0.0)',
    maxQueueSize: 1024,
    metadata: () => METADATA,
    logger,
    backoffUnitMs: 20,
    // Connection failures are logged at once (the start-up quiet period has its own test).
    startupQuietMs: 0,
  };
}

/** Polls until `pred` holds, or fails after `ms`. */
export async function waitFor(pred: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Collects unhandled rejections for the whole test file; assert it stays empty. */
export function trackUnhandled(): unknown[] {
  const seen: unknown[] = [];
  process.on('unhandledRejection', (reason) => seen.push(reason));
  process.on('uncaughtException', (err) => seen.push(err));
  return seen;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

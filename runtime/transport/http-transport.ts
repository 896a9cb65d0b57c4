// The intake-v2 HTTP transport: bounded queue, off-path NDJSON encoding, one streaming (gzip) POST
// at a time over undici, rotation by time and size, backoff, flush/close, stats and server info.
//
// It uses undici directly (never global fetch or node:http), and lives in runtime/, which the
// build-time front-ends never rewrite: the agent's own requests are never traced.
import { readFileSync } from 'node:fs';
import { PassThrough, type Transform } from 'node:stream';
import { constants as zlibConstants, createGzip, gzipSync } from 'node:zlib';
import type { Dispatcher, Pool, buildConnector } from 'undici';
import type { IntakeEvent, Logger, Transport, TransportOptions, TransportStats } from '../types.js';
import { Fifo } from './fifo.js';
import { INTAKE_LIMITS } from './limits.js';
import { applyLimits, backoffDelayMs, isLoopbackHost, parseErrorBody, parseServerVersion, stringifySafe } from './wire.js';

/** Optional tuning on top of TransportOptions; every field has a documented default. */
export interface TransportTuning {
  /**
   * gzip the request body (best speed). Default: true, except for loopback hosts (localhost,
   * 127.0.0.1, ::1), which the agent spec says SHOULD NOT be compressed.
   */
  compress?: boolean;
  /** Bytes of encoded events waiting to be written; beyond it events are dropped. Default 8 MiB. */
  maxQueueBytes?: number;
  /** Longest NDJSON line sent; APM Server rejects lines above its max_event_size (300 KiB). */
  maxEventBytes?: number;
  /** One backoff "second" in ms (tests shrink it). Default 1000. */
  backoffUnitMs?: number;
  /** Default timeout of flush() and close() when called without one. Default 10000 ms. */
  flushTimeout?: number;
  /**
   * How long the server has to answer an intake request once its body is complete, as
   * elastic-apm-node's `intakeResTimeout` (an option of its HTTP client, not an ELASTIC_APM_*
   * variable). A smaller serverTimeout wins. Default 10000 ms.
   */
  intakeResTimeout?: number;
  /**
   * Connection failures before anything was delivered are logged at debug level for this long after
   * the first one (the app often starts a moment before the server); one error follows if they go on.
   * Default 5000 ms; 0 logs the first failure at once.
   */
  startupQuietMs?: number;
}

export type HttpTransportOptions = TransportOptions & TransportTuning;

const DEFAULTS = {
  serverTimeout: 30_000,
  apiRequestTime: 10_000,
  apiRequestSize: 768 * 1024,
  maxQueueSize: 1024,
  maxQueueBytes: 8 * 1024 * 1024,
  maxEventBytes: 300 * 1024,
  backoffUnitMs: 1000,
  flushTimeout: 10_000,
  intakeResTimeout: 10_000,
  startupQuietMs: 5_000,
} as const;

const DEFAULT_USER_AGENT = 'spanforge';
/** Upper bound of the TCP/TLS connect time (serverTimeout, when smaller, wins). */
const CONNECT_TIMEOUT = 5_000;
/** Events encoded per setImmediate turn: keeps each synchronous pause short. */
const ENCODE_BATCH = 256;
/** Largest string handed to the body stream in one write. */
const WRITE_CHUNK = 64 * 1024;
/**
 * Small writes wait up to COALESCE_MS for more, until COALESCE_BYTES are encoded (or a flush wants
 * them): a served app sends its events one per event-loop turn, and every body write cost a system
 * call, a socket write (plain) or a thread-pool round trip (gzip); `node bench/transport-writes.mjs`:
 * 1.0 write per event before, at 1000 and at 100 events/s. The request streams for apiRequestTime
 * anyway, so delivery is only this much later.
 */
const COALESCE_MS = 20;
const COALESCE_BYTES = 16 * 1024;
/** Response bodies are read up to this size (error bodies are small). */
const MAX_RESPONSE_BODY = 64 * 1024;
/**
 * A server that has not answered a complete request for STALL_AFTER_MS is suspected of accepting
 * connections without answering: from then on a tiny probe (an intake request holding only the
 * metadata line, which APM Server and the local receiver answer with 202) goes out every PROBE_EVERY_MS,
 * each abandoned after PROBE_EVERY_MS. When one is answered the server answers new requests again:
 * the stalled request is given up (its events counted as dropped, reason "timeout") and delivery
 * goes on at once, without waiting out intakeResTimeout or a backoff. A merely slow server (one that
 * answers the probe slowly too) is left its intakeResTimeout.
 */
const STALL_AFTER_MS = 1_000;
/**
 * A request is given up on a probe's answer only once it has waited this long: a big request can
 * legitimately be answered after a small probe sent later (a loaded server still decoding it), and
 * under load a probe may miss its 250 ms now and then; 5 s of silence while new requests are
 * answered is a stall, not a slow answer.
 */
const ABANDON_AFTER_MS = 5_000;
const PROBE_EVERY_MS = 250;
/** The first intake request waits this long at most for the server information (GET /), which names the server in messages. */
const INFO_WAIT_MS = 500;
/** A dropped event keeps its place in the encoded queue as this marker, so flush order holds. */
const TOMBSTONE = '';

interface ActiveRequest {
  body: Transform;
  abort: AbortController;
  /** Events written into this request. */
  events: number;
  /** Uncompressed bytes written, metadata included. */
  bytes: number;
  /** Sequence number of the first event written (events in a request are contiguous). */
  firstSeq: number;
  ended: boolean;
  blocked: boolean;
  done: boolean;
  timer: NodeJS.Timeout | undefined;
  /** Date.now() when the request started, and when its body was complete (0 until then). */
  startedAt: number;
  endedAt: number;
  stallTimer: NodeJS.Timeout | undefined;
}

type Outcome =
  | { kind: 'response'; status: number; body: string; premature: boolean }
  | { kind: 'network'; error: unknown }
  | { kind: 'timeout'; abandoned?: boolean }
  | { kind: 'shutdown' };

interface FlushWaiter {
  target: number;
  resolve: () => void;
  timer: NodeJS.Timeout;
}

function noop(): void {}

type RequestFn = (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

/**
 * Loads only the three undici modules the transport uses (Pool, the connector and the request API):
 * 27 ms on the shared 2-CPU box against 60-100 ms for the whole package, whose entry also loads fetch,
 * WebSocket, caches, mocks and interceptors (`node bench/overhead/startup-parts.cjs`). That load
 * blocks the event loop at the first send, inside the app's first request. Falls back to the
 * package entry should a later undici move these files.
 */
async function loadUndici(): Promise<{ Pool: typeof Pool; buildConnector: typeof buildConnector; request: RequestFn }> {
  // The CommonJS build loads with require(): jest's module sandbox refuses import() from CommonJS code
  // unless node runs with --experimental-vm-modules, and the events would be dropped. The ESM build
  // (no require in scope) uses import().
  const viaRequire = typeof require === 'function';
  try {
    const [pool, connect, api] = viaRequire
      ? [
          { default: require('undici/lib/dispatcher/pool.js') as typeof Pool },
          { default: require('undici/lib/core/connect.js') as typeof buildConnector },
          { default: require('undici/lib/api/api-request.js') as RequestFn },
        ]
      : await Promise.all([
          import('undici/lib/dispatcher/pool.js'),
          import('undici/lib/core/connect.js'),
          import('undici/lib/api/api-request.js'),
        ]);
    if (typeof pool.default === 'function' && typeof connect.default === 'function' && typeof api.default === 'function') {
      return { Pool: pool.default, buildConnector: connect.default, request: api.default };
    }
  } catch {
    // the package entry below
  }
  const undici = viaRequire ? (require('undici') as typeof import('undici')) : await import('undici');
  return { Pool: undici.Pool, buildConnector: undici.buildConnector, request: undici.Pool.prototype.request as RequestFn };
}

export class HttpTransport implements Transport {
  private readonly log: Logger;
  private readonly disabledReason: string | undefined;
  private readonly origin: string = '';
  private readonly intakePath: string = '/intake/v2/events';
  private readonly infoPath: string = '/';
  private readonly headers: Record<string, string> = {};
  private readonly infoHeaders: Record<string, string> = {};
  private readonly compress: boolean = false;
  private readonly serverTimeout: number;
  private readonly apiRequestTime: number;
  private readonly apiRequestSize: number;
  private readonly maxQueueSize: number;
  private readonly maxQueueBytes: number;
  private readonly maxEventBytes: number;
  private readonly backoffUnitMs: number;
  private readonly flushTimeout: number;
  private readonly intakeResTimeout: number;
  private readonly startupQuietMs: number;
  private readonly metadata: () => Record<string, unknown>;
  /** undici is loaded on first use (it takes tens of ms to load): not on the app's start path. */
  private pool: Pool | undefined;
  private poolState: 'idle' | 'loading' | 'ready' | 'failed' = 'idle';
  private connectOptions: buildConnector.BuildOptions | undefined;
  private request: RequestFn | undefined;

  // Events accepted by send() and not yet encoded.
  private readonly pending = new Fifo<IntakeEvent>(1024);
  // Encoded NDJSON lines and their byte lengths, in send order; a TOMBSTONE line stands for that
  // many (its "size") dropped events.
  private readonly encoded = new Fifo<string>(1024);
  private readonly encodedSizes = new Fifo<number>(1024);
  private encodedLive = 0;
  private encodedBytes = 0;
  private encodeScheduled = false;

  // Sequence numbers for flush(): accepted counts events taken by send(); processed counts
  // events that left the queue (written into a request, or dropped), in send order.
  private acceptedSeq = 0;
  private processedSeq = 0;
  private flushUpTo = 0;
  private waiters: FlushWaiter[] = [];

  private active: ActiveRequest | undefined;
  private pumping = false;
  private coalesceTimer: NodeJS.Timeout | undefined;
  private writeNow = false;
  private consecutiveFailures = 0;
  private backoffTimer: NodeJS.Timeout | undefined;
  private lastMetadataLine: string | undefined;
  private closed = false;
  private destroyed = false;
  private closing: Promise<void> | undefined;

  private version: string | undefined;
  /** What GET / said the server is: spanforge's local receiver, an APM Server, or not known. */
  private serverKind: 'receiver' | 'apm' | undefined;
  private infoState: 'idle' | 'pending' | 'done' = 'idle';
  private infoWaitOver = true;
  /** The request (by number) that already waited for GET /: one wait per request. */
  private infoGateFor = -1;

  // Stalled-server detection (see STALL_AFTER_MS).
  private stalled = false;
  private probing = false;
  private probeTimer: NodeJS.Timeout | undefined;
  /** When the last probe that got no answer was sent: requests started before it went to a stalled server. */
  private lastUnansweredProbeAt = 0;
  /** Connection failures: quiet (debug) until startupQuietMs after the first, while nothing was ever delivered. */
  private delivered = false;
  private firstFailureAt = 0;
  private quietTimer: NodeJS.Timeout | undefined;
  private quietDropped = 0;

  private readonly logged = new Set<string>();

  private readonly counters = {
    sent: 0,
    dropped: 0,
    droppedByReason: {} as Record<string, number>,
    requests: 0,
    failedRequests: 0,
  };

  constructor(opts: HttpTransportOptions) {
    this.log = opts.logger;
    this.metadata = opts.metadata;
    this.serverTimeout = this.num(opts, 'serverTimeout', 0);
    this.apiRequestTime = this.num(opts, 'apiRequestTime', 1);
    this.apiRequestSize = this.num(opts, 'apiRequestSize', 1);
    this.maxQueueSize = Math.floor(this.num(opts, 'maxQueueSize', 1));
    this.maxQueueBytes = this.num(opts, 'maxQueueBytes', 1);
    this.maxEventBytes = this.num(opts, 'maxEventBytes', 1);
    this.backoffUnitMs = this.num(opts, 'backoffUnitMs', 0);
    this.flushTimeout = this.num(opts, 'flushTimeout', 0);
    this.intakeResTimeout = this.num(opts, 'intakeResTimeout', 1);
    this.startupQuietMs = this.num(opts, 'startupQuietMs', 0);

    let url: URL | undefined;
    try {
      url = new URL(opts.serverUrl);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new Error(`unsupported protocol "${url.protocol}"`);
      }
    } catch (err) {
      this.disabledReason =
        `invalid serverUrl ${JSON.stringify(opts.serverUrl)} (${(err as Error).message}): ` +
        'expected an http: or https: URL such as http://localhost:8200; events will be dropped';
      this.safeLog('error', `${this.disabledReason}`);
      return;
    }

    this.origin = url.origin;
    const base = url.pathname.replace(/\/+$/, '');
    this.intakePath = `${base}/intake/v2/events`;
    this.infoPath = `${base}/`;
    this.compress = opts.compress ?? !isLoopbackHost(url.hostname);

    const common: Record<string, string> = {
      'user-agent': this.headerValue('userAgent', opts.userAgent) ?? DEFAULT_USER_AGENT,
      accept: 'application/json',
    };
    const token = this.headerValue('secretToken', opts.secretToken);
    const apiKey = this.headerValue('apiKey', opts.apiKey);
    // As elastic-apm-node's client: the API key wins when both are set.
    if (apiKey) common.authorization = `ApiKey ${apiKey}`;
    else if (token) common.authorization = `Bearer ${token}`;
    this.infoHeaders = common;
    this.headers = { ...common, 'content-type': 'application/x-ndjson' };
    if (this.compress) this.headers['content-encoding'] = 'gzip';

    let ca: Buffer | undefined;
    if (opts.serverCaCertFile) {
      try {
        ca = readFileSync(opts.serverCaCertFile);
      } catch (err) {
        this.safeLog(
          'error',
          `cannot read serverCaCertFile ${JSON.stringify(opts.serverCaCertFile)}: ${(err as Error).message}; using the default CAs`,
        );
      }
    }
    // A pending TCP connect is a libuv request, which keeps the process alive even on an unref'd
    // socket: against a server that silently drops SYNs, this bound is how long exit can be delayed.
    // 5 s leaves ample room for a TLS handshake over a slow link.
    const connectTimeout = this.serverTimeout > 0 ? Math.min(this.serverTimeout, CONNECT_TIMEOUT) : CONNECT_TIMEOUT;
    this.connectOptions = {
      rejectUnauthorized: opts.verifyServerCert !== false,
      ...(ca ? { ca } : {}),
      timeout: connectTimeout,
    };
  }

  /** True once the undici Pool exists; otherwise starts loading undici and pumps when it is there. */
  private ensurePool(): boolean {
    if (this.poolState === 'ready') return true;
    if (this.poolState !== 'idle' || this.connectOptions === undefined) return false;
    this.poolState = 'loading';
    loadUndici().then(
      (undici) => {
        if (this.destroyed) return;
        try {
          this.pool = this.createPool(undici.Pool, undici.buildConnector, this.connectOptions as buildConnector.BuildOptions);
          this.request = undici.request;
          this.poolState = 'ready';
        } catch (err) {
          this.poolFailed(err);
          return;
        }
        this.pump();
      },
      (err: unknown) => this.poolFailed(err),
    );
    return false;
  }

  private poolFailed(err: unknown): void {
    this.poolState = 'failed';
    this.safeLog('error', `cannot load undici, events will be dropped: ${(err as Error)?.message}`);
    this.drop('invalid_config', this.pending.length + this.encodedLive);
    this.pending.clear();
    this.encoded.clear();
    this.encodedSizes.clear();
    this.encodedLive = 0;
    this.encodedBytes = 0;
    this.processedSeq = this.acceptedSeq;
    this.checkWaiters();
  }

  private createPool(PoolCtor: typeof Pool, build: typeof buildConnector, connectOptions: buildConnector.BuildOptions): Pool {
    const connector = build(connectOptions);
    // undici re-refs a socket while a request runs; the agent must never keep the process alive,
    // so its sockets stay unref'd for good. An awaited flush() holds a ref'd timer instead.
    // (undici's connector returns the socket synchronously: unref it before it even connects, so a
    // server that never completes the handshake cannot hold the process either.)
    const unrefConnector: buildConnector.connector = (o, cb) => {
      const socket = (connector as (o: buildConnector.Options, cb: buildConnector.Callback) => unknown)(o, cb);
      if (socket && typeof (socket as { unref?: unknown }).unref === 'function') {
        const s = socket as { unref: () => unknown; ref: () => unknown };
        s.unref();
        s.ref = () => socket;
      }
      return socket as undefined;
    };
    // Three connections: the long streaming POST on one, GET / and the stall probe on the others.
    const pool = new PoolCtor(this.origin, {
      connections: 3,
      pipelining: 1,
      connect: unrefConnector,
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 4_000,
    });
    pool.on('connectionError', noop);
    return pool;
  }

  // ------------------------------------------------------------------------------------------
  // Public API

  send(event: IntakeEvent): void {
    try {
      if (this.closed || this.disabledReason !== undefined) {
        this.drop(this.disabledReason !== undefined ? 'invalid_config' : 'closed', 1);
        return;
      }
      if (event === null || typeof event !== 'object') {
        this.drop('invalid_event', 1);
        this.logOnce('drop:invalid_event', 'warn', `transport.send() needs an intake event object, got ${event === null ? 'null' : typeof event}`);
        return;
      }
      if (this.pending.length + this.encodedLive >= this.maxQueueSize) {
        this.drop('queue_full', 1);
        this.logOnce(
          'drop:queue_full',
          'warn',
          `transport queue is full (maxQueueSize ${this.maxQueueSize}); new events are dropped and counted until it drains`,
        );
        return;
      }
      this.pending.push(event);
      this.acceptedSeq++;
      if (!this.encodeScheduled) {
        this.encodeScheduled = true;
        setImmediate(this.encodeTurn);
      }
    } catch {
      // never throw into the caller
    }
  }

  flush(timeoutMs?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      try {
        const target = this.acceptedSeq;
        if (this.disabledReason !== undefined || this.destroyed || this.isSettled(target)) {
          resolve();
          return;
        }
        // (setTimeout turns Infinity and values past 2^31-1 ms into 1 ms: clamp instead.)
        const ms = typeof timeoutMs === 'number' && timeoutMs >= 0 ? Math.min(timeoutMs, 2 ** 31 - 1) : this.flushTimeout;
        // Deliberately ref'd: an awaited flush (e.g. at beforeExit) keeps the process alive until
        // the events are delivered or the timeout passes, never longer.
        const waiter: FlushWaiter = {
          target,
          resolve,
          timer: setTimeout(() => {
            this.waiters = this.waiters.filter((w) => w !== waiter);
            resolve();
          }, ms),
        };
        this.waiters.push(waiter);
        if (target > this.flushUpTo) this.flushUpTo = target;
        // Encode now rather than at the next turn so the current request can end promptly.
        if (this.pending.length > 0) this.encodeTurn();
        else this.pump();
      } catch {
        resolve();
      }
    });
  }

  close(timeoutMs?: number): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.closing = this.flush(timeoutMs).then(() => this.destroy());
    return this.closing;
  }

  stats(): TransportStats {
    return {
      queued: this.pending.length + this.encodedLive,
      sent: this.counters.sent,
      dropped: this.counters.dropped,
      droppedByReason: { ...this.counters.droppedByReason },
      requests: this.counters.requests,
      failedRequests: this.counters.failedRequests,
    };
  }

  serverVersion(): string | undefined {
    return this.version;
  }

  // ------------------------------------------------------------------------------------------
  // Encoding (off the caller's path)

  private readonly encodeTurn = (): void => {
    this.encodeScheduled = false;
    try {
      let n = 0;
      while (this.pending.length > 0 && n < ENCODE_BATCH) {
        const event = this.pending.shift() as IntakeEvent;
        n++;
        let line: string | undefined;
        try {
          line = encodeEvent(event);
        } catch (err) {
          this.dropEncoded('encode_error');
          this.logOnce('drop:encode_error', 'error', `dropped an event that cannot be serialised to JSON: ${(err as Error).message}`);
          continue;
        }
        if (line === undefined) {
          this.dropEncoded('encode_error');
          continue;
        }
        line += '\n';
        const bytes = Buffer.byteLength(line);
        if (bytes > this.maxEventBytes) {
          this.dropEncoded('too_large');
          this.logOnce(
            'drop:too_large',
            'warn',
            `dropped a ${bytes}-byte event, larger than the ${this.maxEventBytes}-byte limit of one intake line`,
          );
          continue;
        }
        if (this.encodedBytes + bytes > this.maxQueueBytes) {
          this.dropEncoded('queue_full');
          this.logOnce(
            'drop:queue_bytes',
            'warn',
            `transport queue holds ${this.encodedBytes} bytes (maxQueueBytes ${this.maxQueueBytes}); new events are dropped and counted until it drains`,
          );
          continue;
        }
        this.encoded.push(line);
        this.encodedSizes.push(bytes);
        this.encodedLive++;
        this.encodedBytes += bytes;
      }
      if (this.pending.length > 0 && !this.encodeScheduled) {
        this.encodeScheduled = true;
        setImmediate(this.encodeTurn);
      }
      this.pump();
    } catch (err) {
      this.internalError(err);
    }
  };

  /**
   * A dropped event keeps its place in the queue as a tombstone so flush() sees events leave in
   * order. Consecutive drops share one tombstone (its size slot holds the count), so a stalled
   * server cannot make tombstones pile up: there is at most one per live line, plus one.
   */
  private dropEncoded(reason: string): void {
    this.drop(reason, 1);
    if (this.encoded.length > 0 && this.encoded.peekLast() === TOMBSTONE) {
      this.encodedSizes.replaceLast((this.encodedSizes.peekLast() as number) + 1);
    } else {
      this.encoded.push(TOMBSTONE);
      this.encodedSizes.push(1);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Writing into the one active request

  private pump(): void {
    if (this.pumping || this.destroyed) return;
    this.pumping = true;
    try {
      for (;;) {
        const req = this.active;
        if (req === undefined) {
          this.skipTombstones();
          if (this.encodedLive === 0 || this.backoffTimer !== undefined) break;
          if (!this.ensurePool() || !this.startRequest()) break;
          continue;
        }
        if (req.ended || req.blocked) break;
        // Small amounts wait for more (COALESCE_MS), unless a flush or close wants them now; what waits
        // when a request starts goes with it at once.
        const hold = req.events > 0 && !this.writeNow && this.encodedBytes < COALESCE_BYTES && this.flushUpTo <= this.processedSeq && !this.closed;
        if (hold && this.encoded.length > 0 && this.coalesceTimer === undefined) {
          this.coalesceTimer = setTimeout(this.coalesceDue, COALESCE_MS);
          this.coalesceTimer.unref();
        }
        let chunk = '';
        let rotate = false;
        while (!hold && this.encoded.length > 0 && chunk.length < WRITE_CHUNK) {
          const line = this.encoded.peek() as string;
          const bytes = this.encodedSizes.peek() as number;
          if (line === TOMBSTONE) {
            this.encoded.shift();
            this.processedSeq += this.encodedSizes.shift() as number;
            continue;
          }
          // End the request before it grows past apiRequestSize (one oversized event still goes alone).
          if (req.events > 0 && req.bytes + bytes > this.apiRequestSize) {
            rotate = true;
            break;
          }
          this.encoded.shift();
          this.encodedSizes.shift();
          this.encodedLive--;
          this.encodedBytes -= bytes;
          this.processedSeq++;
          if (req.events === 0) req.firstSeq = this.processedSeq;
          req.events++;
          req.bytes += bytes;
          chunk += line;
        }
        if (chunk !== '' && !req.body.write(chunk)) {
          req.blocked = true;
          req.body.once('drain', () => {
            req.blocked = false;
            this.pump();
          });
        }
        const flushWanted = req.events > 0 && req.firstSeq <= this.flushUpTo && this.processedSeq >= this.flushUpTo;
        if (rotate || flushWanted || req.bytes >= this.apiRequestSize) {
          this.endRequest(req);
          break;
        }
        if (hold || this.encoded.length === 0 || req.blocked) break;
      }
    } catch (err) {
      this.internalError(err);
    } finally {
      this.pumping = false;
    }
    this.checkWaiters();
  }

  private readonly coalesceDue = (): void => {
    this.coalesceTimer = undefined;
    this.writeNow = true;
    this.pump();
    this.writeNow = false;
  };

  private skipTombstones(): void {
    while (this.encoded.length > 0 && this.encoded.peek() === TOMBSTONE) {
      this.encoded.shift();
      this.processedSeq += this.encodedSizes.shift() as number;
    }
  }

  private startRequest(): boolean {
    const pool = this.pool;
    if (pool === undefined) return false;
    // While the server is not known, a request first waits (INFO_WAIT_MS at most) for one GET /, so
    // that messages name the server (APM Server or the local receiver).
    const n = this.counters.requests;
    if (this.serverKind === undefined && this.infoState !== 'done') {
      if (this.infoState === 'idle' && this.infoGateFor !== n) {
        this.infoGateFor = n;
        this.infoWaitOver = false;
        const over = (): void => {
          clearTimeout(waitTimer);
          if (this.infoWaitOver) return;
          this.infoWaitOver = true;
          this.pump();
        };
        const waitTimer = setTimeout(over, INFO_WAIT_MS);
        waitTimer.unref();
        this.fetchServerInfo(over);
      }
      if (this.infoGateFor === n && this.infoState === 'pending' && !this.infoWaitOver) return false;
    }
    let metaLine: string | undefined;
    try {
      const metadata = this.metadata();
      applyLimits(metadata, INTAKE_LIMITS.metadata!);
      metaLine = (stringifySafe({ metadata }) as string) + '\n';
      this.lastMetadataLine = metaLine;
    } catch (err) {
      this.logOnce('metadata', 'error', `the metadata callback failed: ${(err as Error).message}`);
      metaLine = this.lastMetadataLine;
    }
    if (metaLine === undefined) {
      // Without a metadata line the server rejects the request: drop what waits, keep going.
      this.drop('metadata_error', this.encodedLive);
      while (this.encoded.length > 0) {
        const line = this.encoded.shift();
        const size = this.encodedSizes.shift() as number;
        this.processedSeq += line === TOMBSTONE ? size : 1;
      }
      this.encoded.clear();
      this.encodedSizes.clear();
      this.encodedLive = 0;
      this.encodedBytes = 0;
      return false;
    }
    const body: Transform = this.compress
      ? createGzip({ level: zlibConstants.Z_BEST_SPEED })
      : new PassThrough();
    body.on('error', noop);
    const req: ActiveRequest = {
      body,
      abort: new AbortController(),
      events: 0,
      bytes: Buffer.byteLength(metaLine),
      firstSeq: 0,
      ended: false,
      blocked: false,
      done: false,
      timer: undefined,
      startedAt: Date.now(),
      endedAt: 0,
      stallTimer: undefined,
    };
    this.active = req;
    this.counters.requests++;
    body.write(metaLine);
    req.timer = setTimeout(() => this.endRequest(req), this.apiRequestTime);
    req.timer.unref();
    (this.request as RequestFn)
      .call(pool, {
        method: 'POST',
        path: this.intakePath,
        headers: this.headers,
        body,
        signal: req.abort.signal,
        headersTimeout: 0,
        bodyTimeout: 0,
      })
      .then(
        (res) => this.onResponse(req, res),
        (error: unknown) => this.finish(req, { kind: 'network', error }),
      )
      .catch((err: unknown) => this.internalError(err));
    if (this.infoState === 'idle') this.fetchServerInfo();
    return true;
  }

  private endRequest(req: ActiveRequest): void {
    if (req.ended || req.done) return;
    req.ended = true;
    clearTimeout(req.timer);
    req.body.end();
    this.startResponseTimer(req);
  }

  /** The server has intakeResTimeout (or a smaller serverTimeout) ms to answer once the body is complete. */
  private startResponseTimer(req: ActiveRequest): void {
    req.endedAt = Date.now();
    clearTimeout(req.timer);
    req.timer = setTimeout(() => this.finish(req, { kind: 'timeout' }), this.responseTimeout());
    req.timer.unref();
    clearTimeout(req.stallTimer);
    req.stallTimer = setTimeout(() => this.suspectStall(), Math.min(STALL_AFTER_MS, this.responseTimeout()));
    req.stallTimer.unref();
    if (this.stalled) this.scheduleProbe(0);
  }

  private responseTimeout(): number {
    return this.serverTimeout > 0 ? Math.min(this.serverTimeout, this.intakeResTimeout) : this.intakeResTimeout;
  }

  // ------------------------------------------------------------------------------------------
  // A server that accepts connections but does not answer (see STALL_AFTER_MS)

  private suspectStall(): void {
    if (this.destroyed || this.stalled) return;
    this.stalled = true;
    this.safeLog('debug', `${this.dest()} has not answered for ${STALL_AFTER_MS} ms; probing whether it answers new requests`);
    this.scheduleProbe(0);
  }

  private scheduleProbe(delay: number): void {
    if (this.probing || this.probeTimer !== undefined || this.destroyed || !this.stalled) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.sendProbe();
    }, delay);
    this.probeTimer.unref();
  }

  private sendProbe(): void {
    const pool = this.pool;
    // Nothing waits for delivery: stop probing; the next request starts a new round when it stalls.
    if (!this.stalled || this.destroyed || pool === undefined || this.lastMetadataLine === undefined) return;
    if (this.active === undefined && this.encodedLive === 0 && this.pending.length === 0) return;
    this.probing = true;
    const sentAt = Date.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), PROBE_EVERY_MS);
    timer.unref();
    const line = Buffer.from(this.lastMetadataLine);
    (this.request as RequestFn)
      .call(pool, {
        method: 'POST',
        path: this.intakePath,
        headers: this.headers,
        body: this.compress ? gzipSync(line, { level: zlibConstants.Z_BEST_SPEED }) : line,
        signal: abort.signal,
        headersTimeout: 0,
        bodyTimeout: 0,
      })
      .then(async (res) => {
        await readBody(res.body, MAX_RESPONSE_BODY).catch(noop);
        clearTimeout(timer);
        this.probing = false;
        this.onProbeAnswer(res.statusCode);
      })
      .catch(() => {
        clearTimeout(timer);
        this.probing = false;
        this.lastUnansweredProbeAt = sentAt;
        this.scheduleProbe(Math.max(0, PROBE_EVERY_MS - (Date.now() - sentAt)));
      })
      .catch((err: unknown) => this.internalError(err));
  }

  /** The server answers new requests: give up on the one it holds, and go on at once when it said 2xx. */
  private onProbeAnswer(status: number): void {
    if (this.destroyed) return;
    this.stalled = false;
    const req = this.active;
    if (req !== undefined && !req.done && req.startedAt <= this.lastUnansweredProbeAt) {
      const waited = req.endedAt > 0 ? Date.now() - req.endedAt : 0;
      if (req.endedAt === 0 || waited >= ABANDON_AFTER_MS) this.finish(req, { kind: 'timeout', abandoned: true });
      else {
        // Not yet: keep probing until it has waited ABANDON_AFTER_MS (or its intakeResTimeout ends it).
        this.stalled = true;
        this.scheduleProbe(PROBE_EVERY_MS);
        return;
      }
    }
    if (status >= 200 && status < 300) {
      this.consecutiveFailures = 0;
      clearTimeout(this.backoffTimer);
      this.backoffTimer = undefined;
      this.pump();
    }
  }

  /** How messages name the server: from its GET / answer when known, else by its URL. */
  private dest(): string {
    if (this.serverKind === 'receiver') return `the local receiver at ${this.origin}`;
    if (this.serverKind === 'apm') return `APM Server at ${this.origin}`;
    return isLoopbackHost(new URL(this.origin).hostname) ? `the intake server at ${this.origin}` : `APM Server at ${this.origin}`;
  }

  private async onResponse(req: ActiveRequest, res: Dispatcher.ResponseData): Promise<void> {
    // A reply before the body was complete (the server aborted the stream) is a failure even
    // when 2xx: the events written after it were never read.
    const premature = !req.ended;
    if (premature) {
      req.ended = true;
      req.body.destroy();
      this.startResponseTimer(req);
    }
    let text = '';
    try {
      text = await readBody(res.body, MAX_RESPONSE_BODY);
    } catch {
      // the status is what matters; a broken error body is still an error
    }
    this.finish(req, { kind: 'response', status: res.statusCode, body: text, premature });
  }

  private finish(req: ActiveRequest, outcome: Outcome): void {
    if (req.done) return;
    req.done = true;
    req.ended = true;
    clearTimeout(req.timer);
    clearTimeout(req.stallTimer);
    if (this.active === req) this.active = undefined;
    // Any answer, even an error, shows the server answers: no stall.
    if (outcome.kind === 'response') this.stalled = false;
    const n = req.events;
    const ok = outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300 && !outcome.premature;
    if (ok) {
      this.counters.sent += n;
      if (this.consecutiveFailures > 0 && !(this.firstFailureAt > 0 && !this.delivered && this.quietTimer !== undefined)) {
        this.safeLog('info', `${this.dest()} accepts events again after ${this.consecutiveFailures} failed request(s)`);
      }
      this.delivered = true;
      clearTimeout(this.quietTimer);
      this.quietTimer = undefined;
      this.consecutiveFailures = 0;
      // A new outage is worth a new log line; drop warnings (queue full, too large) are not
      // repeated: under sustained overload they would otherwise come back with every request.
      for (const key of this.logged) if (!key.startsWith('drop:')) this.logged.delete(key);
    } else {
      req.body.destroy();
      req.abort.abort();
      this.onFailure(outcome, n);
      if (outcome.kind !== 'shutdown') {
        this.counters.failedRequests++;
        this.scheduleBackoff();
      }
    }
    this.checkWaiters();
    this.pump();
  }

  private onFailure(outcome: Outcome, events: number): void {
    let reason: string;
    let accepted = 0;
    switch (outcome.kind) {
      case 'response': {
        const info = parseErrorBody(outcome.body);
        accepted = Math.max(0, Math.min(events, Math.floor(info.accepted ?? 0)));
        const s = outcome.status;
        reason = s === 429 ? 'rate_limited' : s >= 500 ? 'server_error' : s >= 300 ? 'rejected' : 'premature_response';
        const detail = outcome.premature && s < 300 ? 'the server answered before the request body was complete' : info.message;
        let hint = '';
        if (s === 401 || s === 403) hint = ' (check secretToken / apiKey)';
        else if (s === 404) hint = ' (is serverUrl an APM Server 6.5 or later?)';
        // Keyed by status, not message: per-event messages (documents, field paths) vary from one
        // request to the next, and one line per outage is the point.
        this.logOnce(
          `http:${s}${outcome.premature && s < 300 ? ':premature' : ''}`,
          'error',
          `${this.dest()} answered ${s} to POST ${this.intakePath}: ${detail}${hint}`,
        );
        break;
      }
      case 'network': {
        const e = outcome.error as { code?: string; message?: string } | undefined;
        reason = 'network';
        const what = [e?.code, e?.message].filter(Boolean).join(' ') || String(outcome.error);
        let hint = '';
        if (this.serverKind === undefined && isLoopbackHost(new URL(this.origin).hostname) && /ECONNREFUSED/.test(what)) {
          hint = ' (nothing listens there: start the local receiver with `npx spanforge serve`, or set ELASTIC_APM_SERVER_URL to your APM Server)';
        }
        const msg = `cannot send events to ${this.dest()}: ${what}${hint}`;
        const key = `net:${e?.code ?? what}`;
        if (this.quietStart(events, key, msg)) break;
        this.logOnce(key, 'error', msg);
        break;
      }
      case 'timeout': {
        reason = 'timeout';
        const which = this.serverTimeout > 0 && this.serverTimeout < this.intakeResTimeout ? 'serverTimeout' : 'intakeResTimeout';
        this.logOnce(
          'timeout',
          'error',
          outcome.abandoned
            ? `${this.dest()} did not answer a request it accepted, though it answers new ones; gave up on it (${events} event(s) dropped)`
            : `${this.dest()} did not answer within ${which} (${this.responseTimeout()} ms); gave up on the request (${events} event(s) dropped)`,
        );
        break;
      }
      case 'shutdown':
        reason = 'shutdown';
        break;
    }
    this.counters.sent += accepted;
    this.drop(reason, events - accepted);
  }

  /**
   * Connection failures before anything was ever delivered and within startupQuietMs of the first:
   * logged at debug level only (the app often starts a moment before the server or the local
   * receiver). When they go on past that, one error says so, with the events dropped meanwhile.
   */
  private quietStart(events: number, key: string, msg: string): boolean {
    if (this.delivered || this.startupQuietMs === 0) return false;
    const now = Date.now();
    if (this.firstFailureAt === 0) {
      this.firstFailureAt = now;
      this.quietTimer = setTimeout(() => {
        this.quietTimer = undefined;
        if (this.delivered || this.destroyed) return;
        this.logOnce(this.lastQuietKey, 'error', `${this.lastQuietMsg} (retried for ${this.startupQuietMs / 1000} s; ${this.quietDropped} event(s) dropped so far)`);
      }, this.startupQuietMs);
      this.quietTimer.unref();
    }
    if (this.quietTimer === undefined) return false;
    this.quietDropped += events;
    this.lastQuietMsg = msg;
    this.lastQuietKey = key;
    this.safeLog('debug', `${msg}; retrying`);
    return true;
  }
  private lastQuietMsg = '';
  private lastQuietKey = '';

  private scheduleBackoff(): void {
    this.consecutiveFailures++;
    const delay = backoffDelayMs(this.consecutiveFailures, this.backoffUnitMs);
    if (delay <= 0 || this.destroyed) return;
    clearTimeout(this.backoffTimer);
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      this.pump();
    }, delay);
    this.backoffTimer.unref();
  }

  // ------------------------------------------------------------------------------------------
  // Server information (GET /), read once, lazily at the first intake request.

  private fetchServerInfo(onSettled: () => void = noop): void {
    const pool = this.pool;
    if (pool === undefined || this.infoState !== 'idle') return;
    this.infoState = 'pending';
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.responseTimeout());
    timer.unref();
    (this.request as RequestFn)
      .call(pool, { method: 'GET', path: this.infoPath, headers: this.infoHeaders, signal: abort.signal })
      .then(async (res) => {
        const text = await readBody(res.body, MAX_RESPONSE_BODY);
        this.infoState = 'done';
        if (res.statusCode !== 200) {
          this.safeLog('debug', `APM Server info (GET ${this.infoPath}) answered ${res.statusCode}`);
          return;
        }
        this.version = parseServerVersion(text);
        this.serverKind = serverKindOf(text);
        if (this.version === undefined) {
          this.safeLog(
            'debug',
            `APM Server info had no version${text.trim() === '' ? ' (empty body: the secret token or API key is probably wrong)' : ''}`,
          );
        }
      })
      .catch((err: unknown) => {
        // Network trouble: try again at the next request (one GET / per intake request at most).
        this.infoState = 'idle';
        this.safeLog('debug', `APM Server info (GET ${this.infoPath}) failed: ${(err as Error)?.message}`);
      })
      .finally(() => {
        clearTimeout(timer);
        onSettled();
      });
  }

  // ------------------------------------------------------------------------------------------
  // Flush bookkeeping, shutdown, helpers

  /** True when every event accepted up to `target` has been acknowledged or dropped. */
  private isSettled(target: number): boolean {
    if (this.processedSeq < target) return false;
    const req = this.active;
    return !(req !== undefined && !req.done && req.events > 0 && req.firstSeq <= target);
  }

  private checkWaiters(): void {
    if (this.waiters.length === 0) return;
    const still: FlushWaiter[] = [];
    for (const w of this.waiters) {
      if (this.isSettled(w.target)) {
        clearTimeout(w.timer);
        w.resolve();
      } else still.push(w);
    }
    this.waiters = still;
  }

  private destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true; // first: finish() below must not start another request
    const req = this.active;
    if (req !== undefined) this.finish(req, { kind: 'shutdown' });
    clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    clearTimeout(this.coalesceTimer);
    this.coalesceTimer = undefined;
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
    const left = this.pending.length + this.encodedLive;
    if (left > 0) this.drop('shutdown', left);
    this.pending.clear();
    this.encoded.clear();
    this.encodedSizes.clear();
    this.encodedLive = 0;
    this.encodedBytes = 0;
    this.processedSeq = this.acceptedSeq;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.waiters = [];
    this.pool?.destroy().catch(noop);
  }

  private drop(reason: string, count: number): void {
    if (count <= 0) return;
    this.counters.dropped += count;
    this.counters.droppedByReason[reason] = (this.counters.droppedByReason[reason] ?? 0) + count;
  }

  /** Logs a condition once; delivery-failure keys are forgotten when a request succeeds, so a new outage logs again. */
  private logOnce(key: string, level: 'error' | 'warn', msg: string): void {
    if (this.logged.has(key) || this.logged.size >= 100) return; // bounded, and never a flood
    this.logged.add(key);
    this.safeLog(level, msg);
  }

  private safeLog(level: keyof Logger, msg: string): void {
    try {
      this.log[level](msg);
    } catch {
      // a broken logger must not break delivery
    }
  }

  private internalError(err: unknown): void {
    this.logOnce('internal', 'error', `internal transport error: ${(err as Error)?.stack ?? String(err)}`);
  }

  /** A string usable as an HTTP header value, or undefined (logged, naming the option, when unusable). */
  private headerValue(name: string, v: unknown): string | undefined {
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string' || !/^[\t\x20-\x7e\x80-\xff]*$/.test(v)) {
      this.safeLog(
        'error',
        `transport option ${name} must be a string of printable characters (no line breaks) to be sent in an HTTP header; ignoring it`,
      );
      return undefined;
    }
    return v.trim();
  }

  private num(opts: HttpTransportOptions, name: keyof typeof DEFAULTS, min: number): number {
    const v = (opts as unknown as Record<string, unknown>)[name];
    if (v === undefined) return DEFAULTS[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
      this.safeLog(
        'warn',
        `transport option ${name} must be a number >= ${min}, got ${JSON.stringify(v)}; using the default ${DEFAULTS[name]}`,
      );
      return DEFAULTS[name];
    }
    return v;
  }
}

/** "receiver" when GET / was answered by spanforge's local receiver, "apm" for another server with a version. */
function serverKindOf(body: string): 'receiver' | 'apm' | undefined {
  try {
    const o = JSON.parse(body) as Record<string, unknown> | null;
    if (o && (typeof o.spanforge_version === 'string' || o.build_sha === 'spanforge')) return 'receiver';
  } catch {
    return undefined;
  }
  return parseServerVersion(body) !== undefined ? 'apm' : undefined;
}

/**
 * One event's JSON: its limited fields shortened (in place) first; a value JSON.stringify refuses
 * (a reference cycle in custom context, a BigInt) is encoded the safe way rather than losing the event.
 */
function encodeEvent(event: IntakeEvent): string | undefined {
  for (const kind in event) {
    const tree = INTAKE_LIMITS[kind];
    if (tree !== undefined) applyLimits((event as Record<string, unknown>)[kind], tree);
  }
  try {
    return JSON.stringify(event);
  } catch {
    return stringifySafe(event);
  }
}

async function readBody(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

// POST /intake/v2/events: decompresses (gzip, zlib, or sniffed), splits NDJSON while the body is
// still arriving, decodes each line, and answers with APM Server's status codes and bodies.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createGunzip, createInflate, type Gunzip, type Inflate } from 'node:zlib';
import type { RequestMeta, Store } from './store.js';
import { depthErrorText, depthExceededAt, MAX_NESTING_DEPTH } from './safe-json.js';
import { decodeLine, GO_ROOT, identifyKind, LineError, loadValidators } from './validate.js';

type Obj = Record<string, unknown>;

export interface IntakeLimits {
  /** Max bytes of one NDJSON line after decompression (APM Server max_event_size: 300 KiB). */
  maxEventSize: number;
  /** Max bytes of a whole request, compressed or not; beyond it the answer is 413. */
  maxRequestSize: number;
}

interface JsonError {
  message: string;
  document?: string;
}

const MAX_REPORTED_ERRORS = 5;

/** Writes a JSON (or text/plain, per Accept) body the way APM Server's WriteResult does. */
export function writeResult(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, o: { close?: boolean } = {}): void {
  if (res.headersSent || res.destroyed) return;
  const accept = String(req.headers.accept ?? '');
  const json = accept.includes('application/json') || accept.includes('*/*');
  // APM Server adds `Connection: close` to every answer >= 400.
  if (status >= 400) res.setHeader('Connection', 'close');
  if (body === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  const text = json ? JSON.stringify(body, null, 2) + '\n' : JSON.stringify(body) + '\n';
  res.writeHead(status, {
    'Content-Type': json ? 'application/json' : 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  if (status < 400 || req.complete || o.close) return void res.end(text);
  // An early answer (wrong method or Content-Type, bad metadata, auth, origin) while the agent
  // still sends: the answer goes out now, but the response ends (and Node closes the socket) only
  // once the rest of the body was read and dropped, for at most 1 s. Closing with the body unread
  // makes the kernel reset the connection, and the agent would see EPIPE/ECONNRESET instead of
  // the answer. APM Server (Go's net/http) likewise reads on before it closes.
  res.write(text);
  req.resume();
  const end = (): void => {
    clearTimeout(t);
    if (!res.writableEnded) res.end();
  };
  const t = setTimeout(() => {
    end();
    req.socket?.destroy();
  }, 1000);
  t.unref();
  req.once('end', end);
  req.once('close', end);
}

function requestMeta(m: Obj, rxUs: number): RequestMeta {
  const service = (m.service ?? {}) as Obj;
  const agent = (service.agent ?? {}) as Obj;
  return {
    raw: m,
    service: typeof service.name === 'string' ? service.name : 'unknown',
    environment: typeof service.environment === 'string' ? service.environment : null,
    agentName: typeof agent.name === 'string' ? agent.name : null,
    agentVersion: typeof agent.version === 'string' ? agent.version : null,
    rxUs,
  };
}

/**
 * Breakdown metricsets (those with `transaction`) keep only span.self_time.* and only with `span`,
 * as APM Server does; returns false when nothing is left (the line is dropped, not counted).
 */
function keepMetricset(m: Obj): boolean {
  if (m.transaction === undefined || m.transaction === null) return true;
  const samples = (m.samples ?? {}) as Obj;
  if (m.span === undefined || m.span === null) return false;
  const kept: Obj = {};
  for (const k of ['span.self_time.count', 'span.self_time.sum.us']) if (samples[k] !== undefined) kept[k] = samples[k];
  if (Object.keys(kept).length === 0) return false;
  m.samples = kept;
  return true;
}

/** What the server keeps of a request being decoded. */
export interface IntakeHandle {
  /**
   * Server shutdown: ends the request at once with 503 `server is shutting down` (APM Server's
   * Closing answer), after the events decoded so far were handed to the store. No-op once answered.
   */
  shutdown(): void;
  /**
   * Read timeout: ends the request with 503 `{"error": "request timed out"}` and closes its
   * connection; events decoded so far stay stored. No-op once answered.
   */
  timeout(): void;
}

export const SHUTTING_DOWN = 'server is shutting down';
/** APM Server's answer (503) when a request did not arrive within the read timeout. */
export const TIMED_OUT = 'request timed out';

/**
 * After an answer sent before the body ended: stop reading it and close the connection once the
 * answer is out (at most 1 s later), so a slow or huge body cannot keep the socket.
 */
export function closeAfterReply(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  req.resume();
  const t = setTimeout(() => socket?.destroy(), 1000);
  t.unref();
  const close = (): void => {
    clearTimeout(t);
    socket?.destroy();
  };
  if (res.writableFinished) close();
  else res.once('finish', close);
}

/** Handles one intake request after auth, method and Content-Type were checked. */
export function handleIntake(
  req: IncomingMessage,
  res: ServerResponse,
  store: Store,
  schemaDir: string,
  limits: IntakeLimits,
  verbose: boolean,
  /** Called once when the request no longer needs decoding resources (answered or abandoned). */
  onDone: () => void = () => {},
): IntakeHandle {
  const validators = loadValidators(schemaDir);
  const rxUs = Date.now() * 1000;
  let accepted = 0;
  const errors: JsonError[] = [];
  let worst = 0; // highest error status seen; 0 = none
  let meta: RequestMeta | undefined;
  let done = false;
  let rawBytes = 0;
  let decodedBytes = 0;

  // line assembly state
  let parts: Buffer[] = [];
  let lineLen = 0;
  let tooLong = false;

  const addError = (message: string, document: string | undefined, code: number): void => {
    if (errors.length < MAX_REPORTED_ERRORS) errors.push(document === undefined ? { message } : { document, message });
    worst = Math.max(worst, code);
  };

  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    onDone();
  };

  const finish = (terminal?: { message: string; document?: string; status: number }): void => {
    if (done) return;
    done = true;
    release();
    if (terminal) {
      errors.push(terminal.document === undefined ? { message: terminal.message } : { document: terminal.document, message: terminal.message });
      worst = Math.max(worst, terminal.status);
    }
    cleanup();
    const status = worst || 202;
    if (status === 202) writeResult(req, res, 202, verbose ? { accepted } : undefined);
    // An answer before the agent finished sending (like APM Server's early replies) reads the rest
    // for up to 1 s before it closes (writeResult); at shutdown the connection is dropped at once.
    else writeResult(req, res, status, { accepted, errors }, { close: terminal?.message === SHUTTING_DOWN });
  };

  const processLine = (line: string): void => {
    if (done) return;
    if (line.trim() === '') return; // blank lines are allowed for backwards compatibility
    // APM Server's decoder stops at 10,000 levels; deeper documents would be stored fine but could
    // not be serialised again by V8 (its JSON.stringify recurses).
    const deep = depthExceededAt(line, MAX_NESTING_DEPTH);
    if (deep >= 0) {
      const kind = identifyKind(line) ?? '';
      const root = GO_ROOT[meta ? kind : 'metadata'] ?? `v2.${kind}`;
      const message = `decode error: data read error: ${root}: ${depthErrorText(line, deep)}`;
      if (!meta) finish({ message, document: line, status: 400 });
      else addError(message, line, 400);
      return;
    }
    if (!meta) {
      try {
        const { body } = decodeLine(line, true, validators);
        meta = requestMeta(body, rxUs);
      } catch (err) {
        if (err instanceof LineError) finish({ message: err.message, document: err.document, status: 400 });
        else finish({ message: `unable to service request: ${(err as Error).message}`, status: 500 });
      }
      return;
    }
    try {
      const { kind, body, raw } = decodeLine(line, false, validators);
      if (kind === 'metricset' && !keepMetricset(body)) return;
      store.add(kind, body, meta, raw);
      accepted++;
    } catch (err) {
      if (err instanceof LineError) addError(err.message, err.document, 400);
      else addError(`unable to service request: ${(err as Error).message}`, undefined, 500);
    }
  };

  const endLine = (): void => {
    if (tooLong) {
      const doc = Buffer.concat(parts).toString('utf8');
      if (!meta) finish({ message: 'event exceeded the permitted size', document: doc, status: 400 });
      else addError('event exceeded the permitted size', doc, 400);
    } else if (parts.length === 1) processLine(parts[0]!.toString('utf8'));
    else if (parts.length > 1) processLine(Buffer.concat(parts, lineLen).toString('utf8'));
    parts = [];
    lineLen = 0;
    tooLong = false;
  };

  const onDecoded = (buf: Buffer): void => {
    if (done) return;
    decodedBytes += buf.length;
    if (decodedBytes > limits.maxRequestSize) {
      finish({ message: `request body exceeded the permitted size of ${limits.maxRequestSize} bytes`, status: 413 });
      return;
    }
    let start = 0;
    while (start <= buf.length && !done) {
      const nl = buf.indexOf(10, start);
      const end = nl === -1 ? buf.length : nl;
      if (end > start && !tooLong) {
        const piece = buf.subarray(start, end);
        if (lineLen + piece.length > limits.maxEventSize) {
          parts.push(piece.subarray(0, limits.maxEventSize - lineLen));
          lineLen = limits.maxEventSize;
          tooLong = true;
        } else {
          parts.push(piece);
          lineLen += piece.length;
        }
      }
      if (nl === -1) break;
      endLine();
      start = nl + 1;
    }
  };

  // --- decompression: Content-Encoding, else sniff the first two bytes like APM Server ---
  const ce = String(req.headers['content-encoding'] ?? '').trim().toLowerCase();
  let mode: 'gzip' | 'zlib' | 'plain' | undefined = ce === 'gzip' ? 'gzip' : ce === 'deflate' ? 'zlib' : undefined;
  let head: Buffer | undefined;
  let z: Gunzip | Inflate | undefined;

  const cleanup = (): void => {
    req.removeListener('data', onData);
    req.removeListener('end', onEnd);
    if (z) {
      z.removeAllListeners('data');
      z.on('error', () => {});
      z.destroy();
    }
  };

  const start = (first: Buffer): void => {
    if (!mode) mode = first[0] === 0x1f && first[1] === 0x8b ? 'gzip' : (first[0]! & 0x0f) === 8 ? 'zlib' : 'plain';
    if (mode === 'plain') return;
    z = mode === 'gzip' ? createGunzip() : createInflate();
    const name = mode;
    z.on('data', onDecoded);
    z.on('drain', () => req.resume());
    z.on('error', (err: NodeJS.ErrnoException) => {
      const msg = err.code === 'Z_DATA_ERROR' && /header/i.test(err.message) ? 'invalid header' : err.code === 'Z_BUF_ERROR' ? 'unexpected EOF' : err.message;
      finish({ message: `data decoding error: ${name}: ${msg}`, status: 400 });
    });
    z.on('end', () => {
      endLine();
      finish();
    });
  };

  const feed = (chunk: Buffer): void => {
    if (mode === 'plain') onDecoded(chunk);
    else if (z && !z.write(chunk)) req.pause();
  };

  function onData(chunk: Buffer): void {
    if (done) return;
    rawBytes += chunk.length;
    if (rawBytes > limits.maxRequestSize) {
      finish({ message: `request body exceeded the permitted size of ${limits.maxRequestSize} bytes`, status: 413 });
      return;
    }
    if (head === undefined && !z && mode !== 'plain') {
      const buf = head === undefined ? chunk : Buffer.concat([head, chunk]);
      if (buf.length < 2 && !mode) {
        head = buf;
        return;
      }
      head = undefined;
      start(buf);
      feed(buf);
      return;
    }
    if (head !== undefined) {
      const buf = Buffer.concat([head, chunk]);
      head = undefined;
      start(buf);
      feed(buf);
      return;
    }
    feed(chunk);
  }

  function onEnd(): void {
    if (done) return;
    if (head !== undefined) {
      const h = head;
      head = undefined;
      start(h);
      feed(h);
    }
    if (z) z.end();
    else {
      endLine();
      finish();
    }
  }

  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', () => finish({ message: 'request body could not be read', status: 400 }));
  req.on('close', () => {
    // Client went away mid-stream: keep what was decoded, nothing left to answer.
    if (!req.complete && !done) {
      done = true;
      cleanup();
      release();
    }
  });
  return {
    // Complete lines were already handed to the store as they arrived; a partial last line is
    // dropped (it is not an event yet), like APM Server when its context is cancelled.
    shutdown: () => finish({ message: SHUTTING_DOWN, status: 503 }),
    timeout: () => {
      if (done) return;
      done = true;
      cleanup();
      release();
      writeResult(req, res, 503, { error: TIMED_OUT }, { close: true });
      closeAfterReply(req, res);
    },
  };
}

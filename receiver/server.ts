// The receiver's HTTP server: APM Server's agent-facing routes (intake, server info, central
// config), the optional secret-token / API-key check, the web UI's static files and JSON API.
import { timingSafeEqual } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { closeAfterReply, handleIntake, SHUTTING_DOWN, TIMED_OUT, writeResult, type IntakeHandle, type IntakeLimits } from './intake.js';
import { depsRoutes } from './api-deps.js';
import { logsRoutes } from './logs.js';
import { ApiNotFound, int, list, matchPath, ParamError, parseQuery, pathSegments, RANGE, rangeOf, route, str, type ApiRoute } from './params.js';
import { MAX_METRIC_NAMES, MAX_SAMPLES, Queries } from './queries.js';
import { safeStringify } from './safe-json.js';
import type { Store } from './store.js';
import { fromBrowser, Guard, loginPage } from './guard.js';
import { loadValidators } from './validate.js';
import { AgentConfigError, AgentConfigs, CENTRAL_KEYS, normalizeSettings } from './agent-config.js';
import { OtlpError, otlpToIntake } from './otlp.js';
import { gunzipSync } from 'node:zlib';

export const SPANFORGE_VERSION = '0.1.0';
/** The APM Server version we answer with on GET /: agents gate features on it (Node: ≥8.7.1, ≥8.0). */
export const COMPATIBLE_APM_SERVER_VERSION = '9.5.2';
const BUILD_DATE = '2026-11-25T00:00:00Z';

export interface ServerOptions {
  store: Store;
  schemaDir: string;
  uiDir: string | undefined;
  limits: IntakeLimits;
  /** Intake requests decoded at once; later ones wait, paused, for a slot (APM Server: 200). */
  maxConcurrentIntake?: number;
  /** APM Server's read_timeout (ms): an intake request must arrive whole within it. Default 30 000. */
  readTimeoutMs?: number;
  secretToken?: string;
  apiKey?: string;
  /** The --host the server binds (for the Host check). Default 127.0.0.1. */
  listenHost?: string;
  /** Extra Host names to accept (DNS-rebinding check); `.example.com` for a domain, `*` for any. */
  allowedHosts?: string[];
  /** Origins whose pages may send events cross-origin (APM Server's rum.allow_origins, `*` globs). */
  rumAllowOrigins?: string[];
  /** Cache-Control max-age of /config/v1/agents answers, seconds (APM Server's agent.config.cache.expiration, default 30). */
  agentConfigMaxAgeS?: number;
}

const AUTH_HINT = "expected 'Authorization: Bearer secret_token' or 'Authorization: ApiKey base64(API key ID:API key)'";
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};
// The UI builds its DOM with textContent only; the CSP is a second line of defence against event
// text that would try to run as script.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const LOGIN_CSP = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/** Routes agents use (APM Server's): a non-browser client may name the receiver by any Host there. */
const AGENT_ROUTES = new Set(['/', '/intake/v2/events', '/intake/v2/rum/events', '/config/v1/agents', '/v1/traces']);
/** APM Server's CORS middleware: allowed request headers and methods of a RUM preflight. */
const RUM_CORS = { methods: 'POST, OPTIONS', headers: 'Content-Type, Content-Encoding, Accept' };

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  // safeStringify: a stored event nested thousands of levels deep must not make its trace unreadable.
  const text = safeStringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

type AuthResult = { ok: true } | { ok: false; message: string };

/** APM Server's auth middleware: Bearer <secret_token> or ApiKey <base64(id:key)>. */
function authenticate(req: IncomingMessage, opts: ServerOptions): AuthResult {
  if (!opts.secretToken && !opts.apiKey) return { ok: true };
  const header = req.headers.authorization;
  if (!header) return { ok: false, message: `authentication failed: missing or improperly formatted Authorization header: ${AUTH_HINT}` };
  const sp = header.indexOf(' ');
  const scheme = sp < 0 ? header : header.slice(0, sp);
  const token = sp < 0 ? '' : header.slice(sp + 1);
  if (scheme === 'Bearer') {
    return opts.secretToken && safeEqual(token, opts.secretToken) ? { ok: true } : { ok: false, message: 'authentication failed' };
  }
  if (scheme === 'ApiKey') {
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token) || !decoded.includes(':')) {
      return { ok: false, message: 'authentication failed: improperly encoded/formatted ApiKey credentials: expected base64(ID:APIKey)' };
    }
    return opts.apiKey && safeEqual(token, opts.apiKey) ? { ok: true } : { ok: false, message: 'authentication failed' };
  }
  return { ok: false, message: `authentication failed: unknown Authentication header ${scheme}: ${AUTH_HINT}` };
}

function loadUi(uiDir: string | undefined): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  if (!uiDir || !existsSync(uiDir)) return files;
  for (const name of readdirSync(uiDir)) {
    const type = MIME[extname(name)];
    if (type) files.set(name, { body: readFileSync(join(uiDir, name)), type });
  }
  return files;
}

const METRIC_NAMES = [
  'system.cpu.total.norm.pct',
  'system.process.cpu.total.norm.pct',
  'system.memory.actual.free',
  'system.memory.total',
  'system.process.memory.rss.bytes',
  'nodejs.eventloop.delay.avg.ms',
  'nodejs.memory.heap.used.bytes',
  'nodejs.memory.heap.allocated.bytes',
];

/**
 * `/api/agent-config`: GET lists every entry; PUT `{service, environment, settings}` replaces one entry's settings
 * (an empty object deletes it); DELETE `?service=&environment=` removes one. '' (or absent) service/environment
 * means "all". Agents see a change at their next poll (Cache-Control max-age).
 */
function agentConfigApi(req: IncomingMessage, res: ServerResponse, url: URL, method: string, configs: AgentConfigs): void {
  if (method === 'GET') return sendJson(res, 200, { keys: CENTRAL_KEYS, entries: configs.list() });
  if (method === 'DELETE') {
    const service = url.searchParams.get('service') ?? '';
    const environment = url.searchParams.get('environment') ?? '';
    return configs.delete(service, environment) ? sendJson(res, 200, { deleted: true }) : sendJson(res, 404, { error: `no agent configuration for service ${JSON.stringify(service)} and environment ${JSON.stringify(environment)}` });
  }
  if (method !== 'PUT') return sendJson(res, 405, { error: `method not supported: ${method}` });
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= 65536) chunks.push(c);
  });
  req.on('end', () => {
    if (size > 65536) return sendJson(res, 400, { error: 'request body too large' });
    let body: { service?: unknown; environment?: unknown; settings?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return sendJson(res, 400, { error: 'invalid JSON body' });
    }
    if (body === null || typeof body !== 'object') return sendJson(res, 400, { error: 'expected {"service", "environment", "settings"}' });
    const service = body.service ?? '';
    const environment = body.environment ?? '';
    if (typeof service !== 'string' || service.length > 1024) return sendJson(res, 400, { error: 'service must be a string (empty: every service)' });
    if (typeof environment !== 'string' || environment.length > 1024) return sendJson(res, 400, { error: 'environment must be a string (empty: every environment)' });
    let settings: Record<string, string>;
    try {
      settings = normalizeSettings(body.settings);
    } catch (e) {
      if (e instanceof AgentConfigError) return sendJson(res, 400, { error: e.message });
      throw e;
    }
    const entry = configs.put(service, environment, settings);
    sendJson(res, 200, entry ?? { deleted: true });
  });
}

export function createReceiverServer(opts: ServerOptions): Server {
  loadValidators(opts.schemaDir); // compile once at start (~300 ms), not on the first request
  const guard = new Guard({
    listenHost: opts.listenHost ?? '127.0.0.1',
    allowedHosts: opts.allowedHosts,
    rumAllowOrigins: opts.rumAllowOrigins,
    secretToken: opts.secretToken,
    apiKey: opts.apiKey,
  });
  const queries = new Queries(opts.store.db);
  const agentConfigs = new AgentConfigs(opts.store.db);
  const configMaxAge = Number.isInteger(opts.agentConfigMaxAgeS) && opts.agentConfigMaxAgeS! > 0 ? opts.agentConfigMaxAgeS! : 30;
  const ui = loadUi(opts.uiDir);
  const live = new Set<ServerResponse>();
  let changeTimer: NodeJS.Timeout | undefined;
  // Live updates: at most one SSE "change" per second, however fast events arrive.
  opts.store.on('change', () => {
    if (changeTimer || live.size === 0) return;
    changeTimer = setTimeout(() => {
      changeTimer = undefined;
      for (const res of live) res.write(`event: change\ndata: ${Date.now()}\n\n`);
    }, 1000);
    changeTimer.unref();
  });

  // The JSON API: every route declares its query parameters (receiver/params.ts); a request with
  // an undeclared, repeated, malformed or out-of-bounds parameter is a 400 naming it.
  const routes: ApiRoute[] = [
    route('/api/services', RANGE, (_m, p) => queries.services(rangeOf(p))),
    route('/api/services/:name/charts', { ...RANGE, type: str() }, (m, p) => queries.serviceCharts(m.name!, rangeOf(p), p.type || undefined)),
    route('/api/services/:name/transactions', RANGE, (m, p) => queries.transactionGroups(m.name!, rangeOf(p))),
    route('/api/services/:name/samples', { ...RANGE, name: str(), limit: int({ min: 1, max: MAX_SAMPLES, dflt: 50 }) }, (m, p) =>
      queries.transactionSamples(m.name!, p.name, rangeOf(p), p.limit),
    ),
    route('/api/services/:name/metrics', { ...RANGE, name: list({ maxItems: MAX_METRIC_NAMES }) }, (m, p) =>
      queries.metrics(m.name!, rangeOf(p), p.name.length ? p.name : METRIC_NAMES),
    ),
    route('/api/traces/:traceId', {}, (m) => queries.trace(m.traceId!)),
    route('/api/errors', { ...RANGE, service: str() }, (_m, p) => queries.errorGroups(rangeOf(p), p.service || undefined)),
    route('/api/errors/:groupKey', RANGE, (m, p) => queries.errorGroup(m.groupKey!, rangeOf(p)) ?? new ApiNotFound(`no error group ${m.groupKey}`)),
    route('/api/stats', {}, () => ({ ...queries.counts(), version: SPANFORGE_VERSION })),
    // Service map, dependencies, latency distribution, search, event detail.
    ...depsRoutes(opts.store),
    ...logsRoutes(opts.store), // a trace's logs, a range's logs (receiver/logs.ts)
  ];

  const api = (path: string, q: URLSearchParams, res: ServerResponse): void => {
    let body: unknown;
    try {
      const seg = pathSegments(path);
      let found = false;
      for (const r of routes) {
        const m = matchPath(r.path, seg);
        if (!m) continue;
        found = true;
        body = r.run(m, parseQuery(q, r.params));
        break;
      }
      if (!found) return sendJson(res, 404, { error: `unknown API path ${path}` });
    } catch (err) {
      if (err instanceof ParamError) return sendJson(res, 400, { error: err.message, parameter: err.parameter });
      throw err;
    }
    if (body instanceof ApiNotFound) return sendJson(res, 404, { error: body.message });
    sendJson(res, 200, body, { 'Cache-Control': 'no-store' });
  };

  const maxIntake = opts.maxConcurrentIntake ?? 200;
  let active = 0;
  let shuttingDown = false;
  type Waiting = { run: () => void; req: IncomingMessage; res: ServerResponse };
  const waiting: Waiting[] = [];
  const readTimeoutMs = opts.readTimeoutMs ?? 30_000;
  const decoding = new Set<IntakeHandle>();
  const release = (): void => {
    active--;
    const next = waiting.shift();
    if (next) {
      active++;
      next.run();
    }
  };
  const timedOutReply = (req: IncomingMessage, res: ServerResponse): void => {
    writeResult(req, res, 503, { error: TIMED_OUT }, { close: true });
    closeAfterReply(req, res);
  };
  const shutdownReply = (req: IncomingMessage, res: ServerResponse, accepted = 0): void => {
    writeResult(req, res, 503, { accepted, errors: [{ message: SHUTTING_DOWN }] }, { close: true });
    // Like an early reply: do not wait for the rest of the body, drop the connection soon.
    req.resume();
    const t = setTimeout(() => req.socket?.destroy(), 1000);
    t.unref();
    req.once('end', () => clearTimeout(t));
  };

  /** With a token: a session cookie from /ui/login, or the agents' Authorization header. */
  const uiAuthenticated = (req: IncomingMessage): boolean =>
    !guard.authRequired || guard.hasSession(req) || (req.headers.authorization !== undefined && authenticate(req, opts).ok);
  const apiAuthProblem = (req: IncomingMessage): string | undefined => {
    if (uiAuthenticated(req)) return undefined;
    if (req.headers.authorization !== undefined) return (authenticate(req, opts) as { message: string }).message;
    return `authentication failed: this receiver has a secret token or API key; sign in at /ui/login, or send ${AUTH_HINT.replace(/^expected /, '')}`;
  };
  const loginHeaders = { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': LOGIN_CSP, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' };
  const signedIn = (res: ServerResponse): void => {
    res.writeHead(303, { Location: '/ui/', 'Set-Cookie': guard.setCookie(guard.newSession()), 'Cache-Control': 'no-store', 'Content-Length': 0 });
    res.end();
  };
  const showLogin = (res: ServerResponse, status: number, message: string, head = false): void => {
    const page = loginPage(message);
    res.writeHead(status, { ...loginHeaders, 'Content-Length': Buffer.byteLength(page) });
    res.end(head ? undefined : page);
  };
  /** GET /ui/login[?code=one-time]: the sign-in page; POST: the form with the token. */
  const login = (req: IncomingMessage, res: ServerResponse, url: URL, method: string): void => {
    if (!guard.authRequired) {
      res.writeHead(303, { Location: '/ui/', 'Content-Length': 0 });
      return void res.end();
    }
    if (method === 'GET' || method === 'HEAD') {
      const code = url.searchParams.get('code');
      if (code === null) return showLogin(res, 200, '', method === 'HEAD');
      if (guard.redeemLoginCode(code)) return signedIn(res);
      return showLogin(res, 401, 'This sign-in link was used already or has expired: enter the token instead.', method === 'HEAD');
    }
    if (method !== 'POST') return sendJson(res, 405, { error: `method not supported: ${method}` });
    const foreign = guard.foreignOrigin(req);
    if (foreign !== undefined) return sendJson(res, 403, { error: `forbidden request: origin: '${foreign}' is not allowed` });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 4096) chunks.push(c);
    });
    req.on('end', () => {
      if (size > 4096) return showLogin(res, 413, 'The form was too large.');
      const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token') ?? '';
      if (token !== '' && guard.tokenMatches(token)) return signedIn(res);
      showLogin(res, 401, 'That is not this receiver\'s secret token or API key.');
    });
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return sendJson(res, 400, { error: 'malformed request target' });
    }
    const path = url.pathname;
    const method = req.method ?? 'GET';

    // DNS rebinding: a page on evil.example whose name now resolves to this machine sends
    // `Host: evil.example`. The UI and API always check it; agent routes only for browsers, so that
    // agents may reach the receiver by any name (host.docker.internal, a VM's address).
    if (!AGENT_ROUTES.has(path) || fromBrowser(req)) {
      const problem = guard.hostProblem(req);
      if (problem) return writeResult(req, res, 403, { error: problem });
    }

    if (path === '/v1/traces') {
      // OTLP/HTTP traces (receiver/otlp.ts), under the intake's rules: no cross-site writes, the
      // token or API key when one is set, the intake's request size limit (after gunzip too).
      const foreign = guard.foreignOrigin(req);
      if (foreign !== undefined) return writeResult(req, res, 403, { error: `forbidden request: origin: '${foreign}' is not allowed` });
      const auth = authenticate(req, opts);
      if (!auth.ok) return writeResult(req, res, 401, { error: auth.message });
      if (method !== 'POST') return writeResult(req, res, 405, { error: 'only POST requests are supported' });
      const ct = String(req.headers['content-type'] ?? '');
      if (!ct.includes('application/x-protobuf') && !ct.includes('application/json')) {
        return writeResult(req, res, 415, { error: `unsupported content type: '${ct}' (application/x-protobuf or application/json)` });
      }
      if (shuttingDown) return shutdownReply(req, res);
      const max = opts.limits.maxRequestSize;
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > max) {
          if (!over) writeResult(req, res, 413, { error: `request body exceeded the permitted size of ${max} bytes` });
          over = true;
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (over) return;
        try {
          let body = Buffer.concat(chunks);
          if (String(req.headers['content-encoding'] ?? '').includes('gzip')) body = gunzipSync(body, { maxOutputLength: max });
          const { events } = otlpToIntake(body, ct, Date.now() * 1000);
          for (const e of events) opts.store.add(e.kind, e.body, e.meta);
          if (ct.includes('json')) {
            res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 2 });
            res.end('{}');
          } else {
            res.writeHead(200, { 'Content-Type': 'application/x-protobuf', 'Content-Length': 0 });
            res.end();
          }
        } catch (err) {
          const tooBig = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
          writeResult(req, res, tooBig ? 413 : 400, { error: tooBig ? `request body exceeded the permitted size of ${max} bytes` : `invalid OTLP request: ${err instanceof OtlpError ? err.message : (err as Error).message}` });
        }
      });
      return;
    }

    if (path === '/intake/v2/events' || (path === '/intake/v2/rum/events' && guard.rumEnabled)) {
      // Cross-site writes: a page elsewhere could POST events (no-cors, no Content-Type) into a
      // receiver without a token. Browsers name their origin; only RUM's allowed origins pass.
      const foreign = guard.foreignOrigin(req);
      if (method === 'OPTIONS' && guard.rumEnabled) {
        // APM Server's preflight answer: 200, the origin echoed only when it is allowed.
        const origin = req.headers.origin;
        if (origin !== undefined && guard.rumAllowed(origin)) res.setHeader('Access-Control-Allow-Origin', origin);
        res.writeHead(200, {
          'Access-Control-Max-Age': '3600',
          Vary: 'Origin',
          'Access-Control-Allow-Methods': RUM_CORS.methods,
          'Access-Control-Allow-Headers': RUM_CORS.headers,
          'Access-Control-Expose-Headers': 'Etag',
          'Content-Length': '0',
        });
        return void res.end();
      }
      if (foreign !== undefined) {
        if (!guard.rumAllowed(foreign)) return writeResult(req, res, 403, { error: `forbidden request: origin: '${foreign}' is not allowed` });
        res.setHeader('Access-Control-Allow-Origin', foreign);
        res.setHeader('Vary', 'Origin');
      }
      const auth = authenticate(req, opts);
      if (!auth.ok) return writeResult(req, res, 401, { error: auth.message });
      if (method !== 'POST') return writeResult(req, res, 400, { accepted: 0, errors: [{ message: 'only POST requests are supported' }] });
      const ct = req.headers['content-type'];
      if (ct !== undefined && !ct.includes('application/x-ndjson')) {
        return writeResult(req, res, 400, { accepted: 0, errors: [{ message: `invalid content type: '${ct}'` }] });
      }
      if (shuttingDown) return shutdownReply(req, res);
      let h: IntakeHandle | undefined;
      let later: Waiting | undefined;
      // APM Server's read_timeout: the whole request, its wait for a slot included, must arrive in
      // time. A request still waiting or still sending then gets 503 `request timed out` (APM
      // Server's TimeoutMiddleware answer) and its connection is closed; what it sent is kept.
      const deadline = setTimeout(() => {
        if (req.complete) return;
        const i = later ? waiting.indexOf(later) : -1;
        if (i >= 0) waiting.splice(i, 1);
        if (h) h.timeout();
        else timedOutReply(req, res);
      }, readTimeoutMs);
      deadline.unref();
      res.once('close', () => clearTimeout(deadline));
      const run = (): void => {
        let ended = false;
        h = handleIntake(req, res, opts.store, opts.schemaDir, opts.limits, url.searchParams.has('verbose'), () => {
          ended = true;
          if (h) decoding.delete(h);
          release();
        });
        if (!ended) decoding.add(h);
      };
      if (active < maxIntake) {
        active++;
        return run();
      }
      // Bounded memory: a waiting request is paused, so TCP backpressure holds its body in the
      // agent, not here. Like APM Server's semaphore it waits rather than failing.
      req.pause();
      later = {
        req,
        res,
        run: (): void => {
          req.resume(); // an explicitly paused stream stays paused when 'data' listeners are added
          run();
        },
      };
      const queued = later;
      waiting.push(queued);
      req.once('close', () => {
        const i = waiting.indexOf(queued);
        if (i >= 0) waiting.splice(i, 1);
      });
      return;
    }

    if (path === '/') {
      if (method !== 'GET' && method !== 'HEAD') {
        return writeResult(req, res, 405, {
          error: 'method not supported: this is the server information endpoint; did you mean to send data to another endpoint instead?',
        });
      }
      // Browsers (Accept: text/html) go to the UI; agents get server information JSON.
      if (String(req.headers.accept ?? '').includes('text/html')) {
        res.writeHead(302, { Location: '/ui/' });
        return void res.end();
      }
      const auth = authenticate(req, opts);
      if (!auth.ok) {
        res.writeHead(200);
        return void res.end();
      }
      return writeResult(req, res, 200, {
        build_date: BUILD_DATE,
        build_sha: 'spanforge',
        publish_ready: true,
        version: COMPATIBLE_APM_SERVER_VERSION,
        spanforge_version: SPANFORGE_VERSION,
      });
    }

    if (path === '/config/v1/agents') {
      const auth = authenticate(req, opts);
      if (!auth.ok) return writeResult(req, res, 401, { error: auth.message });
      const cacheErr = { 'Cache-Control': 'max-age=300, must-revalidate' };
      if (method !== 'GET' && method !== 'POST') return sendJson(res, 405, { error: `method not supported: ${method}` }, cacheErr);
      const answer = (name: unknown, environment: unknown): void => {
        if (typeof name !== 'string' || name === '') return sendJson(res, 400, { error: 'service.name is required' }, cacheErr);
        // The settings set for this service/environment (spanforge serve's API and UI), APM Server's matching
        // precedence; nothing set: the empty config with APM Server's sentinel etag "-".
        const found = agentConfigs.match(name, typeof environment === 'string' ? environment : '');
        const etag = found ? found.etag : '-';
        const headers = { Etag: `"${etag}"`, 'Cache-Control': `max-age=${configMaxAge}, must-revalidate`, 'Access-Control-Expose-Headers': 'Etag' };
        const inm = (req.headers['if-none-match'] ?? url.searchParams.get('ifnonematch') ?? '').toString().replace(/"/g, '');
        if (inm === etag) {
          // The agent sent back the current settings' ETag: it has them (the UI shows the entry as applied).
          if (found) agentConfigs.markApplied(found);
          res.writeHead(304, headers);
          return void res.end();
        }
        sendJson(res, 200, found ? found.settings : {}, headers);
      };
      if (method === 'GET') return answer(url.searchParams.get('service.name'), url.searchParams.get('service.environment'));
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 65536) chunks.push(c);
      });
      req.on('end', () => {
        if (size > 65536) return sendJson(res, 400, { error: 'request body too large' }, cacheErr);
        let svc: { name?: unknown; environment?: unknown };
        try {
          svc = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { service?: { name?: unknown; environment?: unknown } }).service ?? {};
        } catch {
          return sendJson(res, 400, { error: 'invalid JSON body' }, cacheErr);
        }
        answer(svc.name, svc.environment);
      });
      return;
    }

    if (path === '/ui/login') return login(req, res, url, method);
    if (path === '/ui' || path === '/ui/' || path.startsWith('/ui/')) {
      if (method !== 'GET' && method !== 'HEAD') return sendJson(res, 405, { error: `method not supported: ${method}` });
      const name = path === '/ui' || path === '/ui/' ? 'index.html' : path.slice(4);
      // With a token, the page that shows data asks to sign in first (its assets are public code).
      if (name === 'index.html' && !uiAuthenticated(req)) {
        res.writeHead(303, { Location: '/ui/login', 'Cache-Control': 'no-store', 'Content-Length': 0 });
        return void res.end();
      }
      const file = ui.get(name);
      if (!file) return sendJson(res, 404, { error: '404 page not found' });
      res.writeHead(200, {
        'Content-Type': file.type,
        'Content-Length': file.body.length,
        'Content-Security-Policy': CSP,
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'no-cache',
      });
      return void res.end(method === 'HEAD' ? undefined : file.body);
    }

    if (path === '/favicon.ico') {
      res.writeHead(204);
      return void res.end();
    }
    if (path === '/api/live' || path.startsWith('/api/')) {
      // The API is for the UI's own pages (same origin) and for scripts (no Origin at all).
      const foreign = guard.foreignOrigin(req);
      if (foreign !== undefined) return sendJson(res, 403, { error: `forbidden request: origin: '${foreign}' is not allowed` });
      const denied = apiAuthProblem(req);
      if (denied) return sendJson(res, 401, { error: denied });
    }
    if (path === '/api/live') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
      res.write('retry: 2000\n\n');
      live.add(res);
      req.on('close', () => live.delete(res));
      return;
    }
    if (path === '/api/agent-config') return agentConfigApi(req, res, url, method, agentConfigs);
    if (path.startsWith('/api/')) {
      if (method !== 'GET') return sendJson(res, 405, { error: `method not supported: ${method}` });
      return api(path, url.searchParams, res);
    }
    sendJson(res, 404, { error: '404 page not found' });
  };

  // APM Server: 1 MiB headers, 30 s to read a request, 45 s idle.
  const server = createServer({ maxHeaderSize: 1024 * 1024, connectionsCheckingInterval: 1000 }, (req, res) => {
    try {
      handle(req, res);
    } catch (err) {
      // A bug in one request must not take the receiver down.
      if (!res.headersSent) sendJson(res, 500, { error: `unable to service request: ${(err as Error).message}` });
      else res.destroy();
    }
  });
  // Node's own limits for the other routes and for headers: the whole request within the read
  // timeout (the intake's own timer answers first there), checked every second rather than every 30 s.
  server.headersTimeout = Math.min(readTimeoutMs, 60_000);
  server.requestTimeout = readTimeoutMs + 5000;
  server.keepAliveTimeout = 45_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Slow headers (headersTimeout) get 408 as from Node's default handler; malformed requests 400.
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
    else socket.destroy();
  });
  (server as Server & { loginCode?: () => string | undefined }).loginCode = () => (guard.authRequired ? guard.newLoginCode() : undefined);
  server.on('listening', () => {
    const a = server.address();
    if (a && typeof a === 'object') guard.setPort(a.port);
  });
  (server as Server & { closeLive?: () => void }).closeLive = () => {
    for (const res of live) res.end();
    live.clear();
  };
  // Shutdown: uploads still in progress (and those waiting for a decoding slot) get APM Server's
  // 503 "server is shutting down" instead of a cut connection; what they sent so far is kept.
  (server as Server & { shutdownIntake?: () => void }).shutdownIntake = () => {
    shuttingDown = true;
    for (const w of waiting.splice(0)) shutdownReply(w.req, w.res);
    for (const h of [...decoding]) h.shutdown();
    decoding.clear();
  };
  return server;
}

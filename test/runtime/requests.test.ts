// Every incoming request gets exactly one transaction, named as elastic-apm-node names it (issue 11
// items 1-5), over real Express 5, Fastify 5, node:http and PostgreSQL: the ABI wrappers are called as
// the front-ends emit them (route(site, handler) at route and use() registrations). Covers requests
// answered before any route (rate limiter 429, auth hooks 401/403, validation and bad JSON 400, not-found
// 404), mounted / nested routers, arrays and regex paths, url.full under a mount, next(err) reaching the
// final handler, error middleware from a factory, and `handled` for a rejected pg query.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import express, { type NextFunction, type Request, type Response } from 'express';
import Fastify from 'fastify';
import pg from 'pg';
import * as abi from '../../runtime/abi.js';
import { flush } from '../../runtime/index.js';
import { assertValid, freshAgent, sleep, type CapturingTransport } from './helpers.js';

type Ev = Record<string, any>;
type D = abi.SiteDescriptor;
const at = (rule: string, handler: string, name: string | null, extra: Partial<D> = {}): D => ({ rule, handler, name, type: 'request', line: 1, column: 1, function: '<module>', ...extra });
const S = abi.sites(abi.ABI_VERSION, 'src/app.ts', [
  at('express.route', 'express', '/', { method: 'GET' }), // 0
  at('express.route', 'express', '/:id', { method: 'GET' }), // 1
  at('express.error-middleware', 'express', '/users'), // 2: app.use('/users', router)
  at('express.error-middleware', 'express', null), // 3: app.use(mw) / app.use(errorHandler())
  at('express.error-middleware', 'express', '/api'), // 4
  at('express.error-middleware', 'express', '/v1'), // 5
  at('express.route', 'express', '/items/:id', { method: 'GET' }), // 6
  at('express.route', 'express', null, { method: 'GET' }), // 7: non-literal path
  at('express.route', 'express', '/boom', { method: 'GET' }), // 8
  at('fastify.route', 'fastify', '/private', { method: 'GET' }), // 9
  at('fastify.route', 'fastify', '/items', { method: 'POST' }), // 10
  at('http.server', 'node-http', null), // 11
  { rule: 'pg.query', handler: 'pg', name: null, type: 'db', subtype: 'postgresql', action: 'query', line: 9, column: 5, function: '<anonymous>' }, // 12
]);

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

async function settle(transport: CapturingTransport, txs: number): Promise<Ev[]> {
  for (let i = 0; i < 100 && transport.of('transaction').length < txs; i++) await sleep(20);
  await sleep(30);
  await flush();
  for (const e of transport.events) assertValid(e as Record<string, unknown>);
  return transport.of('transaction');
}

const summary = (x: Ev) => ({ name: x.name, status: x.context?.response?.status_code, result: x.result, outcome: x.outcome, framework: x.context?.service?.framework?.name, full: x.context?.request?.url?.full?.replace(/^http:\/\/127\.0\.0\.1:\d+/, '') });

// A rate limiter as express-rate-limit behaves: answers 429 before any route once the budget is spent.
function rateLimit(max: number) {
  let used = 0;
  return function rateLimiter(_req: Request, res: Response, next: NextFunction) {
    if (++used > max) return void res.status(429).json({ error: 'Too many requests' });
    next();
  };
}

// An error-handler factory returning [notFound, errorMiddleware], as several starters ship it.
function errorHandler() {
  const notFound = (req: Request, res: Response) => void res.status(404).json({ error: `Not found: ${req.originalUrl}` });
  const onError = (err: Error, _req: Request, res: Response, _next: NextFunction) => void res.status(500).json({ error: err.message });
  return [notFound, onError];
}

test('Express: rejected, mounted, nested, unmatched and failing requests each get one correctly named transaction', { timeout: 30_000 }, async (t) => {
  const { transport } = await freshAgent();
  const app = express();
  app.use(abi.route(S[3]!, express.json()));
  app.use(abi.route(S[3]!, rateLimit(8))); // the bad-JSON request never reaches it
  const users = express.Router();
  users.get('/', abi.route(S[0]!, (_req: Request, res: Response) => void res.json([])));
  users.get('/:id', abi.route(S[1]!, (req: Request, res: Response) => void res.json({ id: req.params.id })));
  app.use('/users', abi.route(S[2]!, users));
  const api = express.Router();
  const v1 = express.Router();
  v1.get('/items/:id', abi.route(S[6]!, (_req: Request, res: Response) => void res.send('item')));
  api.use('/v1', abi.route(S[5]!, v1));
  app.use('/api', abi.route(S[4]!, api));
  const paths = ['/a', '/b'];
  app.get(paths, abi.route(S[7]!, (_req: Request, res: Response) => void res.send('ab')));
  app.get(/\/re+gex$/, abi.route(S[7]!, (_req: Request, res: Response) => void res.send('re')));
  app.get('/boom', abi.route(S[8]!, (_req: Request, _res: Response, next: NextFunction) => next(new Error('passed to next'))));
  app.use(abi.route(S[3]!, errorHandler()));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.after(() => new Promise((r) => server.close(r)));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const p of ['/users', '/users/', '/users/2', '/api/v1/items/7', '/a', '/reeegex', '/nope', '/boom']) await (await fetch(base + p)).text();
  const bad = await fetch(`${base}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"broken' });
  assert.equal(bad.status, 500, 'bad JSON reaches the error middleware');
  await bad.text();
  const limited = await fetch(`${base}/users/3`);
  assert.equal(limited.status, 429);
  await limited.text();
  const txs = await settle(transport, 10);
  assert.deepEqual(txs.map(summary), [
    { name: 'GET /users', status: 200, result: 'HTTP 2xx', outcome: 'success', framework: 'express', full: '/users' },
    { name: 'GET /users', status: 200, result: 'HTTP 2xx', outcome: 'success', framework: 'express', full: '/users/' },
    { name: 'GET /users/:id', status: 200, result: 'HTTP 2xx', outcome: 'success', framework: 'express', full: '/users/2' },
    { name: 'GET /api/v1/items/:id', status: 200, result: 'HTTP 2xx', outcome: 'success', framework: 'express', full: '/api/v1/items/7' },
    { name: 'GET /a,/b', status: 200, result: 'HTTP 2xx', outcome: 'success', framework: 'express', full: '/a' },
    { name: `GET ${String(/\/re+gex$/)}`, status: 200, result: 'HTTP 2xx', outcome: 'success', framework: 'express', full: '/reeegex' },
    { name: 'GET unknown route', status: 404, result: 'HTTP 4xx', outcome: 'success', framework: 'express', full: '/nope' },
    { name: 'GET /boom', status: 500, result: 'HTTP 5xx', outcome: 'failure', framework: 'express', full: '/boom' },
    { name: 'POST unknown route', status: 500, result: 'HTTP 5xx', outcome: 'failure', framework: 'express', full: '/users' },
    { name: 'GET unknown route', status: 429, result: 'HTTP 4xx', outcome: 'success', framework: 'express', full: '/users/3' },
  ]);
  const errors = transport.of('error');
  assert.deepEqual(
    errors.map((e) => [e.exception.message.replace(/ in JSON at .*|, ".*$/, ''), e.exception.handled, e.transaction.name]).sort(),
    [
      ['passed to next', true, 'GET /boom'],
      [errors.find((e) => e.transaction.name === 'POST unknown route')!.exception.message.replace(/ in JSON at .*|, ".*$/, ''), true, 'POST unknown route'],
    ].sort(),
    'errors that reach the error middleware returned by a factory (inside an array) are reported',
  );
});

test('Express: next(err) reaching the final handler is an unhandled error; a path used with use() names what it answers', { timeout: 30_000 }, async (t) => {
  const { transport } = await freshAgent();
  const app = express();
  app.get('/boom', abi.route(S[8]!, (_req: Request, _res: Response, next: NextFunction) => next(new Error('nobody handles this'))));
  // a limiter mounted on a path answers before any route: elastic-apm-node names it by the mount path
  app.use('/api', abi.route(S[4]!, rateLimit(0)));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.after(() => new Promise((r) => server.close(r)));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  assert.equal((await fetch(`${base}/boom`)).status, 500);
  assert.equal((await fetch(`${base}/api/anything`)).status, 429);
  const txs = await settle(transport, 2);
  assert.deepEqual(txs.map(summary), [
    { name: 'GET /boom', status: 500, result: 'HTTP 5xx', outcome: 'failure', framework: 'express', full: '/boom' },
    { name: 'GET /api', status: 429, result: 'HTTP 4xx', outcome: 'success', framework: 'express', full: '/api/anything' },
  ]);
  const [err] = transport.of('error');
  assert.equal(err!.exception.message, 'nobody handles this');
  assert.equal(err!.exception.handled, false);
  assert.equal(err!.transaction_id, txs[0]!.id);
  assert.equal(err!.context.response.status_code, 500, 'reported when the final handler answered');
});

test('Express: a rejected pg query escaping the handler is handled: false; one the app catches is handled: true', { timeout: 30_000 }, async (t) => {
  const { transport } = await freshAgent();
  const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: process.env.PGUSER ?? 'postgres', database: 'test', connectionTimeoutMillis: 3000 });
  t.after(() => pool.end());
  try {
    await pool.query('SELECT 1');
  } catch (e) {
    if (process.env.CI) throw e;
    return t.skip(`PostgreSQL unreachable: ${(e as Error).message}`);
  }
  const app = express();
  const table = 'sf_requests_test_missing_table';
  app.get('/escapes', abi.route(S[8]!, async (_req: Request, res: Response) => {
    const r = (await abi.call(S[12]!, pool, pool.query as never, `SELECT * FROM ${table}`)) as { rows: unknown[] };
    res.json(r.rows);
  }));
  app.get('/caught', abi.route(S[8]!, async (_req: Request, res: Response) => {
    try {
      await abi.call(S[12]!, pool, pool.query as never, `SELECT * FROM ${table}_2`);
      res.json([]);
    } catch {
      res.status(503).json({ error: 'try later' });
    }
  }));
  app.use(abi.route(S[3]!, (err: Error, _req: Request, res: Response, _next: NextFunction) => void res.status(500).json({ error: err.message })));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.after(() => new Promise((r) => server.close(r)));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  assert.equal((await fetch(`${base}/escapes`)).status, 500);
  assert.equal((await fetch(`${base}/caught`)).status, 503);
  await settle(transport, 2);
  const errors = transport.of('error');
  assert.deepEqual(errors.map((e) => [e.exception.message, e.exception.handled]).sort(), [
    [`relation "${table}" does not exist`, false],
    [`relation "${table}_2" does not exist`, true],
  ]);
  const spans = transport.of('span');
  for (const e of errors) assert.ok(spans.some((s) => s.id === e.parent_id && s.outcome === 'failure'), 'linked to the failed query span');
});

test('Express: use_path_as_transaction_name names unmatched requests by their path', { timeout: 30_000 }, async (t) => {
  const { transport } = await freshAgent({}, { ELASTIC_APM_USE_PATH_AS_TRANSACTION_NAME: 'true' });
  const app = express();
  app.get('/users/:id', abi.route(S[1]!, (_req: Request, res: Response) => void res.send('u')));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.after(() => new Promise((r) => server.close(r)));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await (await fetch(`${base}/users/1`)).text();
  await (await fetch(`${base}/no/such/page?x=1`)).text();
  const txs = await settle(transport, 2);
  assert.deepEqual(txs.map((x) => x.name), ['GET /users/:id', 'GET /no/such/page']);
});

test('Fastify: requests stopped by hooks, validation, bad JSON and the not-found handler keep framework, name, status and outcome', { timeout: 30_000 }, async (t) => {
  const { transport } = await freshAgent();
  const app = Fastify();
  t.after(() => app.close());
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (request, reply) => {
      if (request.headers.authorization !== 'Bearer ok') return reply.code(401).send({ error: 'Unauthorized' });
    });
    scope.addHook('preHandler', async (request, reply) => {
      if (request.headers['x-role'] !== 'admin') return reply.code(403).send({ error: 'Forbidden' });
    });
    scope.get('/private', abi.route(S[9]!, async () => ({ ok: true })));
  }, { prefix: '/admin' });
  app.post('/items', { schema: { body: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } } }, abi.route(S[10]!, async (request: { body: { name: string } }) => ({ created: request.body.name })));
  app.setNotFoundHandler((request, reply) => void reply.code(404).send({ error: `no route for ${request.url}` }));
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const auth = { authorization: 'Bearer ok' };
  const codes: number[] = [];
  for (const [path, init] of [
    ['/admin/private', {}],
    ['/admin/private', { headers: auth }],
    ['/admin/private', { headers: { ...auth, 'x-role': 'admin' } }],
    ['/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"nope":1}' }],
    ['/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"broken' }],
    ['/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"pen"}' }],
    ['/missing', {}],
  ] as const) {
    const r = await fetch(base + path, init as RequestInit);
    codes.push(r.status);
    await r.text();
  }
  assert.deepEqual(codes, [401, 403, 200, 400, 400, 200, 404]);
  const txs = await settle(transport, 7);
  const f = { framework: 'fastify' };
  assert.deepEqual(txs.map(summary), [
    { name: 'GET /admin/private', status: 401, result: 'HTTP 4xx', outcome: 'success', ...f, full: '/admin/private' },
    { name: 'GET /admin/private', status: 403, result: 'HTTP 4xx', outcome: 'success', ...f, full: '/admin/private' },
    { name: 'GET /admin/private', status: 200, result: 'HTTP 2xx', outcome: 'success', ...f, full: '/admin/private' },
    { name: 'POST /items', status: 400, result: 'HTTP 4xx', outcome: 'success', ...f, full: '/items' },
    { name: 'POST /items', status: 400, result: 'HTTP 4xx', outcome: 'success', ...f, full: '/items' },
    { name: 'POST /items', status: 200, result: 'HTTP 2xx', outcome: 'success', ...f, full: '/items' },
    { name: 'GET unknown route', status: 404, result: 'HTTP 4xx', outcome: 'success', ...f, full: '/missing' },
  ]);
  assert.equal(txs[0]!.context.service.framework.version, (await import('fastify/package.json', { with: { type: 'json' } })).default.version);
  // validation and parse errors reached Fastify's error handling: reported, unhandled by the app
  assert.deepEqual(transport.of('error').map((e) => [e.exception.code, e.exception.handled, e.transaction.name]).sort(), [
    ['FST_ERR_CTP_INVALID_JSON_BODY', false, 'POST /items'],
    ['FST_ERR_VALIDATION', false, 'POST /items'],
  ]);
});

test('node:http: exactly one transaction per request, for an instrumented handler and for a server built in an uninstrumented file', { timeout: 30_000 }, async (t) => {
  const { transport } = await freshAgent();
  const wrapped = createServer(abi.route(S[11]!, (_req, res) => void res.end('w')));
  const plain = createServer((_req, res) => {
    res.statusCode = 503;
    res.end('p');
  });
  const a = await listen(wrapped);
  const b = await listen(plain);
  t.after(() => new Promise((r) => wrapped.close(r)));
  t.after(() => new Promise((r) => plain.close(r)));
  for (const u of [a, a, b]) await (await fetch(`${u}/x`)).text();
  const txs = await settle(transport, 3);
  assert.deepEqual(txs.map(summary), [
    { name: 'GET unknown route', status: 200, result: 'HTTP 2xx', outcome: 'success', framework: undefined, full: '/x' },
    { name: 'GET unknown route', status: 200, result: 'HTTP 2xx', outcome: 'success', framework: undefined, full: '/x' },
    { name: 'GET unknown route', status: 503, result: 'HTTP 5xx', outcome: 'failure', framework: undefined, full: '/x' },
  ]);
});

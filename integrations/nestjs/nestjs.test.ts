// The NestJS fixture app (fixtures/app: the `nest new` starter plus a users module — controller with
// @Get(':id') and @Post, ParseIntPipe and ValidationPipe, a guard, a global interceptor, an APP_FILTER
// exception filter, a service on PostgreSQL and an upstream fetch — from its own package.json and lock
// file, installed here with npm ci) built with `nest build` (tsc through ts-patch with the tsconfig
// plugin) and with webpack + ts-loader + spanforge's webpack plugin, each run on the Express and on the
// Fastify adapter against a test intake: the exact transactions (names from @Controller + @Get and the
// global prefix; status, result, outcome), the app/nestjs spans of guards, interceptors, pipes and
// controller methods and their parents, the pg and fetch spans under the controller method, incoming
// and outgoing traceparent, and the errors (handled when the app's filter took them, not when Nest's
// own handler answered; frames in the .ts source).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from 'pg';
import { assertValidEvent, startIntake } from '../../test/bundler/_intake.js';
import { ensureDist, linkSpanforge, pgClient, startApp } from '../../test/transformer/_apps.js';

type Ev = Record<string, any>;
const appDir = join(__dirname, 'fixtures', 'app');
const nm = join(appDir, 'node_modules');
const table = `sf_nest_users_${process.pid}`;
const webpackOut = `out-webpack-${process.pid}`;
let db: Client | string;
let upstream: Server;
let upPort = 0;
const seen: Array<{ url: string; traceparent: string | undefined }> = [];

function run(cmd: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(cmd, args, { cwd: appDir, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 480_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout + r.stderr;
}

before(async () => {
  if (!existsSync(join(nm, '@nestjs', 'core', 'package.json')) || !existsSync(join(nm, '@nestjs', 'platform-fastify', 'package.json'))) {
    run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund']);
  }
  ensureDist();
  linkSpanforge(appDir);
  // `nest build` calls TypeScript's API itself: ts-patch patches the app's typescript in place (the starter's "prepare" step).
  run(process.execPath, [join(nm, 'ts-patch', 'bin', 'ts-patch.js'), 'install', '-s']);
  db = await pgClient();
  if (typeof db !== 'string') {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, name text NOT NULL)`);
    await db.query(`INSERT INTO ${table} (name) VALUES ('ada')`);
  }
  upstream = createServer((req, res) => {
    seen.push({ url: req.url ?? '', traceparent: req.headers.traceparent as string | undefined });
    res.writeHead(200, { 'content-type': 'text/plain' }).end('likes tea');
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  upPort = (upstream.address() as { port: number }).port;
});

after(async () => {
  upstream?.close();
  if (db && typeof db !== 'string') {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.end();
  }
  rmSync(join(appDir, 'dist'), { recursive: true, force: true });
  rmSync(join(appDir, webpackOut), { recursive: true, force: true });
});

/** `nest build` → dist/main.js; returns the build's output (spanforge's summary line). */
function nestBuild(): { entry: string; output: string } {
  const output = run(process.execPath, [join(nm, '@nestjs', 'cli', 'bin', 'nest.js'), 'build']);
  return { entry: join(appDir, 'dist', 'main.js'), output };
}

function webpackBuild(): { entry: string; output: string } {
  rmSync(join(appDir, webpackOut), { recursive: true, force: true });
  const output = run(process.execPath, [join(nm, 'webpack-cli', 'bin', 'cli.js'), '--config', 'webpack.config.js'], { OUT_DIR: webpackOut });
  return { entry: join(appDir, webpackOut, 'main.js'), output };
}

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';
const KEY = { 'x-api-key': 'secret' };

for (const [buildName, build] of [
  ['nest build', nestBuild],
  ['webpack', webpackBuild],
] as const) {
  let built: { entry: string; output: string } | undefined;
  for (const adapter of ['express', 'fastify'] as const) {
    test(`NestJS 11 built with ${buildName}, ${adapter} adapter: transactions from @Controller + @Get, guard/interceptor/pipe/controller spans, errors as filters decide`, { timeout: 300_000 }, async (t) => {
      if (typeof db === 'string') return t.skip(db);
      built ??= build()
      // the same 18 sites from both front-ends (nest build prints one summary per program it creates)
      const counts = [...built.output.matchAll(/instrumented (\d+) sites? in/g), ...built.output.matchAll(/(\d+) sites instrumented in 7 files, 0 candidates skipped/g)].map((m) => Number(m[1]));
      assert.equal(counts.reduce((a, b) => a + b, 0), 18, built.output);
      seen.length = 0;
      await db.query(`DELETE FROM ${table} WHERE id > 1`);
      await db.query(`ALTER SEQUENCE ${table}_id_seq RESTART WITH 2`);
      const intake = await startIntake()
      t.after(() => intake.close());
      const app = await startApp(built.entry, {
        NEST_ADAPTER: adapter,
        USERS_TABLE: table,
        UPSTREAM_URL: `http://127.0.0.1:${upPort}`,
        ELASTIC_APM_SERVER_URL: intake.url,
        ELASTIC_APM_SERVICE_NAME: `nest-${adapter}`,
        ELASTIC_APM_LOG_LEVEL: 'warning',
        ELASTIC_APM_CENTRAL_CONFIG: 'false',
        ELASTIC_APM_METRICS_INTERVAL: '0s',
      });
      // Nest's shutdown hooks re-raise SIGTERM: the app ends by that signal (exitCode stays null).
      const stop = async () => {
        if (app.child.exitCode !== null || app.child.signalCode !== null) return;
        await app.stop();
      };
      t.after(stop);
      const base = `http://127.0.0.1:${app.port}`;
      const answers: Array<[number, unknown]> = [];
      const req = async (path: string, init: RequestInit = {}) => {
        const r = await fetch(base + path, init);
        const text = await r.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // text
        }
        answers.push([r.status, body]);
      };
      const json = { 'content-type': 'application/json' };
      await req('/api/users/1', { headers: { ...KEY, traceparent: `00-${TRACE}-${PARENT}-01` } });
      await req('/api/users/999', { headers: KEY });
      await req('/api/users/1');
      await req('/api/users', { method: 'POST', headers: { ...KEY, ...json }, body: JSON.stringify({ name: 'x' }) });
      await req('/api/users', { method: 'POST', headers: { ...KEY, ...json }, body: JSON.stringify({ name: 'grace' }) });
      await req('/api/users/1/profile', { headers: KEY });
      await req('/api/users/999/profile', { headers: KEY });
      await req('/api');
      await stop();
      const out = app.output();

      assert.deepEqual(
        answers,
        [
          [200, { id: 1, name: 'ada' }],
          [404, { statusCode: 404, message: 'user 999 not found', path: '/api/users/999' }],
          [403, { statusCode: 403, message: 'Forbidden resource', path: '/api/users/1' }],
          [400, { statusCode: 400, message: 'Bad Request Exception', path: '/api/users' }],
          [201, { id: 2, name: 'grace' }],
          [200, { user: { id: 1, name: 'ada' }, upstream: 'likes tea' }],
          [500, { statusCode: 500, message: 'Internal server error' }],
          [200, 'Hello World!'],
        ],
        out,
      );
      for (const e of intake.events) assertValidEvent(e);
      const txs = intake.events.filter((e) => 'transaction' in e).map((e) => e.transaction as Ev);
      const spans = intake.events.filter((e) => 'span' in e).map((e) => e.span as Ev);
      const errors = intake.events.filter((e) => 'error' in e).map((e) => e.error as Ev);
      assert.deepEqual(
        txs.map((x) => [x.name, x.context.request.url.pathname, x.context.response.status_code, x.result, x.outcome]),
        [
          ['GET /api/users/:id', '/api/users/1', 200, 'HTTP 2xx', 'success'],
          ['GET /api/users/:id', '/api/users/999', 404, 'HTTP 4xx', 'success'],
          ['GET /api/users/:id', '/api/users/1', 403, 'HTTP 4xx', 'success'],
          ['POST /api/users', '/api/users', 400, 'HTTP 4xx', 'success'],
          ['POST /api/users', '/api/users', 201, 'HTTP 2xx', 'success'],
          ['GET /api/users/:id/profile', '/api/users/1/profile', 200, 'HTTP 2xx', 'success'],
          ['GET /api/users/:id/profile', '/api/users/999/profile', 500, 'HTTP 5xx', 'failure'],
          ['GET /api', '/api', 200, 'HTTP 2xx', 'success'],
        ],
        JSON.stringify(txs.map((x) => x.name)),
      );
      // incoming traceparent continued
      assert.deepEqual([txs[0]!.trace_id, txs[0]!.parent_id], [TRACE, PARENT]);
      assert.equal(txs[1]!.parent_id, undefined);

      /** Each transaction's spans as `name type/subtype parent`, parent named (`tx` or the span's name), in start order. */
      const tree = (tx: Ev) => {
        const mine = spans.filter((s) => s.transaction_id === tx.id).sort((a, b) => a.timestamp - b.timestamp);
        for (const s of mine) assert.equal(s.trace_id, tx.trace_id);
        const nameOf = (id: string) => (id === tx.id ? 'tx' : mine.find((s) => s.id === id)?.name ?? `? ${id}`);
        return mine.map((s) => `${s.name} ${s.type}/${s.subtype} <- ${nameOf(s.parent_id)}`);
      };
      const select = `SELECT ${table}`;
      const insert = `INSERT ${table}`;
      const enter = ['AuthGuard.canActivate app/nestjs <- tx', 'LoggingInterceptor.intercept app/nestjs <- tx'];
      assert.deepEqual(txs.map(tree), [
        [...enter, 'ParseIntPipe.transform app/nestjs <- tx', 'UsersController.findOne app/nestjs <- tx', `${select} db/postgresql <- UsersController.findOne`],
        [...enter, 'ParseIntPipe.transform app/nestjs <- tx', 'UsersController.findOne app/nestjs <- tx', `${select} db/postgresql <- UsersController.findOne`, 'HttpExceptionFilter.catch app/nestjs <- tx'],
        ['AuthGuard.canActivate app/nestjs <- tx', 'HttpExceptionFilter.catch app/nestjs <- tx'],
        [...enter, 'ValidationPipe.transform app/nestjs <- tx', 'HttpExceptionFilter.catch app/nestjs <- tx'],
        [...enter, 'ValidationPipe.transform app/nestjs <- tx', 'UsersController.create app/nestjs <- tx', `${insert} db/postgresql <- UsersController.create`],
        [...enter, 'ParseIntPipe.transform app/nestjs <- tx', 'UsersController.profile app/nestjs <- tx', `${select} db/postgresql <- UsersController.profile`, `GET 127.0.0.1:${upPort} external/http <- UsersController.profile`],
        [...enter, 'ParseIntPipe.transform app/nestjs <- tx', 'UsersController.profile app/nestjs <- tx', `${select} db/postgresql <- UsersController.profile`],
        ['LoggingInterceptor.intercept app/nestjs <- tx', 'AppController.getHello app/nestjs <- tx'],
      ]);
      // outgoing traceparent: the fetch span's id
      const fetchSpan = spans.find((s) => s.type === 'external')!;
      assert.deepEqual(seen, [{ url: '/profiles/1', traceparent: `00-${fetchSpan.trace_id}-${fetchSpan.id}-01` }]);

      const spanOf = (tx: Ev, name: string) => spans.find((s) => s.transaction_id === tx.id && s.name === name)!;
      const frame = (e: Ev) => (e.exception.stacktrace as Ev[]).find((f) => !f.library_frame);
      const controllerTs = join(appDir, 'src', 'users', 'users.controller.ts');
      // webpack + ts-loader: ts-loader does not read the input source map, so its map names the file
      // beside the bundle (lines and functions are right; docs/frameworks.md NestJS limits)
      const frameTs = buildName === 'webpack' ? join(appDir, webpackOut, 'users.controller.ts') : controllerTs;
      const lines = readFileSync(controllerTs, 'utf8').split('\n');
      const lineOf = (s: string) => lines.findIndex((l) => l.includes(s)) + 1;
      assert.deepEqual(
        errors.map((e) => [e.exception.type, e.exception.message, e.exception.handled, e.transaction_id, e.parent_id, frame(e)?.abs_path, frame(e)?.lineno]),
        [
          // thrown by the controller, answered 404 by the app's HttpExceptionFilter
          ['NotFoundException', 'user 999 not found', true, txs[1]!.id, spanOf(txs[1]!, 'UsersController.findOne').id, frameTs, lineOf('new NotFoundException')],
          // the guard said no: Nest's ForbiddenException, answered 403 by the filter
          ['ForbiddenException', 'Forbidden resource', true, txs[2]!.id, txs[2]!.id, undefined, undefined],
          // ValidationPipe's BadRequestException, answered 400 by the filter
          ['BadRequestException', 'Bad Request Exception', true, txs[3]!.id, spanOf(txs[3]!, 'ValidationPipe.transform').id, undefined, undefined],
          // not an HttpException: the filter does not catch it, Nest's own handler answered 500
          ['Error', 'profile store is missing user 999', false, txs[6]!.id, spanOf(txs[6]!, 'UsersController.profile').id, frameTs, lineOf("new Error(`profile store")],
        ],
      );
      // a controller span's code location is its route decorator (from the build, no stack captured)
      const fn = spanOf(txs[0]!, 'UsersController.findOne');
      assert.deepEqual((fn.stacktrace as Ev[]).map((f) => [f.filename, f.lineno, f.function]), [['src/users/users.controller.ts', lineOf("@Get(':id')"), 'UsersController.findOne']]);
    });
  }
}

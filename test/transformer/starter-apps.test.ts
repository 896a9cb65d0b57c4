// Fixture apps written like real starters (fixtures/apps/express-starter: mounted and nested routers, a
// rate limiter answering 429 before any route, error handling from a factory returning
// [notFound, errorMiddleware], a pg query PostgreSQL rejects), built with tspc + the transformer and with
// esbuild + the bundler step, run against PostgreSQL and a test intake: the exact transactions (names,
// url.full, status, result, outcome, framework) and errors (handled, culprit frame file and line).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from 'pg';
import { assertValidEvent, startIntake } from '../bundler/_intake.js';
import { buildApp, ensureDist, linkSpanforge, pgClient, root, startApp } from './_apps.js';
import { linkPackage, type Ev } from './_express-events.js';

const appDir = join(root, 'fixtures', 'apps', 'express-starter');
const table = `sf_starter_users_${process.pid}`;
let db: Client | string;
let tmp = '';

before(async () => {
  db = await pgClient();
  if (typeof db === 'string') return;
  await db.query(`DROP TABLE IF EXISTS ${table}`);
  await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL)`);
  await db.query(`INSERT INTO ${table} VALUES (1, 'ada'), (2, 'grace')`);
  ensureDist();
  linkSpanforge(appDir);
  tmp = mkdtempSync(join(tmpdir(), 'sf-starter-'));
  linkPackage(tmp, 'spanforge', root);
  for (const dep of ['express', 'pg']) linkPackage(tmp, dep, join(root, 'node_modules', dep));
});

after(async () => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (db && typeof db !== 'string') {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.end();
  }
});

async function buildEsbuild(): Promise<string> {
  const esbuild = await import('esbuild');
  const { esbuildPlugin } = await import('../../bundler/index.js');
  const outDir = join(tmp, 'esbuild');
  await esbuild.build({
    entryPoints: [join(appDir, 'src', 'server.ts')],
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outdir: outDir,
    sourcemap: true,
    logLevel: 'silent',
    plugins: [esbuildPlugin({ root: appDir, report: join(tmp, 'esbuild-report.json'), summary: false })],
  });
  return join(outDir, 'server.js');
}

function buildTsc(): string {
  buildApp(appDir);
  const report = JSON.parse(readFileSync(join(appDir, 'out', 'spanforge-report.json'), 'utf8')) as { sites: Ev[]; skipped: Ev[] };
  // use() of the factory's array, of the limiter and of the mounted routers are all wrapped
  assert.deepEqual(
    report.sites.filter((s) => s.rule === 'express.error-middleware').map((s) => `${s.file}:${s.line} ${s.name}`),
    ['src/routes/api.ts:16 /v1', 'src/app.ts:10 null', 'src/app.ts:11 null', 'src/app.ts:13 /users', 'src/app.ts:14 /api', 'src/app.ts:16 null'],
  );
  assert.deepEqual(report.skipped, []);
  return join(appDir, 'out', 'server.js');
}

async function run(entry: string): Promise<{ port: number; txs: Ev[]; errors: Ev[]; statuses: number[] }> {
  const intake = await startIntake();
  const app = await startApp(entry, { ELASTIC_APM_SERVER_URL: intake.url, ELASTIC_APM_LOG_LEVEL: 'warning', SF_TABLE: table, RATE_LIMIT: '3' });
  try {
    const base = `http://127.0.0.1:${app.port}`;
    const statuses: number[] = [];
    // each of these requests from its own client, so only the 'greedy' client hits the limit
    const get = async (path: string, client = `client-${statuses.length}`) => {
      const r = await fetch(base + path, { headers: { 'x-api-client': client } });
      statuses.push(r.status);
      await r.text();
    };
    for (const p of ['/users', '/users/', '/users/2', '/users/abc', '/api/v1/status', '/api/v1/reports/2026', '/nope']) await get(p);
    for (let i = 0; i < 4; i++) await get('/users/1', 'greedy');
    await app.stop();
    assert.equal(app.child.exitCode, 0, app.output());
    for (const e of intake.events) assertValidEvent(e);
    return {
      port: app.port,
      statuses,
      txs: intake.events.filter((e) => 'transaction' in e).map((e) => e.transaction as Ev),
      errors: intake.events.filter((e) => 'error' in e).map((e) => e.error as Ev),
    };
  } finally {
    await app.stop();
    await intake.close();
  }
}

function assertStarterEvents(r: Awaited<ReturnType<typeof run>>): void {
  assert.deepEqual(r.statuses, [200, 200, 200, 500, 200, 503, 404, 200, 200, 200, 429]);
  const origin = `http://127.0.0.1:${r.port}`;
  const tx = (x: Ev) => [x.name, x.context.request.url.full.replace(origin, ''), x.context.response.status_code, x.result, x.outcome, x.context.service?.framework?.name];
  assert.deepEqual(r.txs.map(tx), [
    ['GET /users', '/users', 200, 'HTTP 2xx', 'success', 'express'],
    ['GET /users', '/users/', 200, 'HTTP 2xx', 'success', 'express'],
    ['GET /users/:id', '/users/2', 200, 'HTTP 2xx', 'success', 'express'],
    ['GET /users/:id', '/users/abc', 500, 'HTTP 5xx', 'failure', 'express'],
    ['GET /api/v1/status', '/api/v1/status', 200, 'HTTP 2xx', 'success', 'express'],
    ['GET /api/v1/reports/:year', '/api/v1/reports/2026', 503, 'HTTP 5xx', 'failure', 'express'],
    ['GET unknown route', '/nope', 404, 'HTTP 4xx', 'success', 'express'],
    ['GET /users/:id', '/users/1', 200, 'HTTP 2xx', 'success', 'express'],
    ['GET /users/:id', '/users/1', 200, 'HTTP 2xx', 'success', 'express'],
    ['GET /users/:id', '/users/1', 200, 'HTTP 2xx', 'success', 'express'],
    ['GET unknown route', '/users/1', 429, 'HTTP 4xx', 'success', 'express'],
  ]);
  const byMessage = (m: RegExp) => r.errors.find((e) => m.test(e.exception.message));
  assert.equal(r.errors.length, 2, JSON.stringify(r.errors.map((e) => e.exception.message)));
  // the rejected pg query escaped the route handler: unhandled, culprit the awaiting line of the .ts route
  const pgErr = byMessage(/invalid input syntax for type integer: "abc"/)!;
  assert.equal(pgErr.exception.handled, false);
  assert.equal(pgErr.transaction_id, r.txs[3]!.id);
  const pgTop = (pgErr.exception.stacktrace as Ev[]).find((f) => !f.library_frame)!;
  assert.deepEqual([pgTop.abs_path, pgTop.lineno], [join(appDir, 'src', 'routes', 'users.ts'), 14]);
  assert.equal(pgErr.culprit, pgTop.function ? `${pgTop.function} (${pgTop.filename})` : pgTop.filename);
  assert.ok(pgTop.filename.endsWith('src/routes/users.ts'), pgTop.filename);
  // next(err) taken by the error middleware the factory returned inside an array: handled
  const apiErr = byMessage(/reports for 2026 are not ready/)!;
  assert.equal(apiErr.exception.handled, true);
  assert.equal(apiErr.transaction.name, 'GET /api/v1/reports/:year');
  const apiTop = (apiErr.exception.stacktrace as Ev[])[0]!;
  assert.deepEqual([apiTop.abs_path, apiTop.lineno, apiTop.library_frame], [join(appDir, 'src', 'routes', 'api.ts'), 12, false]);
  assert.equal(apiErr.culprit, apiTop.function ? `${apiTop.function} (${apiTop.filename})` : apiTop.filename);
}

for (const [name, build] of [
  ['tspc', async () => buildTsc()],
  ['esbuild', buildEsbuild],
] as const) {
  test(`express-starter built with ${name}: every request one transaction, named as elastic-apm-node names it; errors handled/culprit exact`, { timeout: 120_000 }, async (t) => {
    if (typeof db === 'string') return t.skip(db);
    assertStarterEvents(await run(await build()));
  });
}

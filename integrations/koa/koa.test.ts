// The Koa fixture app (integrations/koa/fixtures/app: koa 3 + @koa/router 15 from the fixture's own package.json
// and lock file, installed here with npm ci) built with tspc + the transformer and with esbuild + the
// bundler step (the Babel matcher), run against a test intake and a downstream HTTP server: the exact
// transactions (names from the router's prefix, nested routers and named routes; status, result,
// outcome, framework), spans, parent ids, incoming and outgoing traceparent, and errors (handled as
// the app's error middleware or Koa's default error handling decided, culprit frames in the .ts source).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assertValidEvent, startIntake } from '../../test/bundler/_intake.js';
import { buildApp, ensureDist, startApp } from '../../test/transformer/_apps.js';

type Ev = Record<string, any>;
const appDir = join(__dirname, 'fixtures', 'app');
let downstream: Server;
let downPort = 0;
const seen: Array<{ url: string; traceparent: string | undefined }> = [];

before(async () => {
  if (!existsSync(join(appDir, 'node_modules', 'koa', 'package.json')) || !existsSync(join(appDir, 'node_modules', '@koa', 'router', 'package.json'))) {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const r = spawnSync(npm, ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: appDir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`npm ci in integrations/koa/fixtures/app failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  // node_modules/spanforge → the repository, as `npm install spanforge` would provide it (buildApp keeps an existing link).
  const link = join(appDir, 'node_modules', 'spanforge');
  try {
    lstatSync(link);
  } catch {
    symlinkSync(join('..', '..', '..', '..', '..'), link);
  }
  ensureDist();
  downstream = createServer((req, res) => {
    seen.push({ url: req.url ?? '', traceparent: req.headers.traceparent as string | undefined });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 3 }));
  });
  downstream.listen(0, '127.0.0.1');
  await once(downstream, 'listening');
  downPort = (downstream.address() as { port: number }).port;
});

after(async () => {
  downstream?.close();
  rmSync(join(appDir, 'out-esbuild'), { recursive: true, force: true });
});

async function buildEsbuild(): Promise<string> {
  const esbuild = await import('esbuild');
  const { esbuildPlugin } = await import('../../bundler/index.js');
  const outDir = join(appDir, 'out-esbuild');
  rmSync(outDir, { recursive: true, force: true });
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
    plugins: [esbuildPlugin({ root: appDir, report: join(outDir, 'spanforge-report.json'), summary: false })],
  });
  return join(outDir, 'server.js');
}

function buildTsc(): string {
  buildApp(appDir);
  return join(appDir, 'out', 'server.js');
}

/** The sites both front-ends must find (file:line rule name). */
const SITES = [
  'src/app.ts:10 koa.use null',
  'src/app.ts:11 koa.use null',
  'src/app.ts:16 koa.use null',
  'src/app.ts:17 koa.use null',
  'src/app.ts:18 koa.use null',
  'src/routes/api.ts:6 koa.route /health',
  'src/routes/api.ts:9 koa.router-use /users',
  'src/routes/users.ts:6 koa.route /',
  'src/routes/users.ts:10 koa.route /:id',
  'src/routes/users.ts:13 fetch null',
  'src/routes/users.ts:17 koa.route /:id/fail',
];

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';

for (const [name, build, reportFile] of [
  ['tspc', async () => buildTsc(), join(appDir, 'out', 'spanforge-report.json')],
  ['esbuild', buildEsbuild, join(appDir, 'out-esbuild', 'spanforge-report.json')],
] as const) {
  test(`Koa + @koa/router built with ${name}: route-named transactions, middleware context, errors handled as Koa decides`, { timeout: 180_000 }, async () => {
    const entry = await build();
    const raw = JSON.parse(readFileSync(reportFile, 'utf8')) as Ev;
    // tsc's report lists sites with their file; the bundler's groups them per file.
    const report: { sites: Ev[]; skipped: Ev[] } = raw.frontEnd
      ? { sites: (raw.files as Ev[]).flatMap((f) => (f.sites as Ev[]).map((s) => ({ ...s, file: f.file }))), skipped: (raw.files as Ev[]).flatMap((f) => f.skipped as Ev[]) }
      : (raw as { sites: Ev[]; skipped: Ev[] });
    assert.deepEqual(report.sites.map((s) => `${s.file}:${s.line} ${s.rule} ${s.name}`).sort(), [...SITES].sort());
    assert.deepEqual(report.skipped, []);

    seen.length = 0;
    const intake = await startIntake();
    const app = await startApp(entry, { ELASTIC_APM_SERVER_URL: intake.url, ELASTIC_APM_LOG_LEVEL: 'warning', ELASTIC_APM_CENTRAL_CONFIG: 'false', DOWNSTREAM_URL: `http://127.0.0.1:${downPort}` });
    const statuses: number[] = [];
    try {
      const base = `http://127.0.0.1:${app.port}`;
      const req = async (path: string, init?: RequestInit) => {
        const r = await fetch(base + path, init);
        statuses.push(r.status);
        return r.text();
      };
      assert.deepEqual(JSON.parse(await req('/api/users/7', { headers: { traceparent: `00-${TRACE}-${PARENT}-01` } })), { id: 7, stock: { count: 3 } });
      await req('/api/health');
      await req('/api/users');
      assert.deepEqual(JSON.parse(await req('/api/users/abc')), { error: 'not a user id: abc' });
      await req('/api/users/7/fail', { method: 'POST' });
      await req('/maintenance/now');
      await req('/nope');
      await req('/api/health', { method: 'DELETE' });
      await app.stop();
      assert.equal(app.child.exitCode, 0, app.output());
    } finally {
      await app.stop();
      await intake.close();
    }
    assert.deepEqual(statuses, [200, 200, 200, 400, 500, 500, 404, 405]);
    for (const e of intake.events) assertValidEvent(e);
    const txs = intake.events.filter((e) => 'transaction' in e).map((e) => e.transaction as Ev);
    const spans = intake.events.filter((e) => 'span' in e).map((e) => e.span as Ev);
    const errors = intake.events.filter((e) => 'error' in e).map((e) => e.error as Ev);
    const origin = `http://127.0.0.1:${app.port}`;
    assert.deepEqual(
      txs.map((x) => [x.name, x.context.request.method, x.context.request.url.full.replace(origin, ''), x.context.response.status_code, x.result, x.outcome, x.context.service?.framework?.name]),
      [
        ['GET /api/users/:id', 'GET', '/api/users/7', 200, 'HTTP 2xx', 'success', 'koa'],
        ['GET /api/health', 'GET', '/api/health', 200, 'HTTP 2xx', 'success', 'koa'],
        ['GET /api/users', 'GET', '/api/users', 200, 'HTTP 2xx', 'success', 'koa'],
        ['GET /api/users/:id', 'GET', '/api/users/abc', 400, 'HTTP 4xx', 'success', 'koa'],
        ['POST /api/users/:id/fail', 'POST', '/api/users/7/fail', 500, 'HTTP 5xx', 'failure', 'koa'],
        ['GET unknown route', 'GET', '/maintenance/now', 500, 'HTTP 5xx', 'failure', 'koa'],
        ['GET unknown route', 'GET', '/nope', 404, 'HTTP 4xx', 'success', 'koa'],
        ['DELETE unknown route', 'DELETE', '/api/health', 405, 'HTTP 4xx', 'success', 'koa'],
      ],
    );
    // incoming traceparent continued; the fetch span is the transaction's child and its id went out
    const user = txs[0]!;
    assert.deepEqual([user.trace_id, user.parent_id], [TRACE, PARENT]);
    assert.equal(txs[1]!.parent_id, undefined);
    assert.deepEqual(spans.map((s) => [s.name, s.type, s.subtype, s.transaction_id, s.parent_id, s.trace_id]), [
      [`GET 127.0.0.1:${downPort}`, 'external', 'http', user.id, user.id, TRACE],
    ]);
    assert.deepEqual(seen, [{ url: '/stock/7', traceparent: `00-${TRACE}-${spans[0]!.id}-01` }]);

    const frame = (e: Ev) => (e.exception.stacktrace as Ev[]).find((f) => !f.library_frame)!;
    assert.deepEqual(
      errors.map((e) => [e.exception.message, e.exception.handled, e.transaction_id, e.parent_id, frame(e).abs_path, frame(e).lineno]),
      [
        // caught by the app's error middleware, answered 400
        ['not a user id: abc', true, txs[3]!.id, txs[3]!.id, join(appDir, 'src', 'routes', 'users.ts'), 12],
        // escaped every middleware: Koa's default error handling answered 500
        ['user update failed', false, txs[4]!.id, txs[4]!.id, join(appDir, 'src', 'routes', 'users.ts'), 18],
        ['down for maintenance', false, txs[5]!.id, txs[5]!.id, join(appDir, 'src', 'middleware', 'maintenance.ts'), 5],
      ],
    );
    for (const e of errors) assert.equal(e.culprit, `${frame(e).function} (${frame(e).filename})`);
  });
}

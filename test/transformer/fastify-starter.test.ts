// A Fastify 5 fixture app written like a starter (fixtures/apps/fastify-starter: plugins/ and routes/
// registered at the root and under a prefix the way @fastify/autoload registers them, a fastify-plugin
// auth plugin, onRequest/preHandler auth hooks, body schema validation, a not-found handler), built with
// tspc + the transformer and with esbuild + the bundler step, run against a test intake: the exact
// transactions (names with prefix, url.full, status, result, outcome, framework) and errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assertValidEvent, startIntake } from '../bundler/_intake.js';
import { buildApp, ensureDist, linkSpanforge, root, startApp } from './_apps.js';
import { linkPackage, type Ev } from './_express-events.js';

const appDir = join(root, 'fixtures', 'apps', 'fastify-starter');
// fastify-plugin comes from the side-by-side install of the Fastify demo's plugin libraries.
const compat = process.env.SPANFORGE_FASTIFY_DEMO_DIR ?? join(root, 'test', 'compat', 'fastify-demo');
const fpDir = join(compat, 'node_modules', 'fastify-plugin');
let tmp = '';

before(() => {
  if (!existsSync(fpDir)) spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['ci', '--prefix', compat, '--ignore-scripts', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  assert.ok(existsSync(fpDir), `fastify-plugin is not installed in ${compat} (npm ci --prefix test/compat/fastify-demo)`);
  ensureDist();
  linkSpanforge(appDir);
  const link = join(appDir, 'node_modules', 'fastify-plugin');
  try {
    lstatSync(link);
  } catch {
    symlinkSync(fpDir, link, 'dir');
  }
  tmp = mkdtempSync(join(tmpdir(), 'sf-fastify-starter-'));
  linkPackage(tmp, 'spanforge', root);
  linkPackage(tmp, 'fastify', join(root, 'node_modules', 'fastify'));
  linkPackage(tmp, 'fastify-plugin', fpDir);
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
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
  assert.deepEqual(report.sites.map((s) => `${s.rule} ${s.file}:${s.line} ${s.name}`).sort(), [
    'fastify.route src/routes/health.ts:5 /health',
    'fastify.route src/routes/items.ts:10 /items',
    'fastify.route src/routes/items.ts:8 /items',
  ]);
  return join(appDir, 'out', 'server.js');
}

for (const [name, build] of [
  ['tspc', async () => buildTsc()],
  ['esbuild', buildEsbuild],
] as const) {
  test(`fastify-starter built with ${name}: requests stopped by hooks, validation and the not-found handler are recorded and named`, { timeout: 120_000 }, async () => {
    const entry = await build();
    const intake = await startIntake();
    const app = await startApp(entry, { ELASTIC_APM_SERVER_URL: intake.url, ELASTIC_APM_LOG_LEVEL: 'warning', API_TOKEN: 't0k' });
    try {
      const base = `http://127.0.0.1:${app.port}`;
      const ok = { authorization: 'Bearer t0k', 'x-role': 'admin' };
      const json = { 'content-type': 'application/json' };
      const statuses: number[] = [];
      for (const [path, init] of [
        ['/health', {}],
        ['/api/items', {}],
        ['/api/items', { headers: { authorization: 'Bearer t0k' } }],
        ['/api/items', { headers: ok }],
        ['/api/items', { method: 'POST', headers: { ...ok, ...json }, body: '{"colour":"red"}' }],
        ['/api/items', { method: 'POST', headers: { ...ok, ...json }, body: '{"name":' }],
        ['/api/items', { method: 'POST', headers: { ...ok, ...json }, body: '{"name":"ink"}' }],
        ['/api/nothing-here?token=abc', {}],
      ] as const) {
        const r = await fetch(base + path, init as RequestInit);
        statuses.push(r.status);
        await r.text();
      }
      assert.deepEqual(statuses, [200, 401, 403, 200, 400, 400, 201, 404]);
      await app.stop();
      assert.equal(app.child.exitCode, 0, app.output());
      for (const e of intake.events) assertValidEvent(e);
      const txs = intake.events.filter((e) => 'transaction' in e).map((e) => e.transaction as Ev);
      const origin = `http://127.0.0.1:${app.port}`;
      assert.deepEqual(
        txs.map((x) => [x.name, x.context.request.url.full.replace(origin, ''), x.context.response.status_code, x.result, x.outcome, x.context.service?.framework?.name]),
        [
          ['GET /health', '/health', 200, 'HTTP 2xx', 'success', 'fastify'],
          ['GET /api/items', '/api/items', 401, 'HTTP 4xx', 'success', 'fastify'],
          ['GET /api/items', '/api/items', 403, 'HTTP 4xx', 'success', 'fastify'],
          ['GET /api/items', '/api/items', 200, 'HTTP 2xx', 'success', 'fastify'],
          ['POST /api/items', '/api/items', 400, 'HTTP 4xx', 'success', 'fastify'],
          ['POST /api/items', '/api/items', 400, 'HTTP 4xx', 'success', 'fastify'],
          ['POST /api/items', '/api/items', 201, 'HTTP 2xx', 'success', 'fastify'],
          ['GET unknown route', '/api/nothing-here?token=[REDACTED]', 404, 'HTTP 4xx', 'success', 'fastify'],
        ],
      );
      const errors = intake.events.filter((e) => 'error' in e).map((e) => e.error as Ev);
      assert.deepEqual(errors.map((e) => [e.exception.code, e.exception.handled, e.transaction.name]).sort(), [
        ['FST_ERR_CTP_INVALID_JSON_BODY', false, 'POST /api/items'],
        ['FST_ERR_VALIDATION', false, 'POST /api/items'],
      ]);
    } finally {
      await app.stop();
      await intake.close();
    }
  });
}

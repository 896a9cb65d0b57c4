// The shapes of the official Fastify demo (github.com/fastify/demo): routes loaded by @fastify/autoload
// from routes/, their plugins typed `FastifyPluginAsyncTypebox`, `export default async function
// (fastify: FastifyInstance)`, fastify-plugin decorators, autohooks — plus fastify-cli's unannotated
// `export default async function (fastify, opts)` — built with Babel + spanforge/babel (no type checker)
// and run for real: every route is instrumented, none skipped, each transaction named by its full
// template (autoload's prefix included).
import assert from 'node:assert/strict';
import { transformFileSync } from '@babel/core';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import plugin from '../../babel-plugin/index.js';
import type { BuildReport } from '../../babel-plugin/report.js';
import { assertValidEvent, startIntake } from '../bundler/_intake.js';
import { ensureDist, linkSpanforge, root, startApp, type AppProcess } from '../transformer/_apps.js';

const appDir = join(root, 'fixtures', 'apps', 'fastify-demo');
const compat = process.env.SPANFORGE_FASTIFY_DEMO_DIR ?? join(root, 'test', 'compat', 'fastify-demo');
type Ev = Record<string, any>;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sources(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
}

/** Babel (preset-typescript, CommonJS) + spanforge/babel over src/ into out/; returns the build report. */
function build(): BuildReport {
  ensureDist();
  linkSpanforge(appDir);
  const out = join(appDir, 'out');
  rmSync(out, { recursive: true, force: true });
  const report = join(out, 'spanforge-report.json');
  for (const file of sources(join(appDir, 'src'))) {
    const r = transformFileSync(file, {
      cwd: root,
      root,
      configFile: false,
      babelrc: false,
      sourceMaps: 'inline',
      presets: ['@babel/preset-typescript'],
      plugins: [[plugin, { summary: false, report }], '@babel/plugin-transform-modules-commonjs'],
    });
    const target = join(out, relative(join(appDir, 'src'), file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, r!.code!);
  }
  return JSON.parse(readFileSync(report, 'utf8')) as BuildReport;
}

// Fastify names a prefixed '/' route by the prefix alone (`/api/tasks/` is served by `/api/tasks`).
const ROUTES = [
  'GET /',
  'GET /health',
  'GET /api',
  'POST /api/auth/login',
  'PUT /api/users/update-password',
  'GET /api/tasks',
  'GET /api/tasks/:id',
  'POST /api/tasks',
  'PATCH /api/tasks/:id',
  'DELETE /api/tasks/:id',
  'POST /api/tasks/:id/assign',
  'POST /api/tasks/:id/upload',
  'GET /api/tasks/:filename/image',
  'DELETE /api/tasks/:filename/image',
  'GET /api/tasks/download/csv',
  'GET /api/tasks/fail',
];

test('the Fastify demo shapes: every route instrumented by Babel, none skipped, named with its autoload prefix', { timeout: 120_000 }, async (t) => {
  if (!existsSync(join(compat, 'node_modules', 'fastify-plugin'))) {
    const msg = `the Fastify demo's plugin libraries are not installed in ${compat} (npm ci --prefix test/compat/fastify-demo)`;
    if (process.env.CI) assert.fail(msg);
    return t.skip(msg);
  }
  const report = build();
  const sites = report.files.flatMap((f) => f.sites.map((s) => `${f.file.replace('fixtures/apps/fastify-demo/src/', '')} ${s.method} ${s.name}`)).sort();
  assert.deepEqual(sites, [
    'routes/api/auth/index.ts POST /login',
    'routes/api/index.ts GET /',
    'routes/api/tasks/index.ts DELETE /:filename/image',
    'routes/api/tasks/index.ts DELETE /:id',
    'routes/api/tasks/index.ts GET /',
    'routes/api/tasks/index.ts GET /:filename/image',
    'routes/api/tasks/index.ts GET /:id',
    'routes/api/tasks/index.ts GET /download/csv',
    'routes/api/tasks/index.ts GET /fail',
    'routes/api/tasks/index.ts PATCH /:id',
    'routes/api/tasks/index.ts POST /',
    'routes/api/tasks/index.ts POST /:id/assign',
    'routes/api/tasks/index.ts POST /:id/upload',
    'routes/api/users/index.ts PUT /update-password',
    'routes/health.ts GET /health',
    'routes/home.ts GET /',
  ]);
  assert.deepEqual(report.files.flatMap((f) => f.skipped.map((s) => `${f.file}:${s.line} ${s.reason}`)), []);

  const intake = await startIntake();
  let app: AppProcess | undefined;
  try {
    app = await startApp(join(appDir, 'out', 'server.js'), { ELASTIC_APM_SERVER_URL: intake.url, ELASTIC_APM_LOG_LEVEL: 'warning', NODE_PATH: join(compat, 'node_modules') });
    const base = `http://127.0.0.1:${app.port}`;
    const user = { 'x-user': 'ada', 'content-type': 'application/json' };
    const calls: Array<[string, string, unknown?]> = [
      ['GET', '/'],
      ['GET', '/health'],
      ['GET', '/api/'],
      ['POST', '/api/auth/login', { email: 'ada@example.com', password: 'right' }],
      ['PUT', '/api/users/update-password', { currentPassword: 'a', newPassword: 'b' }],
      ['GET', '/api/tasks/'],
      ['GET', '/api/tasks/1'],
      ['POST', '/api/tasks/', { name: 'repot the fern' }],
      ['PATCH', '/api/tasks/1'],
      ['POST', '/api/tasks/1/assign'],
      ['POST', '/api/tasks/1/upload'],
      ['GET', '/api/tasks/1.png/image'],
      ['DELETE', '/api/tasks/1.png/image'],
      ['GET', '/api/tasks/download/csv'],
      ['DELETE', '/api/tasks/2'],
      ['GET', '/api/tasks/fail'],
    ];
    const statuses: string[] = [];
    for (const [method, path, body] of calls) {
      const r = await fetch(base + path, { method, headers: body || method === 'GET' ? user : { 'x-user': 'ada' }, body: body ? JSON.stringify(body) : undefined });
      await r.arrayBuffer();
      statuses.push(`${method} ${path} ${r.status}`);
    }
    assert.deepEqual(statuses, [
      'GET / 200',
      'GET /health 200',
      'GET /api/ 200',
      'POST /api/auth/login 200',
      'PUT /api/users/update-password 200',
      'GET /api/tasks/ 200',
      'GET /api/tasks/1 200',
      'POST /api/tasks/ 201',
      'PATCH /api/tasks/1 200',
      'POST /api/tasks/1/assign 200',
      'POST /api/tasks/1/upload 200',
      'GET /api/tasks/1.png/image 200',
      'DELETE /api/tasks/1.png/image 204',
      'GET /api/tasks/download/csv 200',
      'DELETE /api/tasks/2 204',
      'GET /api/tasks/fail 500',
    ]);
    await app.stop();
    for (const e of intake.events) assertValidEvent(e);
    const txs = intake.events.filter((e) => 'transaction' in e).map((e) => e.transaction as Ev);
    assert.deepEqual(txs.map((x) => x.name).sort(), [...ROUTES].sort());
    assert.ok(!txs.some((x) => x.name.endsWith('unknown route')));
    const errors = intake.events.filter((e) => 'error' in e).map((e) => e.error as Ev);
    assert.deepEqual(errors.map((e) => [e.exception.message, txs.find((x) => x.id === e.transaction_id)?.name]), [['tasks handler failed', 'GET /api/tasks/fail']]);
  } finally {
    await app?.stop();
    await intake.close();
  }
});

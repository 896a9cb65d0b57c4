// Real builds: the fixture Express + pg app bundled with esbuild (one file, plain `node bundle.js`), Vite
// (SSR build), webpack and Rollup through spanforge's bundler plugin, run against PostgreSQL and a test intake
// server; the exact events are asserted, and a thrown error's stack frame maps to the original .ts line.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { esbuildPlugin, rollupPlugin, vitePlugin, webpackPlugin } from '../../bundler/index.js';
import { assertValidEvent, startIntake, type Intake } from './_intake.js';

const root = join(__dirname, '..', '..');
const fixture = join(root, 'fixtures', 'bundles');
const appFile = join(fixture, 'app.ts');
const outRoot = join(fixture, 'out', `run-${process.pid}`);
const runtimeIndex = join(root, 'runtime', 'index.ts');
const runtimeAbi = join(root, 'runtime', 'abi.ts');
const table = `sf_bundle_users_${process.pid}`;
const appLines = readFileSync(appFile, 'utf8').split('\n');
const BOOM_LINE = appLines.findIndex((l) => l.includes("new Error('boom from the bundle')")) + 1;
// 1-based column of `new Error(...)` in app.ts. The throw shares its line with the route registration
// spanforge rewrites, so in the instrumented code it sits further right: a build that dropped
// spanforge's map (and mapped to the instrumented text) gets the line right but this column wrong.
const BOOM_COLUMN = appLines[BOOM_LINE - 1]!.indexOf("new Error('boom from the bundle')") + 1;
const pluginOptions = (name: string) => ({ root, summary: false, exclude: ['runtime/**'], report: join(outRoot, `${name}-report.json`) });

let intake: Intake;
let db: pg.Client | undefined;

before(async () => {
  intake = await startIntake();
  db = new pg.Client({ host: '127.0.0.1', port: 5432, user: process.env.PGUSER ?? 'postgres', database: 'test' });
  try {
    await db.connect();
  } catch (err) {
    db = undefined;
    if (process.env.CI) throw new Error(`PostgreSQL on 127.0.0.1:5432 is required in CI: ${(err as Error).message}`);
  }
  if (db) {
    await db.query(`CREATE TABLE IF NOT EXISTS ${table} (id int PRIMARY KEY, name text)`);
    await db.query(`INSERT INTO ${table} VALUES (1, 'ada') ON CONFLICT DO NOTHING`);
  }
  mkdirSync(outRoot, { recursive: true });
});

after(async () => {
  if (db) {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.end();
  }
  await intake?.close();
  rmSync(outRoot, { recursive: true, force: true });
});

async function buildEsbuild(): Promise<string> {
  const esbuild = await import('esbuild');
  const outfile = join(outRoot, 'esbuild', 'bundle.js');
  await esbuild.build({
    entryPoints: [appFile],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile,
    sourcemap: true,
    external: ['pg-native'],
    logLevel: 'silent',
    plugins: [
      {
        name: 'spanforge-from-source',
        setup(build) {
          build.onResolve({ filter: /^spanforge(\/runtime)?$/ }, (a) => ({ path: a.path === 'spanforge' ? runtimeIndex : runtimeAbi }));
        },
      },
      esbuildPlugin(pluginOptions('esbuild')),
    ],
  });
  return outfile;
}

async function buildVite(): Promise<string> {
  const vite = await import('vite');
  const outDir = join(outRoot, 'vite');
  await vite.build({
    configFile: false,
    root: fixture,
    logLevel: 'silent',
    resolve: { alias: [{ find: /^spanforge\/runtime$/, replacement: runtimeAbi }, { find: /^spanforge$/, replacement: runtimeIndex }] },
    plugins: [vitePlugin(pluginOptions('vite'))],
    build: {
      ssr: appFile,
      outDir,
      emptyOutDir: true,
      sourcemap: true,
      minify: false,
      rollupOptions: { output: { format: 'es', entryFileNames: 'bundle.mjs' } },
    },
  });
  return join(outDir, 'bundle.mjs');
}

async function buildWebpack(): Promise<string> {
  const { default: webpack } = await import('webpack');
  const outDir = join(outRoot, 'webpack');
  const compiler = webpack({
    mode: 'none',
    target: 'node',
    context: root,
    entry: appFile,
    devtool: 'source-map',
    output: { path: outDir, filename: 'bundle.js' },
    resolve: {
      extensions: ['.ts', '.js'],
      extensionAlias: { '.js': ['.ts', '.js'] },
      alias: { 'spanforge/runtime$': runtimeAbi, spanforge$: runtimeIndex },
    },
    externalsPresets: { node: true },
    externals: [({ request }, cb) => (request && /^(express|pg|pg-native|undici)(\/|$)/.test(request) ? cb(undefined, `commonjs ${request}`) : cb())],
    module: { rules: [{ test: /\.ts$/, loader: join(fixture, 'ts-loader.cjs') }] },
    plugins: [webpackPlugin(pluginOptions('webpack'))],
  });
  await new Promise<void>((resolve, reject) =>
    compiler.run((err, stats) => {
      if (err) return reject(err);
      if (stats?.hasErrors()) return reject(new Error(stats.toString({ all: false, errors: true })));
      compiler.close(() => resolve());
    }),
  );
  return join(outDir, 'bundle.js');
}

async function buildRollup(): Promise<string> {
  const { rollup } = await import('rollup');
  const esbuild = await import('esbuild');
  const outDir = join(outRoot, 'rollup');
  const bundle = await rollup({
    input: appFile,
    external: (id) => /^(express|pg|pg-native|undici)(\/|$)/.test(id) || id.startsWith('node:'),
    plugins: [
      rollupPlugin(pluginOptions('rollup')),
      {
        // Rollup has no TypeScript of its own: resolve the runtime's .js imports to .ts and strip types
        // after spanforge (Rollup chains each plugin's map).
        name: 'test-ts',
        resolveId(source, importer) {
          if (source === 'spanforge') return runtimeIndex;
          if (source === 'spanforge/runtime') return runtimeAbi;
          if (importer && source.startsWith('.') && source.endsWith('.js')) return join(importer, '..', source.replace(/\.js$/, '.ts'));
          return null;
        },
        async transform(code, id) {
          if (!id.endsWith('.ts')) return null;
          const r = await esbuild.transform(code, { loader: 'ts', sourcemap: true, sourcefile: id, format: 'esm' });
          return { code: r.code, map: r.map };
        },
      },
    ],
  });
  await bundle.write({ dir: outDir, format: 'es', entryFileNames: 'bundle.mjs', sourcemap: true });
  await bundle.close();
  return join(outDir, 'bundle.mjs');
}

/** Not a bundle: the app compiled file by file by Babel with the spanforge Babel plugin (CommonJS output). */
async function buildBabel(): Promise<string> {
  const { transformSync } = await import('@babel/core');
  const { default: babelPlugin } = await import('../../babel-plugin/index.js');
  const { root: _root, ...options } = pluginOptions('babel');
  const out = transformSync(readFileSync(appFile, 'utf8'), {
    filename: appFile,
    cwd: root,
    root,
    configFile: false,
    babelrc: false,
    sourceMaps: 'inline',
    presets: [['@babel/preset-typescript', { onlyRemoveTypeImports: false }]],
    plugins: [
      [babelPlugin, { ...options, runtimeModule: runtimeAbi }],
      // The runtime is loaded from source (through tsx) rather than from a built package.
      () => ({ visitor: { ImportDeclaration(p: { node: { source: { value: string } } }) { if (p.node.source.value === 'spanforge') p.node.source.value = runtimeIndex; } } }),
      '@babel/plugin-transform-modules-commonjs',
    ],
  })!;
  const file = join(outRoot, 'babel', 'app.js');
  mkdirSync(join(outRoot, 'babel'), { recursive: true });
  writeFileSync(file, out.code!);
  return file;
}

async function runApp(bundle: string, service: string, nodeFlags: string[]) {
  const child = spawn(process.execPath, [...nodeFlags, bundle], {
    cwd: root,
    env: {
      ...process.env,
      SF_TABLE: table,
      SF_SERVICE: service,
      ELASTIC_APM_SERVER_URL: intake.url,
      ELASTIC_APM_LOG_LEVEL: 'error',
      ELASTIC_APM_CAPTURE_HEADERS: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`app exited with ${code}: ${stderr}`)));
  });
  const user = await fetch(`http://127.0.0.1:${port}/users/1`);
  const userBody = await user.json();
  const boom = await fetch(`http://127.0.0.1:${port}/boom`);
  const boomBody = (await boom.json()) as { error: string; stack: string };
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, `app exit code; stderr: ${stderr}`);
  return { user: { status: user.status, body: userBody }, boom: { status: boom.status, body: boomBody } };
}

const PG_VERSION = (JSON.parse(readFileSync(join(root, 'node_modules', 'pg', 'package.json'), 'utf8')) as { version: string }).version;

function eventsOf(service: string) {
  const out: Record<string, Record<string, unknown>>[] = [];
  let current: string | undefined;
  for (const e of intake.events) {
    if (e.metadata) current = (e.metadata.service as { name?: string } | undefined)?.name;
    else if (current === service) out.push(e);
  }
  return out;
}

for (const [name, build] of [
  ['esbuild', buildEsbuild],
  ['vite', buildVite],
  ['webpack', buildWebpack],
  ['rollup', buildRollup],
  ['babel', buildBabel],
] as const) {
  test(`${name}: built Express + pg app reports the exact events`, async (t) => {
    if (!db) return t.skip('PostgreSQL on 127.0.0.1:5432 is not reachable (set CI=1 to make this a failure)');
    const bundle = await build();
    assert.ok(existsSync(bundle));
    const report = JSON.parse(readFileSync(join(outRoot, `${name}-report.json`), 'utf8')) as { files: { file: string; sites: { rule: string; name: string | null; line: number }[] }[] };
    assert.deepEqual(
      report.files.map((f) => ({ file: f.file, sites: f.sites.map((s) => `${s.rule} ${s.name} :${s.line}`) })),
      [
        { file: 'fixtures/bundles/app.ts', sites: ['express.route /users/:id :13', 'pg.query null :14', 'express.route /boom :20', 'express.error-middleware null :22'] },
        // esbuild bundles node_modules too, so the driver's own Client#query gets its dependency rule
        // (issue 14); the span is still one (the app's pool.query holds the span context). The others
        // leave pg external.
        ...(name === 'esbuild' ? [{ file: `pg@${PG_VERSION}/lib/client.js`, sites: ['pg.client-query null :668'] }] : []),
      ],
    );
    const service = `sf-${name}-${process.pid}`;
    // The single-file esbuild bundle runs as plain `node bundle.js`; the others with Node's own mapping.
    const flags = name === 'esbuild' ? [] : name === 'babel' ? ['--import', 'tsx', '--enable-source-maps'] : ['--enable-source-maps'];
    const r = await runApp(bundle, service, flags);
    assert.deepEqual(r.user, { status: 200, body: { name: 'ada' } });
    assert.equal(r.boom.status, 500);
    assert.equal(r.boom.body.error, 'boom from the bundle');
    if (flags.length) {
      // With --enable-source-maps the thrown error's own first frame is the throw in the original .ts.
      const frame = r.boom.body.stack.split('\n')[1]!;
      assert.match(frame, new RegExp(`app\\.ts:${BOOM_LINE}:${BOOM_COLUMN}\\)?$`), `stack frame maps back to app.ts:${BOOM_LINE}:${BOOM_COLUMN}: ${frame}`);
    }

    const events = eventsOf(service);
    for (const e of events) assertValidEvent(e);
    const txs = events.filter((e) => e.transaction).map((e) => e.transaction!);
    const spans = events.filter((e) => e.span).map((e) => e.span!);
    const errors = events.filter((e) => e.error).map((e) => e.error!);
    assert.deepEqual(
      txs.map((tx) => [tx.name, tx.type, tx.result, tx.outcome]).sort(),
      [
        ['GET /boom', 'request', 'HTTP 5xx', 'failure'],
        ['GET /users/:id', 'request', 'HTTP 2xx', 'success'],
      ],
    );
    const userTx = txs.find((tx) => tx.name === 'GET /users/:id')!;
    const boomTx = txs.find((tx) => tx.name === 'GET /boom')!;
    assert.equal(spans.length, 1, JSON.stringify(spans));
    const span = spans[0]!;
    assert.deepEqual(
      [span.name, span.type, span.subtype, span.action, span.parent_id, span.transaction_id, span.trace_id, span.outcome],
      [`SELECT ${table}`, 'db', 'postgresql', 'query', userTx.id, userTx.id, userTx.trace_id, 'success'],
    );
    assert.deepEqual((span.context as { db: unknown }).db, { type: 'sql', instance: 'test', statement: `SELECT name FROM ${table} WHERE id = $1`, user: process.env.PGUSER ?? 'postgres', rows_affected: 1 });
    assert.equal(errors.length, 1, JSON.stringify(errors));
    const error = errors[0]!;
    assert.equal((error.exception as { message: string }).message, 'boom from the bundle');
    assert.equal(error.transaction_id, boomTx.id);
    assert.equal(error.trace_id, boomTx.trace_id);
    // The agent maps the reported stack through the bundle's source map too, with or without Node's flag.
    const top = ((error.exception as { stacktrace?: { filename?: string; lineno?: number; function?: string }[] }).stacktrace ?? [])[0];
    assert.ok(top, 'the error has a stack trace');
    assert.match(String(top.filename), /app\.ts$/, JSON.stringify(top));
    assert.equal(top.lineno, BOOM_LINE, JSON.stringify(top));
    assert.equal((top as { colno?: number }).colno, BOOM_COLUMN, JSON.stringify(top));
  });
}

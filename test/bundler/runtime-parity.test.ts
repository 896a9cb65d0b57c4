// Run-time parity of the front-ends: the same fixture app (fixtures/apps/express: Express 5 + pg + a
// traced helper + fetch to a second, node:http service) built three ways —
//   tsc:     tspc + spanforge/transformer (types),
//   babel:   @babel/core file by file with preset-typescript + spanforge/babel (bindings), CommonJS,
//   esbuild: one bundle per entry with spanforge/bundler's esbuildPlugin (bindings), CommonJS,
// each run against PostgreSQL and a test intake. Every build must give the Express test's exact events,
// and the Babel and esbuild events must equal the tsc ones field by field (names, types/subtypes,
// parent/child structure, statements, statuses, outcomes, errors, span code locations), as must their
// build reports' site lists. All three import the built runtime (dist/, through node_modules/spanforge).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from 'pg';
import { ensureDist, linkSpanforge, pgClient, root } from '../transformer/_apps.js';
import { assertExpressEvents, linkPackage, prepareTable, runScenario, shapeOf, type Ev, type Run } from '../transformer/_express-events.js';

const appDir = join(root, 'fixtures', 'apps', 'express');
const entries = ['app', 'downstream'] as const;
const table = `sf_parity_express_${process.pid}`;
let db: Client | string;
let tmp = '';

before(async () => {
  db = await pgClient();
  if (typeof db === 'string') return;
  await prepareTable(db, table);
  ensureDist();
  linkSpanforge(appDir);
  tmp = mkdtempSync(join(tmpdir(), 'sf-parity-'));
  // What the built files import at run time, as an install would provide it.
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

interface Built {
  outDir: string;
  sites: string[];
}

/** `rule file:line:column name` of every instrumented site in a report. */
function siteList(sites: Ev[]): string[] {
  return sites.map((s) => `${s.rule} ${s.file}:${s.line}:${s.column} ${s.name}`);
}

function buildTsc(): Built {
  const outDir = join(tmp, 'tsc');
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'ts-patch', 'bin', 'tspc.js'), '-p', join(appDir, 'tsconfig.json'), '--outDir', outDir], { cwd: appDir, encoding: 'utf8' });
  assert.equal(r.status, 0, `tspc failed:\n${r.stdout}\n${r.stderr}`);
  const report = JSON.parse(readFileSync(join(appDir, 'out', 'spanforge-report.json'), 'utf8')) as { sites: Ev[]; skipped: Ev[] };
  assert.deepEqual(report.skipped, [], 'tsc skipped no candidate');
  return { outDir, sites: siteList(report.sites) };
}

async function buildBabel(): Promise<Built> {
  const { transformSync } = await import('@babel/core');
  const { default: babelPlugin } = await import('../../babel-plugin/index.js');
  const outDir = join(tmp, 'babel');
  mkdirSync(outDir, { recursive: true });
  const reportFile = join(tmp, 'babel-report.json');
  for (const name of entries) {
    const file = join(appDir, 'src', `${name}.ts`);
    const out = transformSync(readFileSync(file, 'utf8'), {
      filename: file,
      cwd: appDir,
      root: appDir,
      configFile: false,
      babelrc: false,
      sourceMaps: 'inline',
      // as @babel/cli --out-dir sets it: the map's source relative to the output file
      sourceFileName: relative(outDir, file),
      presets: ['@babel/preset-typescript'],
      plugins: [[babelPlugin, { report: reportFile, summary: false }], '@babel/plugin-transform-modules-commonjs'],
    })!;
    writeFileSync(join(outDir, `${name}.js`), out.code!);
  }
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as { files: { file: string; sites: Ev[]; skipped: Ev[] }[] };
  const files = report.files.slice().sort((a, b) => a.file.localeCompare(b.file));
  assert.deepEqual(files.flatMap((f) => f.skipped), [], 'Babel skipped no candidate');
  return { outDir, sites: siteList(files.flatMap((f) => f.sites.map((s) => ({ ...s, file: f.file })))) };
}

async function buildEsbuild(): Promise<Built> {
  const esbuild = await import('esbuild');
  const { esbuildPlugin } = await import('../../bundler/index.js');
  const outDir = join(tmp, 'esbuild');
  const reportFile = join(tmp, 'esbuild-report.json');
  await esbuild.build({
    entryPoints: entries.map((n) => join(appDir, 'src', `${n}.ts`)),
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outdir: outDir,
    sourcemap: true,
    logLevel: 'silent',
    plugins: [esbuildPlugin({ root: appDir, report: reportFile, summary: false })],
  });
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as { files: { file: string; sites: Ev[]; skipped: Ev[] }[] };
  const files = report.files.slice().sort((a, b) => a.file.localeCompare(b.file));
  assert.deepEqual(files.flatMap((f) => f.skipped), [], 'the bundler step skipped no candidate');
  return { outDir, sites: siteList(files.flatMap((f) => f.sites.map((s) => ({ ...s, file: f.file })))) };
}

const runs = new Map<string, { built: Built; run: Run }>();

for (const [name, build] of [
  ['tsc', buildTsc],
  ['babel', buildBabel],
  ['esbuild', buildEsbuild],
] as const) {
  test(`${name} build of fixtures/apps/express: the exact events against PostgreSQL and the downstream service`, async (t) => {
    if (typeof db === 'string') return t.skip(db);
    const built = await build();
    assert.equal(built.sites.length, 9, built.sites.join('\n'));
    const run = await runScenario(built.outDir, table);
    assertExpressEvents(run, table);
    runs.set(name, { built, run });
  });
}

for (const name of ['babel', 'esbuild']) {
  test(`${name} and tsc builds: same sites, same events (structure, statements, statuses, outcomes, errors, code locations)`, (t) => {
    if (typeof db === 'string') return t.skip(db);
    const ref = runs.get('tsc');
    const other = runs.get(name);
    assert.ok(ref && other, 'both builds ran (see the tests above)');
    assert.deepEqual(other.built.sites, ref.built.sites);
    const a = shapeOf(other.run);
    const b = shapeOf(ref.run);
    assert.deepEqual(a, b);
    // The comparison is not vacuous: every span carries its site's code location.
    assert.equal(b.spans.length, 4);
    for (const s of b.spans) assert.equal(s.stacktrace?.length, 1, JSON.stringify(s));
  });
}

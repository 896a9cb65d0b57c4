// Express 4: the fixture app (fixtures/apps/express, unchanged sources) compiled with tspc +
// spanforge/transformer against @types/express 4 (@types/express-serve-static-core 4) and run on
// express 4 — both from test/compat/express4's own package.json + lock file (scripts/run-tests.mjs
// runs `npm ci --prefix test/compat/express4` when they are missing), side by side with the project's
// Express 5. The copy lives in test/compat/express4/.app-<pid>/ so Node and tsc resolve `express` and
// `@types/express` there first, as in a project that installed Express 4; pg and @types/node come from
// the repository. Same exact events as the Express 5 test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Client } from 'pg';
import { ensureDist, pgClient, root } from './_apps.js';
import { EXPRESS_SITES, assertExpressEvents, linkPackage, prepareTable, runScenario, type Ev } from './_express-events.js';

const compat = process.env.SPANFORGE_EXPRESS4_DIR ?? join(root, 'test', 'compat', 'express4');
const installed = existsSync(join(compat, 'node_modules', 'express', 'package.json')) && existsSync(join(compat, 'node_modules', '@types', 'express', 'package.json'));
const fixture = join(root, 'fixtures', 'apps', 'express');
const appDir = join(compat, `.app-${process.pid}`);
const table = 'sf_tx_express4_users';
let db: Client | string;
let summary = '';

function missing(): string | undefined {
  if (installed) return undefined;
  const how = `express 4 + @types/express 4 not installed in ${compat} (npm ci --prefix test/compat/express4)`;
  if (process.env.CI) throw new Error(`CI: ${how}`);
  return how;
}

before(async () => {
  if (missing()) return;
  db = await pgClient();
  if (typeof db === 'string') return;
  await prepareTable(db, table);
  ensureDist();
  rmSync(appDir, { recursive: true, force: true });
  mkdirSync(appDir, { recursive: true });
  cpSync(join(fixture, 'src'), join(appDir, 'src'), { recursive: true });
  cpSync(join(fixture, 'tsconfig.json'), join(appDir, 'tsconfig.json'));
  linkPackage(appDir, 'spanforge', root);
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'ts-patch', 'bin', 'tspc.js'), '-p', join(appDir, 'tsconfig.json')], { cwd: appDir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tspc failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  summary = r.stderr;
});

after(async () => {
  rmSync(appDir, { recursive: true, force: true });
  if (db && typeof db !== 'string') {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.end();
  }
});

function skipReason(): string | undefined {
  return missing() ?? (typeof db === 'string' ? db : undefined);
}

test('the copy resolves express 4 and @types/express 4 (tsc and Node), the fixture sources are unchanged', (t) => {
  const why = skipReason();
  if (why) return t.skip(why);
  const req = createRequire(join(appDir, 'out', 'app.js'));
  const version = (name: string) => (req(`${name}/package.json`) as { version: string }).version;
  assert.match(version('express'), /^4\./);
  assert.match(version('@types/express'), /^4\./);
  assert.match(createRequire(req.resolve('@types/express/package.json'))('@types/express-serve-static-core/package.json').version, /^4\./);
  // tsc resolved the same declaration files (nodenext resolution = Node's, plus @types), not the root's v5.
  const list = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(appDir, 'tsconfig.json'), '--listFilesOnly'], { cwd: appDir, encoding: 'utf8' });
  const files = list.stdout.split('\n').filter((f) => /\/@types\/express(-serve-static-core)?\/index\.d\.ts$/.test(f));
  assert.deepEqual(files.sort(), [join(compat, 'node_modules', '@types', 'express-serve-static-core', 'index.d.ts'), join(compat, 'node_modules', '@types', 'express', 'index.d.ts')], list.stdout);
  for (const f of ['app.ts', 'downstream.ts']) assert.equal(readFileSync(join(appDir, 'src', f), 'utf8'), readFileSync(join(fixture, 'src', f), 'utf8'));
});

test('tspc build against Express 4 types: same summary and sites as with Express 5', (t) => {
  const why = skipReason();
  if (why) return t.skip(why);
  assert.match(summary, /^spanforge: instrumented 9 sites in 2 of 2 files \(.*pg\.query 2.*\); report: out\/spanforge-report\.json\n$/m);
  const report = JSON.parse(readFileSync(join(appDir, 'out', 'spanforge-report.json'), 'utf8')) as { sites: Ev[]; skipped: Ev[] };
  assert.deepEqual(
    report.sites.map((s) => `${s.rule} ${s.file}:${s.line} ${s.name}`),
    EXPRESS_SITES,
  );
  assert.deepEqual(report.skipped ?? [], []);
});

test('run on Express 4 against PostgreSQL and a downstream service: the exact events of the Express 5 test', async (t) => {
  const why = skipReason();
  if (why) return t.skip(why);
  const run = await runScenario(join(appDir, 'out'), table);
  assertExpressEvents(run, table);
});

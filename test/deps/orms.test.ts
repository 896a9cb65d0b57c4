// Calls made inside dependencies (issue 14): apps that never call a driver themselves — knex, drizzle,
// Kysely, TypeORM and Sequelize call pg or mysql2 inside node_modules — get one `db` span per query,
// from the integrations' dependency rules (pg Client#query, mysql2 BaseConnection#query/execute), in
// the request's transaction and parented to it. Each app (test/deps/orms/apps/, the libraries'
// quick-start shapes inside an HTTP route) is run (a) unbundled with `node --import spanforge/register`
// as an ES module and `node -r spanforge/register` as CommonJS, and (b) bundled by esbuild with the
// bundler step (spanforge itself left external; the ORMs and drivers are in the bundle). Real
// PostgreSQL and MariaDB; the ORMs come from test/deps/orms (own package.json + lock, `npm ci`).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentEnv, root, startIntake, type Intake } from '../install/_project.js';
import { assertValidEvent } from '../bundler/_intake.js';

const fixture = join(__dirname, 'orms');
let intake: Intake;
let work: string;

before(async () => {
  if (!existsSync(join(fixture, 'node_modules', 'knex'))) {
    const r = spawnSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: fixture, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `npm ci in test/deps/orms failed:\n${r.stdout}\n${r.stderr}`);
  }
  // The apps run inside the fixture folder (its node_modules), with spanforge linked to this checkout.
  const link = join(fixture, 'node_modules', 'spanforge');
  if (!existsSync(link)) symlinkSync(root, link);
  work = mkdtempSync(join(fixture, 'run-'));
  for (const f of readdirSync(join(fixture, 'apps'))) {
    const src = readFileSync(join(fixture, 'apps', f), 'utf8');
    writeFileSync(join(work, f), src);
    writeFileSync(join(work, f.replace(/\.mjs$/, '.cjs')), toCommonJs(src));
  }
  intake = await startIntake();
});
after(async () => {
  await intake?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The ES module app as CommonJS: its imports are default, named or bare; `export function` becomes a property of exports. */
function toCommonJs(src: string): string {
  let out = src
    .replace(/^import (\{[^}]*\}) from '([^']+)';$/gm, "const $1 = require('$2');")
    .replace(/^import (\w+) from '([^']+)';$/gm, "const $1 = require('$2');")
    .replace(/^import '([^']+)';$/gm, "require('$1');")
    .replace(/\.\/_serve\.mjs/g, './_serve.cjs');
  if (/^export function (\w+)/m.test(out)) {
    const name = /^export function (\w+)/m.exec(out)![1]!;
    out = out.replace(/^export function /m, 'function ') + `\nmodule.exports = { ${name} };\n`;
  }
  return out;
}

let seq = 0;
function run(args: string[], service: string, table: string): string {
  // Span compression off: this test counts one db span per query, and the two queries of most apps have the
  // same summary name ("SELECT FROM <table>"), which Elastic's default exact_match compression folds into one.
  const env = { ...process.env, ...agentEnv(intake, service), TABLE: table, ELASTIC_APM_SPAN_COMPRESSION_ENABLED: 'false' };
  const r = spawnSync(process.execPath, args, { cwd: work, encoding: 'utf8', timeout: 90_000, env });
  const output = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, output);
  assert.match(output, /app said: 200 /, output);
  return output;
}

async function bundle(entry: string, out: string): Promise<string> {
  const { build } = (await import('esbuild')) as typeof import('esbuild');
  const { esbuildPlugin } = createRequire(__filename)(join(root, 'dist', 'cjs', 'bundler', 'index.js')) as typeof import('../../bundler/index.js');
  const logs: string[] = [];
  const stderr = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (logs.push(String(s)), true)) as typeof process.stderr.write;
  try {
    await build({
      entryPoints: [join(work, entry)],
      outfile: join(work, out),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      logLevel: 'error',
      external: ['spanforge', 'spanforge/*'],
      plugins: [
        esbuildPlugin(),
        {
          // The ORMs require() every dialect's driver lazily: the ones not installed stay external.
          name: 'missing-optional',
          setup(b) {
            b.onResolve({ filter: /^[^./]/ }, (a) => {
              if (a.path.startsWith('spanforge') || a.path.startsWith('node:')) return undefined;
              try {
                createRequire(join(a.resolveDir, 'x.js')).resolve(a.path);
                return undefined;
              } catch (e) {
                return (e as { code?: string }).code === 'MODULE_NOT_FOUND' ? { path: a.path, external: true } : undefined;
              }
            });
          },
        },
      ],
    });
  } finally {
    process.stderr.write = stderr;
  }
  return logs.join('');
}

interface Db {
  subtype: string;
  statements: RegExp[];
}

async function assertQueries(service: string, db: Db, output: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  let tx: Record<string, unknown> | undefined;
  let spans: Record<string, unknown>[] = [];
  for (;;) {
    let current: string | undefined;
    const mine: Record<string, Record<string, unknown>>[] = [];
    for (const e of intake.events) {
      if (e.metadata) current = (e.metadata.service as { name?: string }).name;
      else if (current === service) mine.push(e);
    }
    tx = mine.find((e) => e.transaction && (e.transaction as { name?: string }).name === 'GET unknown route')?.transaction
      ?? mine.find((e) => e.transaction)?.transaction;
    spans = mine.filter((e) => e.span).map((e) => e.span!);
    if ((tx && spans.length >= db.statements.length) || Date.now() > deadline) {
      for (const e of mine) assertValidEvent(e);
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(tx, `no transaction from ${service}\n${output}`);
  // Let late duplicates arrive before counting.
  await new Promise((r) => setTimeout(r, 300));
  const dbSpans = spans.filter((s) => s.type === 'db');
  assert.equal(dbSpans.length, db.statements.length, `exactly one db span per query; got ${JSON.stringify(dbSpans.map((s) => [s.name, (s.context as { db?: { statement?: string } })?.db?.statement]))}\n${output}`);
  for (const [i, s] of dbSpans.entries()) {
    assert.equal(s.subtype, db.subtype);
    assert.equal(s.action, 'query');
    assert.equal(s.trace_id, tx.trace_id);
    assert.equal(s.transaction_id, tx.id);
    assert.equal(s.parent_id, tx.id, 'parented to the request transaction');
    const statement = (s.context as { db?: { statement?: string; type?: string } }).db?.statement ?? '';
    assert.match(statement, db.statements[i]!, `span ${i}: ${statement}`);
    assert.equal((s.context as { db?: { type?: string } }).db?.type, 'sql');
  }
  assert.equal(spans.length, dbSpans.length, `no other span: ${JSON.stringify(spans.map((s) => s.name))}`);
}

const APPS: { app: string; db: Db }[] = [
  { app: 'knex-pg', db: { subtype: 'postgresql', statements: [/^select \* from "TABLE" where "id" = \$1 limit \$2$/, /^select count\(\*\) as "n" from "TABLE"$/] } },
  { app: 'knex-mariadb', db: { subtype: 'mysql', statements: [/^select \* from `TABLE` where `id` = \? limit \?$/, /^select count\(\*\) as `n` from `TABLE`$/] } },
  { app: 'drizzle-pg', db: { subtype: 'postgresql', statements: [/^select "id", "name" from "TABLE" where "TABLE"."id" = \$1$/, /^select count\(\*\) from "TABLE"$/] } },
  { app: 'kysely-pg', db: { subtype: 'postgresql', statements: [/^select \* from "TABLE" where "id" = \$1$/, /^select count\(\*\) as "n" from "TABLE"$/] } },
  { app: 'typeorm-pg', db: { subtype: 'postgresql', statements: [/^SELECT .* FROM "TABLE" "User" WHERE \(\("User"\."id" = \$1\)\) LIMIT 1$/, /^SELECT COUNT\(1\) AS "cnt" FROM "TABLE" "User"$/] } },
  { app: 'sequelize-mariadb', db: { subtype: 'mysql', statements: [/^SELECT `id`, `name` FROM `TABLE` AS `User` WHERE `User`\.`id` = 1;$/, /^SELECT count\(\*\) AS `count` FROM `TABLE` AS `User`;$/] } },
  // The app's own driver calls: a user-code site around the driver's dependency site, one span each.
  { app: 'pg-direct', db: { subtype: 'postgresql', statements: [/^SELECT \* FROM TABLE WHERE id = \$1$/, /^SELECT count\(\*\) AS n FROM TABLE$/] } },
  { app: 'mysql2-direct', db: { subtype: 'mysql', statements: [/^SELECT \* FROM TABLE WHERE id = \?$/, /^SELECT count\(\*\) AS n FROM TABLE$/] } },
];

function withTable(db: Db, table: string): Db {
  return { ...db, statements: db.statements.map((r) => new RegExp(r.source.replaceAll('TABLE', table), r.flags)) };
}

for (const { app, db } of APPS) {
  for (const mode of ['esm', 'cjs', 'bundle-esm', 'bundle-cjs'] as const) {
    test(`${app} (${mode}): one db span per query inside the ORM, in the request transaction`, { timeout: 180_000 }, async () => {
      const table = `sf_deps_${app.replace(/-/g, '_')}_${mode.replace(/-/g, '_')}_${process.pid}_${seq++}`;
      const service = `deps-${app}-${mode}`;
      let output: string;
      if (mode === 'esm') output = run(['--import', 'spanforge/register', `${app}.mjs`], service, table);
      else if (mode === 'cjs') output = run(['-r', 'spanforge/register', `${app}.cjs`], service, table);
      else {
        const out = `${app}.${mode}.bundle.cjs`;
        const log = await bundle(mode === 'bundle-esm' ? `${app}.mjs` : `${app}.cjs`, out);
        // The build's summary names the driver functions it rewrote.
        assert.match(log, /spanforge \(bundler\): [1-9]\d* sites? instrumented/, log);
        assert.match(log, new RegExp(`driver functions? in dependencies \\((?:[^)]*)${db.subtype === 'mysql' ? 'mysql2@' : 'pg@'}`), log);
        output = run([out], service, table);
      }
      if (!mode.startsWith("bundle")) assert.match(output, /spanforge \(register\): \d+ sites? instrumented in \d+ files?/, output);
      await assertQueries(service, withTable(db, table), output);
    });
  }
}

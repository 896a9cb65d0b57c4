// Prisma 7 with the PostgreSQL driver adapter (@prisma/adapter-pg) against the PostgreSQL on
// 127.0.0.1:5432, under the real agent: the fixture app (fixtures/app: its own package.json + lock,
// installed here with npm ci; or SPANFORGE_PRISMA_DIR=<compat/prisma-7.0.0/node_modules>, the lowest
// supported version, whose folder gets the app's schema and config copied in) generates its client
// with `prisma generate` (no schema engine needed: PRISMA_SCHEMA_ENGINE_BINARY=/bin/false; the machine
// cannot download one), the tables are created with plain SQL in a schema of this test's own, and a
// source using the generated client is built with tsc + the transformer, and with Babel (through a
// `lib/prisma.ts`-style singleton module, as apps write it) + the bundler's analysis. Asserted: the
// sites (model operations and raw SQL, none in the look-alikes), each span field by field
// (`User.create`, `Post.findMany`, … `db`/`postgresql`/`query`, no statement; raw SQL named like pg
// with the statement and no parameter), destination, a `$transaction([...])` batch, an unawaited query
// that never runs (no span), a unique violation (failure + error), and the Babel build report's reason
// for a client Babel cannot know.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { transformSync } from '@babel/core';
import babelPlugin from '../../babel-plugin/index.js';
import { instrumentCode } from '../../bundler/index.js';
import { resolveOptions } from '../../rules/index.js';
import { sqlSummary } from '../../runtime/abi-kit.js';
import { after, before, test } from 'node:test';
import { build, cleanBuilds, dbFacts, reachable, startHarness, type Harness } from '../_harness.js';

const fixtureApp = join(__dirname, 'fixtures', 'app');
const nodePath = process.env.SPANFORGE_PRISMA_DIR ?? join(fixtureApp, 'node_modules');
const app = dirname(nodePath);
const tmp = join(__dirname, `.tmp-${process.pid}`);
/** The generated client as the sources (in tmp/) import it. */
const clientSpec = relative(tmp, join(app, 'generated', 'client')).split('\\').join('/');
const schema = `sf_prisma_test_${process.pid}`;
const url = 'postgresql://postgres@127.0.0.1:5432/test';

/** npm ci of the fixture app (when missing), then prisma generate (when the schema is newer than the client). */
function prepare(): void {
  if (app !== fixtureApp) {
    // A side-by-side install: the app's schema and config beside it (its .gitignore lists them).
    mkdirSync(join(app, 'prisma'), { recursive: true });
    for (const f of ['prisma.config.ts', join('prisma', 'schema.prisma')]) if (!existsSync(join(app, f))) copyFileSync(join(fixtureApp, f), join(app, f));
  }
  if (!existsSync(join(nodePath, 'prisma', 'package.json'))) {
    const r = spawnSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, encoding: 'utf8', timeout: 480_000 });
    assert.equal(r.status, 0, `npm ci in ${app} failed:\n${r.stdout}\n${r.stderr}`);
  }
  const client = join(app, 'generated', 'client.ts');
  if (!existsSync(client) || statSync(client).mtimeMs < statSync(join(app, 'prisma', 'schema.prisma')).mtimeMs) {
    const r = spawnSync(process.execPath, [join(nodePath, 'prisma', 'build', 'index.js'), 'generate'], {
      cwd: app,
      encoding: 'utf8',
      timeout: 240_000,
      env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false', PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' },
    });
    assert.equal(r.status, 0, `prisma generate failed:\n${r.stdout}\n${r.stderr}`);
  }
}

/** The scenario module; `header` (4 lines) declares `prisma` (and imports `Prisma`). */
const body = `
export async function setup(): Promise<void> {
  await prisma.$executeRawUnsafe('CREATE SCHEMA IF NOT EXISTS ${schema}');
  await prisma.$executeRawUnsafe('CREATE TABLE ${schema}.sf_prisma_test_user (id serial PRIMARY KEY, email text UNIQUE NOT NULL, name text)');
  await prisma.$executeRawUnsafe('CREATE TABLE ${schema}.sf_prisma_test_post (id serial PRIMARY KEY, title text NOT NULL, "authorId" int NOT NULL REFERENCES ${schema}.sf_prisma_test_user(id))');
}

export async function scenario(): Promise<unknown[]> {
  const ada = await prisma.user.create({ data: { email: 'ada@example.test', name: 'secret-name' } });
  await prisma.post.create({ data: { title: 'secret-title', authorId: ada.id } });
  const posts = await prisma.post.findMany({ where: { authorId: ada.id }, select: { title: true } });
  const n = await prisma.user.count();
  const [found, updated] = await prisma.$transaction([
    prisma.user.findUnique({ where: { email: 'ada@example.test' }, select: { name: true } }),
    prisma.user.update({ where: { id: ada.id }, data: { name: 'Ada' }, select: { name: true } }),
  ]);
  prisma.user.findMany(); // never awaited: never runs
  return [posts, n, found, updated];
}

export async function raw(): Promise<unknown[]> {
  const rows = await prisma.$queryRawUnsafe('SELECT name FROM ${schema}.sf_prisma_test_user WHERE email = $1', 'ada@example.test');
  const n = await prisma.$executeRawUnsafe('UPDATE ${schema}.sf_prisma_test_user SET name = $1 WHERE email = $2', 'secret-raw', 'ada@example.test');
  const v = await prisma.$queryRaw(Prisma.sql\`SELECT \${'secret-param'}::text AS v\`);
  const c = await prisma.$transaction(async (tx) => tx.user.count());
  return [rows, n, v, c];
}

export function duplicate(): Promise<unknown> {
  return prisma.user.create({ data: { email: 'ada@example.test' } });
}

interface UserDelegate {
  findMany(): Promise<string[]>;
}
class LookAlike implements UserDelegate {
  async findMany(): Promise<string[]> {
    return ['x'];
  }
}
class Store {
  user = new LookAlike();
}
const store = new Store();
const delegate: UserDelegate = new LookAlike();
export async function lookAlike(): Promise<string[]> {
  return [...(await store.user.findMany()), ...(await delegate.findMany())];
}

export async function cleanup(): Promise<void> {
  await prisma.$executeRawUnsafe('DROP SCHEMA IF EXISTS ${schema} CASCADE');
  await prisma.$disconnect();
}
`;

const adapter = `new PrismaPg({ connectionString: ${JSON.stringify(url)} }, { schema: ${JSON.stringify(schema)} })`;
/** tsc: the client constructed in the module itself. */
const direct = `import { PrismaPg } from '@prisma/adapter-pg';
import { Prisma, PrismaClient } from '${clientSpec}';

const prisma = new PrismaClient({ adapter: ${adapter} });` + body;
/** Babel and the bundler: the client from a singleton module (db.ts, below), as apps write lib/prisma.ts. */
const viaSingleton = `import { Prisma } from '${clientSpec}';
import { prisma } from './db';
// prisma: db.ts's export, a generated client's instance
// (db.ts imports the generated client; Babel reads both files)` + body;
const singleton = `import { PrismaPg } from ${JSON.stringify(join(nodePath, '@prisma', 'adapter-pg'))};
import { PrismaClient } from '${clientSpec}';

const globalForPrisma = globalThis as unknown as { prisma: PrismaClient | undefined };
export const prisma = globalForPrisma.prisma ?? new PrismaClient({ adapter: ${adapter} });
if (process.env.NODE_ENV !== 'production') globalForPrisma.prisma = prisma;
`;

// setup's 3 raw statements | create create findMany count | findUnique update ($transaction is not an
// operation) | the unawaited findMany | raw: queryRawUnsafe executeRawUnsafe queryRaw, the interactive
// transaction's tx.user.count | duplicate's create | cleanup's raw statement. Not the look-alikes.
const SITES = [
  'prisma.raw 6:16', 'prisma.raw 7:16', 'prisma.raw 8:16',
  'prisma.operation 12:33', 'prisma.operation 13:21', 'prisma.operation 14:35', 'prisma.operation 15:31',
  'prisma.operation 17:17', 'prisma.operation 18:17', 'prisma.operation 20:15',
  'prisma.raw 25:29', 'prisma.raw 26:26', 'prisma.raw 27:26', 'prisma.operation 28:61',
  'prisma.operation 33:22', 'prisma.raw 54:16',
];

const prismaSpan = (name: string, outcome = 'success') => ({
  name,
  type: 'db',
  subtype: 'postgresql',
  action: 'query',
  outcome,
  db: { type: 'sql', instance: 'test' },
  destination: { address: '127.0.0.1', port: 5432, service: { type: '', name: '', resource: 'postgresql/test' } },
  target: { type: 'postgresql', name: 'test' },
});

let h: Harness;
let skip: string | undefined;
before(async () => {
  skip = await reachable('PostgreSQL on 127.0.0.1:5432', async () => {
    const { createConnection } = await import('node:net');
    await new Promise<void>((resolve, reject) => {
      const s = createConnection(5432, '127.0.0.1', () => {
        s.end();
        resolve();
      });
      s.on('error', reject);
      s.setTimeout(3000, () => reject(new Error('connect timeout')));
    });
  });
  if (!skip) h = await startHarness('prisma-test');
});
after(async () => {
  cleanBuilds(__dirname);
  if (h) await h.close();
});

const rawSpan = (statement: string) => ({ ...prismaSpan(sqlSummary(statement)), db: { type: 'sql', instance: 'test', statement } });

/** Runs the scenarios of a built module under the agent and asserts every event. */
async function assertEvents(mod: any): Promise<void> {
  await mod.setup();
  try {
    const r = await h.run('prisma scenario', async () => {
      assert.deepEqual(await mod.scenario(), [[{ title: 'secret-title' }], 1, { name: 'secret-name' }, { name: 'Ada' }]);
      assert.deepEqual(await mod.lookAlike(), ['x', 'x']);
    });
    assert.deepEqual(
      r.spans.map(dbFacts),
      ['User.create', 'Post.create', 'Post.findMany', 'User.count', 'User.findUnique', 'User.update'].map((n) => prismaSpan(n)),
    );
    for (const s of r.spans) assert.equal(s.parent_id, r.tx.id, `${s.name} is a child of the transaction`);
    assert.doesNotMatch(JSON.stringify(r.spans), /secret|ada@/, 'no argument or value is recorded');
    assert.equal(r.spans.some((s) => 'statement' in (s.context?.db ?? {})), false, 'no db.statement');
    assert.deepEqual(r.errors, []);

    const q = await h.run('prisma raw', async () => {
      assert.deepEqual(await mod.raw(), [[{ name: 'Ada' }], 1, [{ v: 'secret-param' }], 1]);
    });
    assert.deepEqual(q.spans.map(dbFacts), [
      rawSpan(`SELECT name FROM ${schema}.sf_prisma_test_user WHERE email = $1`),
      rawSpan(`UPDATE ${schema}.sf_prisma_test_user SET name = $1 WHERE email = $2`),
      rawSpan('SELECT $1::text AS v'),
      prismaSpan('User.count'),
    ]);
    for (const s of q.spans) assert.equal(s.parent_id, q.tx.id, `${s.name} is a child of the transaction`);
    assert.doesNotMatch(JSON.stringify(q.spans), /secret|ada@/, 'no parameter is recorded');
    assert.deepEqual(q.errors, []);

    const f = await h.run('prisma failure', async () => {
      await assert.rejects(mod.duplicate(), (e: Error & { code?: string }) => e.code === 'P2002');
    });
    assert.deepEqual(f.spans.map(dbFacts), [prismaSpan('User.create', 'failure')]);
    assert.equal(f.errors.length, 1);
    assert.equal(f.errors[0].parent_id, f.spans[0].id);
    assert.equal(f.errors[0].exception.type, 'PrismaClientKnownRequestError');
  } finally {
    await mod.cleanup();
  }
}

function clientVersion(): string {
  const version = JSON.parse(readFileSync(join(nodePath, '@prisma', 'client', 'package.json'), 'utf8')).version;
  assert.match(version, /^7\./);
  return version;
}

test(`prisma 7 + adapter-pg (tsc): model operations, raw SQL, $transaction, lazy queries, failure: exact spans`, { timeout: 600_000 }, async (t) => {
  if (skip) return t.skip(skip);
  prepare();
  t.diagnostic(`@prisma/client ${clientVersion()}`);
  const { mod, sites } = build('tsc', __dirname, 'prisma-tsc', direct, nodePath);
  assert.deepEqual(sites, SITES);
  await assertEvents(mod);
});

test('prisma 7 + adapter-pg (babel, through a lib/prisma.ts singleton): the same sites and spans; the bundler step finds the same sites', { timeout: 600_000 }, async (t) => {
  if (skip) return t.skip(skip);
  prepare();
  t.diagnostic(`@prisma/client ${clientVersion()}`);
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'db.ts'), singleton);
  const { mod, sites } = build('babel', __dirname, 'prisma-babel', viaSingleton, nodePath);
  assert.deepEqual(sites, SITES);
  const file = join(tmp, 'prisma-bundler.ts');
  writeFileSync(file, viaSingleton);
  const b = instrumentCode(viaSingleton, file, relative(join(__dirname, '..', '..'), file), resolveOptions({}));
  assert.deepEqual(b?.skipped, []);
  assert.deepEqual(b?.sites.map((d) => `${d.rule} ${d.line}:${d.column}`), SITES);
  await assertEvents(mod);
});

test('prisma (babel): a client Babel cannot know is reported with the reason; look-alikes are left alone silently', { timeout: 600_000 }, async (t) => {
  if (skip) return t.skip(skip);
  prepare();
  mkdirSync(tmp, { recursive: true });
  const file = join(tmp, 'prisma-unknown.ts');
  const input = `import type { PrismaClient } from '${clientSpec}';
export async function list(db, typed: PrismaClient) {
  await typed.user.findMany();
  return db.user.findMany();
}
const store = { user: { findMany: async () => [] } };
export const other = () => store.user.findMany();
`;
  const report = join(tmp, 'prisma-unknown.report.json');
  transformSync(input, { filename: file, configFile: false, babelrc: false, presets: ['@babel/preset-typescript'], plugins: [[babelPlugin, { report, summary: false }]] });
  const f = JSON.parse(readFileSync(report, 'utf8')).files[0];
  assert.deepEqual(f.sites.map((d: { rule: string; line: number; column: number }) => `${d.rule} ${d.line}:${d.column}`), ['prisma.operation 3:20']);
  assert.deepEqual(
    f.skipped.map((k: { rules: string[]; line: number; reason: string }) => `${k.rules.join(',')} ${k.line}: ${k.reason}`),
    [
      'prisma.operation 4: receiver unknown: db is a parameter; its type is not known without a type checker',
      'prisma.operation 7: receiver unknown: it is the property user of object literal; properties are not followed',
    ],
  );
  // The look-alike fixture (no generated client in sight) is not reported: prisma-lookalike/output.js.
  const lookalike = join(__dirname, 'fixtures', 'prisma-lookalike', 'input.ts');
  const l = instrumentCode(readFileSync(lookalike, 'utf8'), lookalike, 'integrations/prisma/fixtures/prisma-lookalike/input.ts', resolveOptions({}));
  assert.equal(l, null);
});

// Prisma 7 with the PostgreSQL driver adapter (@prisma/adapter-pg) against the PostgreSQL on
// 127.0.0.1:5432, under the real agent: the fixture app (fixtures/app: its own package.json + lock,
// installed here with npm ci) generates its client with `prisma generate` (no schema engine needed:
// PRISMA_SCHEMA_ENGINE_BINARY=/bin/false; the machine cannot download one), the tables are created
// with plain SQL in a schema of this test's own, and a source using the generated client is built with
// tsc + the transformer. Asserted: the sites (model operations only, none in the look-alikes), each
// span field by field (`User.create`, `Post.findMany`, … `db`/`postgresql`/`query`, no statement,
// destination), a `$transaction([...])` batch, an unawaited query that never runs (no span), a unique
// violation (failure + error), and that Babel, which cannot know the generated client, leaves it alone.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { build, cleanBuilds, dbFacts, reachable, startHarness, type Harness } from '../_harness.js';

const app = join(__dirname, 'fixtures', 'app');
const nodePath = join(app, 'node_modules');
const schema = `sf_prisma_test_${process.pid}`;
const url = 'postgresql://postgres@127.0.0.1:5432/test';

/** npm ci of the fixture app (when missing), then prisma generate (when the schema is newer than the client). */
function prepare(): void {
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

const source = `import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../fixtures/app/generated/client';

const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: ${JSON.stringify(url)} }, { schema: ${JSON.stringify(schema)} }) });

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
const store = { user: new LookAlike() as UserDelegate };
export function lookAlike(): Promise<string[]> {
  return store.user.findMany();
}

export async function cleanup(): Promise<void> {
  await prisma.$executeRawUnsafe('DROP SCHEMA IF EXISTS ${schema} CASCADE');
  await prisma.$disconnect();
}
`;

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

test('prisma 7 + adapter-pg (tsc): model operations, $transaction batch, lazy queries, failure: exact spans', { timeout: 600_000 }, async (t) => {
  if (skip) return t.skip(skip);
  prepare();
  const version = JSON.parse(readFileSync(join(nodePath, '@prisma', 'client', 'package.json'), 'utf8')).version;
  assert.match(version, /^7\./);
  const { mod, sites } = build('tsc', __dirname, 'prisma-tsc', source, nodePath);
  // create create findMany count | findUnique update ($transaction is not a model operation) | the
  // unawaited findMany | duplicate's create. Not $executeRawUnsafe, not the look-alike's findMany.
  assert.deepEqual(sites, ['13:33', '14:21', '15:35', '16:31', '18:17', '19:17', '21:15', '26:22'].map((s) => `prisma.operation ${s}`));
  await mod.setup();
  try {
    const r = await h.run('prisma scenario', async () => {
      assert.deepEqual(await mod.scenario(), [[{ title: 'secret-title' }], 1, { name: 'secret-name' }, { name: 'Ada' }]);
      assert.deepEqual(await mod.lookAlike(), ['x']);
    });
    assert.deepEqual(
      r.spans.map(dbFacts),
      ['User.create', 'Post.create', 'Post.findMany', 'User.count', 'User.findUnique', 'User.update'].map((n) => prismaSpan(n)),
    );
    for (const s of r.spans) assert.equal(s.parent_id, r.tx.id, `${s.name} is a child of the transaction`);
    assert.doesNotMatch(JSON.stringify(r.spans), /secret|ada@/, 'no argument or value is recorded');
    assert.equal(r.spans.some((s) => 'statement' in (s.context?.db ?? {})), false, 'no db.statement');
    assert.deepEqual(r.errors, []);

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
});

test('prisma (babel): the generated client is a relative import Babel cannot know: no site, nothing skipped', { timeout: 600_000 }, async (t) => {
  if (skip) return t.skip(skip);
  prepare();
  const { sites } = build('babel', __dirname, 'prisma-babel', source, nodePath);
  assert.deepEqual(sites, []);
});

// GraphQL: the fixture app (integrations/graphql/fixtures/app: graphql-js 16 on node:http, Apollo Server 5
// with startStandaloneServer, GraphQL Yoga 5 on node:http, one schema whose `user` resolver runs a real
// PostgreSQL query; its own package.json and lock file, installed here with npm ci) built with tspc + the
// transformer and with esbuild + the bundler step, run against a test intake: transactions named by
// operation type and name, the execute span, the pg span inside the transaction, incoming traceparent,
// GraphQL errors of the result reported (handled) with the resolver's frames in schema.ts, and resolver
// spans only with SPANFORGE_GRAPHQL_RESOLVER_SPANS=true.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assertValidEvent, startIntake } from '../../test/bundler/_intake.js';
import { ensureDist, pgClient, root, startApp } from '../../test/transformer/_apps.js';

type Ev = Record<string, any>;
const appDir = join(__dirname, 'fixtures', 'app');
const DUMP = process.env.SPANFORGE_GRAPHQL_DUMP === '1';
let pgReason: string | undefined;

before(async () => {
  if (!existsSync(join(appDir, 'node_modules', '@apollo', 'server', 'package.json'))) {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const r = spawnSync(npm, ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: appDir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`npm ci in ${appDir} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  const link = join(appDir, 'node_modules', 'spanforge');
  try {
    lstatSync(link);
  } catch {
    symlinkSync(join('..', '..', '..', '..', '..'), link);
  }
  ensureDist();
  const c = await pgClient();
  if (typeof c === 'string') pgReason = c;
  else await c.end();
});

after(() => {
  rmSync(join(appDir, 'out'), { recursive: true, force: true });
  rmSync(join(appDir, 'out-esbuild'), { recursive: true, force: true });
});

const ENTRIES = ['graphql-http', 'apollo', 'yoga'] as const;
type Entry = (typeof ENTRIES)[number];

function buildTsc(): string {
  rmSync(join(appDir, 'out'), { recursive: true, force: true });
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'ts-patch', 'bin', 'tspc.js'), '-p', join(appDir, 'tsconfig.json')], { cwd: appDir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tspc failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return join(appDir, 'out');
}

async function buildEsbuild(): Promise<string> {
  const esbuild = await import('esbuild');
  const { esbuildPlugin } = await import('../../bundler/index.js');
  const outDir = join(appDir, 'out-esbuild');
  rmSync(outDir, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: ENTRIES.map((e) => join(appDir, 'src', `${e}.ts`)),
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
  return outDir;
}

function sitesOf(reportFile: string): string[] {
  const raw = JSON.parse(readFileSync(reportFile, 'utf8')) as Ev;
  const sites: Ev[] = Array.isArray(raw.sites) && raw.sites.length && 'file' in raw.sites[0] ? raw.sites : (raw.files as Ev[]).flatMap((f) => (f.sites as Ev[]).map((s) => ({ ...s, file: f.file })));
  return sites.map((s) => `${s.file}:${s.line} ${s.rule}`).sort();
}

const SITES = [
  'src/apollo.ts:13 graphql.apollo-standalone',
  'src/graphql-http.ts:15 http.server',
  'src/graphql-http.ts:21 graphql.execute',
  'src/graphql-http.ts:25 graphql.execute',
  'src/schema.ts:29 pg.query',
  'src/yoga.ts:10 graphql.resolvers',
  'src/yoga.ts:10 graphql.yoga',
  'src/yoga.ts:11 http.server',
];

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';

interface Run {
  answers: Ev[];
  txs: Ev[];
  spans: Ev[];
  errors: Ev[];
}

async function runApp(entry: string, path: string, resolverSpans: boolean): Promise<Run> {
  const intake = await startIntake();
  const app = await startApp(entry, {
    ELASTIC_APM_SERVER_URL: intake.url,
    ELASTIC_APM_LOG_LEVEL: 'warning',
    ELASTIC_APM_CENTRAL_CONFIG: 'false',
    SPANFORGE_GRAPHQL_RESOLVER_SPANS: String(resolverSpans),
    NODE_ENV: 'production',
  });
  const answers: Ev[] = [];
  try {
    const base = `http://127.0.0.1:${app.port}`;
    const gql = async (payload: Ev, headers: Record<string, string> = {}, p = path) => {
      const r = await fetch(base + p, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(payload) });
      answers.push((await r.json()) as Ev);
    };
    await gql({ query: 'query GetUser($id: ID!) { user(id: $id) { id name } }', variables: { id: '7' } }, { traceparent: `00-${TRACE}-${PARENT}-01` });
    await gql({ query: '{ hello }' });
    await gql({ query: 'query A { hello } mutation Rename { rename(name: "x") }', operationName: 'Rename' });
    await gql({ query: 'query Missing { user(id: "0") { id } }' }, {}, path === '/graphql' && entry.endsWith('graphql-http.js') ? '/graphql-simple' : path);
    await app.stop();
    assert.equal(app.child.exitCode, 0, app.output());
  } finally {
    await app.stop();
    await intake.close();
  }
  for (const e of intake.events) assertValidEvent(e);
  const r: Run = {
    answers,
    txs: intake.events.filter((e) => 'transaction' in e).map((e) => e.transaction as Ev),
    spans: intake.events.filter((e) => 'span' in e).map((e) => e.span as Ev),
    errors: intake.events.filter((e) => 'error' in e).map((e) => e.error as Ev),
  };
  if (DUMP) console.log(JSON.stringify({ entry, answers, txs: r.txs.map((t) => [t.name, t.type, t.result, t.outcome, t.id, t.parent_id]), spans: r.spans.map((s) => [s.name, s.type, s.subtype, s.action, s.outcome, s.id, s.parent_id, s.transaction_id]), errors: r.errors.map((e) => [e.exception.message, e.exception.handled, e.parent_id, e.transaction_id, (e.exception.stacktrace as Ev[]).find((f) => !f.library_frame)]) }, null, 1));
  return r;
}

const PATHS: Record<Entry, string> = { 'graphql-http': '/graphql', apollo: '/', yoga: '/graphql' };

/** The exact events of the four requests, the same for every server but where Apollo differs (see docs/frameworks.md#graphql). */
function assertRun(entry: Entry, r: Run, resolverSpans: boolean): void {
  const apollo = entry === 'apollo';
  const ext = apollo ? { extensions: { code: 'INTERNAL_SERVER_ERROR' } } : {};
  // Yoga masks unexpected errors (maskedErrors, on by default); the reported error is still the resolver's.
  const masked = entry === 'yoga' ? { message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } } : {};
  assert.deepEqual(r.answers, [
    { data: { user: { id: '7', name: 'ada' } } },
    { data: { hello: 'world' } },
    { errors: [{ message: 'renames are closed', locations: [{ line: 1, column: 37 }], path: ['rename'], ...ext, ...masked }], data: { rename: null } },
    { errors: [{ message: 'no user 0', locations: [{ line: 1, column: 17 }], path: ['user'], ...ext }], data: { user: null } },
  ]);
  assert.deepEqual(r.txs.map((x) => [x.name, x.type, x.result, x.outcome]), [
    ['query GetUser', 'request', 'HTTP 2xx', 'success'],
    ['query hello', 'request', 'HTTP 2xx', 'success'],
    ['mutation Rename', 'request', 'HTTP 2xx', 'success'],
    ['query Missing', 'request', 'HTTP 2xx', 'success'],
  ]);
  const [user, hello, rename, missing] = r.txs as [Ev, Ev, Ev, Ev];
  assert.deepEqual([user.trace_id, user.parent_id], [TRACE, PARENT]);
  const byTx = (tx: Ev) => r.spans.filter((s) => s.transaction_id === tx.id);
  const execOf = (tx: Ev) => byTx(tx).find((s) => s.subtype === 'graphql' && s.action === 'execute')!;
  const exec = execOf(user);
  assert.deepEqual([exec.name, exec.type, exec.subtype, exec.action, exec.parent_id, exec.outcome, exec.trace_id], ['GraphQL: query GetUser', 'db', 'graphql', 'execute', user.id, 'success', TRACE]);
  const db = byTx(user).find((s) => s.subtype === 'postgresql')!;
  assert.deepEqual([db.name, db.type, db.action, db.outcome, db.context?.db?.statement], ['SELECT', 'db', 'query', 'success', 'SELECT $1::int AS id, $2::text AS name']);
  const resolve = (tx: Ev) => byTx(tx).filter((s) => s.action === 'resolve').map((s) => [s.name, s.type, s.subtype, s.outcome, s.parent_id]).sort();
  if (!resolverSpans) {
    // graphql-js and Yoga run the execution with the execute span current; Apollo's plugin API has no such hook.
    assert.equal(db.parent_id, apollo ? user.id : exec.id);
    for (const tx of r.txs) assert.deepEqual(resolve(tx), []);
  } else if (apollo) {
    // willResolveField: every field, the default resolvers of User.id/User.name included; all children of the execute span.
    assert.deepEqual(resolve(user), [['Query.user', 'app', 'graphql', 'success', exec.id], ['User.id', 'app', 'graphql', 'success', exec.id], ['User.name', 'app', 'graphql', 'success', exec.id]]);
    assert.equal(db.parent_id, user.id);
    assert.deepEqual(resolve(rename), [['Mutation.rename', 'app', 'graphql', 'failure', execOf(rename).id]]);
  } else {
    // createSchema's resolver functions only, each the current span while it runs: the pg span is the resolver's child.
    const q = byTx(user).find((s) => s.name === 'Query.user')!;
    assert.deepEqual(resolve(user), [['Query.user', 'app', 'graphql', 'success', exec.id]]);
    assert.equal(db.parent_id, q.id);
    assert.deepEqual(resolve(rename), [['Mutation.rename', 'app', 'graphql', 'failure', execOf(rename).id]]);
  }
  assert.deepEqual([hello, rename, missing].map((t) => [execOf(t).name, execOf(t).parent_id, execOf(t).outcome]), [
    ['GraphQL: query hello', hello.id, 'success'],
    ['GraphQL: mutation Rename', rename.id, 'failure'],
    ['GraphQL: query Missing', missing.id, 'failure'],
  ]);
  const frame = (e: Ev) => (e.exception.stacktrace as Ev[]).find((f) => !f.library_frame)!;
  const parentOf = (tx: Ev, name: string) => (resolverSpans && entry === 'yoga' ? byTx(tx).find((s) => s.name === name)?.id : undefined) ?? execOf(tx).id;
  assert.deepEqual(
    r.errors.map((e) => [e.exception.message, e.exception.handled, e.transaction_id, e.parent_id, frame(e).abs_path, frame(e).lineno]),
    [
      ['renames are closed', true, rename.id, parentOf(rename, 'Mutation.rename'), join(appDir, 'src', 'schema.ts'), 35],
      ['no user 0', true, missing.id, parentOf(missing, 'Query.user'), join(appDir, 'src', 'schema.ts'), 28],
    ],
  );
}

for (const [name, build] of [['tspc', async () => buildTsc()], ['esbuild', buildEsbuild]] as const) {
  let outDir: string | undefined;
  for (const entry of ENTRIES) {
    test(`${entry} built with ${name}: transactions named by operation, execute span, pg span inside, GraphQL errors reported`, { timeout: 240_000 }, async (t) => {
      if (pgReason) return t.skip(pgReason);
      outDir ??= await build();
      if (entry === 'graphql-http') assert.deepEqual(sitesOf(join(outDir, 'spanforge-report.json')), SITES);
      assertRun(entry, await runApp(join(outDir, `${entry}.js`), PATHS[entry], false), false);
    });
  }
  for (const entry of ['apollo', 'yoga'] as const) {
    test(`${entry} built with ${name}, graphqlResolverSpans on: resolver spans`, { timeout: 240_000 }, async (t) => {
      if (pgReason) return t.skip(pgReason);
      outDir ??= await build();
      assertRun(entry, await runApp(join(outDir, `${entry}.js`), PATHS[entry], true), true);
    });
  }
}

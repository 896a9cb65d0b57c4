// The Express fixture app (fixtures/apps/express) built with tspc + spanforge/transformer and run for
// real against PostgreSQL and a second instrumented service; asserts the exact events received.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import { assertValidEvent, startIntake, type Intake } from '../bundler/_intake.js';
import { buildApp, pgClient, root, startApp, type AppProcess } from './_apps.js';

const appDir = join(root, 'fixtures', 'apps', 'express');
const table = 'sf_tx_express_users';
let db: Client | string;
let summary = '';

before(async () => {
  db = await pgClient();
  if (typeof db === 'string') return;
  await db.query(`DROP TABLE IF EXISTS ${table}`);
  await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL)`);
  await db.query(`INSERT INTO ${table} VALUES (1, 'ada'), (2, 'grace')`);
  summary = buildApp(appDir);
});

after(async () => {
  if (typeof db !== 'string') {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.end();
  }
});

type Ev = Record<string, any>;

test('tspc build: summary line and report list the instrumented sites', (t) => {
  if (typeof db === 'string') return t.skip(db);
  assert.match(summary, /^spanforge: instrumented 9 sites in 2 of 2 files \(.*pg\.query 2.*\); report: out\/spanforge-report\.json\n$/m);
  const report = JSON.parse(readFileSync(join(appDir, 'out', 'spanforge-report.json'), 'utf8')) as { sites: Ev[] };
  assert.deepEqual(
    report.sites.map((s) => `${s.rule} ${s.file}:${s.line} ${s.name}`),
    [
      'traced.fn src/app.ts:13 shape',
      'express.route src/app.ts:15 /users/:id',
      'pg.query src/app.ts:16 null',
      'fetch src/app.ts:17 null',
      'express.route-chain src/app.ts:23 /names',
      'pg.query src/app.ts:24 null',
      'express.route src/app.ts:30 /boom',
      'express.error-middleware src/app.ts:34 null',
      'http.server src/downstream.ts:8 null',
    ],
  );
});

test('requests through the Express app and the downstream service give the exact events', async (t) => {
  if (typeof db === 'string') return t.skip(db);
  const intake: Intake = await startIntake();
  let down: AppProcess | undefined;
  let app: AppProcess | undefined;
  try {
    const env = { ELASTIC_APM_SERVER_URL: intake.url, ELASTIC_APM_LOG_LEVEL: 'warning', ELASTIC_APM_CENTRAL_CONFIG: 'false' };
    down = await startApp(join(appDir, 'out', 'downstream.js'), { ...env, SF_SERVICE: 'audit-service' });
    app = await startApp(join(appDir, 'out', 'app.js'), { ...env, SF_SERVICE: 'express-app', SF_TABLE: table, DOWNSTREAM_URL: `http://127.0.0.1:${down.port}` });
    const base = `http://127.0.0.1:${app.port}`;

    const r1 = await fetch(`${base}/users/2`, { headers: { 'user-agent': 'sf-test' } });
    assert.equal(r1.status, 200);
    const body1 = (await r1.json()) as Ev;
    assert.deepEqual(body1.user, { id: 2, name: 'GRACE' });
    assert.equal(body1.audit.audited, '/audit/2');
    assert.equal(body1.audit.caller, 'express-app', "the user's own header survives");
    assert.match(body1.audit.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    const r2 = await fetch(`${base}/names`);
    assert.deepEqual(await r2.json(), ['ada', 'grace']);
    const r3 = await fetch(`${base}/boom`);
    assert.equal(r3.status, 500);
    assert.deepEqual(await r3.json(), { error: 'boom from express' });

    await app.stop();
    await down.stop();
    const events = intake.events.filter((e) => !('metadata' in e) && !('metricset' in e));
    for (const e of intake.events) assertValidEvent(e);
    const txs = events.filter((e) => 'transaction' in e).map((e) => e.transaction as Ev);
    const spans = events.filter((e) => 'span' in e).map((e) => e.span as Ev);
    const errors = events.filter((e) => 'error' in e).map((e) => e.error as Ev);

    assert.deepEqual(
      txs.map((x) => [x.name, x.type, x.result, x.outcome]).sort(),
      [
        ['GET /boom', 'request', 'HTTP 5xx', 'failure'],
        ['GET /names', 'request', 'HTTP 2xx', 'success'],
        ['GET /users/:id', 'request', 'HTTP 2xx', 'success'],
        ['GET unknown route', 'request', 'HTTP 2xx', 'success'],
      ],
    );
    const users = txs.find((x) => x.name === 'GET /users/:id')!;
    const audit = txs.find((x) => x.name === 'GET unknown route')!;
    const names = txs.find((x) => x.name === 'GET /names')!;
    const boom = txs.find((x) => x.name === 'GET /boom')!;
    assert.equal(users.context.request.url.pathname, '/users/2');
    assert.equal(users.context.response.status_code, 200);

    const userSpans = spans.filter((s) => s.transaction_id === users.id);
    assert.deepEqual(userSpans.map((s) => [s.name, s.type, s.subtype, s.action, s.parent_id === users.id]).sort(), [
      ['GET 127.0.0.1:' + down.port, 'external', 'http', 'request', true],
      ['SELECT sf_tx_express_users', 'db', 'postgresql', 'query', true],
      ['shape', 'app', undefined, undefined, true],
    ].sort());
    const q = userSpans.find((s) => s.type === 'db')!;
    assert.deepEqual(q.context.db, { type: 'sql', instance: 'test', statement: `SELECT id, name FROM ${table} WHERE id = $1`, user: process.env.PGUSER ?? 'postgres', rows_affected: 1 });
    assert.equal(q.outcome, 'success');
    assert.deepEqual(q.stacktrace, [{ filename: 'src/app.ts', lineno: 16, colno: 31, function: '<anonymous>', library_frame: false }]);
    const call = userSpans.find((s) => s.type === 'external')!;
    assert.equal(call.context.http.url, `http://127.0.0.1:${down.port}/audit/2`);
    assert.equal(call.context.http.response.status_code, 200);
    assert.equal(call.context.http.method, 'GET');
    assert.equal(call.context.service.target.type, 'http');
    assert.equal(call.outcome, 'success');

    // one trace across both services: the downstream transaction is the child of the fetch span
    assert.equal(audit.trace_id, users.trace_id);
    assert.equal(audit.parent_id, call.id);
    assert.equal(body1.audit.traceparent, `00-${users.trace_id}-${call.id}-01`);

    // callback form: the span ends when pg calls back
    const nameSpans = spans.filter((s) => s.transaction_id === names.id);
    assert.deepEqual(nameSpans.map((s) => [s.name, s.context.db.statement, s.outcome]), [['SELECT sf_tx_express_users', `SELECT name FROM ${table} ORDER BY id`, 'success']]);

    // the error: reported once, linked to its transaction, and the app still answered 500
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.exception.message, 'boom from express');
    assert.equal(errors[0]!.transaction_id, boom.id);
    assert.equal(errors[0]!.trace_id, boom.trace_id);
  } finally {
    await app?.stop();
    await down?.stop();
    await intake.close();
  }
});

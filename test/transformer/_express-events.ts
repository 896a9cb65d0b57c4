// Shared by the Express 5 and Express 4 tests and the front-end run-time parity test: drives a built copy of
// fixtures/apps/express (app.js + downstream.js) against PostgreSQL and a test intake, asserts the
// exact events of the Express fixture app, and reduces them
// to a comparable shape.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Client } from 'pg';
import { assertValidEvent, startIntake, type Intake } from '../bundler/_intake.js';
import { startApp, type AppProcess } from './_apps.js';

export type Ev = Record<string, any>;

/** What one run of the scenario produced. */
export interface Run {
  downPort: number;
  txs: Ev[];
  spans: Ev[];
  errors: Ev[];
}

/** The instrumented sites of the app's build report (`rule file:line name`), whichever compiler built it. */
export const EXPRESS_SITES = [
  'traced.fn src/app.ts:13 shape',
  'express.route src/app.ts:15 /users/:id',
  'pg.query src/app.ts:16 null',
  'fetch src/app.ts:17 null',
  'express.route-chain src/app.ts:23 /names',
  'pg.query src/app.ts:24 null',
  'express.route src/app.ts:30 /boom',
  'express.error-middleware src/app.ts:34 null',
  'http.server src/downstream.ts:8 null',
];

/** The table the app reads, with the two rows the assertions expect. */
export async function prepareTable(db: Client, table: string): Promise<void> {
  await db.query(`DROP TABLE IF EXISTS ${table}`);
  await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL)`);
  await db.query(`INSERT INTO ${table} VALUES (1, 'ada'), (2, 'grace')`);
}

/** `<dir>/node_modules/<name>` → target (a symlink, as an install would provide the package). */
export function linkPackage(dir: string, name: string, target: string): void {
  const link = join(dir, 'node_modules', name);
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(target, link, 'dir');
}

/**
 * Starts `downstream.js` and `app.js` from `outDir` (node --enable-source-maps), sends GET /users/2, /names and /boom, checks the
 * answers, stops both (flushing their agents) and returns the events the intake received.
 */
export async function runScenario(outDir: string, table: string): Promise<Run> {
  const intake: Intake = await startIntake();
  let down: AppProcess | undefined;
  let app: AppProcess | undefined;
  try {
    const env = { ELASTIC_APM_SERVER_URL: intake.url, ELASTIC_APM_LOG_LEVEL: 'warning', ELASTIC_APM_CENTRAL_CONFIG: 'false' };
    down = await startApp(join(outDir, 'downstream.js'), { ...env, SF_SERVICE: 'audit-service' });
    app = await startApp(join(outDir, 'app.js'), { ...env, SF_SERVICE: 'express-app', SF_TABLE: table, DOWNSTREAM_URL: `http://127.0.0.1:${down.port}` });
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
    assert.equal(app.child.exitCode, 0, `app exit code; output: ${app.output()}`);
    assert.equal(down.child.exitCode, 0, `downstream exit code; output: ${down.output()}`);
    const events = intake.events.filter((e) => !('metadata' in e) && !('metricset' in e));
    for (const e of intake.events) assertValidEvent(e);
    const run: Run = {
      downPort: down.port,
      txs: events.filter((e) => 'transaction' in e).map((e) => e.transaction as Ev),
      spans: events.filter((e) => 'span' in e).map((e) => e.span as Ev),
      errors: events.filter((e) => 'error' in e).map((e) => e.error as Ev),
    };
    // The traceparent the downstream service saw is the fetch span's.
    const users = run.txs.find((x) => x.name === 'GET /users/:id');
    const call = run.spans.find((s) => s.type === 'external');
    if (users && call) assert.equal(body1.audit.traceparent, `00-${users.trace_id}-${call.id}-01`);
    return run;
  } finally {
    await app?.stop();
    await down?.stop();
    await intake.close();
  }
}

/** The exact events of the Express fixture app, on any build of it (tsc, Babel, esbuild; Express 4 or 5). */
export function assertExpressEvents(run: Run, table: string): void {
  const { txs, spans, errors, downPort } = run;
  assert.deepEqual(
    txs.map((x) => [x.name, x.type, x.result, x.outcome]).sort(),
    [
      ['GET /boom', 'request', 'HTTP 5xx', 'failure'],
      ['GET /names', 'request', 'HTTP 2xx', 'success'],
      ['GET /users/:id', 'request', 'HTTP 2xx', 'success'],
      ['GET unknown route', 'request', 'HTTP 2xx', 'success'],
    ],
    'one transaction per request',
  );
  const users = txs.find((x) => x.name === 'GET /users/:id')!;
  const audit = txs.find((x) => x.name === 'GET unknown route')!;
  const names = txs.find((x) => x.name === 'GET /names')!;
  const boom = txs.find((x) => x.name === 'GET /boom')!;
  assert.equal(users.context.request.url.pathname, '/users/2');
  assert.equal(users.context.response.status_code, 200);
  assert.equal(boom.context.response.status_code, 500);

  const userSpans = spans.filter((s) => s.transaction_id === users.id);
  assert.deepEqual(
    userSpans.map((s) => [s.name, s.type, s.subtype, s.action, s.parent_id === users.id]).sort(),
    [
      ['GET 127.0.0.1:' + downPort, 'external', 'http', 'request', true],
      [`SELECT ${table}`, 'db', 'postgresql', 'query', true],
      ['shape', 'app', undefined, undefined, true],
    ].sort(),
  );
  const q = userSpans.find((s) => s.type === 'db')!;
  assert.deepEqual(q.context.db, { type: 'sql', instance: 'test', statement: `SELECT id, name FROM ${table} WHERE id = $1`, user: process.env.PGUSER ?? 'postgres', rows_affected: 1 });
  assert.equal(q.outcome, 'success');
  assert.deepEqual(q.stacktrace, [{ filename: 'src/app.ts', lineno: 16, colno: 31, function: '<anonymous>', library_frame: false }]);
  const call = userSpans.find((s) => s.type === 'external')!;
  assert.equal(call.context.http.url, `http://127.0.0.1:${downPort}/audit/2`);
  assert.equal(call.context.http.response.status_code, 200);
  assert.equal(call.context.http.method, 'GET');
  assert.equal(call.context.service.target.type, 'http');
  assert.equal(call.outcome, 'success');

  // one trace across both services: the downstream transaction is the child of the fetch span
  assert.equal(audit.trace_id, users.trace_id);
  assert.equal(audit.parent_id, call.id);

  // callback form: the span ends when pg calls back
  const nameSpans = spans.filter((s) => s.transaction_id === names.id);
  assert.deepEqual(nameSpans.map((s) => [s.name, s.context.db.statement, s.outcome]), [[`SELECT ${table}`, `SELECT name FROM ${table} ORDER BY id`, 'success']]);
  assert.equal(spans.length, 4, 'no other spans');

  // the error: reported once, linked to its transaction, and the app still answered 500
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.equal(errors[0]!.exception.message, 'boom from express');
  assert.equal(errors[0]!.transaction_id, boom.id);
  assert.equal(errors[0]!.trace_id, boom.trace_id);
  // its stack mapped back to the throw in the .ts source (line 31 of src/app.ts)
  const top = (errors[0]!.exception.stacktrace as Ev[])[0]!;
  assert.match(top.filename, /(^|\/)src\/app\.ts$/, JSON.stringify(top));
  assert.equal(top.lineno, 31, JSON.stringify(top));
}

/**
 * The run reduced to what must not depend on the build: ids become names (parent/child structure),
 * ports and durations are left out. Sorted, so two runs compare with deepEqual.
 */
export function shapeOf(run: Run): Ev {
  const port = String(run.downPort);
  const clean = (v: unknown) => (typeof v === 'string' ? v.split(port).join('<port>') : v);
  const byId = new Map<string, string>();
  for (const x of run.txs) byId.set(x.id, `tx ${x.name}`);
  for (const s of run.spans) byId.set(s.id, `span ${clean(s.name)}`);
  const frame = (f: Ev | undefined) => (f ? { filename: f.filename, lineno: f.lineno, colno: f.colno, function: f.function, library_frame: f.library_frame } : undefined);
  return {
    transactions: run.txs
      .map((x) => ({
        name: x.name,
        type: x.type,
        result: x.result,
        outcome: x.outcome,
        parent: x.parent_id ? byId.get(x.parent_id) ?? 'other' : null,
        status: x.context?.response?.status_code,
        path: x.context?.request?.url?.pathname,
        span_count: x.span_count,
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    spans: run.spans
      .map((s) => ({
        name: clean(s.name),
        type: s.type,
        subtype: s.subtype,
        action: s.action,
        parent: byId.get(s.parent_id) ?? 'other',
        transaction: byId.get(s.transaction_id) ?? 'other',
        outcome: s.outcome,
        statement: s.context?.db?.statement,
        rows: s.context?.db?.rows_affected,
        url: clean(s.context?.http?.url),
        status: s.context?.http?.response?.status_code,
        destination: clean(s.context?.destination?.service?.resource ?? s.context?.service?.target?.name),
        stacktrace: (s.stacktrace as Ev[] | undefined)?.map(frame),
      }))
      .sort((a, b) => `${a.transaction} ${a.name}`.localeCompare(`${b.transaction} ${b.name}`)),
    errors: run.errors.map((e) => ({
      message: e.exception?.message,
      type: e.exception?.type,
      handled: e.exception?.handled,
      transaction: byId.get(e.transaction_id) ?? 'other',
      parent: byId.get(e.parent_id) ?? 'other',
      culprit: e.culprit,
      top: frame((e.exception?.stacktrace as Ev[] | undefined)?.[0]),
    })),
  };
}

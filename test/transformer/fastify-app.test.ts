// The Fastify fixture app (fixtures/apps/fastify) built with tspc + spanforge/transformer and run for real
// against PostgreSQL and a second instrumented service (undici request, http.get); exact events asserted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Client } from 'pg';
import { assertValidEvent, startIntake } from '../bundler/_intake.js';
import { buildApp, pgClient, root, startApp, type AppProcess } from './_apps.js';

const appDir = join(root, 'fixtures', 'apps', 'fastify');
const table = 'sf_tx_fastify_items';
let db: Client | string;
let summary = '';
type Ev = Record<string, any>;

before(async () => {
  db = await pgClient();
  if (typeof db === 'string') return;
  await db.query(`DROP TABLE IF EXISTS ${table}`);
  await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, label text NOT NULL)`);
  await db.query(`INSERT INTO ${table} VALUES (1, 'bolt')`);
  summary = buildApp(appDir);
});

after(async () => {
  if (typeof db !== 'string') {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.end();
  }
});

test('Fastify routes, pg, undici and http.get give one trace per request across both services', async (t) => {
  if (typeof db === 'string') return t.skip(db);
  assert.match(summary, /spanforge: instrumented 9 sites in 2 of 2 files/);
  const intake = await startIntake();
  let down: AppProcess | undefined;
  let app: AppProcess | undefined;
  try {
    const env = { ELASTIC_APM_SERVER_URL: intake.url, ELASTIC_APM_LOG_LEVEL: 'warning' };
    down = await startApp(join(appDir, 'out', 'downstream.js'), { ...env, SF_SERVICE: 'stock-service' });
    app = await startApp(join(appDir, 'out', 'app.js'), { ...env, SF_SERVICE: 'fastify-app', SF_TABLE: table, DOWNSTREAM_URL: `http://127.0.0.1:${down.port}` });
    const base = `http://127.0.0.1:${app.port}`;

    const r1 = await fetch(`${base}/items/1`);
    const b1 = (await r1.json()) as Ev;
    assert.deepEqual(b1.item, { id: 1, label: 'bolt' });
    assert.equal(b1.stock.caller, 'fastify-app');
    const r2 = await fetch(`${base}/items`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ label: 'nut' }) });
    assert.equal(r2.status, 201);
    const r3 = await fetch(`${base}/ping`);
    assert.deepEqual(await r3.json(), { downstream: 200 });
    const r4 = await fetch(`${base}/fail`);
    assert.equal(r4.status, 500);
    assert.equal(((await r4.json()) as Ev).message, 'fastify handler failed');

    await app.stop();
    await down.stop();
    for (const e of intake.events) assertValidEvent(e);
    const txs = intake.events.filter((e) => 'transaction' in e).map((e) => e.transaction as Ev);
    const spans = intake.events.filter((e) => 'span' in e).map((e) => e.span as Ev);
    const errors = intake.events.filter((e) => 'error' in e).map((e) => e.error as Ev);

    assert.deepEqual(txs.map((x) => [x.name, x.result, x.outcome]).sort(), [
      ['GET /fail', 'HTTP 5xx', 'failure'],
      ['GET /items/:id', 'HTTP 2xx', 'success'],
      ['GET /ping', 'HTTP 2xx', 'success'],
      ['GET unknown route', 'HTTP 2xx', 'success'],
      ['GET unknown route', 'HTTP 2xx', 'success'],
      ['POST /items', 'HTTP 2xx', 'success'],
    ]);
    const item = txs.find((x) => x.name === 'GET /items/:id')!;
    const ping = txs.find((x) => x.name === 'GET /ping')!;
    const post = txs.find((x) => x.name === 'POST /items')!;
    const itemSpans = spans.filter((s) => s.transaction_id === item.id);
    assert.deepEqual(itemSpans.map((s) => [s.name, s.type, s.subtype, s.parent_id === item.id]).sort(), [
      [`GET 127.0.0.1:${down.port}`, 'external', 'http', true],
      [`SELECT ${table}`, 'db', 'postgresql', true],
    ]);
    const q = itemSpans.find((s) => s.type === 'db')!;
    assert.equal(q.context.db.statement, `SELECT id, label FROM ${table} WHERE id = $1`);
    const call = itemSpans.find((s) => s.type === 'external')!;
    assert.equal(call.context.http.response.status_code, 200);
    assert.equal(b1.stock.traceparent, `00-${item.trace_id}-${call.id}-01`);
    const downTxs = txs.filter((x) => x.name === 'GET unknown route');
    assert.deepEqual(downTxs.map((x) => x.trace_id).sort(), [item.trace_id, ping.trace_id].sort());
    assert.equal(downTxs.find((x) => x.trace_id === item.trace_id)!.parent_id, call.id);

    assert.deepEqual(spans.filter((s) => s.transaction_id === post.id).map((s) => s.name), [`INSERT ${table}`]);
    const pingSpans = spans.filter((s) => s.transaction_id === ping.id);
    assert.deepEqual(pingSpans.map((s) => [s.name, s.context.http.response.status_code]), [[`GET 127.0.0.1:${down.port}`, 200]]);
    assert.equal(downTxs.find((x) => x.trace_id === ping.trace_id)!.parent_id, pingSpans[0]!.id);

    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.exception.message, 'fastify handler failed');
    assert.equal(errors[0]!.transaction_id, txs.find((x) => x.name === 'GET /fail')!.id);
  } finally {
    await app?.stop();
    await down?.stop();
    await intake.close();
  }
});

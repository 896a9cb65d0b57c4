// The Express fixture app (fixtures/apps/express) built with tspc + spanforge/transformer and run for
// real against PostgreSQL and a second instrumented service; asserts the exact events received.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'pg';
import { buildApp, pgClient, root } from './_apps.js';
import { EXPRESS_SITES, assertExpressEvents, prepareTable, runScenario, type Ev } from './_express-events.js';

const appDir = join(root, 'fixtures', 'apps', 'express');
const table = 'sf_tx_express_users';
let db: Client | string;
let summary = '';

before(async () => {
  db = await pgClient();
  if (typeof db === 'string') return;
  await prepareTable(db, table);
  summary = buildApp(appDir);
});

after(async () => {
  if (typeof db !== 'string') {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.end();
  }
});


test('tspc build: summary line and report list the instrumented sites', (t) => {
  if (typeof db === 'string') return t.skip(db);
  assert.match(summary, /^spanforge: instrumented 9 sites in 2 of 2 files \(.*pg\.query 2.*\); report: out\/spanforge-report\.json\n$/m);
  const report = JSON.parse(readFileSync(join(appDir, 'out', 'spanforge-report.json'), 'utf8')) as { sites: Ev[] };
  assert.deepEqual(
    report.sites.map((s) => `${s.rule} ${s.file}:${s.line} ${s.name}`),
    EXPRESS_SITES,
  );
});

test('requests through the Express app and the downstream service give the exact events', async (t) => {
  if (typeof db === 'string') return t.skip(db);
  // The scenario and its assertions are shared with the Express 4 and front-end parity tests
  // (_express-events.ts): names, parent/child ids, statements, statuses, outcomes, one trace across both
  // services, the pg callback span, exactly one error mapped to src/app.ts:31.
  assertExpressEvents(await runScenario(join(appDir, 'out'), table), table);
});

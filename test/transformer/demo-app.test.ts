// examples/demo-app/run.mjs against a test intake server: one round of traffic gives the expected
// transactions, spans and errors from both services, all valid against the intake-v2 schemas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { assertValidEvent, startIntake } from '../bundler/_intake.js';
import { ensureDist, pgClient, root } from './_apps.js';

type Ev = Record<string, any>;

test('demo-app: one round of traffic, exact transaction names, one trace per request', async (t) => {
  const db = await pgClient();
  if (typeof db === 'string') return t.skip(db);
  await db.end();
  ensureDist();
  const intake = await startIntake();
  try {
    const table = 'sf_tx_demo_products';
    const child = spawn(process.execPath, [join(root, 'examples', 'demo-app', 'run.mjs'), '--intake', intake.url, '--rounds', '1'], {
      env: { ...process.env, DEMO_TABLE: table, ELASTIC_APM_LOG_LEVEL: 'warning' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, out);
    assert.match(out, /round 1: GET \/products 200, GET \/products\/1 200, GET \/products\/2 200, GET \/products\/99 404, POST \/checkout\/2 201, POST \/checkout\/3 500/);
    for (const e of intake.events) assertValidEvent(e);
    const txs = intake.events.filter((e) => 'transaction' in e).map((e) => e.transaction as Ev);
    assert.deepEqual(txs.map((x) => `${x.name} ${x.result}`).sort(), [
      'GET /products 2xx',
      'GET /products/:id 2xx',
      'GET /products/:id 2xx',
      'GET /products/:id 4xx',
      'GET /stock/:id 2xx',
      'GET /stock/:id 2xx',
      'POST /checkout/:id 2xx',
      'POST /checkout/:id 5xx',
      'POST /reserve/:id 2xx',
      'POST /reserve/:id 4xx',
    ].map((s) => s.replace(/ (\dxx)$/, ' HTTP $1')));
    const errors = intake.events.filter((e) => 'error' in e).map((e) => e.error as Ev);
    assert.deepEqual(errors.map((e) => e.exception.message).sort(), ['inventory refused to reserve product 3', 'product 99 does not exist']);
    // every inventory transaction (Fastify, route-named) continues a shop trace through the fetch span
    const spans = intake.events.filter((e) => 'span' in e).map((e) => e.span as Ev);
    const inventory = txs.filter((x) => x.name.startsWith('GET /stock/') || x.name.startsWith('POST /reserve/'));
    assert.equal(inventory.length, 4);
    // metrics are on in the demo: both processes send their metricsets (at the latest with the SIGTERM flush)
    // (each intake request starts with its metadata line, and a request's lines are recorded together).
    const withRss = new Set<string>();
    let service = '';
    for (const e of intake.events) {
      if ('metadata' in e) service = (e.metadata as Ev).service.name;
      else if ('metricset' in e && (e.metricset as Ev).samples['system.process.memory.rss.bytes']) withRss.add(service);
    }
    assert.deepEqual([...withRss].sort(), ['demo-inventory', 'demo-shop']);
    for (const inv of inventory) {
      const parent = spans.find((s) => s.id === inv.parent_id);
      assert.ok(parent, 'parent span exists');
      assert.equal(parent.type, 'external');
      assert.equal(parent.trace_id, inv.trace_id);
    }
  } finally {
    await intake.close();
  }
});

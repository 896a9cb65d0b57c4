// The README's main job (`npm run demo` → scripts/demo.mjs): the local receiver starts, the demo app
// built with the transformer sends its traffic, and the store holds both services, their route-named
// transactions, the pg and fetch spans, one cross-service trace, the failed checkout's error and the
// metrics of both, in the demo's own data folder (~/.spanforge/demo, never ~/.spanforge/data).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startReceiver } from '../../receiver/index.js';

const ROOT = join(__dirname, '..', '..');

test('npm run demo: receiver + instrumented demo app, events stored and queryable', { timeout: 180_000 }, async () => {
  // A fresh HOME: the demo's default data folder is resolved under it, and SPANFORGE_DATA_DIR (the
  // folder `spanforge serve` would use for the user's own apps) must stay untouched.
  const home = mkdtempSync(join(tmpdir(), 'sf-readme-demo-'));
  const dataDir = join(home, '.spanforge', 'demo');
  const userData = join(home, 'user-data');
  try {
    const env = { ...process.env, HOME: home, SPANFORGE_DATA_DIR: userData, DEMO_EXIT: '1', DEMO_TABLE: 'spanforge_readme_demo' };
    delete env.ELASTIC_APM_SERVER_URL;
    delete env.ELASTIC_APM_METRICS_INTERVAL;
    delete env.NODE_OPTIONS; // the demo app is plain compiled JS, not run through tsx
    const child = spawn(process.execPath, [join(ROOT, 'scripts', 'demo.mjs'), '--port', '0', '--rounds', '2', '--interval', '0'], { env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 0, out);
    assert.match(out, /demo: web UI +→ http:\/\/127\.0\.0\.1:\d+\/ui\//);
    assert.ok(out.includes(`(data in ${dataDir})`), out);
    assert.ok(existsSync(join(dataDir, 'spanforge.db')), 'the demo stores in ~/.spanforge/demo');
    assert.equal(existsSync(userData), false, 'SPANFORGE_DATA_DIR is left to the user\'s own apps');
    assert.equal(existsSync(join(home, '.spanforge', 'data')), false, '~/.spanforge/data is left to the user\'s own apps');
    assert.match(out, /round 2: GET \/products 200, GET \/products\/1 200, GET \/products\/2 200, GET \/products\/99 404, POST \/checkout\/2 201, POST \/checkout\/3 500/);
    assert.match(out, /demo: receiver closed, events stored/);

    // What the UI would show, read back from the store the demo left behind (also proves it persisted).
    const r = await startReceiver({ port: 0, dataDir });
    try {
      const get = async (p: string) => (await fetch(r.url + p)).json() as Promise<any>;
      const services = (await get('/api/services')).map((s: any) => s.name).sort();
      assert.deepEqual(services, ['demo-inventory', 'demo-shop']);
      const groups = (await get('/api/services/demo-shop/transactions')).map((g: any) => `${g.name} ${g.count}`).sort();
      assert.deepEqual(groups, ['GET /products 2', 'GET /products/:id 6', 'POST /checkout/:id 4']);
      // The inventory service (Fastify, routes in a plugin) is route-named too: never `GET unknown route`.
      const inventory = (await get('/api/services/demo-inventory/transactions')).map((g: any) => `${g.name} ${g.count}`).sort();
      assert.deepEqual(inventory, ['GET /stock/:id 4', 'POST /reserve/:id 4']);
      // Metrics are on in both services (sent at the latest with the flush on SIGTERM).
      for (const service of ['demo-shop', 'demo-inventory']) {
        const m = await get(`/api/services/${service}/metrics`);
        for (const name of ['system.process.memory.rss.bytes', 'system.cpu.total.norm.pct', 'nodejs.eventloop.delay.avg.ms']) {
          assert.ok(m.names.includes(name), `${service} reports ${name}: ${JSON.stringify(m.names)}`);
        }
        assert.ok(m.series['system.process.memory.rss.bytes'].length > 0, `${service} has an RSS series`);
      }
      const errors = await get('/api/errors?service=demo-shop');
      const messages = JSON.stringify(errors);
      assert.match(messages, /inventory refused to reserve product 3/);
      // The error's frames are mapped back to the TypeScript source (tspc source maps).
      const group = await get(`/api/errors/${errors[0].groupKey}`);
      const text = JSON.stringify(group);
      const top = group.latest.event.exception.stacktrace[0];
      assert.deepEqual(
        { filename: top.filename, library_frame: top.library_frame, lineno: top.lineno, context_line: top.context_line },
        { filename: 'examples/demo-app/src/shop.ts', library_frame: false, lineno: 31, context_line: '  if (!reserved.ok) throw new Error(`inventory refused to reserve product ${req.params.id}`);' },
        text.slice(0, 2000),
      );
      // One checkout trace spans both services.
      const samples = await get(`/api/services/demo-shop/samples?name=${encodeURIComponent('POST /checkout/:id')}`);
      assert.equal(samples.length, 4);
      const traceId = samples.find((s: any) => s.outcome === 'success').traceId;
      const trace = await get(`/api/traces/${traceId}`);
      const exit = trace.spans.find((s: any) => s.service === 'demo-shop' && s.event.subtype === 'http');
      const downstream = trace.transactions.find((t: any) => t.service === 'demo-inventory');
      assert.equal(exit.event.name.replace(/:\d+$/, ''), 'POST 127.0.0.1');
      assert.equal(downstream.event.parent_id, exit.event.id, 'the inventory transaction continues the shop\'s exit span');
      // A product lookup carries its PostgreSQL query span with the statement.
      const lookups = await get(`/api/services/demo-shop/samples?name=${encodeURIComponent('GET /products/:id')}`);
      const lookup = await get(`/api/traces/${lookups.find((s: any) => s.outcome === 'success').traceId}`);
      const db = lookup.spans.find((s: any) => s.event.subtype === 'postgresql');
      assert.equal(db.event.type, 'db');
      assert.match(db.event.context.db.statement, /spanforge_readme_demo/);
    } finally {
      await r.close();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

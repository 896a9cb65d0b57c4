// Durability: stored data survives a stop/start on the same data dir, close() and SIGTERM flush the
// pending batch, and retention deletes by age and by row count.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { startReceiver, type ReceiverOptions } from '../../receiver/index.js';
import { Store } from '../../receiver/store.js';
import { getJson, NDJSON, send, tempDir } from './helpers.js';
import { buildTraffic, retimedCapture, TRACE_ID } from './traffic.js';

// Every receiver, store, request and temporary folder is released by the test's own cleanup (t.after),
// so a failing assertion fails the test instead of leaving a listening server that keeps the file alive.
const TIMEOUT = { timeout: 60_000 };
/** Cleanups of one test, run last-in first-out (receivers and stores close before their folder goes). */
const cleanups = new WeakMap<TestContext, Array<() => unknown>>();
function onCleanup(t: TestContext, fn: () => unknown): void {
  let list = cleanups.get(t);
  if (!list) {
    const fns: Array<() => unknown> = (list = []);
    cleanups.set(t, fns);
    t.after(async () => {
      for (const f of fns.reverse()) await f();
    });
  }
  list.push(fn);
}
function dataDir(t: TestContext) {
  const d = tempDir();
  onCleanup(t, () => d.remove());
  return d;
}
async function receiver(t: TestContext, opts: Partial<ReceiverOptions> & { dataDir: string }) {
  const r = await startReceiver({ port: 0, ...opts });
  onCleanup(t, () => r.close());
  return r;
}
function storeFor(t: TestContext, opts: ConstructorParameters<typeof Store>[0]): Store {
  const s = new Store(opts);
  onCleanup(t, () => s.close());
  return s;
}

test('data is intact after a restart on the same data dir', TIMEOUT, async (ctx) => {
  const t = dataDir(ctx);
  const traffic = buildTraffic();
  const a = await receiver(ctx, { dataDir: t.dir });
  for (const body of [traffic.checkout, traffic.inventory, retimedCapture()]) {
    assert.equal((await send(`${a.url}/intake/v2/events`, body, { headers: NDJSON })).status, 202);
  }
  await a.close();
  const expected = { transactions: 62 + 1 + 783, spans: 3 + 1061, errors: 5, metrics: 90, logs: 0 };

  const b = await receiver(ctx, { dataDir: t.dir });
  const stats = await getJson(`${b.url}/api/stats`);
  assert.deepEqual({ transactions: stats.transactions, spans: stats.spans, errors: stats.errors, metrics: stats.metrics, logs: stats.logs }, expected);
  const trace = await getJson(`${b.url}/api/traces/${TRACE_ID}`);
  assert.deepEqual(trace.transactions.map((x: any) => x.event.name), ['GET /api/orders/:id', 'GET /stock/:id']);
  assert.deepEqual(trace.spans.map((x: any) => x.event.name), ['SELECT FROM orders', 'GET inventory:4000']);
  assert.equal(trace.errors.length, 3);
  const services = await getJson(`${b.url}/api/services`);
  const checkout = services.find((s: any) => s.name === 'checkout');
  assert.equal(checkout.count, 62); // rollups survive too
  assert.equal(checkout.errors, 5);
  // and it keeps accepting
  assert.equal((await send(`${b.url}/intake/v2/events`, traffic.inventory, { headers: NDJSON })).status, 202);
  await b.close();
  const c = await receiver(ctx, { dataDir: t.dir });
  assert.equal((await getJson(`${c.url}/api/stats`)).transactions, expected.transactions + 1);
  await c.close();
});

test('close() writes the pending batch even when its flush timer has not fired', TIMEOUT, async (ctx) => {
  const t = dataDir(ctx);
  const a = await receiver(ctx, { dataDir: t.dir, flushIntervalMs: 60_000 });
  assert.equal((await send(`${a.url}/intake/v2/events?verbose`, buildTraffic().checkout, { headers: NDJSON })).json().accepted, 80);
  assert.equal((await getJson(`${a.url}/api/stats`)).transactions, 0, 'still pending before close');
  await a.close();
  const b = await receiver(ctx, { dataDir: t.dir });
  const stats = await getJson(`${b.url}/api/stats`);
  assert.deepEqual([stats.transactions, stats.spans, stats.errors, stats.metrics], [62, 3, 5, 90]);
  await b.close();
});

test('retention deletes by age and keeps only the newest maxRows per table', TIMEOUT, (ctx) => {
  const t = dataDir(ctx);
  const store = storeFor(ctx, { dataDir: t.dir, maxRows: 10, maxAgeMs: 3600_000, retentionIntervalMs: 3600_000 });
  const now = Date.now();
  const meta = { raw: {}, service: 's', environment: null, agentName: null, agentVersion: null, rxUs: now * 1000 };
  for (let i = 0; i < 25; i++) {
    store.add('span', { id: `span${i}`, trace_id: 't', parent_id: 'p', name: `n${i}`, type: 'db', duration: 1, timestamp: (now - 60_000 + i) * 1000 }, meta);
  }
  store.add('span', { id: 'old', trace_id: 't', parent_id: 'p', name: 'old', type: 'db', duration: 1, timestamp: (now - 2 * 3600_000) * 1000 }, meta);
  store.flush();
  const deleted = store.retention(now);
  const names = (store.db.prepare('SELECT name FROM spans ORDER BY id').all() as Array<{ name: string }>).map((r) => r.name);
  assert.equal(deleted, 16);
  // 'old' goes by age; then the newest 10 of the remaining 25 stay.
  assert.deepEqual(names, ['n15', 'n16', 'n17', 'n18', 'n19', 'n20', 'n21', 'n22', 'n23', 'n24']);
  store.close();
});

test('a data dir that cannot be used is a clear error; the public entry exports only startReceiver', TIMEOUT, async (ctx) => {
  const t = dataDir(ctx);
  const file = `${t.dir}/not-a-dir`;
  writeFileSync(file, 'x');
  await assert.rejects(startReceiver({ port: 0, dataDir: file }), (err: Error) => {
    assert.match(err.message, new RegExp(`^startReceiver: cannot open the store in data dir ${file}: `));
    return true;
  });
  await assert.rejects(startReceiver({ port: 0 } as never), /^TypeError: startReceiver: dataDir is required/);
  await assert.rejects(startReceiver({ port: 70000, dataDir: t.dir }), /^RangeError: startReceiver: port must be an integer 0-65535, got 70000/);
  assert.deepEqual(Object.keys(await import('../../receiver/index.js')).filter((k) => k !== 'default' && k !== 'module.exports').sort(), ['startReceiver']);
});

test('close() during an unfinished upload answers 503 "server is shutting down" and keeps what was decoded', TIMEOUT, async (ctx) => {
  const t = dataDir(ctx);
  const { request } = await import('node:http');
  const r = await receiver(ctx, { dataDir: t.dir, maxConcurrentIntake: 1 });
  const traffic = buildTraffic().checkout.split('\n');
  // metadata + 3 complete events + half of a 4th line; the request is never ended.
  const open = (lines: string[]) => {
    const req = request(`${r.url}/intake/v2/events`, { method: 'POST', headers: NDJSON });
    onCleanup(ctx, () => req.destroy());
    const reply = new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    req.write(lines.join('\n'));
    return { req, reply };
  };
  const first = open([...traffic.slice(0, 4), traffic[4]!.slice(0, 40)]);
  // A second upload waits for the single decoding slot.
  const second = open([traffic[0]!, traffic[5]!, '']);
  const { eventually } = await import('./helpers.js');
  // The three complete events are decoded (and flushed, so the stats see them) before close().
  await eventually(async () => (await getJson(`${r.url}/api/stats`)).transactions + (await getJson(`${r.url}/api/stats`)).spans >= 3);
  const closed = r.close();
  const [a, b] = await Promise.all([first.reply, second.reply]);
  await closed;
  assert.equal(a.status, 503);
  assert.equal(a.headers.connection, 'close');
  assert.deepEqual(JSON.parse(a.body), { accepted: 3, errors: [{ message: 'server is shutting down' }] });
  assert.equal(b.status, 503);
  assert.deepEqual(JSON.parse(b.body), { accepted: 0, errors: [{ message: 'server is shutting down' }] });
  first.req.destroy();
  second.req.destroy();
  const store = storeFor(ctx, { dataDir: t.dir });
  const n = (table: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  assert.equal(n('transactions') + n('spans') + n('errors'), 3);
  store.close();
});

test('size retention: one pass brings a store 5x over maxBytes under it, oldest first, with rollups and metadata trimmed', TIMEOUT, async (ctx) => {
  const t = dataDir(ctx);
  const { existsSync, statSync } = await import('node:fs');
  const { join } = await import('node:path');
  const maxBytes = 1_500_000;
  const fileBytes = () => statSync(join(t.dir, 'spanforge.db')).size + (existsSync(join(t.dir, 'spanforge.db-wal')) ? statSync(join(t.dir, 'spanforge.db-wal')).size : 0);
  const store = storeFor(ctx, { dataDir: t.dir, maxBytes, retentionIntervalMs: 3600_000 });
  const now = Date.now();
  const start = now - 3600_000;
  let k = 0;
  // 24 requests (distinct metadata: one pid each) of 400 transactions + 400 spans, 100 ms apart.
  for (let r = 0; r < 24; r++) {
    const meta = { raw: { service: { name: 'svc' }, process: { pid: r } }, service: 'svc', environment: null, agentName: null, agentVersion: null, rxUs: now * 1000 };
    for (let i = 0; i < 400; i++, k++) {
      const ts = (start + k * 100) * 1000;
      store.add('transaction', { id: `tx${k}`, trace_id: `tr${k}`, name: 'GET /x', type: 'request', duration: 5, outcome: 'success', timestamp: ts, pad: 'x'.repeat(300) }, meta);
      store.add('span', { id: `sp${k}`, trace_id: `tr${k}`, parent_id: `tx${k}`, name: 'SELECT', type: 'db', duration: 1, timestamp: ts, pad: 'y'.repeat(300) }, meta);
    }
    store.flush();
  }
  const q = (sql: string) => store.db.prepare(sql).get() as Record<string, number>;
  const p = (name: string) => store.db.pragma(name, { simple: true }) as number;
  const used = () => (p('page_count') - p('freelist_count')) * p('page_size'); // WAL included
  const before = used();
  assert.ok(before > 5 * maxBytes, `fixture too small: ${before}`);
  const t0 = performance.now();
  const deleted = store.retention(now);
  const ms = performance.now() - t0;
  const after = used();
  console.log(`size retention: ${(before / 1e6).toFixed(2)} MB live -> ${(after / 1e6).toFixed(2)} MB (cap ${maxBytes / 1e6} MB), ${deleted} rows deleted in ${(store as { sizeRounds?: number }).sizeRounds} rounds, ${ms.toFixed(0)} ms; file+WAL ${(fileBytes() / 1e6).toFixed(2)} MB`);
  assert.ok(after <= maxBytes, `still ${after} bytes after one pass`);
  assert.ok(after > maxBytes * 0.5, `deleted far too much: ${after}`);
  // Freed pages went back to the file system and the WAL was folded in: the disk use is under the cap.
  assert.ok(fileBytes() <= maxBytes, `file + WAL ${fileBytes()}`);
  // Oldest first: what is left is the newest contiguous run, in both tables.
  const tx = q('SELECT count(*) AS n, min(ts) AS lo, max(ts) AS hi FROM transactions');
  const sp = q('SELECT count(*) AS n, min(ts) AS lo FROM spans');
  assert.ok(tx.n > 0 && tx.n < k);
  assert.equal(tx.hi, (start + (k - 1) * 100) * 1000);
  assert.equal(tx.n, (tx.hi - tx.lo) / 100_000 + 1);
  assert.equal(sp.lo, tx.lo);
  // Rollups: no minute before the oldest transaction left; the boundary minute may still count up
  // to one minute (600 transactions here) of deleted ones.
  const minuteLo = Math.floor(tx.lo / 60e6) * 60;
  assert.equal(q(`SELECT count(*) AS n FROM rollup_tx WHERE minute < ${minuteLo}`).n, 0);
  const counted = q('SELECT sum(count) AS n FROM rollup_tx').n;
  assert.ok(counted >= tx.n && counted - tx.n < 600, `rollups count ${counted} for ${tx.n} transactions`);
  assert.equal(q(`SELECT count(*) AS n FROM rollup_tx_hour WHERE minute < ${Math.floor(tx.lo / 3600e6) * 3600}`).n, 0);
  // Metadata: only the requests whose events are still stored.
  const metas = q('SELECT count(*) AS n FROM metadata').n;
  assert.equal(metas, q('SELECT count(DISTINCT meta_id) AS n FROM transactions').n);
  assert.ok(metas < 24);
  // A deleted metadata row is created again when its request sends more (no dangling meta_id).
  const late = { raw: { service: { name: 'svc' }, process: { pid: 0 } }, service: 'svc', environment: null, agentName: null, agentVersion: null, rxUs: now * 1000 };
  store.add('transaction', { id: 'late', trace_id: 'late', name: 'GET /x', type: 'request', duration: 5, timestamp: now * 1000 }, late);
  store.flush();
  assert.equal(q("SELECT count(*) AS n FROM transactions t JOIN metadata m ON m.id = t.meta_id WHERE t.tx_id = 'late'").n, 1);
  store.close();
});

test('row-limit retention trims the rollups too; the periodic pass yields to the event loop between chunks', TIMEOUT, async (ctx) => {
  const t = dataDir(ctx);
  const store = storeFor(ctx, { dataDir: t.dir, maxRows: 12_000, retentionIntervalMs: 3600_000 });
  const now = Date.now();
  const meta = { raw: {}, service: 's', environment: null, agentName: null, agentVersion: null, rxUs: now * 1000 };
  // 30,000 transactions, one per 100 ms over the last 50 minutes.
  for (let i = 0; i < 30_000; i++) {
    store.add('transaction', { id: `t${i}`, trace_id: `t${i}`, name: 'n', type: 'request', duration: 1, timestamp: (now - 3000_000 + i * 100) * 1000 }, meta);
  }
  store.flush();
  const q = (sql: string) => (store.db.prepare(sql).get() as { n: number }).n;
  assert.equal(q('SELECT sum(count) AS n FROM rollup_tx'), 30_000);
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 0);
  let deleted: number;
  try {
    deleted = await store.retentionAsync(now);
  } finally {
    clearInterval(ticker);
  }
  assert.equal(deleted, 18_000);
  assert.ok(ticks >= 2, `the event loop ran ${ticks} times during the pass (deletes of 5,000 rows each)`);
  // The 18,000 oldest are gone and so are their minutes: the rollups count what is stored, give
  // or take the boundary minute.
  const counted = q('SELECT sum(count) AS n FROM rollup_tx');
  assert.ok(counted >= 12_000 && counted < 12_000 + 600, `rollups still count ${counted}`);
  store.close();
});

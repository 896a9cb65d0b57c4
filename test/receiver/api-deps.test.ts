// The service map / dependencies / distribution / search / event API over HTTP: exact figures,
// the catch-up after new events and after a restart (no double counting), the migration of a
// database created before spans.dest and the dependency tables, and 400s naming the parameter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '../../receiver/sqlite.js';
import { eventually, getJson, NDJSON, send, withReceiver } from './helpers.js';
import { buildDepsTraffic, id, N, traceId } from './traffic-deps.js';

const T = { timeout: 60_000 };

async function load(url: string, nowMs = Date.now()): Promise<void> {
  const t = buildDepsTraffic(nowMs);
  for (const body of [t.frontend, ...t.checkout, t.inventory]) {
    const rep = await send(`${url}/intake/v2/events`, body, { headers: NDJSON });
    assert.equal(rep.status, 202, rep.text);
  }
}
const SPANS = N * 6 + N / 2;
const summary = (deps: Array<Record<string, unknown>>) => deps.map((d) => [d.name, d.kind, d.count, d.avgUs, d.failureRate, (d.callers as string[]).join(','), (d.downstream as string[]).join(',')]);
const EXPECTED = [
  ['checkout:3000', 'external', 40, 169_500, 0, 'frontend', 'checkout'],
  ['api.stripe.com:443', 'external', 40, 50_000, 0.25, 'checkout', ''],
  ['inventory:4000', 'external', 40, 30_000, 0, 'checkout', 'inventory'],
  ['postgresql/test', 'database', 40, 10_000, 0, 'checkout', ''],
  ['mysql/test', 'database', 40, 5_000, 0, 'inventory', ''],
  ['rabbitmq/orders', 'broker', 40, 2_000, 0, 'checkout', ''],
  ['redis', 'cache', 20, 1_000, 0, 'checkout', ''],
];

test('dependencies, service map, distribution and search answer exact figures; new events are counted once', T, async (t) => {
  const r = await withReceiver();
  t.after(() => r.cleanup());
  await load(r.url);
  await eventually(async () => (await getJson(`${r.url}/api/stats`)).spans === SPANS, 5000);
  assert.deepEqual(summary(await getJson(`${r.url}/api/dependencies`)), EXPECTED);
  const map = await getJson(`${r.url}/api/service-map`);
  assert.deepEqual(
    map.edges.map((e: Record<string, unknown>) => `${e.source}>${e.target} ${e.count}`),
    [
      'service:checkout>dependency:api.stripe.com:443 40',
      'service:checkout>dependency:postgresql/test 40',
      'service:checkout>dependency:rabbitmq/orders 40',
      'service:checkout>dependency:redis 20',
      'service:checkout>service:inventory 40',
      'service:frontend>service:checkout 40',
      'service:inventory>dependency:mysql/test 40',
    ],
  );
  const svc = map.nodes.find((n: Record<string, unknown>) => n.id === 'service:checkout');
  assert.deepEqual([svc.count, svc.failureRate], [40, 0.25]);

  // A second identical load an hour later is new data: counted once more, not twice.
  await load(r.url, Date.now() + 1); // same ids, other events: the store keeps both
  await eventually(async () => (await getJson(`${r.url}/api/stats`)).spans === SPANS * 2, 5000);
  const twice = await getJson(`${r.url}/api/dependencies`);
  assert.deepEqual(twice.map((d: Record<string, unknown>) => d.count), [80, 80, 80, 80, 80, 80, 40]);

  // Distribution: the bins hold every transaction of the group once; a bin's bounds select exactly its transactions.
  const dist = await getJson(`${r.url}/api/services/checkout/distribution?name=${encodeURIComponent('POST /api/orders')}`);
  assert.equal(dist.count, 40);
  assert.equal(dist.bins.reduce((a: number, b: { count: number }) => a + b.count, 0), 40);
  for (let i = 1; i < dist.bins.length; i++) assert.ok(dist.bins[i].fromUs > dist.bins[i - 1].toUs, 'bins do not overlap');
  for (const b of dist.bins.filter((x: { count: number }) => x.count > 0)) {
    const found = await getJson(`${r.url}/api/search?service=checkout&name=${encodeURIComponent('POST /api/orders')}&minUs=${b.fromUs}&maxUs=${b.toUs}&limit=100`);
    assert.equal(found.rows.length, b.count, `bin ${b.fromUs}..${b.toUs}`);
  }
  // Search filters combine.
  const q = async (s: string) => (await getJson(`${r.url}/api/search?${s}&limit=100`)).rows as Array<Record<string, unknown>>;
  assert.equal((await q('label=tenant:acme&service=checkout')).length, 28);
  assert.equal((await q('label=tenant:acme&outcome=failure')).length, 8); // i in {0, 12, 24, 36} x 2 loads
  assert.equal((await q('label=attempt:0&version=1.0.0')).length, 8); // i in {0, 5, 10, 15} x 2
  assert.equal((await q(`traceId=${traceId(5)}`)).length, 6);
  assert.equal((await q('environment=test&result=HTTP%205xx')).length, 20);
  assert.equal((await q('label=tenant:nobody')).length, 0);
  // Event detail: the event, its metadata and its errors.
  const ev = await getJson(`${r.url}/api/events/span/${traceId(0)}/${id(10, 0)}`);
  assert.equal(ev.event.name, 'POST api.stripe.com');
  assert.equal(ev.metadata.service.version, '1.0.0');
  assert.deepEqual(ev.errors.map((e: Record<string, unknown>) => e.message), ['card declined #0', 'card declined #0']);
});

test('rollups survive a restart without double counting; a database from before spans.dest is migrated', T, async (t) => {
  const r = await withReceiver();
  let r2: Awaited<ReturnType<typeof withReceiver>> | undefined;
  t.after(async () => {
    await r2?.cleanup();
  });
  await load(r.url);
  await eventually(async () => (await getJson(`${r.url}/api/stats`)).spans === SPANS, 5000);
  assert.deepEqual(summary(await getJson(`${r.url}/api/dependencies`)), EXPECTED);
  await r.close();
  // restart: the same figures (the catch-up resumes after the rows it has read)
  r2 = await withReceiver({ dataDir: r.dataDir });
  assert.deepEqual(summary(await getJson(`${r2.url}/api/dependencies`)), EXPECTED);
  await r2.close();
  // Make it a database of the previous schema: no spans.dest, no dependency tables.
  const db = openDatabase(`${r.dataDir}/spanforge.db`);
  db.exec('DROP INDEX span_dest_ts; ALTER TABLE spans DROP COLUMN dest; DROP TABLE rollup_dep; DROP TABLE rollup_dep_hour; DROP TABLE dep_link; DROP TABLE deps_state; DROP TABLE tx_label');
  assert.equal((db.prepare('PRAGMA table_info(spans)').all() as Array<{ name: string }>).some((c) => c.name === 'dest'), false);
  db.close();
  r2 = await withReceiver({ dataDir: r.dataDir });
  assert.deepEqual(summary(await getJson(`${r2.url}/api/dependencies`)), EXPECTED);
  assert.equal((await getJson(`${r2.url}/api/search?label=tenant:acme&service=checkout`)).rows.length, 14);
  const map = await getJson(`${r2.url}/api/service-map`);
  assert.equal(map.edges.length, 7);
});

test('the new routes answer 400 naming the parameter, 404 for what is not there', T, async (t) => {
  const r = await withReceiver();
  t.after(() => r.cleanup());
  await load(r.url);
  await eventually(async () => (await getJson(`${r.url}/api/stats`)).spans === SPANS, 5000);
  const bad = async (path: string, parameter: string, status = 400) => {
    const res = await fetch(`${r.url}${path}`);
    const body = (await res.json()) as { error: string; parameter?: string };
    assert.equal(res.status, status, `${path}: ${body.error}`);
    if (status === 400) assert.equal(body.parameter, parameter, path);
    return body.error;
  };
  assert.equal(await bad('/api/search?label=nocolon', 'label'), "query parameter 'label' must be key:value (a label name, a colon, its value), got 'nocolon'");
  assert.equal(await bad('/api/search?outcome=broken', 'outcome'), "query parameter 'outcome' must be one of success, failure, unknown, got 'broken'");
  await bad('/api/search?minUs=-1', 'minUs');
  await bad('/api/search?minUs=1.5', 'minUs');
  assert.equal(await bad('/api/search?minUs=10&maxUs=5', 'maxUs'), "query parameter 'maxUs' (5) must not be below 'minUs' (10)");
  await bad('/api/search?limit=101', 'limit');
  await bad('/api/search?traceId=xyz', 'traceId');
  await bad('/api/search?bogus=1', 'bogus');
  await bad('/api/search?from=10&to=5', 'to');
  await bad('/api/dependency', 'name');
  await bad('/api/dependency?name=a&name=b', 'name');
  await bad(`/api/dependencies?service=${'x'.repeat(1025)}`, 'service');
  await bad('/api/services/checkout/distribution', 'name');
  await bad('/api/service-map?from=abc', 'from');
  await bad(`/api/events/metric/${traceId(0)}/${id(4, 0)}`, 'path segment 3');
  assert.equal(await bad(`/api/events/span/${traceId(0)}/ffffffffffffffff`, '', 404), `no span ffffffffffffffff in trace ${traceId(0)}`);
  assert.equal(await bad('/api/dependency?name=nothing-here', '', 404), 'no calls to nothing-here in this range');
});

// The UI's JSON API over a known data set: exact counts, averages, failure rates and percentile
// accuracy from the minute and hour rollups, trace contents, error groups and metric series.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually, getJson, NDJSON, send, withReceiver } from './helpers.js';

let r: Awaited<ReturnType<typeof withReceiver>>;
const now = Date.now();
const base = now - 30 * 60_000; // 30 minutes ago
before(async () => {
  r = await withReceiver();
  const lines = [JSON.stringify({ metadata: { service: { name: 'api-svc', environment: 'qa', agent: { name: 'nodejs', version: '9.9.9' } } } })];
  // 100 transactions of 1..100 ms over 10 minutes; every 4th one failed, every 10th has outcome unknown.
  for (let i = 1; i <= 100; i++) {
    const outcome = i % 10 === 0 ? 'unknown' : i % 4 === 0 ? 'failure' : 'success';
    lines.push(JSON.stringify({ transaction: { id: i.toString(16).padStart(16, '0'), trace_id: i.toString(16).padStart(32, '0'), name: i <= 80 ? 'GET /a' : 'GET /b', type: 'request', outcome, duration: i, timestamp: (base + i * 6000) * 1000, span_count: { started: 0 } } }));
  }
  lines.push(JSON.stringify({ error: { id: 'e'.repeat(32), timestamp: base * 1000, log: { message: 'plain log error' } } }));
  for (let i = 0; i < 5; i++) lines.push(JSON.stringify({ metricset: { timestamp: (base + i * 60_000) * 1000, samples: { 'nodejs.eventloop.delay.avg.ms': { value: i } } } }));
  const rep = await send(`${r.url}/intake/v2/events?verbose`, lines.join('\n'), { headers: NDJSON });
  assert.deepEqual(rep.json(), { accepted: 106 });
  await eventually(async () => (await getJson(`${r.url}/api/stats`)).transactions === 100);
});
after(async () => {
  await r.cleanup();
});

for (const [label, span] of [['1 h (minute rollups)', 3600_000], ['24 h (hour rollups)', 24 * 3600_000]] as const) {
  test(`services overview over ${label}: exact count/avg/failure rate, percentiles within 2.5 %`, async () => {
    const [svc] = await getJson(`${r.url}/api/services?from=${now - span}&to=${now}`);
    assert.equal(svc.name, 'api-svc');
    assert.equal(svc.environment, 'qa');
    assert.equal(svc.agentVersion, '9.9.9');
    assert.equal(svc.count, 100);
    assert.equal(svc.avgUs, 50_500);
    // failure / (success + failure), unknown excluded: 90 rated, 25 - 5 (multiples of 20 are unknown) = 20 failed
    assert.equal(svc.failureRate, 20 / 90);
    assert.ok(Math.abs(svc.p95Us - 95_000) / 95_000 < 0.025, `p95 ${svc.p95Us}`);
    assert.ok(Math.abs(svc.p99Us - 99_000) / 99_000 < 0.025, `p99 ${svc.p99Us}`);
    assert.equal(svc.maxUs, 100_000);
    assert.equal(svc.errors, 1);
  });
}

test('transactions table groups by name with impact, and charts sum to the same count', async () => {
  const groups = await getJson(`${r.url}/api/services/api-svc/transactions?from=${now - 3600_000}&to=${now}`);
  assert.deepEqual(
    groups.map((g: any) => [g.name, g.count, g.avgUs, Math.round(g.impact)]),
    [
      ['GET /a', 80, 40_500, 100],
      ['GET /b', 20, 90_500, 0],
    ],
  );
  const charts = await getJson(`${r.url}/api/services/api-svc/charts?from=${now - 3600_000}&to=${now}`);
  assert.equal(charts.stepSeconds, 60);
  assert.equal(charts.points.reduce((s: number, p: any) => s + p.count, 0), 100);
  const day = await getJson(`${r.url}/api/services/api-svc/charts?from=${now - 24 * 3600_000}&to=${now}`);
  assert.equal(day.stepSeconds, 3600);
  assert.equal(day.points.reduce((s: number, p: any) => s + p.count, 0), 100);
});

test('samples are the newest transactions of a name; a trace returns its events', async () => {
  const samples = await getJson(`${r.url}/api/services/api-svc/samples?name=${encodeURIComponent('GET /b')}&from=${now - 3600_000}&to=${now}`);
  assert.equal(samples.length, 20);
  assert.equal(samples[0].durationUs, 100_000);
  const latest = await getJson(`${r.url}/api/services/api-svc/samples?from=${now - 3600_000}&to=${now}`);
  assert.equal(latest.length, 50);
  assert.deepEqual([latest[0].name, latest[0].durationUs], ['GET /b', 100_000]);
  const trace = await getJson(`${r.url}/api/traces/${samples[0].traceId}`);
  assert.equal(trace.transactions.length, 1);
  assert.equal(trace.transactions[0].event.duration, 100);
  assert.equal(trace.transactions[0].agent.version, '9.9.9');
  assert.deepEqual([trace.spans, trace.errors], [[], []]);
});

test('error groups: a log-only error groups as "log"; unknown group and API paths are 404', async () => {
  const groups = await getJson(`${r.url}/api/errors?from=${now - 3600_000}&to=${now}`);
  assert.deepEqual(groups.map((g: any) => [g.type, g.message, g.count, g.culprit]), [['log', 'plain log error', 1, '']]);
  const g = await getJson(`${r.url}/api/errors/${groups[0].groupKey}?from=${now - 3600_000}&to=${now}`);
  assert.deepEqual(g.series.map((p: any) => p.count), [1]);
  assert.equal(g.series[0].t, Math.floor(base / 60_000) * 60_000);
  assert.equal(g.latest.event.log.message, 'plain log error');
  assert.equal(g.latest.metadata.service.name, 'api-svc');
  assert.equal((await fetch(`${r.url}/api/errors/nope`)).status, 404);
  const bad = await fetch(`${r.url}/api/nope`);
  assert.deepEqual([bad.status, await bad.json()], [404, { error: 'unknown API path /api/nope' }]);
});

test('metric series: one point per minute with avg and max', async () => {
  const m = await getJson(`${r.url}/api/services/api-svc/metrics?from=${now - 3600_000}&to=${now}&name=nodejs.eventloop.delay.avg.ms`);
  assert.deepEqual(m.names, ['nodejs.eventloop.delay.avg.ms']);
  assert.deepEqual(m.series['nodejs.eventloop.delay.avg.ms'].map((p: any) => p.avg), [0, 1, 2, 3, 4]);
});

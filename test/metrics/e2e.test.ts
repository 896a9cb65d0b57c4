// End to end: a child process running the real agent at a 100 ms metrics interval sends metricsets over
// HTTP that validate, and whose breakdown self-time sums match the spans and transactions it sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startIntake } from './_intake.js';
import { assertValidMetricset } from './_schema.js';

type Obj = Record<string, unknown>;
interface Metricset {
  timestamp: number;
  tags?: Obj;
  transaction?: { type: string; name: string };
  span?: { type: string; subtype?: string };
  samples: Record<string, { value: number }>;
}
interface Node {
  id: string;
  parentId: string | undefined;
  startUs: number;
  endUs: number;
  key: string;
}

/** Union length of intervals clipped to [s, e] — written plainly here, apart from the runtime's version. */
function covered(s: number, e: number, kids: [number, number][]): number {
  const clipped = kids
    .map(([a, b]) => [Math.max(a, s), Math.min(b, e)] as [number, number])
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let total = 0;
  let cur: [number, number] | undefined;
  for (const iv of clipped) {
    if (cur === undefined || iv[0] > cur[1]) {
      if (cur) total += cur[1] - cur[0];
      cur = [iv[0], iv[1]];
    } else cur[1] = Math.max(cur[1], iv[1]);
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

function runApp(intakeUrl: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'agent-app.ts')], {
      cwd: join(__dirname, '..', '..'),
      env: { ...process.env, SPANFORGE_TEST_INTAKE: intakeUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += String(d)));
    child.stderr.on('data', (d) => (output += String(d)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, output });
    });
  });
}

test('real agent: metricsets validate and breakdown sums match the spans that were sent', async (t) => {
  const intake = await startIntake();
  t.after(() => intake.close());
  const { code, output } = await runApp(intake.url);
  assert.equal(code, 0, output);
  assert.equal(output.trim(), 'done');

  const metricsets = intake.events.filter((e) => 'metricset' in e).map((e) => e.metricset as unknown as Metricset);
  const spans = intake.events.filter((e) => 'span' in e).map((e) => e.span!);
  const txs = intake.events.filter((e) => 'transaction' in e).map((e) => e.transaction!);
  for (const m of metricsets) {
    assertValidMetricset(m);
    assert.equal(m.tags?.team, 'apm');
    for (const [name, s] of Object.entries(m.samples)) assert.ok(Number.isFinite(s.value), `${name}: ${s.value}`);
  }
  assert.equal(txs.length, 15);
  assert.equal(spans.length, 12 * 5);

  // Several 1 s rounds of system/runtime metrics arrived, with plausible values.
  const system = metricsets.filter((m) => 'system.memory.total' in m.samples);
  assert.ok(system.length >= 2, `system rounds: ${system.length}`);
  for (const m of system) {
    const pct = m.samples['system.process.cpu.total.norm.pct']!.value;
    assert.ok(pct >= 0 && pct <= 1);
    assert.ok(m.samples['system.process.memory.rss.bytes']!.value > 10e6);
    assert.ok(m.samples['nodejs.memory.heap.used.bytes']!.value > 1e6);
  }
  assert.ok(metricsets.some((m) => m.tags?.v8js_gc_type === 'minor' && 'nodejs.gc.count' in m.samples));

  // Expected breakdown, computed from the events on the wire: self time = duration minus the union of
  // the direct children (clipped to the parent), by transaction type+name and span type/subtype.
  const txById = new Map(txs.map((tx) => [tx.id as string, tx]));
  const nodes: Node[] = [];
  for (const tx of txs) {
    if (tx.sampled !== true) continue;
    const s = tx.timestamp as number;
    nodes.push({ id: tx.id as string, parentId: undefined, startUs: s, endUs: s + Math.round((tx.duration as number) * 1000), key: `${tx.type}|${tx.name}|app|` });
  }
  for (const sp of spans) {
    const tx = txById.get(sp.transaction_id as string)!;
    const s = sp.timestamp as number;
    nodes.push({
      id: sp.id as string,
      parentId: sp.parent_id as string,
      startUs: s,
      endUs: s + Math.round((sp.duration as number) * 1000),
      key: `${tx.type}|${tx.name}|${sp.type}|${sp.subtype ?? ''}`,
    });
  }
  const expected = new Map<string, { count: number; sum: number }>();
  for (const n of nodes) {
    const kids = nodes.filter((c) => c.parentId === n.id).map((c) => [c.startUs, c.endUs] as [number, number]);
    const self = n.endUs - n.startUs - covered(n.startUs, n.endUs, kids);
    const e = expected.get(n.key) ?? { count: 0, sum: 0 };
    e.count++;
    e.sum += self;
    expected.set(n.key, e);
  }
  const reported = new Map<string, { count: number; sum: number }>();
  for (const m of metricsets) {
    if (m.transaction === undefined || m.span === undefined) continue;
    const key = `${m.transaction.type}|${m.transaction.name}|${m.span.type}|${m.span.subtype ?? ''}`;
    const r = reported.get(key) ?? { count: 0, sum: 0 };
    r.count += m.samples['span.self_time.count']!.value;
    r.sum += m.samples['span.self_time.sum.us']!.value;
    reported.set(key, r);
  }
  assert.deepEqual([...reported.keys()].sort(), [...expected.keys()].sort());
  assert.deepEqual(
    [...reported.keys()].sort(),
    [
      'request|GET /users/:id|app|',
      'request|GET /users/:id|db|postgresql',
      'request|GET /users/:id|db|redis',
      'request|GET /users/:id|external|http',
      'request|GET /users/:id|template|handlebars',
      'request|POST /orders|app|',
      'request|POST /orders|db|postgresql',
      'request|POST /orders|db|redis',
      'request|POST /orders|external|http',
      'request|POST /orders|template|handlebars',
    ],
  );
  for (const [key, e] of expected) {
    const r = reported.get(key)!;
    assert.equal(r.count, e.count, `${key} count`);
    // The wire carries durations in ms with µs decimals: allow a few µs of rounding per span.
    assert.ok(Math.abs(r.sum - e.sum) <= 3 * e.count, `${key}: reported ${r.sum} µs, spans on the wire give ${e.sum} µs`);
    assert.ok(e.sum > 0, `${key} has self time`);
  }

  // Transaction-level rows: every transaction in the duration, only the sampled ones in breakdown.count.
  const txRows = new Map<string, { count: number; sum: number; breakdown: number }>();
  for (const m of metricsets) {
    if (m.transaction === undefined || m.span !== undefined) continue;
    const key = `${m.transaction.type}|${m.transaction.name}`;
    const r = txRows.get(key) ?? { count: 0, sum: 0, breakdown: 0 };
    r.count += m.samples['transaction.duration.count']!.value;
    r.sum += m.samples['transaction.duration.sum.us']!.value;
    r.breakdown += m.samples['transaction.breakdown.count']!.value;
    txRows.set(key, r);
  }
  for (const name of ['GET /users/:id', 'POST /orders']) {
    const sent = txs.filter((tx) => tx.name === name);
    const r = txRows.get(`request|${name}`)!;
    assert.equal(r.count, sent.length);
    assert.equal(r.breakdown, sent.filter((tx) => tx.sampled === true).length);
    const wireSum = sent.reduce((n, tx) => n + Math.round((tx.duration as number) * 1000), 0);
    assert.ok(Math.abs(r.sum - wireSum) <= 2 * sent.length, `${name}: ${r.sum} vs ${wireSum}`);
  }
  assert.equal(txRows.get('request|GET /users/:id')!.count, 9);
  assert.equal(txRows.get('request|GET /users/:id')!.breakdown, 6);
});

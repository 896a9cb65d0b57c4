// Fuzz test of the receiver (issue 12): thousands of seeded hostile requests built from APM
// Server's testdata payloads (test/receiver/fuzz-core.ts) against `spanforge serve` in a child
// process. Every case must be answered within the time limit and never with a 5xx other than 503
// for overload; the receiver's RSS stays bounded; every event accepted before the run is still
// readable after it. SPANFORGE_FUZZ_SEED / SPANFORGE_FUZZ_CASES change the run;
// scripts/fuzz-receiver.mjs runs longer ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cases, loadCorpus, runFuzz } from './fuzz-core.js';
import { TESTDATA } from './helpers.js';
import { raw, serveChild } from './security-helpers.js';

const SEED = Number(process.env.SPANFORGE_FUZZ_SEED ?? 12);
const COUNT = Number(process.env.SPANFORGE_FUZZ_CASES ?? 3000);
const TIME_LIMIT_MS = Number(process.env.SPANFORGE_FUZZ_TIME_LIMIT_MS ?? 10_000);
const CONCURRENCY = Number(process.env.SPANFORGE_FUZZ_CONCURRENCY ?? 4);
const RSS_GROWTH_LIMIT = 256 * 1024 * 1024;

type Ids = Record<string, string[]>;
async function traceIds(url: string, traceId: string): Promise<Ids> {
  const r = await raw(`${url}/api/traces/${encodeURIComponent(traceId)}`, { timeoutMs: 10_000 });
  assert.equal(r.status, 200, r.text.slice(0, 200));
  const t = r.json();
  const ids = (xs: Array<{ event: { id?: string } }>) => xs.map((x) => String(x.event.id)).sort();
  return { transactions: ids(t.transactions), spans: ids(t.spans), errors: ids(t.errors) };
}

test('the same seed gives the same cases', () => {
  const corpus = loadCorpus(TESTDATA);
  const a = [...cases(corpus, 7, 200)].map((c) => [c.method, c.path, c.body?.toString('base64')]);
  const b = [...cases(corpus, 7, 200)].map((c) => [c.method, c.path, c.body?.toString('base64')]);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, [...cases(corpus, 8, 200)].map((c) => [c.method, c.path, c.body?.toString('base64')]));
});

test(`fuzz: ${COUNT} hostile intake and API requests (seed ${SEED})`, { timeout: 15 * 60_000 }, async (t) => {
  // The reference payloads are dated 2017-2022: with the default 7-day age, the retention pass 60 s
  // after start deleted the baseline before the final check on a slow run.
  const s = await serveChild([], { SPANFORGE_MAX_AGE_MS: String(20 * 365 * 24 * 3600_000) });
  t.after(() => s.stop());
  const corpus = loadCorpus(TESTDATA);
  // Baseline: the real payloads the receiver accepts whole, and the traces they make.
  let accepted = 0;
  for (const f of corpus.files) {
    const r = await raw(`${s.url}/intake/v2/events?verbose`, { method: 'POST', headers: { 'Content-Type': 'application/x-ndjson', Accept: 'application/json' }, body: f.lines.join('\n') + '\n', timeoutMs: 10_000 });
    if (r.status === 202) accepted += r.json().accepted;
  }
  assert.ok(accepted > 100, `accepted ${accepted}`);
  await new Promise((r) => setTimeout(r, 300));
  const before = (await raw(`${s.url}/api/stats`)).json();
  const sampleTraces = corpus.traceIds.slice(0, 40);
  const baseline = new Map<string, Ids>();
  for (const id of sampleTraces) baseline.set(id, await traceIds(s.url, id));
  assert.ok([...baseline.values()].some((x) => x.transactions.length + x.spans.length + x.errors.length > 0), 'no baseline trace has events');
  const rss0 = s.rss()!;

  const res = await runFuzz({ url: s.url, corpus, seed: SEED, count: COUNT, timeLimitMs: TIME_LIMIT_MS, concurrency: CONCURRENCY, rss: () => s.rss() });
  t.diagnostic(
    `cases ${res.cases} in ${res.totalMs} ms; p99 ${res.p99Ms} ms, max ${res.maxMs} ms; RSS ${Math.round(rss0 / 2 ** 20)} -> max ${Math.round((res.maxRss ?? 0) / 2 ** 20)} MiB; ` +
      `statuses ${JSON.stringify(res.byStatus)}; kinds ${JSON.stringify(res.byKind)}`,
  );
  assert.deepEqual(res.failures, []);
  assert.equal(res.cases, COUNT);
  assert.ok(res.byStatus['202']! > 0 && res.byStatus['400']! > 0 && res.byStatus['200']! > 0, JSON.stringify(res.byStatus));
  assert.ok((res.maxRss ?? 0) - rss0 < RSS_GROWTH_LIMIT, `RSS grew from ${rss0} to ${res.maxRss}`);

  // Still serving, and nothing accepted before was lost or became unreadable.
  const after = (await raw(`${s.url}/api/stats`)).json();
  for (const k of ['transactions', 'spans', 'errors', 'metrics', 'logs']) assert.ok(after[k] >= before[k], `${k}: ${before[k]} -> ${after[k]}`);
  for (const [id, want] of baseline) {
    const got = await traceIds(s.url, id);
    for (const k of Object.keys(want)) for (const e of want[k]!) assert.ok(got[k]!.includes(e), `trace ${id}: ${k} ${e} is gone`);
  }
});

// Store benchmark: the receiver's SQLite store alone (no HTTP, no decoding, no validation), so the
// two backends can be compared: node:sqlite (Node 22.13+/24) and better-sqlite3 (Node 20).
// Writes: the real Node agent capture's events, already parsed, added and flushed in batches.
// Reads: the UI's queries (receiver/queries.ts) on the stored data.
// Run: npm run build && node bench/store.mjs            (Node 20: better-sqlite3)
//      npm run build && npx -y node@24 bench/store.mjs  (Node 24: node:sqlite)
// Options (env): BENCH_ROUNDS (copies of the capture, default 100), BENCH_CAPTURE (its path),
// SPANFORGE_SQLITE (force a backend).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const dist = join(root, 'dist', 'cjs', 'receiver');
if (!existsSync(join(dist, 'store.js'))) {
  console.error('bench/store.mjs: run `npm run build` first');
  process.exit(1);
}
const { Store } = require(join(dist, 'store.js'));
const { Queries } = require(join(dist, 'queries.js'));
const { sqliteBackend } = require(join(dist, 'sqlite.js'));

const CAPTURE = process.env.BENCH_CAPTURE ?? join(root, '..', 'shared', 'reference', 'apm-intake-v2', 'testdata', 'apm-nodejs-traces-3.29.0.ndjson');
if (!existsSync(CAPTURE)) {
  console.error(`bench/store.mjs: the Node agent capture is missing at ${CAPTURE}; set BENCH_CAPTURE to its path`);
  process.exit(1);
}
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 100);
const lines = readFileSync(CAPTURE, 'utf8').split('\n').filter((l) => l.trim());
const metaDoc = JSON.parse(lines[0]).metadata;
const events = lines.slice(1).map((l) => {
  const o = JSON.parse(l);
  const kind = Object.keys(o)[0];
  return { kind, e: o[kind], raw: l };
});
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

console.log(`store benchmark: Node ${process.version}, backend ${sqliteBackend()}, ${fmt(ROUNDS * events.length)} events (${ROUNDS} x the capture)`);
const dir = mkdtempSync(join(tmpdir(), 'sf-bench-store-'));
try {
  // A long flush interval: batches are cut by size (2,000 events), as under load.
  const store = new Store({ dataDir: dir, flushIntervalMs: 60_000, retentionIntervalMs: 3_600_000 });
  const baseUs = Date.now() * 1000 - ROUNDS * 60e6;
  const writeRound = (round) => {
    // Each round shifts the capture by one minute and gets its own trace ids, like new traffic.
    const meta = { raw: metaDoc, service: metaDoc.service.name, environment: null, agentName: 'nodejs', agentVersion: metaDoc.service.agent?.version ?? null, rxUs: baseUs + round * 60e6 };
    const suffix = round.toString(16).padStart(8, '0');
    for (const { kind, e } of events) {
      const copy = { ...e };
      if (typeof copy.timestamp === 'number') copy.timestamp = baseUs + round * 60e6 + (copy.timestamp % 60e6);
      if (typeof copy.trace_id === 'string') copy.trace_id = copy.trace_id.slice(0, 24) + suffix;
      store.add(kind, copy, meta);
    }
  };
  writeRound(0); // warm-up (JIT, statement caches)
  store.flush();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let round = 1; round <= ROUNDS; round++) writeRound(round);
  store.flush();
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const n = ROUNDS * events.length;
  console.log(`write: ${fmt(n / s)} events/s wall (${s.toFixed(2)} s), ${((cpu.user + cpu.system) / n).toFixed(1)} µs CPU per event (add + batched insert + rollups)`);

  const q = new Queries(store.db);
  const all = { fromUs: baseUs - 60e6, toUs: baseUs + (ROUNDS + 1) * 60e6 };
  const service = metaDoc.service.name;
  const sampleTrace = events.find((x) => x.kind === 'transaction').e.trace_id.slice(0, 24) + (Math.floor(ROUNDS / 2)).toString(16).padStart(8, '0');
  // (the capture has no error events, so the error queries are not listed.)
  const reads = [
    ['services overview', () => q.services(all)],
    ['service charts', () => q.serviceCharts(service, all)],
    ['transactions table', () => q.transactionGroups(service, all)],
    ['transaction samples', () => q.transactionSamples(service, undefined, all)],
    ['trace waterfall', () => {
      const t = q.trace(sampleTrace);
      if (!t.transactions.length) throw new Error(`trace ${sampleTrace} not stored`);
      return t;
    }],
    ['stats (counts + bounds)', () => q.counts()],
  ];
  console.log('read (the UI queries, in process, 30 runs):');
  for (const [label, fn] of reads) {
    fn();
    const times = [];
    for (let i = 0; i < 30; i++) {
      const t = performance.now();
      fn();
      times.push(performance.now() - t);
    }
    console.log(`  ${label.padEnd(26)} median ${median(times).toFixed(2).padStart(7)} ms`);
  }
  store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

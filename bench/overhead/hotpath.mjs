// Hot-path microbenchmarks of the runtime ABI: the cost of one instrumented call (span start+end)
// with the agent inactive, active but unsampled, and sampled, against the same call uninstrumented,
// in nanoseconds. Each mode runs in its own child process (the agent is process-global) and measures
// its own uninstrumented baseline in that process. `node bench/overhead/hotpath.mjs [--json]`
// (needs `npm run build`; run.mjs calls it after the load runs).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const abiPath = path.join(root, 'dist', 'cjs', 'runtime', 'abi.js');
const indexPath = path.join(root, 'dist', 'cjs', 'runtime', 'index.js');

const MODES = ['inactive', 'unsampled', 'sampled'];

// Two bodies: a trivial one (the worst case: the whole call is overhead) and one of about a
// microsecond (a small JSON round trip), closer to what instrumented calls wrap.
const BODIES = {
  trivial: (a, b) => a + b,
  json: (s) => JSON.parse(s).items.length,
};
const JSON_INPUT = JSON.stringify({ items: Array.from({ length: 8 }, (_, i) => ({ id: i, name: `item ${i}` })) });

const now = process.hrtime.bigint;
let blackhole = 0;

/**
 * A timing loop compiled afresh for each case, so each one has its own type feedback and V8 does not
 * see a megamorphic `op` shared by every case (which would put the same ~10 ns on all of them).
 */
function makeLoop() {
  return new Function('op', 'n', 'let acc = 0; for (let i = 0; i < n; i++) acc += op(i) | 0; return acc;');
}

/** ns/op of one timed batch of `n` iterations of `op` through `loop`. */
function timeBatch(loop, op, n) {
  const t0 = now();
  blackhole += loop(op, n);
  return Number(now() - t0) / n;
}

/**
 * Median ns/op of the baseline and the instrumented op, timed in alternation (A B A B …) after a
 * warm-up of both, so drift and JIT tiering hit both the same way.
 */
function compare(baselineOp, instrumentedOp, n, rounds = 11) {
  const loopA = makeLoop();
  const loopB = makeLoop();
  for (let w = 0; w < 3; w++) {
    timeBatch(loopA, baselineOp, n);
    timeBatch(loopB, instrumentedOp, n);
  }
  const a = [];
  const b = [];
  for (let r = 0; r < rounds; r++) {
    a.push(timeBatch(loopA, baselineOp, n));
    b.push(timeBatch(loopB, instrumentedOp, n));
  }
  const med = (xs) => xs.sort((x, y) => x - y)[xs.length >> 1];
  return [med(a), med(b)];
}

async function child(mode, sinkUrl) {
  const require = createRequire(import.meta.url);
  const abi = require(abiPath);
  const spanforge = require(indexPath);
  if (mode !== 'inactive') {
    spanforge.start({
      serviceName: 'bench-hotpath',
      serverUrl: sinkUrl,
      transactionSampleRate: mode === 'sampled' ? 1 : 0,
      metricsInterval: 0,
      logLevel: 'error',
    });
  }
  const [txSite, appSite] = abi.sites(abi.ABI_VERSION, 'bench/hotpath.ts', [
    { rule: 'user:bench.tx', handler: 'traced', name: 'bench transaction', type: 'app', line: 1, column: 1, function: 'tx' },
    { rule: 'user:bench.call', handler: 'app', name: 'bench call', type: 'app', line: 2, column: 1, function: 'work' },
  ]);
  const out = {};
  for (const [bodyName, body] of Object.entries(BODIES)) {
    const arg = bodyName === 'json' ? JSON_INPUT : 1;
    const n = bodyName === 'json' ? 20_000 : 200_000;
    const direct = bodyName === 'json' ? () => body(arg) : (i) => body(i, 1);
    const instrumented = bodyName === 'json' ? () => abi.call(appSite, undefined, body, arg) : (i) => abi.call(appSite, undefined, body, i, 1);
    let baselineOp = direct;
    let instrumentedOp = instrumented;
    let iterations = n;
    if (mode !== 'inactive') {
      // Spans need a transaction: each op is a transaction with 100 calls in it (its own cost is
      // spread over the 100 and counted, the same for baseline and instrumented). The transport
      // encodes and ships on the event loop, outside these synchronous loops; that is the design
      // (serialisation off the request path) and is measured separately as "end to end" below.
      const inTransaction = (op) => (i) => {
        let r = 0;
        abi.trace(txSite, () => {
          for (let k = 0; k < 100; k++) r += op(i * 100 + k) | 0;
        });
        return r;
      };
      baselineOp = inTransaction(direct);
      instrumentedOp = inTransaction(instrumented);
      iterations = Math.max(1, Math.floor(n / 100));
    }
    let [baseline, withSpan] = compare(baselineOp, instrumentedOp, iterations);
    if (mode !== 'inactive') {
      baseline /= 100;
      withSpan /= 100;
    }
    out[bodyName] = { uninstrumentedNs: baseline, instrumentedNs: withSpan, addedNs: withSpan - baseline, ratio: withSpan / baseline };
  }
  if (mode === 'sampled') {
    // End to end: span start+end plus its share of encoding and sending, with the event loop turning
    // between transactions and a flush every 1000 spans so the bounded queue (1024) never drops:
    // this is what a sampled span costs the process in total, not only on the request path.
    const transport = require(path.join(root, 'dist', 'cjs', 'runtime', 'agent.js')).getAgent().transport;
    await spanforge.flush(5_000);
    const before = transport?.stats();
    const cycles = 20;
    const cpu0 = process.cpuUsage();
    const t0 = now();
    for (let c = 0; c < cycles; c++) {
      for (let b = 0; b < 10; b++) {
        abi.trace(txSite, () => {
          for (let k = 0; k < 100; k++) blackhole += abi.call(appSite, undefined, BODIES.trivial, k, 1);
        });
        await new Promise((resolve) => setImmediate(resolve));
      }
      await spanforge.flush(5_000);
    }
    const elapsed = Number(now() - t0);
    const cpu = process.cpuUsage(cpu0);
    const after = transport?.stats();
    const spans = cycles * 10 * 100;
    out.endToEnd = {
      spans,
      // CPU (all threads, user+system) is the cost to the process; wall time also holds the waits
      // for the sink's acknowledgements, which on a busy machine says more about the machine.
      cpuNsPerSpan: ((cpu.user + cpu.system) * 1000) / spans,
      wallNsPerSpan: elapsed / spans,
      sent: after && before ? after.sent - before.sent : null,
      dropped: after && before ? after.dropped - before.dropped : null,
    };
  }
  process.stdout.write(JSON.stringify({ mode, ...out, blackhole: blackhole % 2 }) + '\n');
  process.exit(0);
}

function formatTable(results) {
  const fmt = (v, d = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '—');
  const lines = [
    '| mode | body | uninstrumented ns | instrumented ns | added ns | ratio |',
    '|---|---|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    for (const body of Object.keys(BODIES)) {
      const x = r[body];
      if (x) lines.push(`| ${r.mode} | ${body} | ${fmt(x.uninstrumentedNs)} | ${fmt(x.instrumentedNs)} | ${fmt(x.addedNs)} | ${fmt(x.ratio, 3)} |`);
    }
  }
  const e2e = results.find((r) => r.endToEnd)?.endToEnd;
  if (e2e) {
    lines.push(
      `\nsampled, end to end (span start+end, encoding and sending to a local sink, flush every 1000 spans): ` +
        `${fmt(e2e.cpuNsPerSpan, 0)} ns CPU per span (${fmt(e2e.wallNsPerSpan, 0)} ns wall) over ${e2e.spans} spans (events sent ${e2e.sent ?? '?'}, dropped ${e2e.dropped ?? '?'})`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const json = process.argv.includes('--json');
  const modeArg = process.argv.indexOf('--mode');
  if (modeArg !== -1) return child(process.argv[modeArg + 1], process.argv[process.argv.indexOf('--sink') + 1]);
  if (!existsSync(abiPath) || !existsSync(indexPath)) {
    throw new Error(`hotpath: ${path.relative(root, abiPath)} or runtime/index.js is missing; run \`npm run build\` first`);
  }
  // A discarding intake sink in its own process, so the agent's sending costs this process nothing extra.
  const services = spawn(process.execPath, [path.join(here, 'services.mjs'), '--exit-with-stdin'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ports = await new Promise((resolve, reject) => {
    let buf = '';
    services.stdout.on('data', (c) => {
      buf += c;
      if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0]));
    });
    services.on('exit', (code) => reject(new Error(`hotpath: services.mjs exited (${code})`)));
  });
  const results = [];
  try {
    for (const mode of MODES) {
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--mode', mode, '--sink', `http://127.0.0.1:${ports.sinkPort}`], { encoding: 'utf8', timeout: 120_000 });
      if (r.status !== 0) throw new Error(`hotpath: mode ${mode} failed: ${(r.stderr || r.stdout).trim()}`);
      results.push(JSON.parse(r.stdout.trim().split('\n').pop()));
    }
  } finally {
    services.kill('SIGTERM');
  }
  const table = formatTable(results);
  if (json) process.stdout.write(JSON.stringify({ results, table }) + '\n');
  else process.stdout.write(table + '\n');
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exitCode = 1;
});

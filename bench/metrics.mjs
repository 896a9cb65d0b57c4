// Metrics benchmark: what one collector round costs (µs), what it adds to event-loop delay (collector
// on vs off in the same process, alternating phases), what the breakdown hook costs per ended span,
// the two ways of counting handles/requests, and the GC observer's cost on an allocating loop.
//
//   node bench/metrics.mjs [--dist] [--phase-ms N] [--phases N]
//
// By default it loads the TypeScript sources through tsx; --dist uses dist/cjs (run `npm run build`).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const PHASE_MS = Number(flag('--phase-ms', 2000));
const PHASES = Number(flag('--phases', 3));

async function load(rel) {
  if (args.includes('--dist')) {
    const dist = path.join(root, 'dist', 'cjs', `${rel}.js`);
    if (!existsSync(dist)) throw new Error(`${dist} is missing: run npm run build first`);
    return createRequire(import.meta.url)(dist);
  }
  const { tsImport } = await import('tsx/esm/api');
  return tsImport(path.join(root, `${rel}.ts`), import.meta.url);
}

const { startMetrics } = await load('runtime/metrics/index');
const { activeHandlesAndRequests } = await load('runtime/metrics/node-runtime');

const silent = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const f = (n, d = 1) => n.toFixed(d);

console.log(`node ${process.version}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, load ${os.loadavg().map((l) => f(l, 2)).join(' ')}`);

// ------------------------------------------------------------------------------------------------
// 1. Cost of one collector round (collectNow), system + runtime + GC metricsets, with and without
//    breakdown rows to drain. The interval is an hour so only collectNow() runs rounds.
{
  let sent = 0;
  let hooks;
  const m = startMetrics({
    metricsInterval: 3_600_000,
    breakdownMetrics: true,
    disableMetrics: [],
    globalLabels: { env: 'bench' },
    send: () => void sent++,
    logger: silent,
    addHooks: (h) => (hooks = h),
  });
  // Wall time per round (median/p99), and CPU time per round from process.cpuUsage() over all of
  // them: on a shared machine wall time includes waiting for a core, CPU time does not.
  const rounds = (n, fill) => {
    const us = [];
    let cpuUs = 0;
    for (let i = 0; i < n; i++) {
      if (fill) fill();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      m.collectNow();
      us.push((performance.now() - t0) * 1000);
      const c = process.cpuUsage(c0);
      cpuUs += c.user + c.system;
    }
    us.cpu = cpuUs / n;
    return us;
  };
  rounds(200); // warm up
  sent = 0;
  const plain = rounds(2000);
  const perRoundEvents = sent / 2000;
  // 20 transaction names x (1 duration row + app + 4 span types) = 120 breakdown rows per round
  const types = [['db', 'postgresql'], ['db', 'redis'], ['external', 'http'], ['template', undefined]];
  const fill = () => {
    for (let t = 0; t < 20; t++) {
      const name = `GET /route/${t}`;
      for (const [type, subtype] of types) {
        hooks.onSpanEnd({ type, subtype, startUs: 0, endUs: 100, childIntervals: [], transactionType: 'request', transactionName: name });
      }
      hooks.onTransactionEnd({ type: 'request', name, sampled: true, startUs: 0, endUs: 1000, childIntervals: [0, 100, 50, 200, 300, 400, 500, 600] });
    }
  };
  rounds(100, fill);
  sent = 0;
  const withRows = rounds(1000, fill);
  const perRoundWithRows = sent / 1000;
  m.stop();
  console.log('\n1. one collector round (collectNow), µs');
  console.log(`   system+runtime+GC (${f(perRoundEvents, 0)} metricsets): wall median ${f(pct(plain, 50))}  p99 ${f(pct(plain, 99))}  max ${f(Math.max(...plain))}; CPU mean ${f(plain.cpu)}`);
  console.log(`   plus 120 breakdown rows (${f(perRoundWithRows, 0)} metricsets): wall median ${f(pct(withRows, 50))}  p99 ${f(pct(withRows, 99))}  max ${f(Math.max(...withRows))}; CPU mean ${f(withRows.cpu)}`);
}

// ------------------------------------------------------------------------------------------------
// 2. Breakdown hook on the request path: ns per onSpanEnd / onTransactionEnd, against an empty
//    function called the same way (the baseline of the call itself).
{
  let hooks;
  const m = startMetrics({
    metricsInterval: 3_600_000,
    breakdownMetrics: true,
    disableMetrics: [],
    globalLabels: {},
    send: () => {},
    logger: silent,
    addHooks: (h) => (hooks = h),
  });
  const span0 = { type: 'db', subtype: 'postgresql', startUs: 0, endUs: 100, childIntervals: [], transactionType: 'request', transactionName: 'GET /users/:id' };
  const span3 = { ...span0, type: 'custom', subtype: undefined, childIntervals: [10, 40, 30, 60, 70, NaN] };
  const tx = { type: 'request', name: 'GET /users/:id', sampled: true, startUs: 0, endUs: 1000, childIntervals: [0, 100, 50, 200, 300, 400, 500, 600] };
  const N = 2_000_000;
  // CPU ns per call (process.cpuUsage), which a busy machine does not inflate as much as wall time.
  const time = (fn, arg) => {
    for (let i = 0; i < 100_000; i++) fn(arg);
    const c0 = process.cpuUsage();
    for (let i = 0; i < N; i++) fn(arg);
    const c = process.cpuUsage(c0);
    return ((c.user + c.system) * 1000) / N;
  };
  let sink = 0;
  const empty = (a) => void (sink += a.startUs);
  const base = time(empty, span0);
  const s0 = time(hooks.onSpanEnd, span0);
  const s3 = time(hooks.onSpanEnd, span3);
  const t4 = time(hooks.onTransactionEnd, tx);
  m.collectNow();
  m.stop();
  console.log('\n2. breakdown hooks, CPU ns per call (empty-function baseline ' + f(base) + ' ns)');
  console.log(`   onSpanEnd, no children: ${f(s0)}   onSpanEnd, 3 overlapping children: ${f(s3)}   onTransactionEnd, 4 children: ${f(t4)}`);
  if (sink < 0) console.log(sink);
}

// ------------------------------------------------------------------------------------------------
// 3. Counting handles and requests: getActiveResourcesInfo() (what the collector does) vs the
//    private _getActiveHandles()/_getActiveRequests() arrays Elastic reads, at 0 and 1000 sockets.
{
  const cmp = (label) => {
    const N = 2000;
    let t0 = performance.now();
    let x = 0;
    for (let i = 0; i < N; i++) x += activeHandlesAndRequests().handles;
    const ours = ((performance.now() - t0) * 1000) / N;
    t0 = performance.now();
    for (let i = 0; i < N; i++) x += process._getActiveHandles().length + process._getActiveRequests().length;
    const priv = ((performance.now() - t0) * 1000) / N;
    const c = activeHandlesAndRequests();
    console.log(`   ${label}: handles ${c.handles} (private API says ${process._getActiveHandles().length}), requests ${c.requests}: getActiveResourcesInfo ${f(ours, 2)} µs, _getActive* ${f(priv, 2)} µs${x < 0 ? '!' : ''}`);
  };
  console.log('\n3. active handles/requests, µs per count');
  cmp('idle process');
  const server = net.createServer((s) => s.on('error', () => {}));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const sockets = [];
  for (let i = 0; i < 500; i++) {
    const s = net.connect(server.address().port, '127.0.0.1');
    s.on('error', () => {});
    sockets.push(s);
    await new Promise((r) => s.once('connect', r));
  }
  await sleep(50);
  cmp('500 client + 500 server sockets');
  for (const s of sockets) s.destroy();
  server.close();
  await sleep(50);
}

// ------------------------------------------------------------------------------------------------
// 4. Event-loop delay the collector adds: a steady workload of 1 ms timers doing a little work,
//    the loop sampled at 1 ms by our own monitor; phases alternate off / on at a 100 ms interval
//    (300x more rounds than the 30 s default) and at the default.
{
  async function phase(interval) {
    const m =
      interval === 0
        ? undefined
        : startMetrics({
            metricsInterval: interval,
            breakdownMetrics: true,
            disableMetrics: [],
            globalLabels: {},
            send: () => {},
            logger: silent,
            addHooks: () => {},
          });
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const end = performance.now() + PHASE_MS;
    let ops = 0;
    await new Promise((resolve) => {
      const tick = () => {
        let x = 0;
        for (let i = 0; i < 2000; i++) x += Math.sqrt(i);
        ops += x > 0 ? 1 : 0;
        if (performance.now() < end) setTimeout(tick, 1);
        else resolve();
      };
      tick();
    });
    h.disable();
    m?.stop();
    return { mean: h.mean / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6, ops };
  }
  const results = { off: [], on100: [], on30s: [] };
  for (let i = 0; i < PHASES; i++) {
    results.off.push(await phase(0));
    results.on100.push(await phase(100));
    results.on30s.push(await phase(30_000));
  }
  const med = (rs, k) => pct(rs.map((r) => r[k]), 50);
  console.log(`\n4. event-loop delay, ms (1 ms timer workload, ${PHASES} alternating phases of ${PHASE_MS} ms, medians)`);
  for (const [label, rs] of [['collector off', results.off], ['collector every 100 ms', results.on100], ['collector every 30 s', results.on30s]]) {
    console.log(`   ${label.padEnd(24)} mean ${f(med(rs, 'mean'), 3)}  p99 ${f(med(rs, 'p99'), 3)}  max ${f(med(rs, 'max'), 3)}  ticks ${med(rs, 'ops')}`);
  }
  const dMean = med(results.on100, 'mean') - med(results.off, 'mean');
  console.log(`   added by the 100 ms collector: mean ${f(dMean * 1000, 1)} µs (ratio ${f(med(results.on100, 'mean') / med(results.off, 'mean'), 3)})`);
}

// ------------------------------------------------------------------------------------------------
// 5. The GC observer on an allocation-heavy loop: CPU ms per 1M small objects, observer off vs on,
//    alternating, medians (CPU time: wall time on a shared machine swings more than the effect).
{
  const alloc = () => {
    const c0 = process.cpuUsage();
    let keep;
    for (let i = 0; i < 1_000_000; i++) keep = { i, s: 'x' + i };
    const c = process.cpuUsage(c0);
    return [(c.user + c.system) / 1000, keep];
  };
  const run = (observe) => {
    let obs;
    if (observe) {
      obs = new PerformanceObserver(() => {});
      obs.observe({ entryTypes: ['gc'] });
    }
    const ms = [];
    for (let i = 0; i < 10; i++) ms.push(alloc()[0]);
    obs?.disconnect();
    return pct(ms, 50);
  };
  run(false);
  const off = [];
  const on = [];
  for (let i = 0; i < 7; i++) {
    off.push(run(false));
    on.push(run(true));
  }
  console.log('\n5. GC observer, CPU ms per 1M allocations (median of 7 alternating runs)');
  console.log(`   off ${f(pct(off, 50), 2)}  on ${f(pct(on, 50), 2)}  ratio ${f(pct(on, 50) / pct(off, 50), 3)}`);
}

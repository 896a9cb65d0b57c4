// `npm run bench`: builds the benchmark service in each variant (no agent, elastic-apm-node,
// OpenTelemetry, spanforge via the TypeScript transformer, spanforge via Babel/bundler), runs them
// one after the other under the same autocannon load from a separate process, and reports the
// median of repeated runs as a table and as JSON (bench/results/latest.json).
//
// Options (flags or env): --runs N (BENCH_RUNS, 3), --duration S saturating phase (BENCH_DURATION, 8),
// --warmup S (BENCH_WARMUP, 2), --rate R fixed-rate phase in req/s (BENCH_RATE, 200),
// --rate-duration S (BENCH_RATE_DURATION, 4), --connections C (BENCH_CONNECTIONS, 16),
// --variants a,b (BENCH_VARIANTS, all), --out FILE, --profile (one extra run per variant under
// --cpu-prof, summarised by top self-time functions), --no-hotpath (skip the microbenchmarks),
// --quiet-wait S (BENCH_QUIET_WAIT, 10) and --quiet-below F (BENCH_QUIET_BELOW, 0.25): before each
// run, wait up to S seconds for the machine's CPU use by others to fall below F; --retries N
// (BENCH_RETRIES, 0): repeat a run up to N times when the machine was busier than F around it;
// --nice N (BENCH_NICE, -10): scheduling priority of the harness, app, load generator and sinks, so
// other work on the machine (builds, test suites) disturbs the measurement less (needs root; the
// run goes on at normal priority otherwise); --startups N (BENCH_STARTUPS, 7): start-up is timed
// N more times per variant without load (interleaved; median), finer than the load runs allow.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { summariseProfile, formatProfileSummary } from './profile.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const buildDir = path.join(here, 'build');
const TABLE = 'spanforge_bench_users';

// ------------------------------------------------------------------------------------------------
// options

function parseOptions(argv) {
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`bench: unexpected argument "${arg}" (options start with --)`);
    const [key, inline] = arg.slice(2).split('=', 2);
    if (['profile', 'no-hotpath', 'help'].includes(key)) flags[key] = true;
    else flags[key] = inline ?? argv[++i];
  }
  if (flags.help) {
    const header = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
    process.stdout.write(header.slice(0, header.findIndex((line) => !line.startsWith('//'))).join('\n') + '\n');
    process.exit(0);
  }
  const num = (flag, env, dflt, min) => {
    const raw = flags[flag] ?? process.env[env];
    if (raw === undefined) return dflt;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min) throw new Error(`bench: --${flag} (${env}) must be a number >= ${min}, got "${raw}"`);
    return value;
  };
  const known = new Set(['runs', 'duration', 'warmup', 'rate', 'rate-duration', 'connections', 'variants', 'out', 'profile', 'no-hotpath', 'quiet-wait', 'quiet-below', 'retries', 'nice', 'startups']);
  for (const key of Object.keys(flags)) if (!known.has(key)) throw new Error(`bench: unknown option --${key}; known: ${[...known].join(', ')}`);
  const variantList = flags.variants ?? process.env.BENCH_VARIANTS;
  return {
    runs: Math.round(num('runs', 'BENCH_RUNS', 3, 1)),
    duration: num('duration', 'BENCH_DURATION', 8, 1),
    warmup: num('warmup', 'BENCH_WARMUP', 2, 0),
    rate: num('rate', 'BENCH_RATE', 200, 1),
    rateDuration: num('rate-duration', 'BENCH_RATE_DURATION', 4, 0),
    connections: Math.round(num('connections', 'BENCH_CONNECTIONS', 16, 1)),
    variants: variantList ? variantList.split(',').map((v) => v.trim()).filter(Boolean) : null,
    out: flags.out ?? path.join(root, 'bench', 'results', 'latest.json'),
    profile: Boolean(flags.profile),
    hotpath: !flags['no-hotpath'],
    quietWait: num('quiet-wait', 'BENCH_QUIET_WAIT', 10, 0),
    retries: Math.round(num('retries', 'BENCH_RETRIES', 0, 0)),
    nice: Math.round(num('nice', 'BENCH_NICE', -10, -20)),
    startups: Math.round(num('startups', 'BENCH_STARTUPS', 7, 0)),
    quietBelow: num('quiet-below', 'BENCH_QUIET_BELOW', 0.25, 0),
  };
}

// ------------------------------------------------------------------------------------------------
// small helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', ...options });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n');
    return { ok: false, output: output || String(result.error ?? `exit ${result.status}`) };
  }
  return { ok: true, output: result.stdout };
}

function median(values) {
  const xs = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** User+system CPU seconds of a process so far, from /proc (Linux). */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Read/write system calls so far (all threads) and the main thread's context switches, from /proc. */
function ioCounters(pid) {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (text, name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(text)?.[1] ?? NaN);
    return { syscr: field(io, 'syscr'), syscw: field(io, 'syscw'), ctx: field(status, 'voluntary_ctxt_switches') + field(status, 'nonvoluntary_ctxt_switches') };
  } catch {
    return null;
  }
}

/** Peak resident set size in MiB (VmHWM), from /proc (Linux). */
function peakRssMiB(pid) {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * The benchmark's scheduling priority. It is set on the harness itself and every process it spawns
 * inherits it (nice is inherited across fork, by every thread the child then creates).
 */
let niceness = 0;
const spawnNode = (args, options) => spawn(process.execPath, args, options);

/** Busy share (0–1) of all CPUs over `ms`, from /proc/stat: how much else is running. */
async function machineBusy(ms) {
  const read = () => {
    try {
      const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
      const idle = line[3] + (line[4] ?? 0);
      const total = line.reduce((a, b) => a + b, 0);
      return { idle, total };
    } catch {
      return null;
    }
  };
  const a = read();
  await sleep(ms);
  const b = read();
  if (!a || !b || b.total === a.total) return null;
  return 1 - (b.idle - a.idle) / (b.total - a.total);
}

/**
 * Waits (bounded) until the machine is quiet before a run: other work on a 2-core machine moves
 * throughput by a factor of two, far more than the effect being measured. Returns the last reading.
 */
async function waitForQuiet(maxSeconds, threshold) {
  const deadline = performance.now() + maxSeconds * 1000;
  let busy = await machineBusy(500);
  while (busy !== null && busy > threshold && performance.now() < deadline) busy = await machineBusy(1000);
  return busy;
}

function httpGet(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

// ------------------------------------------------------------------------------------------------
// set-up: comparison agents, PostgreSQL table, sinks and stub

function ensureBenchDependencies() {
  if (existsSync(path.join(here, 'node_modules', '.package-lock.json'))) return;
  process.stdout.write('bench: installing the comparison agents (npm ci --prefix bench/overhead)…\n');
  const result = run('npm', ['ci', '--prefix', here, '--ignore-scripts', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (!result.ok) throw new Error('bench: npm ci --prefix bench/overhead failed; see the output above');
}

/** The harness's own PostgreSQL connection (table set-up, finding the app's server processes). */
let pgClient = null;

async function preparePostgres() {
  const requireFromHere = createRequire(path.join(here, 'run.mjs'));
  const pg = requireFromHere('pg');
  const client = new pg.Client({
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    user: process.env.PGUSER ?? 'postgres',
    database: process.env.PGDATABASE ?? 'test',
  });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`bench: cannot reach PostgreSQL at ${client.host}:${client.port} db ${client.database} as ${client.user} (${err.message}); the service needs it (set PGHOST/PGPORT/PGUSER/PGDATABASE)`);
  }
  await client.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id int PRIMARY KEY, name text NOT NULL)`);
  await client.query(`INSERT INTO ${TABLE} SELECT g, 'user ' || g FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING`);
  pgClient = client;
}

/**
 * Gives the PostgreSQL server processes that serve the app's pool (application_name
 * 'spanforge-bench') the benchmark's priority too: each request waits on them, so other work
 * slowing them would show up as agent overhead. Only works where PostgreSQL runs on this machine
 * and we may renice it (root); otherwise nothing changes.
 */
async function prioritiseBackends() {
  if (niceness === 0 || !pgClient) return 0;
  let n = 0;
  try {
    const { rows } = await pgClient.query("SELECT pid FROM pg_stat_activity WHERE application_name = 'spanforge-bench'");
    for (const { pid } of rows) {
      try {
        os.setPriority(pid, niceness);
        n++;
      } catch {
        // another machine, or not permitted
      }
    }
  } catch {
    // pg_stat_activity not readable: leave them be
  }
  return n;
}

function startServices() {
  return new Promise((resolve, reject) => {
    const child = spawnNode([path.join(here, 'services.mjs'), '--exit-with-stdin'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      const line = buffered.split('\n')[0];
      if (buffered.includes('\n')) {
        const ports = JSON.parse(line);
        resolve({ child, ...ports, sinkUrl: `http://127.0.0.1:${ports.sinkPort}`, stubUrl: `http://127.0.0.1:${ports.stubPort}` });
      }
    });
    child.on('exit', (code) => reject(new Error(`bench: services.mjs exited early (${code})`)));
  });
}

// ------------------------------------------------------------------------------------------------
// the variants

const plainServer = path.join(buildDir, 'plain', 'server.js');

function buildPlain() {
  const result = run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(here, 'app', 'tsconfig.json')]);
  return result.ok ? { ok: true } : { ok: false, reason: `tsc failed:\n${result.output}` };
}

const spanforgeStart = path.join(here, 'agents', 'spanforge-start.cjs');

/**
 * Emitted code imports "spanforge/runtime" and the start file requires "spanforge"; bench/overhead
 * is its own package, so it sees the repository's package through a link in its node_modules, as an
 * app sees an installed spanforge.
 */
function ensureSpanforgeLink() {
  const link = path.join(here, 'node_modules', 'spanforge');
  if (!existsSync(link)) symlinkSync(path.relative(path.dirname(link), root), link, 'dir');
}

/** spanforge reads the same ELASTIC_APM_* variables as elastic-apm-node (runtime/config.ts). */
function spanforgeEnv(services, serviceName) {
  return {
    ELASTIC_APM_SERVER_URL: services.sinkUrl,
    ELASTIC_APM_SERVICE_NAME: serviceName,
    ELASTIC_APM_TRANSACTION_SAMPLE_RATE: '1',
    ELASTIC_APM_CLOUD_PROVIDER: 'none',
    ELASTIC_APM_LOG_LEVEL: 'warn',
  };
}

/** Each variant: how to build it (once) and how to start it. */
const VARIANTS = [
  {
    id: 'none',
    label: 'no agent',
    build: buildPlain,
    start: () => ({ args: [plainServer], env: {} }),
  },
  {
    id: 'elastic',
    label: 'elastic-apm-node',
    build: () => (existsSync(path.join(here, 'node_modules', 'elastic-apm-node')) ? { ok: true } : { ok: false, reason: 'elastic-apm-node is not installed in bench/overhead' }),
    // The documented zero-code start: `node -r elastic-apm-node/start app.js`, configured by env.
    start: (services) => ({
      args: ['-r', 'elastic-apm-node/start', plainServer],
      env: {
        ELASTIC_APM_SERVER_URL: services.sinkUrl,
        ELASTIC_APM_SERVICE_NAME: 'bench-elastic',
        ELASTIC_APM_TRANSACTION_SAMPLE_RATE: '1',
        // Cloud metadata discovery would probe 169.254.169.254; this machine may only talk to loopback.
        ELASTIC_APM_CLOUD_PROVIDER: 'none',
        ELASTIC_APM_LOG_LEVEL: 'warn',
      },
    }),
  },
  {
    id: 'otel',
    label: 'OpenTelemetry SDK',
    build: () => (existsSync(path.join(here, 'node_modules', '@opentelemetry', 'sdk-node')) ? { ok: true } : { ok: false, reason: '@opentelemetry/sdk-node is not installed in bench/overhead' }),
    start: (services) => ({
      args: ['--require', path.join(here, 'agents', 'otel.cjs'), plainServer],
      env: {
        BENCH_SINK_URL: services.sinkUrl,
        OTEL_METRICS_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
        // Cloud detectors would probe metadata endpoints; keep to the local ones.
        OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process',
      },
    }),
  },
  {
    id: 'spanforge-tsc',
    label: 'spanforge (tsc transformer)',
    build: buildSpanforgeTsc,
    start: (services) => ({ args: ['-r', spanforgeStart, path.join(buildDir, 'spanforge-tsc', 'server.js')], env: spanforgeEnv(services, 'bench-spanforge-tsc') }),
  },
  {
    id: 'spanforge-babel',
    label: 'spanforge (Babel plugin)',
    build: buildSpanforgeBabel,
    start: (services) => ({ args: ['-r', spanforgeStart, path.join(buildDir, 'spanforge-babel', 'server.js')], env: spanforgeEnv(services, 'bench-spanforge-babel') }),
  },
];

function buildSpanforgeTsc() {
  if (!existsSync(path.join(root, 'dist', 'cjs', 'transformer', 'index.js'))) {
    return { ok: false, reason: 'dist/cjs/transformer/index.js is missing (the transformer has not landed, or `npm run build` did not run)' };
  }
  const result = run(process.execPath, [path.join(root, 'node_modules', 'ts-patch', 'bin', 'tspc.js'), '-p', path.join(here, 'app', 'tsconfig.spanforge.json')]);
  return result.ok ? { ok: true } : { ok: false, reason: `tspc with spanforge/transformer failed:\n${result.output}` };
}

function buildSpanforgeBabel() {
  if (!existsSync(path.join(root, 'dist', 'cjs', 'babel-plugin', 'index.js'))) {
    return { ok: false, reason: 'dist/cjs/babel-plugin/index.js is missing (the Babel plugin has not landed, or `npm run build` did not run)' };
  }
  const result = run(process.execPath, [path.join(here, 'build-babel.mjs')]);
  return result.ok ? { ok: true } : { ok: false, reason: `Babel build with spanforge/babel failed:\n${result.output}` };
}

// ------------------------------------------------------------------------------------------------
// one run of one variant

function runLoad(options) {
  return new Promise((resolve, reject) => {
    const child = spawnNode([path.join(here, 'load.mjs'), JSON.stringify(options)], { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`bench: load generator failed (${code}): ${err.trim()}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

async function stopApp(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 8_000);
  await exited;
  clearTimeout(timer);
}

/** Children to stop if the harness is interrupted. */
const liveApps = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of liveApps) child.kill('SIGKILL');
    process.exit(130);
  });
}

async function runOnce(variant, services, options, { profileDir } = {}) {
  const backgroundBusy = await waitForQuiet(options.quietWait, options.quietBelow);
  const { args, env } = variant.start(services);
  const nodeFlags = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const t0 = performance.now();
  const child = spawnNode([...nodeFlags, ...args], {
    cwd: here,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env, BENCH_PORT: '0', BENCH_STUB_URL: services.stubUrl, BENCH_TABLE: TABLE },
  });
  liveApps.add(child);
  child.once('exit', () => liveApps.delete(child));
  let stderr = '';
  child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
  const exitedEarly = new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`${variant.id} exited (${code}) before it was stopped:\n${stderr}`))));
  exitedEarly.catch(() => {});
  try {
    const port = await Promise.race([
      exitedEarly,
      new Promise((resolve) => {
        let out = '';
        child.stdout.on('data', function onData(chunk) {
          out += chunk;
          const match = /listening (\d+)/.exec(out);
          if (match) {
            child.stdout.off('data', onData);
            child.stdout.resume();
            resolve(Number(match[1]));
          }
        });
      }),
      sleep(30_000).then(() => {
        throw new Error(`${variant.id} did not start listening within 30 s:\n${stderr}`);
      }),
    ]);
    const tListening = performance.now();
    const url = `http://127.0.0.1:${port}`;
    const first = await Promise.race([exitedEarly, httpGet(`${url}/users/1`)]);
    const tFirst = performance.now();
    if (first.status !== 200) throw new Error(`${variant.id}: first request answered ${first.status}: ${first.body}`);
    if (options.startOnly) return { startupMs: tFirst - t0, listenMs: tListening - t0, backgroundBusyPct: backgroundBusy === null ? null : Math.round(backgroundBusy * 1000) / 10 };

    if (options.warmup > 0) await runLoad({ url, connections: options.connections, duration: options.warmup });
    const backendsPrioritised = await prioritiseBackends();

    await httpGet(`${services.sinkUrl}/__stats?reset`);
    const cpu0 = cpuSeconds(child.pid);
    const io0 = ioCounters(child.pid);
    const saturated = await Promise.race([exitedEarly, runLoad({ url, connections: options.connections, duration: options.duration })]);
    const cpu1 = cpuSeconds(child.pid);
    const io1 = ioCounters(child.pid);
    const fixed = options.rateDuration > 0 ? await Promise.race([exitedEarly, runLoad({ url, connections: options.connections, duration: options.rateDuration, rate: options.rate })]) : null;
    // Give batching agents a moment to ship what they hold before the sink counters are read.
    await sleep(1_000);
    const sink = JSON.parse((await httpGet(`${services.sinkUrl}/__stats`)).body);
    const rss = peakRssMiB(child.pid);
    if (saturated.non2xx > 0 || saturated.errors > 0) throw new Error(`${variant.id}: ${saturated.non2xx} non-2xx answers and ${saturated.errors} errors under load:\n${stderr}`);
    return {
      backgroundBusyPct: backgroundBusy === null ? null : Math.round(backgroundBusy * 1000) / 10,
      backendsPrioritised,
      startupMs: tFirst - t0,
      listenMs: tListening - t0,
      rps: saturated.rps,
      requests: saturated.requests,
      p50Ms: saturated.p50,
      p99Ms: saturated.p99,
      fixedRate: fixed ? { targetRps: options.rate, rps: fixed.rps, requests: fixed.requests, p50Ms: fixed.p50, p99Ms: fixed.p99 } : null,
      cpuSecondsPer10k: cpu0 !== null && cpu1 !== null ? ((cpu1 - cpu0) / saturated.requests) * 10_000 : null,
      peakRssMiB: rss,
      // Socket writes and wake-ups cost far more than user code on a VM; the agent adds some of each.
      writeSyscallsPerRequest: io0 && io1 ? (io1.syscw - io0.syscw) / saturated.requests : null,
      readSyscallsPerRequest: io0 && io1 ? (io1.syscr - io0.syscr) / saturated.requests : null,
      contextSwitchesPerRequest: io0 && io1 ? (io1.ctx - io0.ctx) / saturated.requests : null,
      sink: {
        intakeEvents: sink.intakeEvents,
        intakeBytes: sink.intakeBytes,
        otlpSpans: sink.otlpSpans,
        otlpBytes: sink.otlpBytes,
      },
    };
  } finally {
    await stopApp(child);
  }
}

/**
 * One run, repeated (up to --retries times) when the machine was busy with other work just before
 * or just after it; keeps the run with the least background load and says how many were retried.
 */
async function runQuiet(variant, services, options) {
  let best = null;
  for (let attempt = 0; attempt <= options.retries; attempt++) {
    const r = await runOnce(variant, services, options);
    r.backgroundBusyAfterPct = await machineBusy(500).then((b) => (b === null ? null : Math.round(b * 1000) / 10));
    r.retries = attempt;
    const noise = Math.max(r.backgroundBusyPct ?? 0, r.backgroundBusyAfterPct ?? 0);
    if (best === null || noise < best.noise) best = { run: r, noise };
    if (noise <= options.quietBelow * 100) break;
    if (attempt < options.retries) process.stdout.write(`(machine ${noise}% busy with other work; again) `);
    else process.stdout.write(`(machine ${noise}% busy with other work; kept the quietest try) `);
  }
  return best.run;
}

// ------------------------------------------------------------------------------------------------
// aggregation and output

function aggregate(variant, runs) {
  const pick = (fn) => median(runs.map(fn));
  return {
    id: variant.id,
    label: variant.label,
    runs: runs.length,
    rps: pick((r) => r.rps),
    p50Ms: pick((r) => r.p50Ms),
    p99Ms: pick((r) => r.p99Ms),
    fixedRateP50Ms: pick((r) => r.fixedRate?.p50Ms),
    fixedRateP99Ms: pick((r) => r.fixedRate?.p99Ms),
    fixedRateRps: pick((r) => r.fixedRate?.rps),
    cpuSecondsPer10k: pick((r) => r.cpuSecondsPer10k),
    peakRssMiB: pick((r) => r.peakRssMiB),
    writeSyscallsPerRequest: pick((r) => r.writeSyscallsPerRequest),
    readSyscallsPerRequest: pick((r) => r.readSyscallsPerRequest),
    contextSwitchesPerRequest: pick((r) => r.contextSwitchesPerRequest),
    startupMs: pick((r) => r.startupMs),
    backgroundBusyPct: pick((r) => r.backgroundBusyPct),
    listenMs: pick((r) => r.listenMs),
    // Events (intake lines or OTLP spans) the sink received per request served while it counted.
    sinkEventsPerRequest: pick((r) => (r.sink.intakeEvents + r.sink.otlpSpans) / (r.requests + (r.fixedRate?.requests ?? 0))),
    raw: runs,
  };
}

function addRatios(results) {
  const base = results.find((r) => r.id === 'none' && r.rps !== null);
  for (const r of results) {
    if (!base || r.rps === null) continue;
    // Paired by round (each run against the baseline run next to it), then the median: this
    // cancels drift that a ratio of two medians would keep.
    const rounds = Math.min(r.raw.length, base.raw.length);
    const paired = (fn) => median(Array.from({ length: rounds }, (_, i) => fn(r.raw[i], base.raw[i])));
    r.throughputRatio = paired((a, b) => a.rps / b.rps);
    r.cpuRatio = paired((a, b) => a.cpuSecondsPer10k / b.cpuSecondsPer10k);
    r.throughputRatioOfMedians = r.rps / base.rps;
    r.throughputLossPct = (1 - r.throughputRatio) * 100;
    r.p99AddedMs = r.p99Ms - base.p99Ms;
    r.fixedRateP99AddedMs = r.fixedRateP99Ms !== null && base.fixedRateP99Ms !== null ? r.fixedRateP99Ms - base.fixedRateP99Ms : null;
    r.startupAddedMs = r.startupMs - base.startupMs;
  }
}

function fmt(value, digits = 1) {
  return value === null || value === undefined || Number.isNaN(value) ? '—' : value.toFixed(digits);
}

export function formatTable(results, rate) {
  // A variant that could not keep up with the fixed rate was measured saturated there too.
  const saturated = (r) => r.fixedRateRps !== null && r.fixedRateRps !== undefined && r.fixedRateRps < 0.9 * rate;
  const sat = (r) => (saturated(r) ? '*' : '');
  const header = ['variant', 'req/s', 'ratio', 'p50 ms', 'p99 ms', 'p50 ms @rate', 'p99 ms @rate', 'CPU s/10k', 'CPU ×', 'writes/req', 'peak RSS MiB', 'start-up ms', 'events/req'];
  const rows = results.map((r) =>
    r.notRun
      ? [r.label, `not run: ${r.notRun.split('\n')[0]}`]
      : [r.label, fmt(r.rps, 0), fmt(r.throughputRatio, 3), fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), fmt(r.fixedRateP50Ms, 2) + sat(r), fmt(r.fixedRateP99Ms, 2) + sat(r), fmt(r.cpuSecondsPer10k, 2), fmt(r.cpuRatio, 2), fmt(r.writeSyscallsPerRequest, 2), fmt(r.peakRssMiB, 0), fmt(r.startupMs, 0), fmt(r.sinkEventsPerRequest, 2)],
  );
  const lines = ['| ' + header.join(' | ') + ' |', '|' + header.map((h, i) => (i === 0 ? '---|' : '---:|')).join('')];
  for (const row of rows) lines.push('| ' + row.join(' | ') + ' |');
  if (results.some((r) => !r.notRun && saturated(r))) lines.push(`\n\\* could not keep up with the fixed rate of ${rate} req/s: that latency was measured saturated`);
  return lines.join('\n');
}

function targetReport(results, hotpath) {
  const get = (id) => results.find((r) => r.id === id && !r.notRun);
  const elastic = get('elastic');
  const lines = [];
  for (const id of ['spanforge-tsc', 'spanforge-babel']) {
    const sf = get(id);
    if (!sf) {
      lines.push(`${id}: not run`);
      continue;
    }
    const checks = [];
    checks.push(`throughput loss ${fmt(sf.throughputLossPct)}% (target < 10%)${sf.throughputLossPct < 10 ? ' ok' : ' MISSED'}`);
    if (elastic) {
      const half = elastic.throughputLossPct / 2;
      checks.push(`vs half of elastic's loss ${fmt(half)}%${sf.throughputLossPct <= half ? ' ok' : ' MISSED'}`);
    }
    checks.push(`p99 added at ${results[0].fixedRateRps ? 'fixed rate' : 'saturation'} ${fmt(sf.fixedRateP99AddedMs ?? sf.p99AddedMs, 2)} ms (target < 1 ms)${(sf.fixedRateP99AddedMs ?? sf.p99AddedMs) < 1 ? ' ok' : ' MISSED'}`);
    checks.push(`start-up added ${fmt(sf.startupAddedMs)} ms (target < 20 ms)${sf.startupAddedMs < 20 ? ' ok' : ' MISSED'}`);
    lines.push(`${id}: ${checks.join('; ')}`);
  }
  const inactive = hotpath?.abi?.results?.find((r) => r.mode === 'inactive');
  if (inactive) {
    const pct = (x) => (x.ratio - 1) * 100;
    lines.push(
      `instrumented call, agent inactive (target within 5% of uninstrumented): ` +
        `~${fmt(inactive.json.uninstrumentedNs / 1000, 1)} µs body ${pct(inactive.json) >= 0 ? '+' : ''}${fmt(pct(inactive.json))}%${pct(inactive.json) <= 5 ? ' ok' : ' MISSED'}; ` +
        `trivial body +${fmt(inactive.trivial.addedNs)} ns (${fmt(inactive.trivial.ratio)}×)${pct(inactive.trivial) <= 5 ? ' ok' : ' MISSED'}`,
    );
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------------

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const selected = options.variants ? options.variants.map((id) => VARIANTS.find((v) => v.id === id) ?? (() => { throw new Error(`bench: unknown variant "${id}"; known: ${VARIANTS.map((v) => v.id).join(', ')}`); })()) : VARIANTS;
  if (!selected.some((v) => v.id === 'none')) selected.unshift(VARIANTS[0]); // ratios need the baseline

  niceness = options.nice;
  try {
    if (niceness !== 0) os.setPriority(0, niceness);
  } catch {
    process.stdout.write(`bench: cannot set priority ${niceness} (not root?); measuring at normal priority\n`);
    niceness = 0;
  }
  ensureBenchDependencies();
  ensureSpanforgeLink();
  await preparePostgres();
  mkdirSync(buildDir, { recursive: true });

  const built = [];
  const results = [];
  for (const variant of selected) {
    const result = variant.build();
    if (result.ok) built.push(variant);
    else {
      process.stdout.write(`bench: ${variant.id} not run: ${result.reason}\n`);
      results.push({ id: variant.id, label: variant.label, notRun: result.reason });
    }
  }
  if (!built.some((v) => v.id === 'none')) throw new Error('bench: the no-agent baseline did not build; nothing to compare against');

  const services = await startServices();
  const runsByVariant = new Map(built.map((v) => [v.id, []]));
  try {
    // Interleave the variants round by round so drift (thermal, other load) spreads over all of them.
    for (let round = 1; round <= options.runs; round++) {
      for (const variant of built) {
        process.stdout.write(`bench: round ${round}/${options.runs} ${variant.id}… `);
        const r = await runQuiet(variant, services, options);
        runsByVariant.get(variant.id).push(r);
        process.stdout.write(`${fmt(r.rps, 0)} req/s, p99 ${fmt(r.p99Ms, 2)} ms, start-up ${fmt(r.startupMs, 0)} ms\n`);
      }
    }
    const startups = new Map(built.map((v) => [v.id, []]));
    for (let i = 0; i < options.startups; i++) {
      for (const variant of built) {
        const r = await runOnce(variant, services, { ...options, startOnly: true, quietWait: Math.min(options.quietWait, 2) });
        startups.get(variant.id).push(r.startupMs);
      }
    }
    if (options.startups > 0) process.stdout.write(`bench: start-up timed ${options.startups} more times per variant\n`);

    const profiles = {};
    if (options.profile) {
      const profileRoot = path.join(here, 'profiles');
      for (const variant of built) {
        const dir = path.join(profileRoot, variant.id);
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        process.stdout.write(`bench: profiling ${variant.id}…\n`);
        await runOnce(variant, services, { ...options, warmup: 0 }, { profileDir: dir });
        const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
        if (!file) {
          profiles[variant.id] = { error: 'no .cpuprofile written (the process did not exit normally)' };
          continue;
        }
        const summary = summariseProfile(JSON.parse(readFileSync(path.join(dir, file), 'utf8')), { top: 20 });
        profiles[variant.id] = summary;
        writeFileSync(path.join(profileRoot, `${variant.id}.txt`), formatProfileSummary(summary));
      }
    }

    for (const variant of built) {
      const agg = aggregate(variant, runsByVariant.get(variant.id));
      const times = startups.get(variant.id);
      if (times.length > 0) {
        // Start-up from the dedicated, unloaded start-ups (plus those of the load runs).
        agg.startupSamplesMs = [...times, ...agg.raw.map((r) => r.startupMs)];
        agg.startupMs = median(agg.startupSamplesMs);
      }
      results.push(agg);
    }
    results.sort((a, b) => VARIANTS.findIndex((v) => v.id === a.id) - VARIANTS.findIndex((v) => v.id === b.id));
    addRatios(results);

    let hotpath = null;
    if (options.hotpath) hotpath = runHotpath();

    const table = formatTable(results, options.rate);
    const targets = targetReport(results, hotpath);
    process.stdout.write(`\n${table}\n\n${targets}\n`);
    if (hotpath) {
      if (hotpath.abi.table) process.stdout.write(`\nABI call path (bench/overhead/hotpath.mjs):\n${hotpath.abi.table}\n`);
      if (hotpath.abi.notRun) process.stdout.write(`\nABI call-path microbenchmark not run: ${hotpath.abi.notRun}\n`);
      if (hotpath.tracer.output) process.stdout.write(`\ntracer primitives (${hotpath.tracer.command}):\n${hotpath.tracer.output}\n`);
      if (hotpath.tracer.notRun) process.stdout.write(`\ntracer microbenchmark not run: ${hotpath.tracer.notRun}\n`);
    }
    for (const [id, summary] of Object.entries(profiles)) if (!summary.error) process.stdout.write(`\nCPU profile, ${id}:\n${formatProfileSummary(summary, 10)}`);

    const report = {
      date: new Date().toISOString(),
      command: `node bench/overhead/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
      machine: { node: process.version, platform: `${os.platform()} ${os.release()}`, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
      versions: versionsOf(['elastic-apm-node', '@opentelemetry/sdk-node', '@opentelemetry/instrumentation-http', '@opentelemetry/instrumentation-express', '@opentelemetry/instrumentation-undici', '@opentelemetry/instrumentation-pg', '@opentelemetry/exporter-trace-otlp-http', 'autocannon', 'express', 'pg']),
      options,
      table,
      targets,
      results,
      hotpath,
      profiles,
    };
    mkdirSync(path.dirname(options.out), { recursive: true });
    writeFileSync(options.out, JSON.stringify(report, null, 2) + '\n');
    process.stdout.write(`\nbench: wrote ${path.relative(process.cwd(), options.out)}\n`);
  } finally {
    services.child.kill('SIGTERM');
    await pgClient?.end().catch(() => {});
  }
}

function versionsOf(names) {
  const requireFromHere = createRequire(path.join(here, 'run.mjs'));
  const out = {};
  for (const name of names) {
    try {
      out[name] = requireFromHere(`${name}/package.json`).version;
    } catch {
      out[name] = null;
    }
  }
  return out;
}

/**
 * The microbenchmarks: bench/overhead/hotpath.mjs times the ABI path emitted code takes
 * (`call(site, …)` around a real function, against calling it directly); the runtime engineer's
 * bench/runtime-hotpath.mjs, when present, times the tracer's own span start+end through the public
 * API. They cover different layers, so both run and neither is duplicated.
 */
function runHotpath() {
  const out = {};
  const run = (args) => spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 300_000 });
  const abi = run([path.join(here, 'hotpath.mjs'), '--json']);
  if (abi.status !== 0) out.abi = { notRun: `bench/overhead/hotpath.mjs failed: ${(abi.stderr || abi.stdout).trim().split('\n').slice(-5).join(' / ')}` };
  else out.abi = JSON.parse(abi.stdout.trim().split('\n').pop());
  const runtimeScript = path.join(root, 'bench', 'runtime-hotpath.mjs');
  if (existsSync(runtimeScript)) {
    const r = run([runtimeScript, '500000']);
    if (r.status !== 0) out.tracer = { notRun: `bench/runtime-hotpath.mjs failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join(' / ')}` };
    else {
      // Its lines read "<label>  <ns> ns/op  <ratio>× baseline".
      const rows = [];
      for (const line of r.stdout.split('\n')) {
        const m = /^(.*?)\s+([\d.]+) ns\/op\s+([\d.]+)× baseline/.exec(line);
        if (m) rows.push({ label: m[1].trim(), ns: Number(m[2]), ratio: Number(m[3]) });
      }
      out.tracer = { command: 'node bench/runtime-hotpath.mjs 500000', rows, output: r.stdout.trim() };
    }
  } else out.tracer = { notRun: 'bench/runtime-hotpath.mjs does not exist' };
  return out;
}

main().catch((err) => {
  // Our own errors (bad options, missing services) say what is wrong; a stack would only hide it.
  process.stderr.write(`${String(err?.message ?? '').startsWith('bench:') ? err.message : err?.stack ?? err}\n`);
  process.exitCode = 1;
});

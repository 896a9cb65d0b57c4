// Transport benchmark: what send() costs the caller (ns/event, against baselines measured in the
// same process), and how many events/s the transport ships to a local intake sink running in a
// separate process, with and without gzip, with the app-side CPU it spends per event.
//
//   node bench/transport.mjs [--events N] [--dist]
//
// By default it loads the TypeScript sources through tsx; --dist uses dist/cjs (run `npm run build`).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const TOTAL = Number(flag('--events', process.env.BENCH_EVENTS ?? 200_000));

async function loadTransport() {
  if (args.includes('--dist')) {
    const dist = path.join(root, 'dist', 'cjs', 'runtime', 'transport', 'index.js');
    if (!existsSync(dist)) throw new Error(`${dist} is missing: run npm run build first`);
    return createRequire(import.meta.url)(dist);
  }
  const { tsImport } = await import('tsx/esm/api');
  return tsImport(path.join(root, 'runtime', 'transport', 'index.ts'), import.meta.url);
}

const { createTransport } = await loadTransport();

const silent = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };
const metadata = () => ({
  service: { name: 'bench', agent: { name: 'spanforge', version: '0.1.0' }, runtime: { name: 'node', version: process.versions.node } },
});
// A realistic span: ~400 bytes of NDJSON.
function makeEvent(i) {
  return {
    span: {
      id: i.toString(16).padStart(16, '0'),
      trace_id: '0af7651916cd43dd8448eb211c80319c',
      parent_id: 'b7ad6b7169203331',
      transaction_id: 'b7ad6b7169203331',
      name: 'SELECT users',
      type: 'db',
      subtype: 'postgresql',
      action: 'query',
      timestamp: 1_700_000_000_000_000 + i,
      duration: 1.234,
      outcome: 'success',
      context: {
        db: { type: 'sql', instance: 'test', statement: `SELECT id, name FROM users WHERE id = $1 /* ${i} */` },
        destination: { address: '127.0.0.1', port: 5432, service: { resource: 'postgresql', name: '', type: '' } },
        service: { target: { type: 'postgresql', name: 'test' } },
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The sink: a separate process that reads intake requests, counts events, answers 202.
function startSink() {
  const code = `
    const http = require('node:http'); const zlib = require('node:zlib');
    let events = 0, requests = 0, bytes = 0;
    const srv = http.createServer((req, res) => {
      if (req.method !== 'POST') { res.end('{"version":"8.12.2"}'); return; }
      requests++;
      let src = req;
      if (req.headers['content-encoding'] === 'gzip') src = req.pipe(zlib.createGunzip());
      let lines = 0;
      src.on('data', (c) => { bytes += c.length; for (let i = 0; i < c.length; i++) if (c[i] === 10) lines++; });
      src.on('end', () => { events += lines - 1; res.statusCode = 202; res.end(); });
    });
    srv.listen(0, '127.0.0.1', () => process.send({ port: srv.address().port }));
    process.on('message', (m) => { if (m === 'stats') process.send({ events, requests, bytes }); if (m === 'reset') { events = requests = bytes = 0; } });
  `;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ask = (msg) =>
    new Promise((resolve) => {
      child.once('message', resolve);
      if (msg) child.send(msg);
    });
  return ask(null).then(({ port }) => ({ port, stats: () => ask('stats'), reset: () => child.send('reset'), stop: () => child.kill() }));
}

function options(port, extra = {}) {
  return {
    serverUrl: `http://127.0.0.1:${port}`,
    serverTimeout: 30_000,
    apiRequestTime: 10_000,
    apiRequestSize: 768 * 1024,
    verifyServerCert: true,
    userAgent: 'spanforge/0.1.0 (bench)',
    maxQueueSize: 1024,
    metadata,
    logger: silent,
    ...extra,
  };
}

const events = Array.from({ length: 4096 }, (_, i) => makeEvent(i));
const lineBytes = Buffer.byteLength(JSON.stringify(events[0]) + '\n');

// ---------------------------------------------------------------------------------------------
// 1. send() on the caller's path, in bursts below the queue bound so the queue really drains.
async function measureSend(label, sendFn, bursts = 400, burst = 500) {
  let ns = 0n;
  for (let b = 0; b < bursts; b++) {
    const base = (b * burst) % (events.length - burst);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < burst; i++) sendFn(events[base + i]);
    ns += process.hrtime.bigint() - t0;
    await tick(); // the transport encodes and writes here, off the measured path
  }
  return { label, nsPerEvent: Number(ns) / (bursts * burst) };
}

const sink = await startSink();
const results = {};

const sinkArr = [];
let bytesSeen = 0;
const t1 = createTransport(options(sink.port, { compress: true }));
const t2 = createTransport(options(1, {})); // nothing listens on port 1: every request fails
for (let i = 0; i < 2048; i++) t2.send(events[i]); // fill its queue
const variants = [
  [
    'baseline: array push',
    (e) => {
      sinkArr.push(e);
      if (sinkArr.length > 10_000) sinkArr.length = 0;
    },
  ],
  ['baseline: JSON.stringify on the caller path', (e) => (bytesSeen += JSON.stringify(e).length)],
  ['transport.send() (gzip, live sink)', (e) => t1.send(e)],
  ['transport.send() (queue full, dropping)', (e) => t2.send(e)],
];
// Interleaved rounds, median per variant: the machine may be shared, so no variant gets a quiet
// (or a busy) stretch to itself.
const ROUNDS = 15;
const perVariant = variants.map(() => []);
for (let r = 0; r < ROUNDS; r++) {
  for (let v = 0; v < variants.length; v++) {
    const [label, fn] = variants[v];
    perVariant[v].push((await measureSend(label, fn, 40)).nsPerEvent);
  }
}
await t1.close(10_000);
await t2.close(100);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const baseNs = median(perVariant[0]);
results.send = variants.map(([label], v) => {
  const ns = median(perVariant[v]);
  return { label, nsPerEvent: Math.round(ns * 10) / 10, vsArrayPush: Math.round((ns / baseNs) * 100) / 100 };
});

// ---------------------------------------------------------------------------------------------
// 2. Throughput to the sink: offer TOTAL events as fast as the queue accepts them.
async function throughput(compress) {
  sink.reset();
  const t = createTransport(options(sink.port, { compress, maxQueueSize: 8192 }));
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  let offered = 0;
  while (offered < TOTAL) {
    const room = 8192 - t.stats().queued;
    for (let i = 0; i < room && offered < TOTAL; i++) t.send(events[offered++ % events.length]);
    await tick();
  }
  await t.flush(60_000);
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const s = t.stats();
  await t.close(1000);
  const got = await sink.stats();
  return {
    compress,
    events: TOTAL,
    delivered: got.events,
    dropped: s.dropped,
    requests: s.requests,
    seconds: Math.round(secs * 1000) / 1000,
    eventsPerSecond: Math.round(got.events / secs),
    appCpuUsPerEvent: Math.round(((cpu.user + cpu.system) / TOTAL) * 100) / 100,
  };
}
results.throughput = [await throughput(true), await throughput(false)];
sink.stop();

console.log(`node ${process.version}, ${lineBytes}-byte NDJSON span lines`);
console.table(results.send);
console.table(results.throughput);
console.log(JSON.stringify(results));

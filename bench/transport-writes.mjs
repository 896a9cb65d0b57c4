// How many write system calls the transport makes per event when events trickle in as they do in a
// served app (a few per request, each from its own event-loop turn), not in bulk: N events/s for a
// few seconds, to a sink in another process, counted from /proc/self/io (syscw) of this process
// (Linux only). Several builds can be compared in one command, interleaved:
//   node bench/transport-writes.mjs [--rate 1000] [--seconds 3] [--rounds 3] [ROOT ...]
// ROOT is a checkout with a built dist/ (default: this one).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
const RATE = Number(process.env.TW_RATE ?? opt('--rate', 1000));
const SECONDS = Number(process.env.TW_SECONDS ?? opt('--seconds', 3));
const ROUNDS = opt('--rounds', 3);
const roots = args.length ? args.map((a) => path.resolve(a)) : [path.resolve(here, '..')];

if (process.env.TW_CHILD) {
  // child: one build, one compress setting, one run
  const { createTransport } = createRequire(import.meta.url)(path.join(process.env.TW_CHILD, 'dist', 'cjs', 'runtime', 'transport', 'index.js'));
  const silent = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };
  const t = createTransport({
    serverUrl: `http://127.0.0.1:${process.env.TW_PORT}`,
    serverTimeout: 30_000,
    apiRequestTime: 10_000,
    apiRequestSize: 768 * 1024,
    userAgent: 'bench',
    maxQueueSize: 1024,
    metadata: () => ({ service: { name: 'bench', agent: { name: 'nodejs', version: '0' } } }),
    logger: silent,
    compress: process.env.TW_COMPRESS === '1',
  });
  const ev = (i) => ({ span: { id: i.toString(16).padStart(16, '0'), trace_id: '0af7651916cd43dd8448eb211c80319c', parent_id: 'b7ad6b7169203331', name: 'SELECT users', type: 'db', subtype: 'postgresql', duration: 1.2, timestamp: 1_700_000_000_000_000 + i } });
  const syscw = () => Number(/syscw:\s*(\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))[1]);
  // warm up: connection open, undici loaded
  t.send(ev(0));
  await t.flush(5000);
  const w0 = syscw();
  const total = RATE * SECONDS;
  let sent = 0;
  const t0 = Date.now();
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * RATE));
      // one event per turn, as spans/transactions end in separate turns of a served app
      if (sent < due) t.send(ev(++sent));
      if (sent >= total) return resolve();
      if (sent < due) setImmediate(tick);
      else setTimeout(tick, 1);
    };
    tick();
  });
  const w1 = syscw();
  await t.flush(10_000);
  const s = t.stats();
  await t.close(1000);
  process.stdout.write(JSON.stringify({ writesPerEvent: (w1 - w0) / total, sent: s.sent, dropped: s.dropped }));
  process.exit(0);
}

const sink = spawn(process.execPath, ['-e', `
  const http = require('node:http');
  http.createServer((req, res) => { req.resume(); req.on('end', () => { res.statusCode = 202; res.end(req.method === 'GET' ? '{"version":"8.12.2"}' : ''); }); })
    .listen(0, '127.0.0.1', function () { process.stdout.write(String(this.address().port)); });`], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((r) => sink.stdout.once('data', (d) => r(String(d))));
const runChild = (root, compress) =>
  new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, TW_RATE: String(RATE), TW_SECONDS: String(SECONDS), TW_CHILD: root, TW_PORT: port, TW_COMPRESS: compress ? '1' : '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}`))));
  });
const results = new Map();
for (let r = 0; r < ROUNDS; r++) {
  for (const compress of [false, true]) {
    for (const root of roots) {
      const key = `${root} ${compress ? 'gzip' : 'plain'}`;
      const res = await runChild(root, compress);
      (results.get(key) ?? results.set(key, []).get(key)).push(res);
    }
  }
}
sink.kill();
console.log(`${RATE} events/s for ${SECONDS} s, one event per event-loop turn; median of ${ROUNDS} runs`);
for (const [key, rs] of results) {
  const w = rs.map((x) => x.writesPerEvent).sort((a, b) => a - b)[rs.length >> 1];
  console.log(`${key.padEnd(40)} writes/event ${w.toFixed(3)}  (sent ${rs.map((x) => x.sent).join('/')}, dropped ${rs.map((x) => x.dropped).join('/')})`);
}

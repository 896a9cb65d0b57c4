// Micro benchmark of the runtime hot path: ns per span start+end (sampled, unsampled, inactive agent) and
// per traced() call, against an empty function call measured in the same process.
// Usage: node bench/runtime-hotpath.mjs [iterations per round=1000000] (best of 5 rounds is reported)
// The runtime is bundled from runtime/*.ts with esbuild first (no build step needed); events go to an
// in-memory transport that only counts, so this measures the tracer, not the network.
import { build } from 'esbuild';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.argv[2] ?? 1_000_000);
const out = join(mkdtempSync(join(tmpdir(), 'sf-bench-')), 'rt.cjs');
await build({
  stdin: {
    contents: `export * from './runtime/index.ts'; export { getAgent, resetAgentForTests } from './runtime/agent.ts'; export { storage } from './runtime/context.ts';`,
    resolveDir: root,
    loader: 'ts',
  },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: out,
  logLevel: 'error',
});
// Copy the functions out once: esbuild's CJS bundle exposes exports through getters, which a user's
// `import { startSpan } from 'spanforge'` (tsc output or ESM binding) does not pay per call.
const rt = { ...createRequire(import.meta.url)(out) };

let sent = 0;
const countingTransport = {
  send() { sent++; },
  flush: async () => {},
  close: async () => {},
  stats: () => ({ queued: 0, sent, dropped: 0, droppedByReason: {}, requests: 0, failedRequests: 0 }),
  serverVersion: () => undefined,
};

async function agent(opts) {
  await rt.resetAgentForTests();
  rt.getAgent().start({ serviceName: 'bench', metricsInterval: 0, logLevel: 'off', transactionMaxSpans: -1, ...opts }, { transport: countingTransport, noProcessHandlers: true, env: {} });
}

// Best of 5 rounds: the figure least disturbed by other processes on a shared machine.
function measure(label, fn) {
  for (let i = 0; i < Math.min(N, 200_000); i++) fn(i); // warm up
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) fn(i);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / N);
  }
  return { label, ns: best };
}

let sink = 0;
function empty(i) { sink += i; }
const results = [];
results.push(measure('empty function call (baseline)', empty));

for (const [label, opts] of [
  ['span start+end, sampled', {}],
  ['span start+end, unsampled transaction', { transactionSampleRate: 0 }],
  ['span start+end, agent inactive', { active: false }],
]) {
  await agent(opts);
  results.push(
    rt.storage.run(undefined, () => {
      let tx = rt.startTransaction('bench', 'request');
      let n = 0;
      const r = measure(label, () => {
        const s = rt.startSpan('work', 'app');
        s.end();
        // A fresh transaction every 1000 spans keeps memory flat, as real requests would.
        if (++n === 1000) { tx.end(); tx = rt.startTransaction('bench', 'request'); n = 0; }
      });
      tx.end();
      return r;
    }),
  );
}

await agent({});
const tracedFn = rt.traced(function add(a) { return a + 1; });
results.push(rt.storage.run(undefined, () => {
  let tx = rt.startTransaction('bench', 'request');
  let n = 0;
  const r = measure('traced(fn) call, sampled', (i) => {
    sink += tracedFn(i);
    if (++n === 1000) { tx.end(); tx = rt.startTransaction('bench', 'request'); n = 0; }
  });
  tx.end();
  return r;
}));
await agent({ active: false });
results.push(measure('traced(fn) call, agent inactive', (i) => { sink += tracedFn(i); }));
await rt.resetAgentForTests();

const base = results[0].ns;
console.log(`node ${process.version}, best of 5 rounds of ${N} iterations (events counted: ${sent}, sink ${sink > 0})`);
for (const r of results) console.log(`${r.label.padEnd(42)} ${r.ns.toFixed(1).padStart(8)} ns/op   ${(r.ns / base).toFixed(1).padStart(7)}× baseline`);

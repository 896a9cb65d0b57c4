// Boundaries the mutation check found untested: a fractional transaction_sample_rate at run time
// (and the rate recorded on the events, as Elastic's agents do), the culprit when the top frame is
// a library frame, and the 32-entry cap on the outgoing tracestate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { storage } from '../../runtime/context.js';
import { formatTracestate, parseTracestate } from '../../runtime/traceparent.js';
import { freshAgent } from './helpers.js';

test('transaction_sample_rate 0.5: about half are sampled (8-sigma bound), the rate is on every sampled event and in tracestate', async () => {
  const { agent, transport } = await freshAgent({ transactionSampleRate: 0.5 });
  const N = 4000;
  const tracestates = new Set<string | undefined>();
  storage.run(undefined as never, () => {
    for (let i = 0; i < N; i++) {
      const tx = agent.startTransaction(`t${i}`, 'request');
      const s = agent.startSpan('child', 'app');
      tracestates.add(tx.tracestate());
      s.end();
      tx.end();
    }
  });
  const txs = transport.of('transaction');
  assert.equal(txs.length, N, 'unsampled transactions are sent too');
  const sampled = txs.filter((t) => t.sampled);
  // Binomial(4000, 0.5): sd = 31.6; outside +-253 has a probability below 1e-14.
  assert.ok(Math.abs(sampled.length - N / 2) < 253, `${sampled.length} of ${N} sampled`);
  for (const t of sampled) assert.equal(t.sample_rate, 0.5);
  for (const t of txs.filter((x) => !x.sampled)) {
    assert.equal(t.sample_rate, 0, 'an unsampled transaction records rate 0');
    assert.deepEqual(t.span_count, { started: 0, dropped: 0 });
  }
  const spans = transport.of('span');
  assert.equal(spans.length, sampled.length, 'spans only under sampled transactions');
  for (const s of spans) assert.equal(s.sample_rate, 0.5);
  assert.deepEqual([...tracestates].sort(), ['es=s:0', 'es=s:0.5']);
});

test('culprit: a library frame on top is skipped; the first app frame is the culprit', async () => {
  const { agent, transport } = await freshAgent();
  const err = new Error('boom');
  err.stack = [
    'Error: boom',
    `    at Query.run (${process.cwd()}/node_modules/some-driver/lib/query.js:10:5)`,
    `    at loadUser (${process.cwd()}/src/users.js:20:3)`,
    `    at handler (${process.cwd()}/src/routes.js:7:9)`,
  ].join('\n');
  await agent.captureError(err);
  const [e] = transport.of('error');
  const frames = e!.exception.stacktrace;
  assert.equal(frames[0].library_frame, true);
  assert.equal(frames[1].library_frame, false);
  assert.equal(e!.culprit, 'loadUser (src/users.js)');
});

test('outgoing tracestate: at most 32 list members, es first; the 33rd incoming one is not passed on', () => {
  const others = (n: number) => Array.from({ length: n }, (_, i) => `v${i}=x${i}`);
  // 31 foreign members + es: all 32 go out.
  const in32 = parseTracestate([...others(31), 'es=s:0.25'].join(','))!;
  const out32 = formatTracestate(0.25, in32)!.split(',');
  assert.equal(out32.length, 32);
  assert.equal(out32[0], 'es=s:0.25');
  assert.deepEqual(out32.slice(1), others(31));
  // 32 foreign members (a valid header): ours goes first, the last foreign one is left out.
  const full = parseTracestate(others(32).join(','))!;
  const out = formatTracestate(1, full)!.split(',');
  assert.equal(out.length, 32);
  assert.equal(out[0], 'es=s:1');
  assert.deepEqual(out.slice(1), others(31));
  // More than 32 members is not a valid tracestate: nothing of it is kept.
  assert.equal(parseTracestate(others(33).join(',')), undefined);
});

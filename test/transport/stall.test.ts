// A server that accepts connections and reads requests but never answers them: the transport gives
// up on a request after intakeResTimeout (elastic-apm-node's 10 s default), counts its events as
// dropped, and, as soon as the server answers new requests again, delivers within a second.
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, test } from 'node:test';
import { createTransport } from '../../runtime/transport/index.js';
import { baseOptions, recordingLogger, serve, sleep, span, trackUnhandled, waitFor } from './helpers.js';

const unhandled = trackUnhandled();
after(() => assert.deepEqual(unhandled, []));

/** Switches a mock server between answering normally and holding every POST forever. */
function hangable(srv: Awaited<ReturnType<typeof serve>>) {
  const held: http.ServerResponse[] = [];
  const state = { hang: false, answeredAt: [] as number[] };
  srv.raw = (req, res) => {
    if (req.method !== 'POST' || !state.hang) return false;
    req.resume(); // reads the body, never answers
    held.push(res);
    return true;
  };
  srv.respond = (r, res) => {
    if (r.lines.length > 1) state.answeredAt.push(Date.now());
    res.statusCode = 202;
    res.end();
  };
  return { state, held };
}

test('accepts but never answers, then answers: delivery resumes within 1 s, the stalled request counted as dropped, memory bounded', { timeout: 60_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const { state, held } = hangable(srv);
  const log = recordingLogger();
  // The defaults that matter here: serverTimeout 30 s, intakeResTimeout 10 s, backoff unit 1 s.
  const t = createTransport({ ...baseOptions(srv.url, log), serverTimeout: 30_000, backoffUnitMs: 1000, maxQueueSize: 2000 });
  ctx.after(() => t.close(100));
  let i = 0;
  const tick = () => {
    for (let k = 0; k < 5; k++) t.send(span(i++));
    void t.flush(50); // an app that flushes often: every request ends soon after it starts
  };
  tick();
  await waitFor(() => t.stats().sent > 0, 5000, 'a first delivery');

  state.hang = true;
  const heapBefore = process.memoryUsage().heapUsed;
  const hangStart = Date.now();
  let maxQueued = 0;
  let burst = false;
  while (Date.now() - hangStart < 6500) {
    tick();
    // a burst the queue cannot take: it stays at its bound, the rest is dropped and counted (once,
    // at the first turn after 2 s: on a loaded machine a turn can take longer than 100 ms)
    if (!burst && Date.now() - hangStart > 2000) {
      burst = true;
      for (let k = 0; k < 20_000; k++) t.send(span(k));
    }
    maxQueued = Math.max(maxQueued, t.stats().queued);
    await sleep(100);
  }
  const sentDuringHang = t.stats().sent;
  assert.ok(held.length >= 1, 'requests were held by the server');
  assert.ok(maxQueued <= 2000, `queue within maxQueueSize: ${maxQueued}`);
  assert.ok(process.memoryUsage().heapUsed - heapBefore < 64 * 1024 * 1024, 'heap growth bounded');
  assert.ok(held.length < 40, `open requests at the server stay few (probes are abandoned): ${held.length}`);

  state.hang = false;
  const answering = Date.now();
  await waitFor(() => state.answeredAt.some((at) => at >= answering), 5000, 'delivery after the server answers again');
  const resumedIn = state.answeredAt.find((at) => at >= answering)! - answering;
  assert.ok(resumedIn < 1000, `delivery resumed ${resumedIn} ms after the server answered again`);
  await waitFor(() => t.stats().sent > sentDuringHang, 3000, 'acknowledged events');

  const s = t.stats();
  assert.ok((s.droppedByReason.timeout ?? 0) > 0, `the stalled request's events are counted: ${JSON.stringify(s)}`);
  assert.ok((s.droppedByReason.queue_full ?? 0) > 0, 'the burst was dropped at the bound, counted');
  const stallLogs = log.at('error').filter((m) => m.includes('did not answer'));
  assert.equal(stallLogs.length, 1, stallLogs.join('\n'));
  assert.match(stallLogs[0]!, /^APM Server at http:\/\/127\.0\.0\.1:\d+ did not answer a request it accepted, though it answers new ones; gave up on it \(\d+ event\(s\) dropped\)$/);
  console.log(`stall: delivery resumed ${resumedIn} ms after the server answered again; ${held.length} requests held; max queued ${maxQueued}; dropped ${JSON.stringify(s.droppedByReason)}`);
  for (const res of held) res.destroy();
});

test('intakeResTimeout bounds the wait for an answer once the body is sent; the drop is counted and logged', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const { state, held } = hangable(srv);
  state.hang = true;
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), serverTimeout: 30_000, intakeResTimeout: 400 });
  ctx.after(() => t.close(100));
  for (let k = 0; k < 3; k++) t.send(span(k));
  const t0 = Date.now();
  await t.flush(5000);
  const waited = Date.now() - t0;
  assert.ok(waited >= 390 && waited < 2000, `gave up after ${waited} ms`);
  assert.deepEqual(t.stats().droppedByReason, { timeout: 3 });
  assert.deepEqual(log.at('error'), [`APM Server at ${srv.url} did not answer within intakeResTimeout (400 ms); gave up on the request (3 event(s) dropped)`]);
  for (const res of held) res.destroy();
});

test('a server that is slow but answers (the probe too) is given its time: nothing is abandoned', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  srv.respond = (_r, res) => {
    setTimeout(() => {
      res.statusCode = 202;
      res.end();
    }, 1800);
  };
  const t = createTransport({ ...baseOptions(srv.url, recordingLogger()), serverTimeout: 30_000 });
  ctx.after(() => t.close(100));
  for (let k = 0; k < 3; k++) t.send(span(k));
  await t.flush(8000);
  assert.deepEqual(t.stats().droppedByReason, {});
  assert.equal(t.stats().sent, 3);
});

// The transport when the server fails: error statuses and bodies, resets, silence, outages.
// Nothing crashes, drops are counted exactly by reason, each condition is logged once with the
// server's message, and delivery resumes (after backoff) when the server answers again.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createTransport } from '../../runtime/transport/index.js';
import { baseOptions, deadPort, recordingLogger, sleep, span, trackUnhandled, waitFor, serve } from './helpers.js';

const unhandled = trackUnhandled();
after(() => assert.deepEqual(unhandled, []));

function sendRange(t: { send: (e: ReturnType<typeof span>) => void }, from: number, to: number): void {
  for (let i = from; i < to; i++) t.send(span(i));
}

test('503 with {accepted, errors}: events dropped as server_error, logged once with the message, delivery resumes', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  let status = 503;
  srv.respond = (_r, res) => {
    res.statusCode = status;
    if (status === 503) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ accepted: 0, errors: [{ message: 'cannot handle stream: cannot process batch: queue is full' }] }));
    } else res.end();
  };
  const log = recordingLogger();
  const t = createTransport(baseOptions(srv.url, log));
  ctx.after(() => t.close(100));
  sendRange(t, 0, 5);
  await t.flush(3000);
  sendRange(t, 5, 8);
  await t.flush(3000);
  assert.equal(srv.intake.length, 2);
  assert.deepEqual(t.stats(), {
    queued: 0,
    sent: 0,
    dropped: 8,
    droppedByReason: { server_error: 8 },
    requests: 2,
    failedRequests: 2,
  });
  assert.deepEqual(log.at('error'), [
    `APM Server at ${srv.url} answered 503 to POST /intake/v2/events: cannot handle stream: cannot process batch: queue is full`,
  ]);

  status = 202;
  sendRange(t, 8, 11);
  await t.flush(3000);
  assert.deepEqual(srv.intake[2]!.lines.slice(1), [span(8), span(9), span(10)]);
  assert.equal(t.stats().sent, 3);
  assert.equal(t.stats().failedRequests, 2);
  assert.equal(log.at('error').length, 1);
  assert.deepEqual(log.at('info'), [`APM Server at ${srv.url} accepts events again after 2 failed request(s)`]);
  await t.close(1000);
  await srv.close();
});

test('429 with the middleware {error} body: rate_limited, message logged', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  srv.respond = (_r, res) => {
    res.statusCode = 429;
    res.setHeader('content-type', 'application/json');
    res.end('{"error":"too many requests: rate limit exceeded"}');
  };
  const log = recordingLogger();
  const t = createTransport(baseOptions(srv.url, log));
  ctx.after(() => t.close(100));
  sendRange(t, 0, 4);
  await t.flush(3000);
  assert.deepEqual(t.stats().droppedByReason, { rate_limited: 4 });
  assert.deepEqual(log.at('error'), [
    `APM Server at ${srv.url} answered 429 to POST /intake/v2/events: too many requests: rate limit exceeded`,
  ]);
  await t.close(1000);
  await srv.close();
});

test('400 with errors[] and a partial accepted count: accepted events count as sent, the rest as rejected', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  srv.respond = (_r, res) => {
    res.statusCode = 400;
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        accepted: 3,
        errors: [
          { message: 'decode error: data read error: v2.spanRoot.Span: ReadString: expects " or n', document: '{"span":…}' },
          { message: 'did not recognize object type: "tennis-court"' },
        ],
      }),
    );
  };
  const log = recordingLogger();
  const t = createTransport(baseOptions(srv.url, log));
  ctx.after(() => t.close(100));
  sendRange(t, 0, 5);
  await t.flush(3000);
  assert.deepEqual(t.stats(), {
    queued: 0,
    sent: 3,
    dropped: 2,
    droppedByReason: { rejected: 2 },
    requests: 1,
    failedRequests: 1,
  });
  assert.deepEqual(log.at('error'), [
    `APM Server at ${srv.url} answered 400 to POST /intake/v2/events: decode error: data read error: v2.spanRoot.Span: ReadString: expects " or n; did not recognize object type: "tennis-court"`,
  ]);
  await t.close(1000);
  await srv.close();
});

test('401 logs the server message with a credentials hint', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  srv.respond = (_r, res) => {
    res.statusCode = 401;
    res.setHeader('content-type', 'application/json');
    res.end('{"error":"authentication failed"}');
  };
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), secretToken: 'wrong' });
  ctx.after(() => t.close(100));
  sendRange(t, 0, 2);
  await t.flush(3000);
  assert.deepEqual(t.stats().droppedByReason, { rejected: 2 });
  assert.deepEqual(log.at('error'), [
    `APM Server at ${srv.url} answered 401 to POST /intake/v2/events: authentication failed (check secretToken / apiKey)`,
  ]);
  await t.close(1000);
  await srv.close();
});

test('connection reset mid-request: network drop, logged once, next request succeeds', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  let resets = 1;
  srv.raw = (req) => {
    if (req.method !== 'POST' || resets === 0) return false;
    resets--;
    req.once('data', () => req.socket.destroy());
    return true;
  };
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), compress: true });
  ctx.after(() => t.close(100));
  sendRange(t, 0, 6);
  await t.flush(3000);
  assert.deepEqual(t.stats().droppedByReason, { network: 6 });
  assert.equal(t.stats().failedRequests, 1);
  const errors = log.at('error');
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /^cannot send events to APM Server at http:\/\/127\.0\.0\.1:\d+: UND_ERR_SOCKET other side closed$/);

  sendRange(t, 6, 8);
  await t.flush(3000);
  assert.deepEqual(srv.names(), ['span-000006', 'span-000007']);
  assert.equal(t.stats().sent, 2);
  await t.close(1000);
  await srv.close();
});

test('a premature response (the server answers before the body is complete) is a failure even when 2xx', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  let premature = true;
  srv.raw = (req, res) => {
    if (req.method !== 'POST' || !premature) return false;
    premature = false;
    res.statusCode = 202;
    res.end();
    req.resume();
    return true;
  };
  const log = recordingLogger();
  // A long request time: only the server's early answer can end this request.
  const t = createTransport({ ...baseOptions(srv.url, log), apiRequestTime: 60_000 });
  ctx.after(() => t.close(100));
  sendRange(t, 0, 4);
  await waitFor(() => t.stats().failedRequests === 1, 3000, 'the premature response');
  assert.deepEqual(t.stats().droppedByReason, { premature_response: 4 });
  assert.deepEqual(log.at('error'), [
    `APM Server at ${srv.url} answered 202 to POST /intake/v2/events: the server answered before the request body was complete`,
  ]);
  sendRange(t, 4, 6);
  await t.flush(3000);
  assert.deepEqual(srv.names(), ['span-000004', 'span-000005']);
  await t.close(1000);
  await srv.close();
});

test('a server that never answers: serverTimeout ends the wait, events dropped as timeout, send() stays fast', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  srv.raw = (req) => {
    if (req.method !== 'POST') return false;
    req.resume(); // read everything, answer nothing
    return true;
  };
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), serverTimeout: 150 });
  ctx.after(() => t.close(100));
  sendRange(t, 0, 5);
  const started = Date.now();
  await t.flush(3000);
  const waited = Date.now() - started;
  assert.ok(waited >= 140 && waited < 1500, `flush waited ${waited} ms for the serverTimeout`);
  assert.deepEqual(t.stats().droppedByReason, { timeout: 5 });
  assert.deepEqual(log.at('error'), [`APM Server at ${srv.url} did not answer within serverTimeout (150 ms); gave up on the request (5 event(s) dropped)`]);

  // While the server hangs, send() costs what it always costs.
  const events = Array.from({ length: 100_000 }, (_, i) => span(i));
  const t0 = process.hrtime.bigint();
  for (const e of events) t.send(e);
  const perEventNs = Number(process.hrtime.bigint() - t0) / 100_000;
  // A send() that waited on the network would cost milliseconds; the bound leaves room for a loaded CI box.
  assert.ok(perEventNs < 10_000, `send() took ${perEventNs.toFixed(0)} ns/event`);
  assert.equal(t.stats().queued, 1024);
  await t.close(300);
  const s = t.stats();
  assert.equal(s.sent, 0);
  assert.equal(s.dropped, 100_005);
  assert.equal(log.at('error').length, 1, 'logged once');
  await srv.close();
});

test('a server that is down, then comes back: network drops counted, logged once, delivery resumes', { timeout: 20_000 }, async (ctx) => {
  const port = await deadPort();
  const log = recordingLogger();
  const t = createTransport(baseOptions(`http://127.0.0.1:${port}`, log));
  ctx.after(() => t.close(100));
  sendRange(t, 0, 3);
  await t.flush(3000);
  sendRange(t, 3, 5);
  await t.flush(3000);
  assert.deepEqual(t.stats(), {
    queued: 0,
    sent: 0,
    dropped: 5,
    droppedByReason: { network: 5 },
    requests: 2,
    failedRequests: 2,
  });
  assert.equal(log.at('error').length, 1);
  assert.match(log.at('error')[0]!, /^cannot send events to the intake server at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED .* \(nothing listens there: start the local receiver with `npx spanforge serve`, or set ELASTIC_APM_SERVER_URL to your APM Server\)$/);

  const srv = await serve(ctx, { port });
  sendRange(t, 5, 9);
  await t.flush(3000);
  assert.deepEqual(srv.names(), ['span-000005', 'span-000006', 'span-000007', 'span-000008']);
  assert.equal(t.stats().sent, 4);
  assert.deepEqual(log.at('info'), [`APM Server at ${srv.url} accepts events again after 2 failed request(s)`]);
  await t.close(1000);
  await srv.close();
});

test('backoff: after consecutive failures the next request waits min(n-1, 6)² units ±10 %', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  srv.respond = (_r, res) => {
    res.statusCode = 503;
    res.end();
  };
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), backoffUnitMs: 100, apiRequestTime: 20 });
  ctx.after(() => t.close(100));
  const at: number[] = [];
  const origRespond = srv.respond;
  srv.respond = (r, res) => {
    at.push(Date.now());
    origRespond(r, res);
  };
  // Keep events flowing so a request is always wanted.
  const feeder = setInterval(() => t.send(span(1)), 5);
  await waitFor(() => at.length >= 4, 5000, 'four requests');
  clearInterval(feeder);
  const gaps = at.slice(1).map((v, i) => v - at[i]!);
  // Each gap is the backoff plus the 20 ms the next request stays open:
  // failure 1 → no delay; failure 2 → 100 ms ±10 %; failure 3 → 400 ms ±10 %.
  assert.ok(gaps[0]! < 100, `first retry immediate, got ${gaps[0]}`);
  assert.ok(gaps[1]! >= 105 && gaps[1]! < 600, `second gap ~120 ms, got ${gaps[1]}`);
  assert.ok(gaps[2]! >= 375 && gaps[2]! < 1000, `third gap ~420 ms, got ${gaps[2]}`);
  assert.equal(log.at('error').length, 1, 'the same 503 is logged once');
  await t.close(200);
  await srv.close();
});

test('the server going away while a request streams does not crash, and a new server gets later events', { timeout: 20_000 }, async (ctx) => {
  let srv = await serve(ctx);
  const port = srv.port;
  srv.raw = (req) => {
    if (req.method !== 'POST') return false;
    req.resume();
    return true;
  };
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), apiRequestTime: 60_000 });
  ctx.after(() => t.close(100));
  sendRange(t, 0, 3);
  await waitFor(() => t.stats().requests === 1, 3000, 'the request to start');
  await sleep(50);
  await srv.close();
  await waitFor(() => t.stats().failedRequests === 1, 3000, 'the failure');
  assert.deepEqual(t.stats().droppedByReason, { network: 3 });
  srv = await serve(ctx, { port });
  sendRange(t, 3, 5);
  await t.flush(3000);
  assert.deepEqual(srv.names(), ['span-000003', 'span-000004']);
  await t.close(1000);
  await srv.close();
});

test('400s whose messages differ from request to request are still one log line per outage', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  let n = 0;
  srv.respond = (_r, res) => {
    res.statusCode = 400;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ accepted: 0, errors: [{ message: `validation error: span ${n++} invalid` }] }));
  };
  const log = recordingLogger();
  const t = createTransport(baseOptions(srv.url, log));
  ctx.after(() => t.close(100));
  for (let round = 0; round < 4; round++) {
    t.send(span(round));
    await t.flush(3000);
  }
  assert.equal(t.stats().failedRequests, 4);
  assert.deepEqual(log.at('error'), [
    `APM Server at ${srv.url} answered 400 to POST /intake/v2/events: validation error: span 0 invalid`,
  ]);
  await t.close(1000);
  await srv.close();
});

// The queue and the transport's lifecycle: bounds by count and bytes, encode-time drops, flush()
// semantics, close(), and bad input (options and events) handled without throwing.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createTransport } from '../../runtime/transport/index.js';
import type { IntakeEvent } from '../../runtime/types.js';
import { METADATA, baseOptions, recordingLogger, serve, sleep, span, trackUnhandled } from './helpers.js';

const unhandled = trackUnhandled();
after(() => assert.deepEqual(unhandled, []));

const EVENT_BYTES = Buffer.byteLength(JSON.stringify(span(0)) + '\n');

test('flush() with nothing queued resolves at once', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const t = createTransport(baseOptions(srv.url, recordingLogger()));
  ctx.after(() => t.close(100));
  const t0 = Date.now();
  await t.flush(5000);
  assert.ok(Date.now() - t0 < 50);
  assert.equal(srv.intake.length, 0);
  await t.close(1000);
  await srv.close();
});

test('flush() resolves once the server acknowledged what was queued before it, not later events', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  srv.respond = (_r, res) => {
    setTimeout(() => {
      res.statusCode = 202;
      res.end();
    }, 150);
  };
  const t = createTransport(baseOptions(srv.url, recordingLogger()));
  ctx.after(() => t.close(100));
  // Warm up: undici is loaded on the first request; until then every event joins that request.
  t.send(span(100));
  await t.flush(5000);
  srv.intake.length = 0;
  for (let i = 0; i < 3; i++) t.send(span(i));
  const t0 = Date.now();
  const flushed = t.flush(5000).then(() => ({ ms: Date.now() - t0, stats: t.stats(), requests: srv.intake.length }));
  for (let i = 3; i < 6; i++) t.send(span(i)); // after the flush call: not waited for
  const r = await flushed;
  assert.ok(r.ms >= 140, `waited for the acknowledgement (${r.ms} ms)`);
  assert.equal(r.stats.sent, 4);
  assert.equal(r.requests, 1);
  assert.deepEqual(srv.intake[0]!.lines.slice(1), [span(0), span(1), span(2)]);
  await t.flush(5000);
  assert.equal(t.stats().sent, 7);
  assert.deepEqual(srv.intake[1]!.lines.slice(1), [span(3), span(4), span(5)]);
  await t.close(1000);
  await srv.close();
});

test('flush() resolves (never rejects) on timeout while the transport backs off', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  srv.respond = (_r, res) => {
    res.statusCode = 503;
    res.end('{"error":"server is shutting down"}');
  };
  const t = createTransport({ ...baseOptions(srv.url, recordingLogger()), backoffUnitMs: 10_000 });
  ctx.after(() => t.close(100));
  t.send(span(0));
  await t.flush(2000); // failure 1: no backoff yet
  t.send(span(1));
  await t.flush(2000); // failure 2: now backing off for ~10 s
  t.send(span(2));
  const t0 = Date.now();
  await t.flush(200);
  const waited = Date.now() - t0;
  assert.ok(waited >= 190 && waited < 1000, `resolved on its timeout (${waited} ms)`);
  assert.equal(srv.intake.length, 2, 'no request during the backoff');
  assert.deepEqual(t.stats(), {
    queued: 1,
    sent: 0,
    dropped: 2,
    droppedByReason: { server_error: 2 },
    requests: 2,
    failedRequests: 2,
  });
  await t.close(100);
  assert.deepEqual(t.stats().droppedByReason, { server_error: 2, shutdown: 1 });
  await srv.close();
});

test('queue bound by count: events beyond maxQueueSize are dropped as queue_full and logged once', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), maxQueueSize: 10 });
  ctx.after(() => t.close(100));
  for (let i = 0; i < 25; i++) t.send(span(i));
  assert.equal(t.stats().queued, 10);
  await t.flush(3000);
  assert.deepEqual(srv.names(), Array.from({ length: 10 }, (_, i) => `span-${String(i).padStart(6, '0')}`));
  assert.deepEqual(t.stats(), {
    queued: 0,
    sent: 10,
    dropped: 15,
    droppedByReason: { queue_full: 15 },
    requests: 1,
    failedRequests: 0,
  });
  assert.deepEqual(log.at('warn'), [
    'transport queue is full (maxQueueSize 10); new events are dropped and counted until it drains',
  ]);
  await t.close(1000);
  await srv.close();
});

test('queue bound by bytes: encoded events beyond maxQueueBytes are dropped as queue_full', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  srv.raw = (req) => {
    if (req.method !== 'POST') return false;
    req.resume(); // never answers: the queue cannot drain
    return true;
  };
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), serverTimeout: 0, maxQueueBytes: 5 * EVENT_BYTES });
  ctx.after(() => t.close(100));
  t.send(span(0));
  await t.flush(100); // ends request 1, which then hangs
  for (let i = 1; i <= 20; i++) t.send(span(i));
  await sleep(30);
  assert.deepEqual(t.stats(), {
    queued: 5,
    sent: 0,
    dropped: 15,
    droppedByReason: { queue_full: 15 },
    requests: 1,
    failedRequests: 0,
  });
  assert.match(log.at('warn')[0]!, /^transport queue holds \d+ bytes \(maxQueueBytes \d+\); new events are dropped/);
  await t.close(100);
  assert.deepEqual(t.stats().droppedByReason, { queue_full: 15, shutdown: 6 });
  await srv.close();
});

test('an event with a reference cycle or a BigInt is still sent (cycle replaced, BigInt as digits); one that cannot be serialised or is too large is dropped alone', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), maxEventBytes: 2 * EVENT_BYTES });
  ctx.after(() => t.close(100));
  const circular = span(1) as { span: Record<string, unknown> };
  circular.span.context = { custom: { self: circular.span } };
  const big = span(4) as { span: Record<string, unknown> };
  big.span.context = { custom: { n: 10n } };
  t.send(span(0));
  t.send({ span: { toJSON: () => { throw new Error('not today'); } } } as unknown as IntakeEvent);
  t.send(circular as IntakeEvent);
  t.send(span(2, 3 * EVENT_BYTES));
  t.send(span(3));
  t.send(null as unknown as IntakeEvent);
  t.send(big as IntakeEvent);
  await t.flush(3000);
  const arrived = srv.events() as { span: Record<string, any> }[];
  assert.deepEqual(arrived.map((e) => e.span.name), ['span-000000', 'span-000001', 'span-000003', 'span-000004']);
  assert.deepEqual(arrived[1]!.span.context, { custom: { self: '[Circular]' } });
  assert.deepEqual(arrived[3]!.span.context, { custom: { n: '10' } });
  assert.deepEqual(srv.invalid, []);
  assert.deepEqual(t.stats().droppedByReason, { encode_error: 1, too_large: 1, invalid_event: 1 });
  assert.equal(t.stats().sent, 4);
  assert.deepEqual(
    log.lines.map((l) => `${l.level}: ${l.msg.replace(/ .*$/s, '')}`),
    ['warn: transport.send()', 'error: dropped', 'warn: dropped'], // null is refused at send(), the others when encoded
  );
  assert.equal(log.at('error')[0], 'dropped an event that cannot be serialised to JSON: not today');
  assert.match(log.at('warn')[1]!, new RegExp(`dropped a ${Buffer.byteLength(JSON.stringify(span(2, 3 * EVENT_BYTES)) + '\n')}-byte event, larger than the ${2 * EVENT_BYTES}-byte limit`));
  assert.equal(log.at('warn')[0], 'transport.send() needs an intake event object, got null');
  await t.close(1000);
  await srv.close();
});

test('flush() resolves when everything queued was dropped before sending', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const t = createTransport({ ...baseOptions(srv.url, recordingLogger()), maxEventBytes: 10 });
  ctx.after(() => t.close(100));
  t.send(span(0));
  t.send(span(1));
  const t0 = Date.now();
  await t.flush(3000);
  assert.ok(Date.now() - t0 < 100);
  assert.deepEqual(t.stats().droppedByReason, { too_large: 2 });
  assert.equal(srv.intake.length, 0);
  await t.close(1000);
  await srv.close();
});

test('a metadata callback that throws drops the waiting events, logs, and later requests use good metadata', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const log = recordingLogger();
  let broken = true;
  const t = createTransport({
    ...baseOptions(srv.url, log),
    metadata: () => {
      if (broken) throw new Error('no hostname');
      return METADATA;
    },
  });
  ctx.after(() => t.close(100));
  t.send(span(0));
  await t.flush(1000);
  assert.deepEqual(t.stats().droppedByReason, { metadata_error: 1 });
  assert.deepEqual(log.at('error'), ['the metadata callback failed: no hostname']);
  broken = false;
  t.send(span(1));
  await t.flush(3000);
  assert.deepEqual(srv.intake[0]!.lines, [{ metadata: METADATA }, span(1)]);
  await t.close(1000);
  await srv.close();
});

test('close(): flushes, then drops later sends as closed; a second close() is the same promise', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const t = createTransport(baseOptions(srv.url, recordingLogger()));
  ctx.after(() => t.close(100));
  t.send(span(0));
  t.send(span(1));
  const c1 = t.close(2000);
  const c2 = t.close(2000);
  assert.equal(c1, c2);
  await c1;
  assert.deepEqual(srv.events(), [span(0), span(1)]);
  t.send(span(2));
  await t.flush(1000);
  assert.deepEqual(t.stats(), {
    queued: 0,
    sent: 2,
    dropped: 1,
    droppedByReason: { closed: 1 },
    requests: 1,
    failedRequests: 0,
  });
  await srv.close();
});

test('an invalid serverUrl is logged with what is wrong; the transport drops and counts, never throws', { timeout: 20_000 }, async (ctx) => {
  const log = recordingLogger();
  const t = createTransport(baseOptions('localhost:8200', log));
  ctx.after(() => t.close(100));
  assert.deepEqual(log.at('error'), [
    'invalid serverUrl "localhost:8200" (unsupported protocol "localhost:"): expected an http: or https: URL such as http://localhost:8200; events will be dropped',
  ]);
  t.send(span(0));
  await t.flush(1000);
  await t.close(1000);
  assert.deepEqual(t.stats().droppedByReason, { invalid_config: 1 });

  const log2 = recordingLogger();
  createTransport(baseOptions('not a url', log2));
  assert.match(log2.at('error')[0]!, /^invalid serverUrl "not a url" \(Invalid URL\)/);
});

test('invalid numeric options are named in a warning and fall back to their defaults', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), apiRequestSize: -1, maxQueueSize: Number.NaN });
  ctx.after(() => t.close(100));
  assert.deepEqual(log.at('warn'), [
    'transport option apiRequestSize must be a number >= 1, got -1; using the default 786432',
    'transport option maxQueueSize must be a number >= 1, got null; using the default 1024',
  ]);
  t.send(span(0));
  await t.flush(3000);
  assert.equal(t.stats().sent, 1);
  await t.close(1000);
  await srv.close();
});

test('flush(Infinity) waits for the acknowledgement (not 1 ms, as a raw setTimeout would); flush(NaN) uses the default', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  srv.respond = (_r, res) => {
    setTimeout(() => {
      res.statusCode = 202;
      res.end();
    }, 100);
  };
  const t = createTransport(baseOptions(srv.url, recordingLogger()));
  ctx.after(() => t.close(100));
  t.send(span(0));
  await t.flush(Number.POSITIVE_INFINITY);
  assert.equal(t.stats().sent, 1);
  t.send(span(1));
  await t.flush(Number.NaN);
  assert.equal(t.stats().sent, 2);
  await t.close(1000);
  await srv.close();
});

test('header options that cannot be sent are named in an error and ignored, delivery still works', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const log = recordingLogger();
  const t = createTransport({
    ...baseOptions(srv.url, log),
    userAgent: '',
    secretToken: 'abc\r\nX-Injected: 1',
    apiKey: 'a2V5',
  });
  ctx.after(() => t.close(100));
  assert.deepEqual(log.at('error'), [
    'transport option secretToken must be a string of printable characters (no line breaks) to be sent in an HTTP header; ignoring it',
  ]);
  t.send(span(0));
  await t.flush(3000);
  const r = srv.intake[0]!;
  assert.equal(r.headers['user-agent'], 'spanforge');
  assert.equal(r.headers.authorization, 'ApiKey a2V5', 'the usable credential is sent');
  assert.equal(r.headers['x-injected'], undefined);
  assert.equal(t.stats().sent, 1);
  await t.close(1000);
  await srv.close();
});

test('queue-full warnings are not repeated after each successful request (sustained overload stays one line)', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), maxQueueSize: 5 });
  ctx.after(() => t.close(100));
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 8; i++) t.send(span(round * 8 + i));
    await t.flush(3000);
  }
  assert.deepEqual(t.stats().droppedByReason, { queue_full: 9 });
  assert.equal(t.stats().sent, 15);
  assert.equal(log.at('warn').length, 1);
  await t.close(1000);
  await srv.close();
});

test('send() does not serialise: JSON.stringify runs later, in a batch, off the caller path', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const t = createTransport(baseOptions(srv.url, recordingLogger()));
  ctx.after(() => t.close(100));
  const serialisedAt: string[] = [];
  let phase = 'send';
  const ev = (i: number) => {
    const e = span(i) as { span: Record<string, unknown> };
    return {
      span: {
        ...e.span,
        toJSON() {
          serialisedAt.push(phase);
          const { toJSON: _omit, ...rest } = this as Record<string, unknown>;
          return rest;
        },
      },
    };
  };
  for (let i = 0; i < 3; i++) t.send(ev(i));
  phase = 'after send returned';
  assert.deepEqual(serialisedAt, []);
  await t.flush(3000);
  assert.deepEqual(serialisedAt, ['after send returned', 'after send returned', 'after send returned']);
  assert.deepEqual(srv.events(), [span(0), span(1), span(2)]);
  await t.close(1000);
  await srv.close();
});

// Happy path of the transport: what arrives at a real HTTP server (order, metadata, encoding,
// headers, paths, server info), and request rotation by time and by size.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createTransport } from '../../runtime/transport/index.js';
import { METADATA, baseOptions, recordingLogger, serve, sleep, span, trackUnhandled, waitFor } from './helpers.js';

const unhandled = trackUnhandled();
after(() => assert.deepEqual(unhandled, []));

test('gzip NDJSON arrives in order, metadata first, with the intake headers', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), compress: true, secretToken: 's3cr3t' });
  ctx.after(() => t.close(100));
  for (let i = 0; i < 50; i++) t.send(span(i));
  await t.flush(3000);

  assert.equal(srv.intake.length, 1);
  const r = srv.intake[0]!;
  assert.equal(r.method, 'POST');
  assert.equal(r.url, '/intake/v2/events');
  assert.equal(r.headers['content-encoding'], 'gzip');
  assert.deepEqual([...r.raw.subarray(0, 2)], [0x1f, 0x8b], 'the body is really gzip');
  assert.equal(r.headers['content-type'], 'application/x-ndjson');
  assert.equal(r.headers.accept, 'application/json');
  assert.equal(r.headers['user-agent'], 'spanforge/0.1.0 (transport-test 1.0.0)');
  assert.equal(r.headers.authorization, 'Bearer s3cr3t');
  assert.equal(r.headers['transfer-encoding'], 'chunked', 'streamed, no content-length');
  assert.deepEqual(r.lines[0], { metadata: METADATA });
  assert.deepEqual(r.lines.slice(1), Array.from({ length: 50 }, (_, i) => span(i)));
  assert.deepEqual(srv.invalid, []);
  assert.deepEqual(t.stats(), { queued: 0, sent: 50, dropped: 0, droppedByReason: {}, requests: 1, failedRequests: 0 });
  assert.deepEqual(log.at('error'), []);
  await t.close(1000);
  await srv.close();
});

test('ApiKey authorization (it wins over a secret token, as in elastic-apm-node); loopback hosts get plain NDJSON by default (spec: SHOULD NOT compress to localhost)', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const t = createTransport({ ...baseOptions(`http://localhost:${srv.port}`, recordingLogger()), apiKey: 'aWQ6a2V5', secretToken: 'also-set' });
  ctx.after(() => t.close(100));
  t.send(span(1));
  await t.flush(3000);
  const r = srv.intake[0]!;
  assert.equal(r.headers.authorization, 'ApiKey aWQ6a2V5');
  assert.equal(r.headers['content-encoding'], undefined);
  assert.equal(r.raw.toString('utf8'), `${JSON.stringify({ metadata: METADATA })}\n${JSON.stringify(span(1))}\n`);
  await t.close(1000);
  await srv.close();
});

test('a server that is not on loopback gets gzip by default (no compress option)', { timeout: 20_000 }, async (ctx) => {
  // 127.0.0.2 is routed to this machine but is not one of the loopback names the spec exempts.
  const srv = await serve(ctx, { host: '127.0.0.2' });
  const t = createTransport(baseOptions(srv.url, recordingLogger()));
  ctx.after(() => t.close(100));
  t.send(span(1));
  await t.flush(3000);
  const r = srv.intake[0]!;
  assert.equal(r.headers['content-encoding'], 'gzip');
  assert.deepEqual([...r.raw.subarray(0, 2)], [0x1f, 0x8b], 'the body is really gzip');
  assert.deepEqual(r.lines, [{ metadata: METADATA }, span(1)]);
});

test('no Authorization header without credentials; a serverUrl path prefix is kept', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const t = createTransport(baseOptions(`${srv.url}/apm/`, recordingLogger()));
  ctx.after(() => t.close(100));
  t.send(span(1));
  await t.flush(3000);
  assert.equal(srv.intake[0]!.url, '/apm/intake/v2/events');
  assert.equal(srv.intake[0]!.headers.authorization, undefined);
  await t.close(1000);
  await srv.close();
});

test('server information (GET /) is read once, lazily, for serverVersion()', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const t = createTransport({ ...baseOptions(srv.url, recordingLogger()), secretToken: 'tok' });
  ctx.after(() => t.close(100));
  await sleep(50);
  assert.equal(srv.info.length, 0, 'nothing is requested before the first event');
  assert.equal(t.serverVersion(), undefined);
  for (let round = 0; round < 3; round++) {
    t.send(span(round));
    await t.flush(3000);
  }
  await sleep(20);
  assert.equal(srv.info.length, 1);
  assert.equal(srv.info[0]!.authorization, 'Bearer tok');
  assert.equal(srv.info[0]!['user-agent'], 'spanforge/0.1.0 (transport-test 1.0.0)');
  assert.equal(t.serverVersion(), '8.12.2');
  assert.equal(srv.intake.length, 3);
  await t.close(1000);
  await srv.close();
});

test('pre-7.0 server info (fields under "ok") also gives the version', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  srv.infoBody = '{"ok":{"build_date":"2018-01-01T00:00:00Z","build_sha":"x","version":"6.8.0"}}';
  const t = createTransport(baseOptions(srv.url, recordingLogger()));
  ctx.after(() => t.close(100));
  t.send(span(1));
  await t.flush(3000);
  await sleep(20);
  assert.equal(t.serverVersion(), '6.8.0');
  await t.close(1000);
  await srv.close();
});

test('rotation by time: each request ends after apiRequestTime, the next starts with new events', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const t = createTransport({ ...baseOptions(srv.url, recordingLogger()), apiRequestTime: 100 });
  ctx.after(() => t.close(100));
  for (let i = 0; i < 3; i++) t.send(span(i));
  await waitFor(() => srv.intake.length === 1, 3000, 'the first request to end by time'); // no flush
  await waitFor(() => t.stats().sent === 3, 3000, 'the acknowledgement');
  for (let i = 3; i < 5; i++) t.send(span(i));
  await waitFor(() => srv.intake.length === 2, 3000, 'the second request');
  await sleep(300); // no events: no empty requests are made
  assert.deepEqual(
    srv.intake.map((r) => r.lines.length - 1),
    [3, 2],
  );
  assert.deepEqual(srv.names(), ['span-000000', 'span-000001', 'span-000002', 'span-000003', 'span-000004']);
  assert.ok(srv.intake.every((r) => 'metadata' in r.lines[0]!), 'every request starts with metadata');
  assert.equal(t.stats().requests, 2);
  await t.close(1000);
  await srv.close();
});

test('rotation by size: no request exceeds apiRequestSize uncompressed bytes', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const metaBytes = Buffer.byteLength(JSON.stringify({ metadata: METADATA }) + '\n');
  const eventBytes = Buffer.byteLength(JSON.stringify(span(0)) + '\n');
  // Room for exactly 3 events per request.
  const size = metaBytes + 3 * eventBytes + Math.floor(eventBytes / 2);
  const t = createTransport({ ...baseOptions(srv.url, recordingLogger()), compress: true, apiRequestSize: size });
  ctx.after(() => t.close(100));
  for (let i = 0; i < 10; i++) t.send(span(i));
  await t.flush(3000);
  assert.deepEqual(
    srv.intake.map((r) => r.lines.length - 1),
    [3, 3, 3, 1],
  );
  assert.deepEqual(
    srv.names(),
    Array.from({ length: 10 }, (_, i) => `span-${String(i).padStart(6, '0')}`),
  );
  for (const r of srv.intake) {
    const uncompressed = r.lines.reduce((n, l) => n + Buffer.byteLength(JSON.stringify(l) + '\n'), 0);
    assert.ok(uncompressed <= size, `${uncompressed} <= ${size}`);
  }
  assert.deepEqual(t.stats(), { queued: 0, sent: 10, dropped: 0, droppedByReason: {}, requests: 4, failedRequests: 0 });
  await t.close(1000);
  await srv.close();
});

test('rotation by size, exact fit: a request that reaches the size exactly ends at once', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const metaBytes = Buffer.byteLength(JSON.stringify({ metadata: METADATA }) + '\n');
  const eventBytes = Buffer.byteLength(JSON.stringify(span(0)) + '\n');
  const t = createTransport({ ...baseOptions(srv.url, recordingLogger()), apiRequestSize: metaBytes + 2 * eventBytes });
  ctx.after(() => t.close(100));
  for (let i = 0; i < 4; i++) t.send(span(i));
  await waitFor(() => srv.intake.length === 2, 3000, 'two requests'); // no flush: both end by size alone
  await sleep(50);
  assert.deepEqual(
    srv.intake.map((r) => r.lines.length - 1),
    [2, 2],
  );
  await t.close(1000);
  await srv.close();
});

test('an event larger than the request size still goes, alone', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  const metaBytes = Buffer.byteLength(JSON.stringify({ metadata: METADATA }) + '\n');
  const t = createTransport({ ...baseOptions(srv.url, recordingLogger()), apiRequestSize: metaBytes + 10 });
  ctx.after(() => t.close(100));
  t.send(span(0));
  t.send(span(1, 500));
  t.send(span(2));
  await t.flush(3000);
  assert.deepEqual(
    srv.intake.map((r) => r.lines.length - 1),
    [1, 1, 1],
  );
  assert.equal(t.stats().sent, 3);
  await t.close(1000);
  await srv.close();
});

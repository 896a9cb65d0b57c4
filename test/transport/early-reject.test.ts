// APM Server's auth middleware answers 401 before reading the body and closes the connection; the
// transport must report the server's message (not a socket error) and count the drop as rejected.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createTransport } from '../../runtime/transport/index.js';
import { baseOptions, recordingLogger, span, trackUnhandled, waitFor, serve } from './helpers.js';

const unhandled = trackUnhandled();
after(() => assert.deepEqual(unhandled, []));

test('401 sent before the body is read, with Connection: close: the message is logged, drops are rejected', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  srv.raw = (req, res) => {
    if (req.method !== 'POST') return false;
    res.writeHead(401, { 'content-type': 'application/json', connection: 'close' });
    res.end('{"error":"authentication failed: missing or improperly formatted Authorization header"}');
    return true;
  };
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), apiRequestTime: 60_000 });
  ctx.after(() => t.close(100));
  for (let i = 0; i < 20; i++) t.send(span(i, 200));
  await waitFor(() => t.stats().failedRequests === 1, 3000, 'the 401');
  assert.deepEqual(t.stats().droppedByReason, { rejected: 20 });
  assert.deepEqual(log.at('error'), [
    `APM Server at ${srv.url} answered 401 to POST /intake/v2/events: authentication failed: missing or improperly formatted Authorization header (check secretToken / apiKey)`,
  ]);
  await t.close(200);
  await srv.close();
});

test('the same while a large body is still being written (several rotated requests, each answered early)', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  srv.raw = (req, res) => {
    if (req.method !== 'POST') return false;
    res.writeHead(401, { 'content-type': 'application/json', connection: 'close' });
    res.end('{"error":"authentication failed"}');
    return true;
  };
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), apiRequestTime: 60_000, maxQueueSize: 5000 });
  ctx.after(() => t.close(100));
  try {
    for (let i = 0; i < 3000; i++) t.send(span(i, 1000)); // ~3 MiB: at least 4 requests of 768 KiB
    await waitFor(() => t.stats().dropped === 3000, 10_000, 'all events to be answered');
    assert.deepEqual(t.stats().droppedByReason, { rejected: 3000 }, `log: ${JSON.stringify(log.at('error'))}`);
    assert.ok(t.stats().failedRequests >= 4);
    assert.equal(log.at('error').length, 1, JSON.stringify(log.at('error')));
  } finally {
    // Closed even when an assertion fails, so a failure cannot leave the file's process hanging.
    await t.close(200);
    await srv.close();
  }
});

// End to end with spanforge's own receiver (receiver/, real SQLite store): what the transport
// ships, gzip or plain, is stored and readable through the receiver's API; a wrong token is a
// logged 401; GET / gives the receiver's version.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startReceiver, type Receiver } from '../../receiver/index.js';
import { COMPATIBLE_APM_SERVER_VERSION } from '../../receiver/server.js';
import { createTransport } from '../../runtime/transport/index.js';
import { baseOptions, recordingLogger, sleep, span, trackUnhandled } from './helpers.js';

const unhandled = trackUnhandled();
let receiver: Receiver;
const dataDir = mkdtempSync(join(tmpdir(), 'spanforge-transport-'));
before(async () => {
  receiver = await startReceiver({ port: 0, dataDir, secretToken: 'sekrit', flushIntervalMs: 20 });
});
after(async () => {
  await receiver.close();
  rmSync(dataDir, { recursive: true, force: true });
  assert.deepEqual(unhandled, []);
});

function traceSpan(traceId: string, i: number) {
  const e = span(i) as { span: Record<string, unknown> };
  return { span: { ...e.span, trace_id: traceId } };
}

async function traceNames(traceId: string): Promise<string[]> {
  // The receiver has a secret token, so its API asks for it too.
  const res = await fetch(`${receiver.url}/api/traces/${traceId}`, { headers: { Authorization: 'Bearer sekrit' } });
  const body = (await res.json()) as { spans: { event: { name: string } }[] };
  return body.spans.map((s) => s.event.name).sort();
}

for (const compress of [true, false]) {
  test(`spans shipped ${compress ? 'gzip' : 'plain'} are stored by the receiver`, { timeout: 20_000 }, async (ctx) => {
    const traceId = compress ? '11111111111111111111111111111111' : '22222222222222222222222222222222';
    const log = recordingLogger();
    const t = createTransport({ ...baseOptions(receiver.url, log), secretToken: 'sekrit', compress });
    ctx.after(() => t.close(100));
    for (let i = 0; i < 25; i++) t.send(traceSpan(traceId, i));
    await t.flush(5000);
    assert.deepEqual(t.stats(), { queued: 0, sent: 25, dropped: 0, droppedByReason: {}, requests: 1, failedRequests: 0 });
    const expected = Array.from({ length: 25 }, (_, i) => `span-${String(i).padStart(6, '0')}`);
    let names: string[] = [];
    // The receiver writes in batches (flushIntervalMs 20): poll its API until they are visible.
    for (let tries = 0; tries < 100 && names.length < 25; tries++) {
      names = await traceNames(traceId);
      if (names.length < 25) await sleep(20);
    }
    assert.deepEqual(names, expected);
    await sleep(20);
    assert.equal(t.serverVersion(), COMPATIBLE_APM_SERVER_VERSION);
    assert.deepEqual(log.at('error'), []);
    await t.close(1000);
  });
}

test('a wrong secret token: the receiver answers 401, logged once with its message', { timeout: 20_000 }, async (ctx) => {
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(receiver.url, log), secretToken: 'wrong' });
  ctx.after(() => t.close(100));
  for (let i = 0; i < 3; i++) t.send(span(i));
  await t.flush(5000);
  t.send(span(3));
  await t.flush(5000);
  assert.deepEqual(t.stats().droppedByReason, { rejected: 4 });
  assert.equal(log.at('error').length, 1);
  assert.match(log.at('error')[0]!, /^the intake server at http:\/\/127\.0\.0\.1:\d+ answered 401 to POST \/intake\/v2\/events: authentication failed.* \(check secretToken \/ apiKey\)$/);
  await t.close(1000);
});

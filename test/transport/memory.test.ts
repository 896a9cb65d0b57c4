// Memory stays bounded when the server is unreachable or stalls: 1M events pushed at a dead
// server keep the queue at maxQueueSize, the heap does not grow with them, every drop is counted.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createTransport } from '../../runtime/transport/index.js';
import type { IntakeEvent } from '../../runtime/types.js';
import { baseOptions, deadPort, recordingLogger, trackUnhandled, serve } from './helpers.js';

const unhandled = trackUnhandled();
after(() => assert.deepEqual(unhandled, []));

// Exposes V8's gc() without a command-line flag, so heap figures compare live objects only.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
assert.equal(typeof gc, 'function', 'gc() is available');
function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function event(i: number): IntakeEvent {
  return {
    span: {
      id: i.toString(16).padStart(16, '0'),
      trace_id: '0af7651916cd43dd8448eb211c80319c',
      parent_id: 'b7ad6b7169203331',
      name: `SELECT * FROM t WHERE id = ${i}`,
      type: 'db',
      timestamp: 1_700_000_000_000_000 + i,
      duration: 0.5,
    },
  };
}

async function pushMany(t: ReturnType<typeof createTransport>, total: number, maxQueue: number): Promise<number> {
  let maxSeen = 0;
  for (let i = 0; i < total; ) {
    const end = Math.min(total, i + 20_000);
    for (; i < end; i++) t.send(event(i));
    const q = t.stats().queued;
    if (q > maxSeen) maxSeen = q;
    assert.ok(q <= maxQueue, `queue ${q} > ${maxQueue}`);
    await tick(); // let the transport encode and attempt delivery between bursts
  }
  return maxSeen;
}

test('1M events at a dead server: queue stays at its bound, heap stays bounded, drops counted exactly', async (ctx) => {
  const port = await deadPort();
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(`http://127.0.0.1:${port}`, log), backoffUnitMs: 1000 });
  ctx.after(() => t.close(100));
  const heap0 = heapAfterGc();
  const maxSeen = await pushMany(t, 1_000_000, 1024);
  assert.equal(maxSeen, 1024, 'the queue filled up to its bound');
  const grown = heapAfterGc() - heap0;
  ctx.diagnostic(`heap grew ${(grown / 1048576).toFixed(2)} MiB`);
  assert.ok(grown < 16 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MiB`);
  await t.close(200);
  const s = t.stats();
  assert.equal(s.sent, 0);
  assert.equal(s.queued, 0);
  assert.equal(s.dropped, 1_000_000);
  const byReason = s.droppedByReason;
  assert.equal(Object.values(byReason).reduce((a, b) => a + b, 0), 1_000_000);
  assert.ok(byReason.queue_full! > 990_000, JSON.stringify(byReason));
  assert.ok(byReason.network! >= 1, JSON.stringify(byReason));
  assert.deepEqual(Object.keys(byReason).sort(), ['network', 'queue_full', 'shutdown'].filter((k) => k in byReason));
  // One log line per condition, not per event or request.
  assert.equal(log.at('error').length, 1);
  assert.equal(log.at('warn').length, 1);
});

test('a server that accepts but never reads: back-pressure holds the queue at its bound', async (ctx) => {
  const srv = await serve(ctx);
  srv.raw = (req) => {
    if (req.method !== 'POST') return false;
    req.pause(); // never read: TCP and gzip buffers fill up
    return true;
  };
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(srv.url, log), compress: false, serverTimeout: 0, apiRequestTime: 60_000 });
  ctx.after(() => t.close(100));
  const heap0 = heapAfterGc();
  const maxSeen = await pushMany(t, 300_000, 1024);
  assert.equal(maxSeen, 1024);
  const grown = heapAfterGc() - heap0;
  ctx.diagnostic(`heap grew ${(grown / 1048576).toFixed(2)} MiB`);
  assert.ok(grown < 16 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MiB`);
  const s = t.stats();
  assert.equal(s.requests, 1, 'one stalled request, no pile-up of new ones');
  assert.ok(s.droppedByReason.queue_full! > 250_000);
  await t.close(100);
  const end = t.stats();
  assert.equal(end.sent + end.dropped, 300_000);
  await srv.close();
});

test('drops at encode time (byte bound) against a stalled server do not pile up queue entries', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx);
  srv.raw = (req) => {
    if (req.method !== 'POST') return false;
    req.pause();
    return true;
  };
  const t = createTransport({
    ...baseOptions(srv.url, recordingLogger()),
    compress: false,
    serverTimeout: 0,
    apiRequestTime: 60_000,
    maxQueueBytes: 64 * 1024,
  });
  ctx.after(() => t.close(100));
  await pushMany(t, 200_000, 1024);
  // Invariant of the queue's internals: consecutive drops share one tombstone entry.
  const encoded = (t as unknown as { encoded: { length: number } }).encoded;
  const live = (t as unknown as { encodedLive: number }).encodedLive;
  assert.ok(encoded.length <= 2 * live + 1, `${encoded.length} queue entries for ${live} live events`);
  assert.ok(t.stats().droppedByReason.queue_full! > 150_000);
  await t.close(100);
  const s = t.stats();
  assert.equal(s.sent + s.dropped, 200_000);
  await srv.close();
});

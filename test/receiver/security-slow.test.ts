// Issue 12, item 5: 500 uploads trickling their body blocked every real agent upload for about
// 90 s, though APM Server (and docs/receiver.md) promise a 30 s read timeout. Now each intake
// request (its wait for a decoding slot included) must arrive within the read timeout, else it is
// answered APM Server's 503 `request timed out` and its connection is closed on time; the number
// of uploads decoded at once is capped; slow headers are cut too. Here the timeout is 1.5 s.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { eventually, getJson, NDJSON, send, withReceiver } from './helpers.js';

const READ_TIMEOUT = 1500;
const META = JSON.stringify({ metadata: { service: { name: 'sec-slow', agent: { name: 'nodejs', version: '4.0.0' } } } });
const tx = (i: number): string =>
  JSON.stringify({ transaction: { id: i.toString(16).padStart(16, '0'), trace_id: i.toString(16).padStart(32, '0'), name: 'GET /slow', type: 'request', duration: 1, span_count: { started: 0 } } });

interface Trickle {
  /** ms from start to the answer's first bytes, and to the connection's close */
  answeredMs: Promise<number>;
  closedMs: Promise<number>;
  reply: Promise<string>;
}

/** A raw upload: headers, the metadata line and one event at once, then one byte every 200 ms, never ending. */
function trickle(port: number): Trickle {
  const started = Date.now();
  const sock: Socket = connect(port, '127.0.0.1');
  let text = '';
  let answered: (ms: number) => void;
  const answeredMs = new Promise<number>((r) => (answered = r));
  const reply = new Promise<string>((resolve) => sock.on('close', () => resolve(text)));
  const closedMs = new Promise<number>((r) => sock.on('close', () => r(Date.now() - started)));
  sock.on('data', (c) => {
    if (text === '') answered(Date.now() - started);
    text += c;
  });
  sock.on('error', () => {});
  sock.write(`POST /intake/v2/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n`);
  const first = `${META}\n${tx(1)}\n{"transaction":`;
  sock.write(`${Buffer.byteLength(first).toString(16)}\r\n${first}\r\n`);
  const timer = setInterval(() => {
    if (sock.destroyed) return clearInterval(timer);
    sock.write('1\r\n \r\n');
  }, 200);
  sock.on('close', () => clearInterval(timer));
  return { answeredMs, closedMs, reply };
}

test('one slow upload is answered 503 "request timed out" and closed on time; its complete events are kept', { timeout: 30_000 }, async (t) => {
  const r = await withReceiver({ readTimeoutMs: READ_TIMEOUT, flushIntervalMs: 20 });
  t.after(() => r.cleanup());
  const port = Number(new URL(r.url).port);
  const one = trickle(port);
  const [answered, closed, reply] = await Promise.all([one.answeredMs, one.closedMs, one.reply]);
  assert.ok(answered >= READ_TIMEOUT - 50 && answered < READ_TIMEOUT + 700, `answered after ${answered} ms`);
  assert.ok(closed - answered < 1100, `closed ${closed - answered} ms after the answer`);
  assert.match(reply, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  assert.match(reply, /\r\nConnection: close\r\n/i);
  assert.match(reply, /\r\n\r\n\{"error":"request timed out"\}\n$/);
  await eventually(async () => (await getJson(`${r.url}/api/stats`)).transactions === 1);
});

test('uploads trickling into every decoding slot: each is cut at the read timeout and a real upload gets through', { timeout: 60_000 }, async (t) => {
  const r = await withReceiver({ readTimeoutMs: READ_TIMEOUT, maxConcurrentIntake: 4, flushIntervalMs: 20 });
  t.after(() => r.cleanup());
  const port = Number(new URL(r.url).port);
  const slow = Array.from({ length: 20 }, () => trickle(port));
  await new Promise((res) => setTimeout(res, 100));
  const started = Date.now();
  const real = await send(`${r.url}/intake/v2/events?verbose`, [META, ...Array.from({ length: 5 }, (_, i) => tx(100 + i))].join('\n'), { headers: NDJSON });
  const realMs = Date.now() - started;
  assert.deepEqual(real.json(), { accepted: 5 });
  // it waited for a slot: the first four trickles hold them until their read timeout
  assert.ok(realMs < READ_TIMEOUT + 1000, `the real upload took ${realMs} ms`);
  const results = await Promise.all(slow.map(async (s) => ({ answered: await s.answeredMs, closed: await s.closedMs, reply: await s.reply })));
  for (const x of results) {
    assert.match(x.reply, /^HTTP\/1\.1 503 /);
    assert.match(x.reply, /\{"error":"request timed out"\}\n$/);
    assert.ok(x.answered < READ_TIMEOUT + 1000, `a trickle was answered after ${x.answered} ms`);
    assert.ok(x.closed - x.answered < 1100, `a trickle was closed ${x.closed - x.answered} ms after its answer`);
  }
  // 20 trickles sent 1 complete event each (the 4 decoding ones; the waiting ones never got a slot)
  await eventually(async () => (await getJson(`${r.url}/api/stats`)).transactions >= 9);
  const stats = await getJson(`${r.url}/api/stats`);
  assert.ok(stats.transactions <= 25, `${stats.transactions}`);
});

test('slow headers are cut at the read timeout too', { timeout: 30_000 }, async (t) => {
  const r = await withReceiver({ readTimeoutMs: READ_TIMEOUT });
  t.after(() => r.cleanup());
  const started = Date.now();
  const sock = connect(Number(new URL(r.url).port), '127.0.0.1');
  sock.on('error', () => {});
  sock.write('POST /intake/v2/events HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const timer = setInterval(() => !sock.destroyed && sock.write('X-Slow: 1\r\n'), 200);
  let text = '';
  sock.on('data', (c) => (text += c));
  const closedMs = await new Promise<number>((res) => sock.on('close', () => res(Date.now() - started)));
  clearInterval(timer);
  // Node's headersTimeout (= the read timeout), checked every second
  assert.ok(closedMs < READ_TIMEOUT + 1500, `closed after ${closedMs} ms`);
  assert.match(text, /^HTTP\/1\.1 408 /);
});

// Unit tests of the pure wire helpers: backoff formula, error-body parsing, loopback hosts,
// server-version parsing, and the ring-buffer FIFO.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fifo } from '../../runtime/transport/fifo.js';
import { backoffDelayMs, isLoopbackHost, parseErrorBody, parseServerVersion } from '../../runtime/transport/wire.js';

test('backoff: min(n-1, 6)² seconds, ±10 % jitter', () => {
  const mid = () => 0.5; // no jitter
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 50].map((n) => backoffDelayMs(n, 1000, mid)),
    [0, 1000, 4000, 9000, 16000, 25000, 36000, 36000, 36000],
  );
  assert.equal(backoffDelayMs(0, 1000, mid), 0);
  assert.equal(backoffDelayMs(3, 1000, () => 0), 3600); // -10 %
  assert.equal(backoffDelayMs(3, 1000, () => 0.999999), 4400); // +10 %
  assert.equal(backoffDelayMs(7, 10, () => 0), 324);
});

test('parseErrorBody: {accepted, errors[]}, {error}, text, empty', () => {
  assert.deepEqual(parseErrorBody('{"accepted":2,"errors":[{"message":"a","document":"{}"},{"message":"b"}]}'), {
    accepted: 2,
    message: 'a; b',
  });
  assert.deepEqual(parseErrorBody('{"error":"authentication failed"}'), { accepted: undefined, message: 'authentication failed' });
  assert.deepEqual(parseErrorBody('<html>bad gateway</html>\n'), { message: '<html>bad gateway</html>' });
  assert.deepEqual(parseErrorBody(''), { message: '(empty response body)' });
  assert.deepEqual(parseErrorBody('{"accepted":0,"errors":[]}'), { accepted: 0, message: '{"accepted":0,"errors":[]}' });
  assert.deepEqual(parseErrorBody('42'), { message: '42' });
  const long = parseErrorBody(JSON.stringify({ error: 'x'.repeat(5000) })).message;
  assert.equal(long.length, 1000);
  assert.ok(long.endsWith('…'));
});

test('isLoopbackHost: the four hosts the spec names', () => {
  for (const h of ['localhost', 'LOCALHOST', '127.0.0.1', '[::1]', '::1', '[0:0:0:0:0:0:0:1]']) assert.equal(isLoopbackHost(h), true, h);
  for (const h of ['apm.example.com', '10.0.0.1', '127.0.0.2', 'localhost.example.com']) assert.equal(isLoopbackHost(h), false, h);
});

test('parseServerVersion: top-level, pre-7.0 "ok", none', () => {
  assert.equal(parseServerVersion('{"version":"8.12.2","build_sha":"x"}'), '8.12.2');
  assert.equal(parseServerVersion('{"ok":{"version":"6.8.0"}}'), '6.8.0');
  assert.equal(parseServerVersion(''), undefined);
  assert.equal(parseServerVersion('null'), undefined);
  assert.equal(parseServerVersion('{"version":8}'), undefined);
});

test('Fifo: order across growth and wrap-around', () => {
  const q = new Fifo<number>(2);
  const out: number[] = [];
  let next = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < (round % 7) + 1; i++) q.push(next++);
    for (let i = 0; i < (round % 5) + 1 && q.length > 0; i++) out.push(q.shift()!);
  }
  while (q.length > 0) out.push(q.shift()!);
  assert.deepEqual(out, Array.from({ length: next }, (_, i) => i));
  assert.equal(q.shift(), undefined);
  assert.equal(q.peek(), undefined);
});

test('Fifo: peekLast/replaceLast address the newest item, also after wrap-around', () => {
  const q = new Fifo<number>(4);
  assert.equal(q.peekLast(), undefined);
  q.replaceLast(9); // no-op when empty
  assert.equal(q.length, 0);
  for (let i = 0; i < 3; i++) q.push(i);
  q.shift();
  q.shift();
  q.push(3);
  q.push(4); // wraps around the 4-slot buffer
  assert.equal(q.peekLast(), 4);
  q.replaceLast(40);
  assert.deepEqual([q.shift(), q.shift(), q.shift(), q.shift()], [2, 3, 40, undefined]);
});

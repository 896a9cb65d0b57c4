// Tests runtime/ids.ts: id formats, uniqueness across pool refills, and the monotonic µs clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nowMs, nowUs, roundMs, spanId, traceId } from '../../runtime/ids.js';

test('span ids are 16 lowercase hex, trace ids 32; unique across many pool refills', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const s = spanId();
    assert.match(s, /^[0-9a-f]{16}$/);
    seen.add(s);
  }
  assert.equal(seen.size, 20_000);
  for (let i = 0; i < 1000; i++) assert.match(traceId(), /^[0-9a-f]{32}$/);
});

test('clock: epoch-based, monotonic, µs integers, ms rounded to 3 decimals', () => {
  const a = nowMs();
  assert.ok(Math.abs(a - Date.now()) < 1000, 'close to the wall clock');
  let prev = nowUs();
  for (let i = 0; i < 1000; i++) {
    const t = nowUs();
    assert.ok(Number.isInteger(t));
    assert.ok(t >= prev);
    prev = t;
  }
  assert.equal(roundMs(1.23456), 1.235);
  assert.equal(roundMs(10), 10);
});

// Tests runtime/traceparent.ts: valid and invalid traceparent forms, tracestate with Elastic's es=s: rate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTraceparent, formatTracestate, parseTraceparent, parseTracestate } from '../../runtime/traceparent.js';

const T = '0af7651916cd43dd8448eb211c80319c';
const P = 'b7ad6b7169203331';

test('parses a valid traceparent', () => {
  assert.deepEqual(parseTraceparent(`00-${T}-${P}-01`), { traceId: T, parentId: P, sampled: true, flags: 1 });
  assert.deepEqual(parseTraceparent(`00-${T}-${P}-00`), { traceId: T, parentId: P, sampled: false, flags: 0 });
  assert.deepEqual(parseTraceparent(`  00-${T}-${P}-03 `), { traceId: T, parentId: P, sampled: true, flags: 3 });
});

test('accepts future versions with extra fields, as W3C requires', () => {
  assert.deepEqual(parseTraceparent(`01-${T}-${P}-01-what-the-future-holds`), { traceId: T, parentId: P, sampled: true, flags: 1 });
  assert.deepEqual(parseTraceparent(`cc-${T}-${P}-00`), { traceId: T, parentId: P, sampled: false, flags: 0 });
});

test('ignores invalid traceparent headers', () => {
  const invalid: unknown[] = [
    undefined,
    null,
    42,
    ['00-' + T + '-' + P + '-01'],
    '',
    `ff-${T}-${P}-01`, // forbidden version
    `00-${'0'.repeat(32)}-${P}-01`, // all-zero trace id
    `00-${T}-${'0'.repeat(16)}-01`, // all-zero parent id
    `00-${T.toUpperCase()}-${P}-01`, // uppercase
    `00-${T}-${P.toUpperCase()}-01`,
    `00-${T}-${P}-0A`,
    `00-${T.slice(1)}-${P}-01`, // short trace id
    `00-${T}0-${P}-01`, // long trace id
    `00-${T}-${P.slice(1)}-01`,
    `00-${T}-${P}-1`,
    `00-${T}-${P}-01-extra`, // version 00 must be exactly 55 chars
    `01-${T}-${P}-01extra`, // future version: extra must follow a dash
    `0-${T}-${P}-01`,
    `zz-${T}-${P}-01`,
    `00_${T}_${P}_01`,
    `00-${T.slice(0, 31)}g-${P}-01`,
    `00-${T}-${P}-zz`,
  ];
  for (const h of invalid) assert.equal(parseTraceparent(h), undefined, `should reject ${JSON.stringify(h)}`);
});

test('formats traceparent', () => {
  assert.equal(formatTraceparent(T, P, true), `00-${T}-${P}-01`);
  assert.equal(formatTraceparent(T, P, false), `00-${T}-${P}-00`);
});

test('tracestate: es=s: rate, other es members and other vendors are kept', () => {
  assert.deepEqual(parseTracestate('es=s:0.5,rojo=00f067aa0ba902b7'), { sampleRate: 0.5, esOther: [], others: ['rojo=00f067aa0ba902b7'] });
  assert.deepEqual(parseTracestate('congo=t61rcWkgMzE, es=a:b;s:1'), { sampleRate: 1, esOther: ['a:b'], others: ['congo=t61rcWkgMzE'] });
  assert.deepEqual(parseTracestate(['es=s:0.25', 'x@y=1']), { sampleRate: 0.25, esOther: [], others: ['x@y=1'] });
  // A bad rate is ignored, the header is kept.
  assert.deepEqual(parseTracestate('es=s:2'), { sampleRate: undefined, esOther: [], others: [] });
  assert.deepEqual(parseTracestate('es=s:abc'), { sampleRate: undefined, esOther: [], others: [] });
});

test('tracestate: invalid headers are ignored as a whole', () => {
  for (const h of ['=x', 'Upper=1', 'a=1,a=2', 'a', 'a=b=c,', 'k=' + 'v'.repeat(300), Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')]) {
    assert.equal(parseTracestate(h), undefined, `should reject ${h.slice(0, 40)}`);
  }
  assert.equal(parseTracestate(undefined), undefined);
});

test('formats tracestate with our es entry first', () => {
  assert.equal(formatTracestate(0.5, undefined), 'es=s:0.5');
  assert.equal(formatTracestate(1, parseTracestate('rojo=1,es=s:0.1;a:b')), 'es=s:1;a:b,rojo=1');
  assert.equal(formatTracestate(0.12345, undefined), 'es=s:0.1235');
  assert.equal(formatTracestate(undefined, parseTracestate('rojo=1')), 'rojo=1');
  assert.equal(formatTracestate(undefined, undefined), undefined);
});

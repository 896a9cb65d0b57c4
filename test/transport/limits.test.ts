// The field limits the transport applies are exactly the intake schemas' maxLength values, and the
// encoder's fallbacks: overlong strings shortened (arrays and "any key" maps too, surrogate pairs
// kept whole), reference cycles and BigInts encoded instead of dropping the event.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INTAKE_LIMITS } from '../../runtime/transport/limits.js';
import { applyLimits, stringifySafe } from '../../runtime/transport/wire.js';
import { INTAKE_SCHEMAS } from '../_shared.js';
// @ts-expect-error: a plain .mjs script, no declarations
import { limitsFromDir } from '../../scripts/gen-intake-limits.mjs';

test('runtime/transport/limits.ts matches the schemas (regenerate with node scripts/gen-intake-limits.mjs)', () => {
  assert.deepEqual(INTAKE_LIMITS, limitsFromDir(INTAKE_SCHEMAS));
  const md = INTAKE_LIMITS.metadata as Record<string, any>;
  assert.equal(md.service.name, 1024);
  assert.equal(md.service.node.configured_name, 1024);
  assert.equal(md.labels['*'], 1024);
  assert.equal((INTAKE_LIMITS.transaction as Record<string, any>).dropped_spans_stats['[]'].service_target_type, 512);
});

test('applyLimits shortens only limited strings: nested, any-key maps, array items; never splits a surrogate pair', () => {
  const ev: Record<string, any> = {
    name: 'x'.repeat(1025),
    type: 'request',
    duration: 1,
    context: { tags: { a: 'y'.repeat(2000), b: 3, c: 'short' }, custom: { z: 'z'.repeat(5000) } },
    dropped_spans_stats: [{ service_target_type: 't'.repeat(600), duration: { count: 1 } }, null, 'junk'],
    links: [{ trace_id: 'q'.repeat(1030) }],
  };
  applyLimits(ev, INTAKE_LIMITS.transaction!);
  assert.equal(ev.name, 'x'.repeat(1024));
  assert.deepEqual(ev.context.tags, { a: 'y'.repeat(1024), b: 3, c: 'short' });
  assert.equal(ev.context.custom.z.length, 5000);
  assert.equal(ev.dropped_spans_stats[0].service_target_type, 't'.repeat(512));
  assert.deepEqual(ev.dropped_spans_stats.slice(1), [null, 'junk']);
  assert.equal(ev.links[0].trace_id.length, 1024);
  const emoji = { name: 'a'.repeat(1023) + '😀' + 'b' };
  applyLimits(emoji, INTAKE_LIMITS.span!);
  assert.equal(emoji.name, 'a'.repeat(1023), 'the pair that would straddle the limit is left out whole');
  const span = { child_ids: ['c'.repeat(1100), 'ok'] };
  applyLimits(span, INTAKE_LIMITS.span!);
  assert.deepEqual(span.child_ids, ['c'.repeat(1024), 'ok']);
});

test('stringifySafe: cycles become "[Circular]" (shared references stay), BigInt its digits, toJSON is honoured', () => {
  const a: Record<string, unknown> = { n: 1 };
  a.me = a;
  const shared = { s: 1 };
  const arr: unknown[] = [shared, shared];
  arr.push(arr);
  assert.equal(stringifySafe({ a, arr, big: 12345678901234567890n, d: new Date(0) }), '{"a":{"n":1,"me":"[Circular]"},"arr":[{"s":1},{"s":1},"[Circular]"],"big":"12345678901234567890","d":"1970-01-01T00:00:00.000Z"}');
  assert.throws(() => stringifySafe({ toJSON() { throw new Error('no'); } }), /no/);
});

// The receiver's maxEventSize boundary, exactly: a line of maxEventSize bytes (newline not counted,
// as APM Server's max_event_size) is accepted, one byte more is refused with the server's message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startReceiver } from '../../receiver/index.js';
import { METADATA, span } from '../transport/helpers.js';
import { NDJSON, send, tempDir } from './helpers.js';

const LIMIT = 2000;

/** A schema-valid span line of exactly `bytes` bytes (padded in db.statement, which has no length limit). */
function spanLine(bytes: number): string {
  const ev = span(1) as { span: Record<string, unknown> };
  const withStatement = (n: number) => JSON.stringify({ span: { ...ev.span, context: { db: { statement: 'x'.repeat(n) } } } });
  const line = withStatement(bytes - Buffer.byteLength(withStatement(0)));
  assert.equal(Buffer.byteLength(line), bytes);
  return line;
}

test('maxEventSize: a line of exactly the limit is accepted, the limit + 1 is refused', { timeout: 30_000 }, async (t) => {
  const dir = tempDir();
  const r = await startReceiver({ port: 0, dataDir: dir.dir, maxEventSize: LIMIT });
  t.after(async () => {
    await r.close();
    dir.remove();
  });
  const meta = JSON.stringify({ metadata: METADATA });
  const at = await send(`${r.url}/intake/v2/events?verbose`, `${meta}\n${spanLine(LIMIT)}\n`, { headers: NDJSON });
  assert.equal(at.status, 202, at.text);
  assert.equal(at.json().accepted, 1);

  const over = await send(`${r.url}/intake/v2/events`, `${meta}\n${spanLine(LIMIT + 1)}\n`, { headers: NDJSON });
  assert.equal(over.status, 400, over.text);
  const body = over.json();
  assert.equal(body.accepted, 0);
  assert.equal(body.errors.length, 1);
  assert.equal(body.errors[0].message, 'event exceeded the permitted size');
});

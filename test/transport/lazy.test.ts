// undici is loaded on the first request, not when the transport is created: an app that starts the
// agent does not pay for loading the HTTP client until there is something to send.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTransport } from '../../runtime/transport/index.js';
import { baseOptions, recordingLogger, span, serve } from './helpers.js';

const undiciLoaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/undici/'));

test('creating the transport does not load undici; the first request does', { timeout: 20_000 }, async (ctx) => {
  assert.equal(undiciLoaded(), false, 'nothing else in this test file loads undici');
  const srv = await serve(ctx);
  const t = createTransport(baseOptions(srv.url, recordingLogger()));
  ctx.after(() => t.close(100));
  await t.flush(100);
  assert.equal(undiciLoaded(), false);
  t.send(span(0));
  await t.flush(5000);
  assert.equal(undiciLoaded(), true);
  assert.deepEqual(srv.events(), [span(0)]);
  await t.close(1000);
  await srv.close();
});

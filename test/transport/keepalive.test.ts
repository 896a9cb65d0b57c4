// Keep-alive: the server closing an idle connection between two requests must not cost events
// (the next request opens a fresh connection instead of failing on the stale one).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createTransport } from '../../runtime/transport/index.js';
import { baseOptions, recordingLogger, sleep, span, trackUnhandled, serve } from './helpers.js';

const unhandled = trackUnhandled();
after(() => assert.deepEqual(unhandled, []));

for (const idleMs of [300, 1200]) {
  test(`the server closes idle connections after ${idleMs} ms: every event still arrives`, { timeout: 20_000 }, async (ctx) => {
    const srv = await serve(ctx);
    srv.setKeepAliveTimeout(idleMs);
    const log = recordingLogger();
    const t = createTransport(baseOptions(srv.url, log));
    ctx.after(() => t.close(100));
    for (let round = 0; round < 3; round++) {
      t.send(span(round));
      await t.flush(3000);
      await sleep(idleMs + 100); // the server has closed the idle socket by now
    }
    assert.deepEqual(srv.names(), ['span-000000', 'span-000001', 'span-000002']);
    assert.deepEqual(t.stats().droppedByReason, {});
    assert.deepEqual(log.at('error'), []);
    await t.close(1000);
    await srv.close();
  });
}

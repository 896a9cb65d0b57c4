// What the agent says when delivery fails: one "spanforge <level>:" prefix, the real destination
// named (the local receiver, APM Server, or just the URL when nothing answered GET /), and a
// connection refused at start-up retried quietly before it is reported.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startReceiver } from '../../receiver/index.js';
import { getAgent, resetAgentForTests } from '../../runtime/agent.js';
import { createLogger } from '../../runtime/log.js';
import { storage } from '../../runtime/context.js';
import { createTransport } from '../../runtime/transport/index.js';
import { baseOptions, deadPort, recordingLogger, serve, sleep, span, trackUnhandled, waitFor } from './helpers.js';

const unhandled = trackUnhandled();
after(() => assert.deepEqual(unhandled, []));

test('one prefix: a message that brings its own "spanforge: " is not prefixed twice', () => {
  const lines: string[] = [];
  const log = createLogger('info', (l) => void lines.push(l));
  log.error('spanforge: cannot send events to %s', 'x');
  log.warn('plain %d', 1);
  assert.deepEqual(lines, ['spanforge error: cannot send events to x\n', 'spanforge warning: plain 1\n']);
});

test('the agent at start-up with nothing listening: one line, one prefix, the URL and what to do', { timeout: 20_000 }, async (ctx) => {
  const port = await deadPort();
  await resetAgentForTests();
  ctx.after(() => resetAgentForTests());
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    const agent = getAgent().start(
      { serverUrl: `http://127.0.0.1:${port}`, serviceName: 'msg', metricsInterval: 0 },
      { noProcessHandlers: true, env: {}, transportTuning: { startupQuietMs: 300 } },
    );
    storage.run(undefined as never, () => agent.startTransaction('t', 'request').end());
    await agent.flush(2000);
    assert.deepEqual(lines, [], 'quiet while the server may still be starting');
    await waitFor(() => lines.length > 0, 3000, 'the error after the quiet period');
    await sleep(50);
  } finally {
    process.stderr.write = write;
  }
  assert.equal(lines.length, 1, lines.join(''));
  assert.match(
    lines[0]!,
    new RegExp(
      `^spanforge error: cannot send events to the intake server at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED .*` +
        '\\(nothing listens there: start the local receiver with `npx spanforge serve`, or set ELASTIC_APM_SERVER_URL to your APM Server\\) ' +
        '\\(retried for 0\\.3 s; 1 event\\(s\\) dropped so far\\)\\n$',
    ),
  );
});

test('a server that comes up within the quiet period: no error at all, and later events arrive', { timeout: 20_000 }, async (ctx) => {
  const port = await deadPort();
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(`http://127.0.0.1:${port}`, log), startupQuietMs: 3000, backoffUnitMs: 50 });
  ctx.after(() => t.close(100));
  t.send(span(0));
  await t.flush(2000);
  assert.deepEqual(t.stats().droppedByReason, { network: 1 });
  const srv = await serve(ctx, { port });
  t.send(span(1));
  await t.flush(3000);
  assert.deepEqual(srv.names(), ['span-000001']);
  await sleep(100);
  assert.deepEqual(log.at('error'), []);
  assert.deepEqual(log.at('info'), [], 'no "accepts events again" for an outage that was never reported');
  assert.ok(log.at('debug').some((m) => m.includes('ECONNREFUSED') && m.endsWith('; retrying')));
});

test("spanforge's local receiver is named as such (from its GET / answer), not as APM Server", { timeout: 20_000 }, async (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'spanforge-messages-'));
  const r = await startReceiver({ port: 0, dataDir: dir });
  ctx.after(async () => {
    await r.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const log = recordingLogger();
  const t = createTransport(baseOptions(r.url, log));
  ctx.after(() => t.close(100));
  t.send({ span: { name: 'no ids, no type' } } as never);
  await t.flush(3000);
  assert.equal(log.at('error').length, 1);
  assert.match(log.at('error')[0]!, new RegExp(`^the local receiver at ${r.url.replace(/[./]/g, '\\$&')} answered 400 to POST /intake/v2/events: `));
});

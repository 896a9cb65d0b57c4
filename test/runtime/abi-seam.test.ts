// The seam between the agent and the ABI helpers (runtime/abi.ts): start() installs the core; emitted-style code then records real events.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { freshAgent, assertValid } from './helpers.js';
import { resetAgentForTests } from '../../runtime/agent.js';
import * as abi from '../../runtime/abi.js';

after(() => resetAgentForTests());

test('route() + call() + wrap() through the agent core produce valid, linked events with code locations', async () => {
  const { transport } = await freshAgent();
  const S = abi.sites(abi.ABI_VERSION, 'src/app.ts', [
    { rule: 'node.http-server', handler: 'node-http', name: null, type: 'request', line: 3, column: 1, function: '<module>' },
    { rule: 'user:work', handler: 'app', name: 'doWork', type: 'app', line: 7, column: 12, function: 'handler' },
    { rule: 'user:helper', handler: 'traced', name: 'helper', type: 'app', line: 9, column: 3, function: 'helper' },
  ]);
  const helper = abi.wrap(S[2]!, (x: number) => x * 2);
  const server = createServer(
    abi.route(S[0]!, (_req: unknown, res: { end(b: string): void }) => {
      const v = abi.call(S[1]!, undefined, (a: number) => helper(a) + 1, 20) as number;
      res.end(String(v));
    }) as never,
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const res = await fetch(`http://127.0.0.1:${port}/work?x=1`);
  assert.equal(await res.text(), '41');
  await new Promise<void>((r) => server.close(() => r()));
  await new Promise((r) => setTimeout(r, 20));
  for (const e of transport.events) assertValid(e as Record<string, unknown>);
  const [tx] = transport.of('transaction');
  assert.ok(tx, JSON.stringify(transport.events));
  assert.equal(tx!.type, 'request');
  assert.equal(tx!.result, 'HTTP 2xx');
  assert.equal(tx!.context.request.url.pathname, '/work');
  const spans = transport.of('span');
  const work = spans.find((s) => s.name === 'doWork')!;
  const help = spans.find((s) => s.name === 'helper')!;
  assert.equal(work.parent_id, tx!.id);
  assert.equal(help.parent_id, work.id);
  assert.deepEqual(work.stacktrace, [{ filename: 'src/app.ts', lineno: 7, colno: 12, function: 'handler', library_frame: false }]);
});

// An early answer (wrong method, wrong Content-Type, a bad first line) sent while the agent is still
// sending its body must reach the agent: the receiver reads and drops the rest of the body before
// closing, as APM Server (Go's net/http) does. Closing with the body unread makes the kernel reset
// the connection, and the agent then sees ECONNRESET instead of the answer (seen once in 3000 fuzz
// cases on Node 24 in CI).
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { test } from 'node:test';
import { serveChild } from './security-helpers.js';

function send(port: number, agent: Agent, method: string, headers: Record<string, string>, body: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method, path: '/intake/v2/events', agent, headers: { ...headers, 'Content-Length': String(body.length) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(`${res.statusCode} ${text.trim()}`));
      res.on('error', (e) => resolve(`response error ${e.message}`));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(`request error ${e.code ?? e.message}`));
    req.end(body);
  });
}

test('early answers with the body still arriving are read by the agent, never reset (200 of each, 4 at a time)', { timeout: 120_000 }, async (t) => {
  const s = await serveChild();
  t.after(() => s.stop());
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  t.after(() => agent.destroy());
  const line = `{"metadata":{"service":{"name":"early","agent":{"name":"nodejs","version":"1"}}}}\n`;
  const body = Buffer.from(line + `{"span":{"name":"${'x'.repeat(900)}"}}\n`.repeat(1000)); // ~930 KB
  const kinds = [
    { method: 'GET', headers: { 'Content-Type': 'application/x-ndjson' }, expect: /^400 .*only POST requests are supported/s },
    { method: 'POST', headers: { 'Content-Type': 'text/plain' }, expect: /^400 / },
    { method: 'POST', headers: { 'Content-Type': 'application/x-ndjson' }, body: Buffer.concat([Buffer.from('{"nope":1}\n'), body]), expect: /^400 / },
  ];
  for (const k of kinds) {
    const answers = new Map<string, number>();
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next++ < 200) {
        const a = await send(s.port, agent, k.method, { Accept: 'application/json', ...k.headers }, k.body ?? body);
        const key = k.expect.test(a) ? 'expected' : a.slice(0, 160);
        answers.set(key, (answers.get(key) ?? 0) + 1);
      }
    }));
    assert.deepEqual(Object.fromEntries(answers), { expected: 200 }, `${k.method} ${k.headers['Content-Type']}`);
  }
});

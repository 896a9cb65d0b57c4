// `node -r spanforge/start` and `import 'spanforge/start'`: the agent starts from the ELASTIC_APM_*
// environment before the app's first line, as `-r elastic-apm-node/start` does.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';

const ROOT = join(__dirname, '..', '..');

async function intake(): Promise<{ url: string; lines: () => Record<string, any>[]; close: () => Promise<void> }> {
  const bodies: Buffer[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/intake/v2/events') {
        const raw = Buffer.concat(chunks);
        bodies.push(req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw);
        res.writeHead(202).end();
      } else res.writeHead(200, { 'content-type': 'application/json' }).end('{"version":"8.12.2"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    lines: () => bodies.flatMap((b) => b.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const APP = `const sf = require('spanforge'); if (!sf.isStarted()) throw new Error('not started');
const tx = sf.startTransaction('job', 'background'); tx.end();`;
const ESM_APP = `import * as sf from 'spanforge'; if (!sf.isStarted()) throw new Error('not started');
sf.startTransaction('job', 'background').end();`;

for (const [how, args] of [
  ['node -r spanforge/start (CommonJS)', ['-r', 'spanforge/start', '-e', APP]],
  ["import 'spanforge/start' (ES module)", ['--input-type=module', '-e', `import 'spanforge/start';\n${ESM_APP}`]],
] as const) {
  test(`${how}: started from the environment, the transaction is delivered at exit`, async () => {
    const srv = await intake();
    try {
      const env = { ...process.env, ELASTIC_APM_SERVER_URL: srv.url, ELASTIC_APM_SERVICE_NAME: 'start-entry', ELASTIC_APM_METRICS_INTERVAL: '0', ELASTIC_APM_CENTRAL_CONFIG: 'false' };
      delete env.NODE_OPTIONS;
      // Asynchronously: the intake server runs in this process.
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = execFile(process.execPath, [...args], { cwd: ROOT, env, timeout: 20_000 }, (_err, _out, stderr) => resolve({ code: child.exitCode, stderr }));
      });
      assert.equal(r.code, 0, r.stderr);
      const lines = srv.lines();
      assert.equal(lines[0]!.metadata.service.name, 'start-entry');
      assert.deepEqual(lines.filter((l) => l.transaction).map((l) => `${l.transaction.type} ${l.transaction.name}`), ['background job']);
    } finally {
      await srv.close();
    }
  });
}

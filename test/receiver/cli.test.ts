// `spanforge serve` as a user runs it: a child process that prints its URLs, accepts events,
// stops cleanly on SIGTERM/SIGINT without losing the pending batch, and rejects bad flags (exit 2).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { startReceiver } from '../../receiver/index.js';
import { getJson, NDJSON, send, tempDir } from './helpers.js';
import { buildTraffic } from './traffic.js';

const ROOT = join(__dirname, '..', '..');
const CLI = ['--import', 'tsx', join(ROOT, 'cli', 'index.ts')];

function serve(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [...CLI, 'serve', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no URL printed; stdout=${stdout} stderr=${stderr}`)), 15_000);
    child.stdout.on('data', () => {
      const m = /web UI: {2}(http:\/\/[^\s]+)\/ui\//.exec(stdout);
      if (m && stdout.includes('Press Ctrl+C to stop.\n')) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
  });
  return { child, url, exited, out: () => stdout, err: () => stderr };
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`serve prints its URLs and a ${signal} flushes the pending batch to disk`, async () => {
    const t = tempDir();
    try {
      // A 60 s flush interval: the events are certainly still in memory when the signal arrives.
      const s = serve(['--port', '0', '--data-dir', t.dir], { SPANFORGE_FLUSH_INTERVAL_MS: '60000' });
      const url = await s.url;
      assert.match(s.out(), new RegExp(`intake: {2}${url}/intake/v2/events`));
      assert.match(s.out(), new RegExp(`data: {4}${t.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      const rep = await send(`${url}/intake/v2/events?verbose`, buildTraffic().checkout, { headers: NDJSON });
      assert.deepEqual(rep.json(), { accepted: 80 });
      s.child.kill(signal);
      assert.equal(await s.exited, 0, s.err());
      assert.match(s.out(), /stopped\n$/);
      const again = await startReceiver({ port: 0, dataDir: t.dir });
      try {
        const stats = await getJson(`${again.url}/api/stats`);
        assert.deepEqual([stats.transactions, stats.spans, stats.errors, stats.metrics], [62, 3, 5, 90]);
      } finally {
        await again.close();
      }
    } finally {
      t.remove();
    }
  });
}

test('SPANFORGE_DATA_DIR picks the data dir when --data-dir is absent', async () => {
  const t = tempDir();
  try {
    const s = serve(['--port', '0'], { SPANFORGE_DATA_DIR: t.dir });
    await s.url;
    assert.ok(s.out().includes(`data:    ${t.dir}\n`), s.out());
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0);
  } finally {
    t.remove();
  }
});

test('unknown flags, bad ports and unknown commands: message + usage, exit code 2', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [...CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
  const bogus = run('serve', '--bogus');
  assert.equal(bogus.status, 2);
  assert.match(bogus.stderr, /^spanforge: Unknown option '--bogus'\n\nUsage: spanforge <command>/);
  const port = run('serve', '--port', 'http');
  assert.equal(port.status, 2);
  assert.match(port.stderr, /^spanforge: --port must be an integer from 0 to 65535, got 'http'\n/);
  const cmd = run('serv');
  assert.equal(cmd.status, 2);
  assert.match(cmd.stderr, /^spanforge: unknown command 'serv'\n/);
  const none = run();
  assert.equal(none.status, 2);
  assert.match(none.stderr, /^Usage: spanforge/);
  const help = run('serve', '--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--data-dir DIR/);
});

test('a port already in use is a clear error, exit code 1', async () => {
  const t = tempDir();
  const busy = await startReceiver({ port: 0, dataDir: t.dir });
  try {
    const port = new URL(busy.url).port;
    const r = spawnSync(process.execPath, [...CLI, 'serve', '--port', port, '--data-dir', join(t.dir, 'other')], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `spanforge serve: port ${port} on 127.0.0.1 is already in use (another APM Server or spanforge serve?); choose another with --port\n`);
  } finally {
    await busy.close();
    t.remove();
  }
});

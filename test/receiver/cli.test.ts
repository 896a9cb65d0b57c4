// `spanforge serve` as a user runs it: a child process that prints its URLs, accepts events,
// stops cleanly on SIGTERM/SIGINT without losing the pending batch, and rejects bad flags (exit 2).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { defaultDataDir, exposureWarning, parseServeArgs, UsageError } from '../../cli/index.js';
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

test('serve defaults: port 8200, host 127.0.0.1, data dir ~/.spanforge/data unless SPANFORGE_DATA_DIR', () => {
  const d = parseServeArgs([], {});
  assert.deepEqual(d, { port: 8200, host: '127.0.0.1', dataDir: join(homedir(), '.spanforge', 'data'), secretToken: undefined, apiKey: undefined, allowedHosts: [], rumAllowOrigins: [], help: false });
  assert.equal(defaultDataDir({}), join(homedir(), '.spanforge', 'data'));
  assert.equal(defaultDataDir({ SPANFORGE_DATA_DIR: 'rel/dir' }), resolve('rel/dir'));
  assert.equal(parseServeArgs([], { SPANFORGE_DATA_DIR: '/tmp/x' }).dataDir, '/tmp/x');
  // Flags win over the environment; --host is passed through as given.
  const f = parseServeArgs(['--port', '0', '--host', '0.0.0.0', '--data-dir', 'd', '--secret-token', 't'], { SPANFORGE_DATA_DIR: '/tmp/x', SPANFORGE_API_KEY: 'k' });
  assert.deepEqual(f, { port: 0, host: '0.0.0.0', dataDir: resolve('d'), secretToken: 't', apiKey: 'k', allowedHosts: [], rumAllowOrigins: [], help: false });
  const g = parseServeArgs(['--allowed-host', 'a.test', '--allowed-host', 'b.test,.c.test', '--rum-allow-origin', 'https://*.shop.test'], { SPANFORGE_RUM_ALLOW_ORIGINS: 'ignored' });
  assert.deepEqual([g.allowedHosts, g.rumAllowOrigins], [['a.test', 'b.test', '.c.test'], ['https://*.shop.test']]);
  const e = parseServeArgs([], { SPANFORGE_ALLOWED_HOSTS: 'x.test, y.test', SPANFORGE_RUM_ALLOW_ORIGINS: 'http://localhost:3000' });
  assert.deepEqual([e.allowedHosts, e.rumAllowOrigins], [['x.test', 'y.test'], ['http://localhost:3000']]);
  assert.equal(parseServeArgs(['--port', '65535'], {}).port, 65535);
  assert.throws(() => parseServeArgs(['--port', '65536'], {}), UsageError);
  assert.throws(() => parseServeArgs(['--host', ''], {}), /--host must not be empty/);
  assert.equal(parseServeArgs(['-h'], {}).help, true);
  // The exposure warning: only for a non-loopback host without credentials.
  for (const h of ['127.0.0.1', '::1', 'localhost']) assert.equal(exposureWarning(h), undefined, h);
  assert.match(exposureWarning('0.0.0.0')!, /^warning: listening on 0\.0\.0\.0 without --secret-token/);
  assert.equal(exposureWarning('0.0.0.0', 'tok'), undefined);
  assert.equal(exposureWarning('0.0.0.0', undefined, 'key'), undefined);
});

test('serve --host 0.0.0.0 binds that host and warns that it is reachable without a token', async () => {
  const t = tempDir();
  try {
    const s = serve(['--host', '0.0.0.0', '--port', '0', '--data-dir', t.dir]);
    const url = await s.url;
    assert.match(url, /^http:\/\/0\.0\.0\.0:\d+$/);
    assert.match(s.out(), /\n {2}warning: listening on 0\.0\.0\.0 without --secret-token: anyone who can reach this port can send and read data\n/);
    // Bound on all interfaces: reachable through loopback too.
    const port = new URL(url).port;
    const info = await getJson(`http://127.0.0.1:${port}/`);
    assert.equal(info.build_sha, 'spanforge');
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0, s.err());
  } finally {
    t.remove();
  }
});

test('serve on loopback prints no warning', async () => {
  const t = tempDir();
  try {
    const s = serve(['--port', '0', '--data-dir', t.dir]);
    await s.url;
    assert.doesNotMatch(s.out(), /warning/);
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0, s.err());
  } finally {
    t.remove();
  }
});

/** Whether this Node loads node:sqlite without a flag (22.13+, 24): then the receiver needs no package. */
function hasNodeSqlite(): boolean {
  const r = spawnSync(process.execPath, ['-e', "require('node:sqlite')"], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0;
}

test('better-sqlite3 is optional: without it (and without node:sqlite) `serve` exits 1 naming the package and how to install it; --help and the runtime/transformer entries still load', async () => {
  const { existsSync, readFileSync } = await import('node:fs');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.dependencies?.['better-sqlite3'], undefined, 'better-sqlite3 must not be a hard dependency');
  // An optional peer: never installed (nor compiled) with spanforge; the user adds it where the receiver needs it.
  assert.equal(pkg.optionalDependencies?.['better-sqlite3'], undefined, 'better-sqlite3 is not installed with spanforge');
  assert.ok(pkg.peerDependencies?.['better-sqlite3'], 'better-sqlite3 is a peer dependency');
  assert.equal(pkg.peerDependenciesMeta?.['better-sqlite3']?.optional, true, 'and an optional one');
  assert.equal(pkg.allowScripts?.['better-sqlite3'], true);
  const hook = ['-r', join(__dirname, 'fixtures', 'no-sqlite.cjs')];
  const t = tempDir();
  try {
    const dataDir = join(t.dir, 'data');
    // SPANFORGE_SQLITE=better-sqlite3: the backend a Node without node:sqlite (20) has to use.
    const env = { ...process.env, SPANFORGE_SQLITE: 'better-sqlite3' };
    const r = spawnSync(process.execPath, [...hook, ...CLI, 'serve', '--port', '0', '--data-dir', dataDir], { cwd: ROOT, encoding: 'utf8', timeout: 30_000, env });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^spanforge serve: the local receiver needs the optional dependency better-sqlite3 \(its SQLite store\), which is not installed\. Install it next to spanforge with `npm install better-sqlite3`/);
    assert.match(r.stderr, /Node 22\.13\+ and 24 .* need no package\)\n$/);
    assert.equal(r.stdout, '');
    assert.equal(existsSync(dataDir), false, 'nothing is created before the store can load');
    const help = spawnSync(process.execPath, [...hook, ...CLI, '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000, env });
    assert.equal(help.status, 0, help.stderr);
    // Nothing on the runtime, transformer, Babel or bundler path asks for a SQLite module.
    const code = ['runtime/index.ts', 'transformer/index.ts', 'babel-plugin/index.ts', 'bundler/index.ts'].map((f) => `require(${JSON.stringify(join(ROOT, f))});`).join('');
    const entries = spawnSync(process.execPath, [...hook, '--import', 'tsx', '-e', `${code} console.log(process.moduleLoadList.filter((m) => /sqlite/.test(m)).length ? 'sqlite loaded' : 'loaded')`], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(entries.status, 0, entries.stderr);
    assert.equal(entries.stdout.trim(), 'loaded');
  } finally {
    t.remove();
  }
});

test('the store backend: node:sqlite where this Node has it (no package needed, no warning printed), else better-sqlite3', async () => {
  const { sqliteBackend } = await import('../../receiver/sqlite.js');
  const builtIn = hasNodeSqlite();
  assert.equal(sqliteBackend(), builtIn ? 'node:sqlite' : 'better-sqlite3', `Node ${process.version}`);
  const t = tempDir();
  try {
    // better-sqlite3 made to look uninstalled: with node:sqlite the receiver works all the same.
    const child = spawn(process.execPath, ['-r', join(__dirname, 'fixtures', 'no-sqlite.cjs'), ...CLI, 'serve', '--port', '0', '--data-dir', t.dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    if (!builtIn) {
      assert.equal(await exited, 1);
      assert.match(stderr, /needs the optional dependency better-sqlite3/);
      return;
    }
    for (let i = 0; i < 300 && !stdout.includes('Press Ctrl+C to stop.\n'); i++) await new Promise((r) => setTimeout(r, 50));
    const url = /web UI: {2}(http:\/\/[^\s]+)\/ui\//.exec(stdout)?.[1];
    assert.ok(url, `serve started: ${stdout} ${stderr}`);
    const rep = await send(`${url}/intake/v2/events?verbose`, buildTraffic().checkout, { headers: NDJSON });
    assert.deepEqual(rep.json(), { accepted: 80 });
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.doesNotMatch(stderr, /ExperimentalWarning|warning/i);
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

// The Getting-started tests' tools: spanforge packed once (`npm pack` of the built tree, shared by every
// test file of a run through test-artifacts/install/), fresh projects in temp folders that install that
// tarball and their tool from the npm registry (the machine's npm cache, --prefer-offline), and the
// one check every path ends with: the app's trace (a request transaction and its outgoing-HTTP span)
// arrives at a test intake.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startIntake, assertValidEvent, type Intake } from '../bundler/_intake.js';

export const root = join(__dirname, '..', '..');
const artifacts = join(root, 'test-artifacts', 'install');
const NPM_CLI = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');

function newest(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

/** The `npm pack` tarball of this tree (built first by `npm test`); packed again only when dist/ changed. */
export function packSpanforge(): string {
  const dist = join(root, 'dist', 'cjs', 'register', 'index.js');
  if (!existsSync(dist)) throw new Error('dist/ is missing: run `npm run build` first');
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string;
  const tarball = join(artifacts, `spanforge-${version}.tgz`);
  const stamp = Math.max(newest(join(root, 'dist')), statSync(join(root, 'package.json')).mtimeMs);
  if (existsSync(tarball) && statSync(tarball).mtimeMs > stamp) return tarball;
  mkdirSync(artifacts, { recursive: true });
  const r = spawnSync(process.execPath, [npmCli(), 'pack', '--pack-destination', artifacts, '--loglevel=error'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, `npm pack failed:\n${r.stdout}\n${r.stderr}`);
  assert.ok(existsSync(tarball), `npm pack did not write ${tarball}: ${r.stdout}`);
  return tarball;
}

/** npm's own entry script (run with a given node, so that npm's engine checks see that node's version). */
export function npmCli(): string {
  if (existsSync(NPM_CLI)) return NPM_CLI;
  const r = spawnSync('npm', ['prefix', '-g'], { encoding: 'utf8' });
  return join(r.stdout.trim(), 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
}

export interface Project {
  dir: string;
  write(file: string, text: string): void;
  /** `npm install <args>` (from the cache where it can); throws with npm's output on failure. Returns npm's output. */
  install(args: string[], opts?: { node?: string; allowFail?: boolean }): Promise<{ status: number | null; output: string }>;
  /** Runs a command in the project (no shell), with `env` added; returns status and output. */
  run(cmd: string, args: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<{ status: number | null; output: string }>;
  version(pkg: string): string;
  remove(): void;
}

/** A new folder with a package.json (`type` module or commonjs) and, unless `install: false`, spanforge installed. */
export function freshProject(name: string, type: 'module' | 'commonjs'): Project {
  const dir = mkdtempSync(join(tmpdir(), `sf-gs-${name}-`));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `gs-${name}`, version: '1.0.0', private: true, type }, null, 2) + '\n');
  const p: Project = {
    dir,
    write(file, text) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), text);
    },
    async install(args, opts = {}) {
      // Asynchronous, so that the tests of a file can install side by side (npm's cache is safe to share).
      const r = await p.run(opts.node ?? process.execPath, [npmCli(), 'install', ...args, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn'], {
        env: { npm_config_update_notifier: 'false' },
        timeoutMs: 240_000,
      });
      if (!opts.allowFail) assert.equal(r.status, 0, `npm install ${args.join(' ')} failed in ${dir}:\n${r.output}`);
      return r;
    },
    run(cmd, args, opts = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { cwd: dir, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout.on('data', (c: Buffer) => (output += c));
        child.stderr.on('data', (c: Buffer) => (output += c));
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`${cmd} ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 120_000} ms:\n${output}`));
        }, opts.timeoutMs ?? 120_000);
        child.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        child.on('close', (status) => {
          clearTimeout(timer);
          resolve({ status, output });
        });
      });
    },
    version(pkg) {
      return JSON.parse(readFileSync(join(dir, 'node_modules', pkg, 'package.json'), 'utf8')).version as string;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return p;
}

/** A binary of the project's node_modules/.bin. */
export function bin(p: Project, name: string): string {
  return join(p.dir, 'node_modules', '.bin', name);
}

/**
 * The app every path builds: a node:http server whose handler calls the server itself with fetch; it
 * requests /hello once and closes, so the process ends and the agent flushes on exit. TypeScript that is
 * also plain JavaScript once the annotations are removed (`js: true` writes it without them).
 */
export function appSource(opts: { js?: boolean; exportOnly?: boolean } = {}): string {
  const ts = !opts.js;
  const a = (s: string) => (ts ? s : '');
  const start = `import { start } from 'spanforge';\nimport http from 'node:http';\n\nstart({ serviceName: process.env.GS_SERVICE${a(' as string')} });\n\n`;
  const server = `export const server = http.createServer(async (req${a(': http.IncomingMessage')}, res${a(': http.ServerResponse')}) => {
  if (req.url === '/hello') {
    const { port } = server.address()${a(' as { port: number }')};
    const upstream = await fetch(\`http://127.0.0.1:\${port}/ping\`);
    res.end('hello ' + (await upstream.text()));
  } else {
    res.end('pong');
  }
});
`;
  const main = `
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address()${a(' as { port: number }')};
  const r = await fetch(\`http://127.0.0.1:\${port}/hello\`);
  console.log('app said:', await r.text());
  server.close();
});
`;
  return start + server + (opts.exportOnly ? '' : main);
}

/** The environment that points the agent at the intake (no metrics: the test waits for the trace only). */
export function agentEnv(intake: Intake, service: string): NodeJS.ProcessEnv {
  return { ELASTIC_APM_SERVER_URL: intake.url, ELASTIC_APM_METRICS_INTERVAL: '0s', GS_SERVICE: service };
}

export { startIntake, assertValidEvent, type Intake };

/**
 * Waits (up to 15 s) for the trace of one /hello request from `service`: the request transaction,
 * the fetch exit span inside it (same trace, parent = that transaction) and the /ping transaction it
 * caused (continued trace). Every event validates against the intake-v2 schemas.
 */
export async function assertTrace(intake: Intake, service: string, output: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  const mine = () => {
    const out: Record<string, Record<string, unknown>>[] = [];
    let current: string | undefined;
    for (const e of intake.events) {
      if (e.metadata) current = ((e.metadata.service as { name?: string }) ?? {}).name;
      else if (current === service) out.push(e);
    }
    return out;
  };
  for (;;) {
    const events = mine();
    const txs = events.filter((e) => e.transaction).map((e) => e.transaction!);
    const spans = events.filter((e) => e.span).map((e) => e.span!);
    const span = spans.find((s) => s.type === 'external' && s.subtype === 'http');
    const outer = span && txs.find((t) => t.id === span.parent_id);
    const inner = span && txs.find((t) => t.parent_id === span.id);
    if (span && outer && inner) {
      for (const e of events) assertValidEvent(e);
      assert.equal(outer.type, 'request');
      assert.equal(outer.result, 'HTTP 2xx');
      assert.equal(span.trace_id, outer.trace_id);
      assert.equal(inner.trace_id, outer.trace_id);
      assert.match(String(span.name), /^GET 127\.0\.0\.1:\d+$/);
      return;
    }
    if (Date.now() > deadline) {
      assert.fail(`no complete trace from ${service} at the intake after 15 s; events: ${JSON.stringify(events).slice(0, 2000)}\napp output:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

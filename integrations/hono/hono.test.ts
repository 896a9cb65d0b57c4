// Hono on the four runtimes it is deployed to, each installed from the npm registry into
// fixtures/apps/hono-starter (own package.json + lock, `npm ci` here when missing): Node through
// @hono/node-server, Bun (Bun.serve), Deno (Deno.serve) and Cloudflare's workerd (`export default app`,
// nodejs_compat). The create-hono-shaped app is built with esbuild + spanforge's bundler step, as
// wrangler bundles a worker (for workerd: conditions workerd/worker/browser, node: builtins left to
// the runtime, so `spanforge` resolves to dist/edge with the fetch transport), run against a test
// intake on loopback, and the exact events are asserted: transaction names from the route templates
// (sub-app prefix, basePath), incoming traceparent continued, the fetch exit span and the traceparent
// the upstream received, errors with `handled`, parent ids, runtime metadata; and on workerd the events
// leave through ctx.waitUntil before the request is over.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createGunzip } from 'node:zlib';
import { assertValidEvent } from '../../test/bundler/_intake.js';

const root = join(__dirname, '..', '..');
const appDir = join(root, 'fixtures', 'apps', 'hono-starter');
const nm = join(appDir, 'node_modules');
const outDir = join(appDir, 'out-esbuild');
const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';
const INCOMING = `00-${TRACE}-${PARENT}-01`;

type Ev = Record<string, Record<string, any>>;
interface Intake {
  url: string;
  events: Ev[];
  upstream: { url: string; traceparent?: string }[];
  server: Server;
}

function binary(which: 'bun' | 'deno' | 'workerd'): string {
  // The platform packages the npm wrappers install as optional dependencies (their postinstall
  // scripts, which only link these, are not run: npm here runs no dependency scripts).
  const p = { bun: join(nm, '@oven', 'bun-linux-x64', 'bin', 'bun'), deno: join(nm, '@deno', 'linux-x64-glibc', 'deno'), workerd: join(nm, '@cloudflare', 'workerd-linux-64', 'bin', 'workerd') }[which];
  assert.ok(existsSync(p), `${which} is not installed at ${p} (linux-x64 only; npm ci --prefix fixtures/apps/hono-starter)`);
  return p;
}

before(async () => {
  if (!existsSync(join(nm, 'hono', 'package.json')) || !existsSync(join(nm, '@cloudflare', 'workerd-linux-64'))) {
    spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['ci', '--prefix', appDir, '--ignore-scripts', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  }
  assert.ok(existsSync(join(nm, 'hono', 'package.json')), 'hono is not installed (npm ci --prefix fixtures/apps/hono-starter)');
  if (!existsSync(join(root, 'dist', 'edge', 'runtime', 'abi.js')) || !existsSync(join(root, 'dist', 'esm', 'runtime', 'abi.js'))) {
    spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
  }
  assert.ok(existsSync(join(root, 'dist', 'edge', 'runtime', 'abi.js')), 'dist/edge was not built (npm run build)');
  const link = join(nm, 'spanforge');
  try {
    lstatSync(link);
  } catch {
    symlinkSync(join('..', '..', '..', '..'), link);
  }
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const esbuild = await import('esbuild');
  const { esbuildPlugin } = await import('../../bundler/index.js');
  for (const entry of ['node', 'bun', 'deno', 'worker']) {
    const worker = entry === 'worker';
    await esbuild.build({
      entryPoints: [join(appDir, 'src', `${entry}.ts`)],
      outfile: join(outDir, `${entry}.mjs`),
      bundle: true,
      format: 'esm',
      target: 'es2022',
      sourcemap: true,
      logLevel: 'silent',
      // Node, Bun and Deno load hono and spanforge from node_modules with their own export conditions;
      // the worker is one file, as wrangler builds it.
      // (preserveSymlinks: node_modules/spanforge links to this checkout, and a path under node_modules is
      // what keeps the bundler step off spanforge's own files, as in a real install.)
      ...(worker ? { platform: 'browser', conditions: ['workerd', 'worker', 'browser'], external: ['node:*', 'cloudflare:*'], preserveSymlinks: true } : { platform: 'node', packages: 'external' }),
      plugins: [esbuildPlugin({ root: appDir, report: join(outDir, `${entry}-report.json`), summary: false })],
    });
  }
});

after(() => {
  rmSync(outDir, { recursive: true, force: true });
});

async function startIntake(): Promise<Intake> {
  const events: Ev[] = [];
  const upstream: Intake['upstream'] = [];
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/upstream/')) {
      upstream.push({ url: req.url, traceparent: req.headers.traceparent as string | undefined });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      return;
    }
    if (req.method !== 'POST' || !req.url?.startsWith('/intake/v2/events')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"version":"8.15.0"}');
      return;
    }
    const body = req.headers['content-encoding'] === 'gzip' ? req.pipe(createGunzip()) : req;
    let text = '';
    body.setEncoding('utf8');
    body.on('data', (c: string) => (text += c));
    body.on('end', () => {
      for (const line of text.split('\n')) if (line.trim()) events.push(JSON.parse(line) as Ev);
      res.writeHead(202).end();
    });
    body.on('error', () => res.writeHead(400).end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, events, upstream, server };
}

interface Running {
  child: ChildProcess;
  port: number;
  output: () => string;
}

async function run(cmd: string, args: string[], env: Record<string, string>): Promise<Running> {
  const child = spawn(cmd, args, { cwd: appDir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${cmd} did not start:\n${out}`)), 30_000);
    const look = (c: string) => {
      out += c;
      // "listening <port>" from the app; workerd prints "Listening on http://127.0.0.1:<port>" (--verbose).
      const m = /(?:listening |Listening on http:\/\/127\.0\.0\.1:)(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.setEncoding('utf8').on('data', look);
    child.stderr!.setEncoding('utf8').on('data', look);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${cmd} exited with ${code}:\n${out}`));
    });
  });
  return { child, port, output: () => out };
}

async function stop(r: Running | undefined): Promise<void> {
  if (!r || r.child.exitCode !== null || r.child.signalCode !== null) return;
  r.child.kill('SIGKILL');
  await once(r.child, 'exit');
}

async function waitFor(intake: Intake, n: number, what: () => string): Promise<void> {
  // The transactions, the fetch span and the three errors (errors are sent once their stack frames are read).
  const deadline = Date.now() + 30_000;
  const count = (k: string) => intake.events.filter((e) => e[k]).length;
  while (count('transaction') < n || count('span') < 1 || count('error') < 3) {
    if (Date.now() > deadline) throw new Error(`expected ${n} transactions, 1 span, 3 errors; got ${count('transaction')}, ${count('span')}, ${count('error')}:\n${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // anything more (a duplicate) would come in the same batch or just after
  await new Promise((r) => setTimeout(r, 500));
}

function agentEnv(intake: Intake): Record<string, string> {
  return {
    ELASTIC_APM_SERVER_URL: intake.url,
    ELASTIC_APM_SERVICE_NAME: 'hono-starter',
    ELASTIC_APM_API_REQUEST_TIME: '1s',
    ELASTIC_APM_CENTRAL_CONFIG: 'false',
    ELASTIC_APM_METRICS_INTERVAL: '0s',
    UPSTREAM_URL: intake.url,
  };
}

const REQUESTS: [string, number][] = [
  ['/api/users/7', 200],
  ['/proxy/alice', 200],
  ['/boom', 500],
  ['/teapot', 418],
  ['/api/users/0', 500],
  ['/v2/items/3', 200],
  ['/nope', 404],
];

async function exercise(port: number): Promise<void> {
  for (const [path, status] of REQUESTS) {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { traceparent: INCOMING } });
    await res.text();
    assert.equal(res.status, status, path);
  }
}

function check(intake: Intake, runtime: string, output: string): void {
  for (const e of intake.events) assertValidEvent(e);
  const txs = intake.events.filter((e) => e.transaction).map((e) => e.transaction!);
  const byPath = (p: string) => {
    const t = txs.find((x) => x.context?.request?.url?.pathname === p);
    assert.ok(t, `no transaction for ${p} on ${runtime}: ${txs.map((x) => x.name).join(', ')}\n${output}`);
    return t;
  };
  assert.deepEqual(
    REQUESTS.map(([p]) => [p, byPath(p).name, byPath(p).result, byPath(p).outcome]),
    [
      ['/api/users/7', 'GET /api/users/:id', 'HTTP 2xx', 'success'],
      ['/proxy/alice', 'GET /proxy/:name', 'HTTP 2xx', 'success'],
      ['/boom', 'GET /boom', 'HTTP 5xx', 'failure'],
      ['/teapot', 'GET /teapot', 'HTTP 4xx', 'success'],
      ['/api/users/0', 'GET /api/users/:id', 'HTTP 5xx', 'failure'],
      ['/v2/items/3', 'GET /v2/items/:itemId', 'HTTP 2xx', 'success'],
      ['/nope', 'GET unknown route', 'HTTP 4xx', 'success'],
    ],
  );
  assert.equal(txs.length, REQUESTS.length, `one transaction per request on ${runtime}`);
  for (const t of txs) {
    assert.equal(t.type, 'request');
    assert.equal(t.trace_id, TRACE, 'incoming traceparent continued');
    assert.equal(t.parent_id, PARENT);
    assert.deepEqual(t.context.service.framework, { name: 'hono' });
    assert.equal(t.context.request.method, 'GET');
  }
  assert.equal(byPath('/api/users/7').context.response.status_code, 200);
  assert.equal(byPath('/nope').context.response.status_code, 404);

  // The fetch to the upstream: an exit span of the proxy transaction, and its traceparent on the wire.
  const proxy = byPath('/proxy/alice');
  const spans = intake.events.filter((e) => e.span).map((e) => e.span!);
  assert.equal(spans.length, 1, `spans on ${runtime}: ${JSON.stringify(spans)}`);
  const span = spans[0]!;
  const upstreamHost = new URL(intake.url).host;
  assert.deepEqual(
    [span.name, span.type, span.subtype, span.parent_id, span.transaction_id, span.trace_id, span.context?.http?.response?.status_code, span.context?.http?.url],
    [`GET ${upstreamHost}`, 'external', 'http', proxy.id, proxy.id, TRACE, 200, `${intake.url}/upstream/alice`],
  );
  assert.deepEqual(intake.upstream, [{ url: '/upstream/alice', traceparent: `00-${TRACE}-${span.id}-01` }]);

  // /boom and /teapot's HTTPException reached Hono's default error handler (not handled by the app);
  // /api/users/0 the users sub-app's onError (handled).
  const errors = intake.events.filter((e) => e.error).map((e) => e.error!);
  const boom = byPath('/boom');
  const teapot = byPath('/teapot');
  const noUser = byPath('/api/users/0');
  assert.deepEqual(
    errors.map((e) => [e.exception.message, e.exception.handled, e.parent_id, e.transaction_id, e.trace_id, e.transaction?.name]).sort(),
    [
      ['boom from a route', false, boom.id, boom.id, TRACE, 'GET /boom'],
      ['no user 0', true, noUser.id, noUser.id, TRACE, 'GET /api/users/:id'],
      ['short and stout', false, teapot.id, teapot.id, TRACE, 'GET /teapot'],
    ],
  );
  const md = intake.events.find((e) => e.metadata)!.metadata!;
  assert.equal(md.service.name, 'hono-starter');
  assert.equal(md.service.runtime.name, runtime);
}

test('Hono on Node (@hono/node-server): route-named transactions, fetch span with traceparent, handled and unhandled errors', { timeout: 120_000 }, async (t) => {
  const intake = await startIntake();
  let app: Running | undefined;
  t.after(async () => {
    await stop(app);
    intake.server.close();
  });
  app = await run(process.execPath, ['--enable-source-maps', join(outDir, 'node.mjs')], { ...agentEnv(intake), PORT: '0' });
  await exercise(app.port);
  await waitFor(intake, REQUESTS.length, app.output);
  check(intake, 'node', app.output());
});

test('Hono on Bun (Bun.serve(app.fetch)): the same events', { timeout: 120_000 }, async (t) => {
  const intake = await startIntake();
  let app: Running | undefined;
  t.after(async () => {
    await stop(app);
    intake.server.close();
  });
  app = await run(binary('bun'), [join(outDir, 'bun.mjs')], { ...agentEnv(intake), PORT: '0' });
  await exercise(app.port);
  await waitFor(intake, REQUESTS.length, app.output);
  check(intake, 'bun', app.output());
});

test('Hono on Deno (Deno.serve(app.fetch)): the same events', { timeout: 120_000 }, async (t) => {
  const intake = await startIntake();
  let app: Running | undefined;
  t.after(async () => {
    await stop(app);
    intake.server.close();
  });
  app = await run(binary('deno'), ['run', '--allow-all', '--quiet', join(outDir, 'deno.mjs')], { ...agentEnv(intake), PORT: '0', DENO_NO_UPDATE_CHECK: '1', DENO_DIR: join(outDir, '.deno') });
  await exercise(app.port);
  await waitFor(intake, REQUESTS.length, app.output);
  check(intake, 'deno', app.output());
});

test('Hono on workerd (export default app, nodejs_compat): the same events, sent through ctx.waitUntil with the fetch transport', { timeout: 120_000 }, async (t) => {
  const intake = await startIntake();
  let app: Running | undefined;
  t.after(async () => {
    await stop(app);
    intake.server.close();
  });
  const bundle = readFileSync(join(outDir, 'worker.mjs'), 'utf8');
  // The worker bundle holds spanforge's edge build: no undici, no node:http client, no node:zlib streams (node:perf_hooks stays: the clock).
  assert.doesNotMatch(bundle, /node_modules\/undici\//);
  assert.doesNotMatch(bundle, /from "node:(http|https|net|tls|zlib|stream)"/);
  assert.match(bundle, /dist\/edge\/runtime\//);
  // The worker's vars are its ELASTIC_APM_* (process.env under nodejs_compat); the intake's url changes per run.
  const bindings = Object.entries(agentEnv(intake)).map(([k, v]) => `(name = "${k}", text = "${v}")`).join(', ');
  writeFileSync(join(outDir, 'config.capnp'), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker), (name = "net", network = (allow = ["public", "private", "local"])) ],
  sockets = [ (name = "http", address = "127.0.0.1:0", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ (name = "worker.mjs", esModule = embed "worker.mjs") ],
  compatibilityDate = "2026-11-01",
  compatibilityFlags = ["nodejs_compat"],
  globalOutbound = "net",
  bindings = [ ${bindings} ],
);
`);
  app = await run(binary('workerd'), ['serve', join(outDir, 'config.capnp'), '--verbose'], {});
  await exercise(app.port);
  await waitFor(intake, REQUESTS.length, app.output);
  check(intake, 'workerd', app.output());
  // Sent by the flushes handed to waitUntil: at most one intake request per worker request, each
  // starting with its metadata (an error still being encoded when one flush starts goes with the next).
  const batches = intake.events.filter((e) => e.metadata).length;
  assert.ok(batches >= 1 && batches <= REQUESTS.length, `${batches} intake requests for ${REQUESTS.length} worker requests`);
  assert.doesNotMatch(app.output(), /cannot load undici|could not start/);
});

test('tsc (tspc + transformer) finds the same sites by type, and its output runs on Bun with the same events', { timeout: 240_000 }, async (t) => {
  const tscOut = join(outDir, 'tsc');
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'ts-patch', 'bin', 'tspc.js'), '-p', join(appDir, 'tsconfig.json'), '--outDir', tscOut], { cwd: appDir, encoding: 'utf8' });
  assert.equal(r.status, 0, `tspc failed:\n${r.stdout}\n${r.stderr}`);
  // 12 Hono registrations (8 in src/app.ts, 4 in src/routes/users.ts) and the fetch.
  assert.match(r.stdout + r.stderr, /instrumented 13 sites in 2 of 6 files \(hono\.route 12, fetch 1\)/);
  const intake = await startIntake();
  let app: Running | undefined;
  t.after(async () => {
    await stop(app);
    intake.server.close();
  });
  // tsc keeps the template's extensionless relative imports, which Bun resolves (Node's ESM loader would not).
  app = await run(binary('bun'), [join(tscOut, 'bun.js')], { ...agentEnv(intake), PORT: '0' });
  await exercise(app.port);
  await waitFor(intake, REQUESTS.length, app.output);
  check(intake, 'bun', app.output());
});

// Getting started, the Next.js path, from the packed tarball into a fresh App Router project
// (test/install/next-app/, shaped like create-next-app's TypeScript template): built by `next build`
// with webpack (the bundler step's webpackPlugin) and with Turbopack (`spanforge/loader` in
// turbopack.rules), each run by `next start` on an ephemeral port with the agent started from
// instrumentation.ts (`spanforge/next`). The exact events at a test intake: route handlers named by
// their file route, fetch exit spans with traceparent sent upstream, the incoming
// traceparent continued, a server action's span, and the thrown error with frames in the `.ts` source.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { assertValidEvent, freshProject, packSpanforge, startIntake, type Intake, type Project } from './_project.js';

type Ev = Record<string, unknown>;
let tarball: string;
let intake: Intake;
let project: Project;
let upstream: Server;
let upstreamUrl: string;
const seen: { url: string; headers: IncomingHttpHeaders }[] = [];

before(async () => {
  tarball = packSpanforge();
  intake = await startIntake();
  upstream = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      if (req.url?.startsWith('/users/')) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ id: req.url.slice('/users/'.length), name: 'Ada' }));
      } else res.end(body || 'nothing');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
  project = freshProject('next', 'commonjs');
  // create-next-app writes no "type" (Turbopack rejects ES module syntax in a "type": "commonjs" package).
  const pkg = JSON.parse(readFileSync(join(project.dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  delete pkg.type;
  writeFileSync(join(project.dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  cpSync(join(__dirname, 'next-app'), project.dir, { recursive: true });
  await project.install([tarball, 'next@16', 'react@19', 'react-dom@19', 'typescript@5', '@types/react@19', '@types/node@20']);
});
after(async () => {
  await intake.close();
  await new Promise((r) => upstream.close(r));
  if (!process.env.SPANFORGE_KEEP_NEXT) project?.remove();
});

/** Builds with the given config; resolves with the build's output. */
async function build(bundler: 'webpack' | 'turbopack'): Promise<string> {
  cpSync(join(project.dir, `next.config.${bundler}.ts`), join(project.dir, 'next.config.ts'));
  rmSync(join(project.dir, '.next'), { recursive: true, force: true });
  const next = join(project.dir, 'node_modules', 'next', 'dist', 'bin', 'next');
  const r = await project.run(process.execPath, [next, 'build', ...(bundler === 'webpack' ? ['--webpack'] : ['--turbopack'])], {
    env: { NEXT_TELEMETRY_DISABLED: '1' },
    timeoutMs: 600_000,
  });
  assert.equal(r.status, 0, `next build (${bundler}) failed:\n${r.output}`);
  return r.output;
}

interface Running {
  url: string;
  child: ChildProcess;
  output: () => string;
}

/** `next start -p 0`; resolves once it prints its address. */
function start(service: string): Promise<Running> {
  const next = join(project.dir, 'node_modules', 'next', 'dist', 'bin', 'next');
  const child = spawn(process.execPath, [next, 'start', '-p', '0', '-H', '127.0.0.1'], {
    cwd: project.dir,
    env: {
      ...process.env,
      NEXT_TELEMETRY_DISABLED: '1',
      ELASTIC_APM_SERVER_URL: intake.url,
      ELASTIC_APM_METRICS_INTERVAL: '0s',
      ELASTIC_APM_API_REQUEST_TIME: '1s',
      GS_SERVICE: service,
      UPSTREAM_URL: upstreamUrl,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`next start printed no address in 90 s:\n${out}`));
    }, 90_000);
    const onData = (c: Buffer) => {
      out += c;
      const m = /https?:\/\/(?:127\.0\.0\.1|localhost):(\d+)/.exec(out);
      if (m && Number(m[1]) > 0) {
        clearTimeout(timer);
        resolve({ url: `http://127.0.0.1:${m[1]}`, child, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`next start exited (${code}):\n${out}`));
    });
  });
}

function stop(r: Running): Promise<void> {
  return new Promise((resolve) => {
    if (r.child.exitCode !== null) return resolve();
    const t = setTimeout(() => r.child.kill('SIGKILL'), 10_000);
    r.child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    r.child.kill('SIGTERM');
  });
}

/** The service's events at the intake, by kind. */
function eventsOf(service: string): { txs: Ev[]; spans: Ev[]; errors: Ev[]; all: Ev[] } {
  const all: Ev[] = [];
  let current: string | undefined;
  for (const e of intake.events) {
    if (e.metadata) current = ((e.metadata.service as { name?: string }) ?? {}).name;
    else if (current === service) all.push(e as Ev);
  }
  return {
    all,
    txs: all.filter((e) => e.transaction).map((e) => e.transaction as Ev),
    spans: all.filter((e) => e.span).map((e) => e.span as Ev),
    errors: all.filter((e) => e.error).map((e) => e.error as Ev),
  };
}

async function waitFor<T>(what: string, service: string, get: () => T | undefined, output: () => string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`${what}: not at the intake after 30 s; events: ${JSON.stringify(eventsOf(service).all).slice(0, 3000)}\nnext output:\n${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The id of the server action `name` from the build's server-reference manifest. */
function actionId(name: string): string {
  const manifest = JSON.parse(readFileSync(join(project.dir, '.next', 'server', 'server-reference-manifest.json'), 'utf8')) as { node: Record<string, { exportedName?: string }> };
  const ids = Object.keys(manifest.node);
  const id = ids.find((k) => manifest.node[k]!.exportedName === name) ?? (ids.length === 1 ? ids[0] : undefined);
  assert.ok(id, `no server action ${name} in the manifest: ${JSON.stringify(manifest).slice(0, 1000)}`);
  return id;
}

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';

async function exercise(bundler: 'webpack' | 'turbopack'): Promise<void> {
  await build(bundler);
  const service = `gs-next-${bundler}`;
  const app = await start(service);
  try {
    seen.length = 0;
    // 1. A route handler with a dynamic segment, continuing the caller's trace, calling upstream with fetch.
    const r1 = await fetch(`${app.url}/api/users/7`, { headers: { traceparent: `00-${TRACE}-${PARENT}-01` } });
    assert.equal(r1.status, 200, app.output());
    assert.deepEqual(await r1.json(), { id: '7', name: 'Ada', via: '/api/users/7' });
    assert.equal(r1.headers.get('x-proxied'), '/api/users/7');
    const users = await waitFor('GET /api/users/[id]', service, () => eventsOf(service).txs.find((t) => t.name === 'GET /api/users/[id]'), app.output);
    assert.equal(users.type, 'request');
    assert.equal(users.result, 'HTTP 2xx');
    assert.equal(users.outcome, 'success');
    assert.equal(users.trace_id, TRACE);
    assert.equal(users.parent_id, PARENT);
    assert.deepEqual(((users.context as Ev).service as Ev | undefined)?.framework, { name: 'Next.js' });
    assert.equal(((users.context as Ev).request as { method?: string }).method, 'GET');
    const fetchSpan = await waitFor('the fetch span', service, () => eventsOf(service).spans.find((s) => s.transaction_id === users.id && s.type === 'external'), app.output);
    assert.equal(fetchSpan.subtype, 'http');
    assert.equal(fetchSpan.parent_id, users.id);
    assert.match(String(fetchSpan.name), /^GET 127\.0\.0\.1:\d+$/);
    // The proxy ran (x-proxied above). Its `proxy` span is not asserted: it arrived in a manual run of the
    // Turbopack build but not in this test's runs, and under webpack proxy.ts was not instrumented
    // (docs/frameworks.md, Known limits).
    const sent = seen.find((s) => s.url === '/users/7');
    assert.ok(sent, 'upstream saw no /users/7');
    assert.equal(sent.headers.traceparent, `00-${TRACE}-${fetchSpan.id}-01`);
    // Only one transaction for that request (the arrival one, named by the route handler).
    assert.equal(eventsOf(service).txs.filter((t) => t.trace_id === TRACE).length, 1);

    // 2. A route handler that throws: 500, the error unhandled, frames in the route's .ts source.
    const r2 = await fetch(`${app.url}/api/boom`);
    assert.equal(r2.status, 500);
    const boom = await waitFor('GET /api/boom', service, () => eventsOf(service).txs.find((t) => t.name === 'GET /api/boom'), app.output);
    assert.equal(boom.result, 'HTTP 5xx');
    assert.equal(boom.outcome, 'failure');
    const err = await waitFor('the error', service, () => eventsOf(service).errors.find((e) => e.transaction_id === boom.id), app.output);
    const exc = err.exception as { message: string; handled: boolean; stacktrace: { filename: string; lineno: number; abs_path?: string }[] };
    assert.equal(exc.message, 'boom from the route handler');
    assert.equal(exc.handled, false);
    assert.equal(err.parent_id, boom.id);
    const top = exc.stacktrace[0] as { filename: string; lineno: number; context_line?: string };
    // Turbopack's maps name the file by its path; webpack's by its module name (`webpack://gs-next/route.ts`).
    assert.match(top.filename, bundler === 'turbopack' ? /(?:^|\/)app\/api\/boom\/route\.ts$/ : /^webpack:\/\/gs-next\/route\.ts$/, JSON.stringify(exc.stacktrace.slice(0, 3)));
    assert.equal(top.lineno, 4);
    assert.equal(top.context_line, "  throw new Error('boom from the route handler');");

    // 3. A server action, called the way the browser calls it (POST to its page with Next-Action).
    const id = actionId('saveUser');
    const r3 = await fetch(`${app.url}/users`, {
      method: 'POST',
      headers: { 'next-action': id, 'content-type': 'text/plain;charset=UTF-8', accept: 'text/x-component' },
      body: JSON.stringify(['ada']),
    });
    const text = await r3.text();
    assert.equal(r3.status, 200, text);
    assert.match(text, /saved ada/);
    const action = await waitFor('action saveUser', service, () => eventsOf(service).txs.find((t) => t.name === 'action saveUser'), app.output);
    assert.equal(action.type, 'request');
    assert.equal(action.result, 'HTTP 2xx');
    const actionSpan = await waitFor('the action span', service, () => eventsOf(service).spans.find((s) => s.transaction_id === action.id && s.name === 'saveUser'), app.output);
    assert.equal(actionSpan.type, 'app');
    assert.equal(actionSpan.subtype, 'nextjs');
    assert.equal(actionSpan.action, 'action');
    assert.equal(actionSpan.parent_id, action.id);
    const actionFetch = await waitFor('the action fetch span', service, () => eventsOf(service).spans.find((s) => s.transaction_id === action.id && s.type === 'external'), app.output);
    assert.equal(actionFetch.parent_id, actionSpan.id);

    for (const e of eventsOf(service).all) assertValidEvent(e);
  } finally {
    await stop(app);
  }
}

test('Next.js 16, next build --webpack + next start: route handlers, server action, errors', { timeout: 900_000 }, async () => {
  await exercise('webpack');
});

test('Next.js 16, next build (Turbopack) + next start: route handlers, server action, errors', { timeout: 900_000 }, async () => {
  await exercise('turbopack');
});


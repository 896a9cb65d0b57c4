// End-to-end: the agent with the real transport ships gzip NDJSON to an HTTP server; crash/exit paths in child processes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { assertValid, startIntake, type Intake } from './helpers.js';
import { getAgent, resetAgentForTests } from '../../runtime/agent.js';
import { storage } from '../../runtime/context.js';
import { VERSION } from '../../runtime/version.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const here = import.meta.dirname ?? __dirname;
const root = join(here, '..', '..');
let intakes: Intake[] = [];
after(async () => {
  await resetAgentForTests();
  for (const i of intakes) await i.close();
});

async function intake(): Promise<Intake> {
  const i = await startIntake();
  intakes.push(i);
  return i;
}

test('the version constant matches package.json', () => {
  assert.equal(VERSION, JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);
});

test('events reach a real HTTP server: metadata first, gzip, User-Agent, all valid', async () => {
  const srv = await intake();
  await resetAgentForTests();
  const agent = getAgent().start(
    { serverUrl: srv.url, serviceName: 'e2e-svc', serviceVersion: '1.2.3', environment: 'test', globalLabels: { team: 'core' }, metricsInterval: 0, secretToken: 'tok' },
    // Loopback is not compressed by default (agent spec); force gzip to check the real wire format.
    { noProcessHandlers: true, env: {}, transportTuning: { compress: true } },
  );
  await storage.run(undefined as never, async () => {
    const tx = agent.startTransaction('GET /e2e', 'request');
    const span = agent.startSpan('work', 'app');
    span.end();
    void agent.captureError(new Error('e2e boom'));
    tx.setResponseContext({ statusCode: 200 });
    tx.end();
  });
  await agent.flush(5000);
  await srv.waitFor((i) => i.of('transaction').length === 1 && i.of('error').length === 1);
  const req = srv.requests[0]!;
  assert.equal(req.headers['content-encoding'], 'gzip');
  assert.match(String(req.headers['content-type']), /application\/x-ndjson/);
  assert.equal(req.headers['user-agent'], `apm-agent-nodejs/${VERSION} (e2e-svc 1.2.3) spanforge/${VERSION}`);
  assert.equal(req.headers.authorization, 'Bearer tok');
  const md = req.lines[0]!.metadata;
  assertValid({ metadata: md });
  assert.deepEqual(md.service, {
    name: 'e2e-svc',
    environment: 'test',
    agent: { name: 'nodejs', version: `${VERSION}+spanforge` },
    language: { name: 'javascript' },
    runtime: { name: 'node', version: process.versions.node },
    version: '1.2.3',
  });
  assert.deepEqual(md.labels, { team: 'core' });
  assert.equal(md.process.pid, process.pid);
  assert.equal(md.system.platform, process.platform);
  for (const r of srv.requests) {
    assert.ok('metadata' in r.lines[0]!, 'every request starts with metadata');
    for (const l of r.lines) assertValid(l);
  }
  assert.equal(srv.of('span').length, 1);
  await resetAgentForTests();
});

/**
 * The runtime bundled to one CommonJS file, so child apps run under plain `node` exactly as a user's
 * compiled app would (tsx would change how Node prints fatal errors).
 */
let bundled: string | undefined;
async function runtimeBundle(): Promise<string> {
  if (bundled) return bundled;
  const { build } = await import('esbuild');
  const out = join(mkdtempSync(join(tmpdir(), 'sf-rt-')), 'spanforge.cjs');
  await build({ entryPoints: [join(root, 'runtime', 'index.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: out, logLevel: 'error' });
  return (bundled = out);
}

async function runChild(mode: string, url: string, extraEnv: Record<string, string> = {}): Promise<{ code: number | null; signal: string | null; stderr: string; stdout: string; ms: number }> {
  const rt = await runtimeBundle();
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [join(here, 'fixtures', 'crash-app.cjs'), mode], {
      env: { ...process.env, INTAKE_URL: url, NODE_OPTIONS: '', SPANFORGE_RUNTIME: rt, ...extraEnv },
      cwd: root,
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    child.on('exit', (code, signal) => resolve({ code, signal, stderr, stdout, ms: Date.now() - t0 }));
  });
}

test('uncaught exception: captured as unhandled, flushed, then the process prints it and exits 1 as Node would', async () => {
  const srv = await intake();
  const r = await runChild('uncaught', srv.url);
  assert.equal(r.code, 1);
  const errs = srv.of('error');
  assert.equal(errs.length, 1);
  assertValid({ error: errs[0] });
  assert.equal(errs[0]!.exception.type, 'TypeError');
  assert.equal(errs[0]!.exception.message, 'kaput');
  assert.equal(errs[0]!.exception.handled, false);
  assert.match(errs[0]!.exception.stacktrace[0].filename, /crash-app\.cjs$/);
  // Node's format: location, source line, caret under `throw`, blank line, the error, Node version.
  const lines = r.stderr.split('\n');
  const i = lines.findIndex((l) => /crash-app\.cjs:\d+$/.test(l));
  assert.ok(i >= 0, r.stderr);
  assert.equal(lines[i + 1], "    throw new TypeError('kaput');");
  assert.equal(lines[i + 2], '    ^');
  assert.equal(lines[i + 3], '');
  assert.equal(lines[i + 4], 'TypeError: kaput');
  assert.match(r.stderr, new RegExp(`\\n\\nNode\\.js ${process.version.replace(/\./g, '\\.')}\\n$`));
});

test('unhandled rejection: captured, flushed, then Node ends the process exactly as it would', async () => {
  const srv = await intake();
  const r = await runChild('rejection', srv.url);
  assert.equal(r.code, 1);
  const errs = srv.of('error');
  assert.equal(errs.length, 1, JSON.stringify(errs));
  assert.equal(errs[0]!.exception.type, 'RangeError');
  assert.equal(errs[0]!.exception.handled, false);
  assert.match(r.stderr, /RangeError: rejected\n {4}at /);
  assert.match(r.stderr, /Node\.js v\d+/);
});

test('a user uncaughtException handler keeps control; the error is still captured', async () => {
  const srv = await intake();
  const r = await runChild('handled-by-user', srv.url);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'user handler: mine\n');
  await srv.waitFor((i) => i.of('error').length === 1);
  assert.equal(srv.of('error')[0]!.exception.message, 'mine');
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  test(`${signal}: events are flushed and the process still dies by the signal`, async () => {
    const srv = await intake();
    const r = await runChild(signal.toLowerCase(), srv.url);
    assert.equal(r.signal, signal);
    assert.equal(srv.of('transaction').length, 1);
    assert.ok(r.ms < 5000);
  });
}

test('a normal exit flushes on beforeExit and is not kept alive', async () => {
  const srv = await intake();
  const r = await runChild('normal', srv.url);
  assert.equal(r.code, 0);
  assert.equal(srv.of('transaction').length, 1);
  assert.equal(r.stderr, '');
});

for (const mode of ['uncaught', 'rejection']) {
  test(`${mode}: stderr and exit code are identical to the same app without the agent`, async () => {
    const srv = await intake();
    const withAgent = await runChild(mode, srv.url);
    const without = await runChild(mode, srv.url, { ELASTIC_APM_ACTIVE: 'false' });
    assert.equal(srv.of('error').length, 1, 'only the active run reports');
    assert.equal(without.code, 1);
    assert.equal(withAgent.code, without.code);
    assert.equal(withAgent.stderr, without.stderr);
  });
}

test('with metrics on, the process still exits on its own and metricsets validate', async () => {
  const srv = await intake();
  const r = await runChild('normal', srv.url, { ELASTIC_APM_METRICS_INTERVAL: '1s' });
  assert.equal(r.code, 0);
  assert.ok(r.ms < 5000, `exited after ${r.ms} ms`);
  assert.equal(srv.of('transaction').length, 1);
});

test('metrics started by start(): metricsets and breakdown arrive and validate', async () => {
  const srv = await intake();
  await resetAgentForTests();
  const agent = getAgent().start({ serverUrl: srv.url, serviceName: 'metrics-svc', metricsInterval: '1s' }, { noProcessHandlers: true, env: {} });
  await storage.run(undefined as never, async () => {
    const tx = agent.startTransaction('GET /m', 'request');
    const span = agent.startSpan('q', 'db', { subtype: 'postgresql', exitSpan: true });
    await new Promise((r) => setTimeout(r, 5));
    span.end();
    tx.end();
  });
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    await agent.flush(1000);
    const ms = srv.of('metricset');
    if (ms.some((m) => m.span?.type === 'db') && ms.some((m) => !m.transaction)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const ms = srv.of('metricset');
  for (const m of ms) assertValid({ metricset: m });
  const breakdown = ms.find((m) => m.span?.type === 'db');
  assert.ok(breakdown, `breakdown metricset for the db span, got ${JSON.stringify(ms).slice(0, 500)}`);
  assert.deepEqual(breakdown!.transaction, { name: 'GET /m', type: 'request' });
  assert.equal(breakdown!.samples['span.self_time.count'].value, 1);
  assert.ok(ms.some((m) => !m.transaction && Object.keys(m.samples).length > 0), 'app/system metrics');
  await resetAgentForTests();
});

test('a thrown string: exit code 1 and Node\'s message, minus the throw-site header JavaScript cannot see', async () => {
  const srv = await intake();
  const withAgent = await runChild('throw-string', srv.url);
  const without = await runChild('throw-string', srv.url, { ELASTIC_APM_ACTIVE: 'false' });
  assert.equal(without.code, 1);
  assert.equal(withAgent.code, 1);
  const nodeLines = without.stderr.split('\n');
  assert.match(nodeLines[1]!, /crash-app\.cjs:\d+$/);
  nodeLines.splice(1, 3); // "file:line", source line, caret
  assert.equal(withAgent.stderr, nodeLines.join('\n'));
  const [e] = srv.of('error');
  assertValid({ error: e });
  assert.deepEqual([e!.exception.type, e!.exception.message, e!.exception.handled], ['string', 'plain string', false]);
});

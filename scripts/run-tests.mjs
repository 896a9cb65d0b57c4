// Runs every test/**/*.test.ts and integrations/**/*.test.ts (or the files/folders given) with Node's test runner through tsx.
// SPANFORGE_TEST_FILTER=substring runs only the files whose path contains it; --exclude=substring leaves
// files out.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const argv = process.argv.slice(2);
// --exclude=substring (repeatable) leaves out the files whose path contains it.
const excludes = argv.filter((a) => a.startsWith('--exclude=')).map((a) => a.slice('--exclude='.length));
const args = argv.filter((a) => !a.startsWith('--exclude='));
let files = (args.length ? args : ['test', 'integrations']).flatMap((a) => {
  const p = join(root, a);
  return statSync(p).isDirectory() ? walk(p, []) : [p];
});
const filter = process.env.SPANFORGE_TEST_FILTER;
if (filter) files = files.filter((f) => f.includes(filter));
files = files.filter((f) => !excludes.some((x) => f.includes(x)));
files.sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// The browser tests drive Debian's Chromium (the machine cannot download a browser). Install it
// when it is missing and we are allowed to (root with apt-get); otherwise those tests say why they skip.
if (!existsSync('/usr/bin/chromium') && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
  console.log('installing Debian chromium for the browser tests (apt-get install -y chromium)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-q', 'chromium'], { stdio: 'inherit', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
    r = spawnSync('apt-get', ['install', '-y', '-q', 'chromium'], { stdio: 'inherit', env });
  }
  if (r.status !== 0) console.error('could not install chromium; browser tests will fail in CI');
}
// Side-by-side library versions some tests need, each from its own lock file under test/compat/<dir>,
// installed when one of their tests is about to run and they are missing (or taken from an env override).
function ensureCompat(dir, marker, testFile, envVar, what, at = join(root, 'test', 'compat', dir)) {
  if (process.env[envVar] || !files.some((f) => f.endsWith(testFile)) || existsSync(join(at, 'node_modules', marker))) return;
  console.log(`installing ${what} into ${relative(root, at)} (npm ci --prefix ${relative(root, at)})`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['ci', '--prefix', at, '--ignore-scripts', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (r.status !== 0) console.error(`could not install ${relative(root, at)}; ${testFile} will say why`);
}
ensureCompat('ts5', 'ts-patch', 'ts5.test.ts', 'SPANFORGE_TS5_DIR', 'TypeScript 5.9.3 + ts-patch 3.3.0');
ensureCompat('express4', join('@types', 'express'), 'express4-app.test.ts', 'SPANFORGE_EXPRESS4_DIR', 'express 4 + @types/express 4');
ensureCompat('fastify-demo', 'fastify-plugin', 'fastify-demo-app.test.ts', 'SPANFORGE_FASTIFY_DEMO_DIR', "the Fastify demo's plugin libraries (autoload, fastify-plugin, TypeBox)");
// The loggers of the log-correlation tests (integrations/pino, winston, bunyan) and Elastic's ECS formatters, one install for the three.
for (const t of ['pino.test.ts', 'winston.test.ts', 'bunyan.test.ts']) ensureCompat('loggers', join('@elastic', 'ecs-winston-format'), t, 'SPANFORGE_LOGGERS_DIR', 'pino, winston, bunyan and the ECS formatters');
// The OpenTelemetry packages of the OTLP tests (protobufjs + the official definitions, the OTel JS SDK and its exporters).
for (const t of ['otlp.test.ts', 'otlp-receiver.test.ts', 'otel-api.test.ts']) ensureCompat('otel', 'otlp-transformer-pbjs', t, 'SPANFORGE_OTEL_DIR', 'the OpenTelemetry packages');
// Each integration with a compat/ folder (its lowest supported version, own package.json + lock file)
// has its test run a second time against that install, through SPANFORGE_<NAME>_DIR. An integration
// that supports several majors has one folder per version under compat/ (compat/<version>/package.json),
// and its test runs once against each.
const compatRuns = [];
for (const name of existsSync(join(root, 'integrations')) ? readdirSync(join(root, 'integrations')).sort() : []) {
  const base = join(root, 'integrations', name, 'compat');
  const testFile = join(root, 'integrations', name, `${name}.test.ts`);
  if (!existsSync(base) || !files.includes(testFile)) continue;
  const installs = existsSync(join(base, 'package.json'))
    ? [base]
    : readdirSync(base).sort().map((d) => join(base, d)).filter((d) => existsSync(join(d, 'package.json')));
  for (const at of installs) {
    const envVar = `SPANFORGE_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_DIR`;
    const deps = Object.entries(JSON.parse(readFileSync(join(at, 'package.json'), 'utf8')).dependencies ?? {});
    ensureCompat(name, deps[0]?.[0] ?? '.', `${name}.test.ts`, envVar, deps.map(([n, v]) => `${n}@${v}`).join(' + '), at);
    if (!process.env[envVar]) compatRuns.push({ testFile, env: { [envVar]: join(at, 'node_modules') }, what: deps.map(([n, v]) => `${n}@${v}`).join(' + ') });
  }
}
// A test that hangs must fail, not stall the run. Node's --test-timeout bounds every test, and (as the
// runner puts each file in a subtest of its own, on Node 20 and 24) every file as a whole too, so it
// must exceed the slowest file: test/transformer/ts5.test.ts took 216 s in a full run on a loaded
// 2-CPU machine (2026-12-03, 6 sessions at work; about 60 s when quiet). 600 s leaves room for a
// slower machine; the files that used to hang also set short per-test { timeout }s of their own.
// SPANFORGE_TEST_TIMEOUT_MS overrides it. --test-force-exit ends a file once its tests are done even
// if a failing test left a server or socket open (Node 20.14 and later).
const timeoutMs = Number(process.env.SPANFORGE_TEST_TIMEOUT_MS) > 0 ? Number(process.env.SPANFORGE_TEST_TIMEOUT_MS) : 600_000;
const [major, minor] = process.versions.node.split('.').map(Number);
const forceExit = major > 20 || (major === 20 && minor >= 14) ? ['--test-force-exit'] : [];
console.log(`running ${files.length} test files (timeout ${timeoutMs / 1000} s per test and per file)`);
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', `--test-timeout=${timeoutMs}`, ...forceExit, ...files.map((f) => relative(root, f))],
  { cwd: root, stdio: 'inherit', env: { ...process.env } },
);
let status = r.status ?? 1;
for (const c of compatRuns) {
  console.log(`running ${relative(root, c.testFile)} again against a side-by-side install (${c.what})`);
  const rc = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-timeout=${timeoutMs}`, ...forceExit, relative(root, c.testFile)], { cwd: root, stdio: 'inherit', env: { ...process.env, ...c.env } });
  if (rc.status !== 0) status = rc.status ?? 1;
}
process.exit(status);

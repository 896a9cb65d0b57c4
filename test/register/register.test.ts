// spanforge/register on the Node running the tests (CI runs this file on Node 20, where ES modules go
// through module.register, and on Node 24, where module.registerHooks is used): an ES module app and a
// CommonJS app, run with no build step, send their trace; excluded files and node_modules are left
// alone; a malformed $SPANFORGE_OPTIONS is an error naming it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentEnv, appSource, assertTrace, root, startIntake, type Intake } from '../install/_project.js';

let intake: Intake;
let dir: string;
before(async () => {
  intake = await startIntake();
  dir = mkdtempSync(join(tmpdir(), 'sf-register-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'spanforge'));
  const esm = appSource({ js: true });
  writeFileSync(join(dir, 'app.mjs'), esm);
  writeFileSync(
    join(dir, 'app.cjs'),
    esm.replace("import { start } from 'spanforge';\nimport http from 'node:http';", "const { start } = require('spanforge');\nconst http = require('node:http');").replace('export const server', 'const server'),
  );
  // The same app as a dependency: node_modules is never instrumented.
  mkdirSync(join(dir, 'node_modules', 'dep'));
  writeFileSync(join(dir, 'node_modules', 'dep', 'index.mjs'), esm);
  writeFileSync(join(dir, 'dep.mjs'), "import 'dep/index.mjs';\n");
});
after(async () => {
  await intake.close();
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[], service: string, env: NodeJS.ProcessEnv = {}): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...agentEnv(intake, service), ...env } });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

async function noEventsFrom(service: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 1500));
  let current: string | undefined;
  for (const e of intake.events) {
    if (e.metadata) current = (e.metadata.service as { name?: string }).name;
    else assert.notEqual(current, service, `an event from ${service}: ${JSON.stringify(e).slice(0, 300)}`);
  }
}

test('the ES module mechanism is registerHooks where Node has it, else module.register', () => {
  const r = spawnSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(join(root, 'dist', 'cjs', 'register', 'install.js'))}).register())`], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), typeof (require('node:module') as { registerHooks?: unknown }).registerHooks === 'function' ? 'registerHooks' : 'register');
});

test('node --import spanforge/register app.mjs: the ES module app is instrumented, its trace arrives', { timeout: 60_000 }, async () => {
  const r = run(['--import', 'spanforge/register', 'app.mjs'], 'reg-esm');
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /app said: hello pong/);
  await assertTrace(intake, 'reg-esm', r.output);
});

test('node -r spanforge/register app.cjs: the CommonJS app is instrumented, its trace arrives', { timeout: 60_000 }, async () => {
  const r = run(['-r', 'spanforge/register', 'app.cjs'], 'reg-cjs');
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /app said: hello pong/);
  await assertTrace(intake, 'reg-cjs', r.output);
});

test('files under node_modules and files excluded by $SPANFORGE_OPTIONS run as they are', { timeout: 60_000 }, async () => {
  const dep = run(['--import', 'spanforge/register', 'dep.mjs'], 'reg-dep');
  assert.equal(dep.status, 0, dep.output);
  assert.match(dep.output, /app said: hello pong/);
  const excluded = run(['--import', 'spanforge/register', 'app.mjs'], 'reg-excluded', { SPANFORGE_OPTIONS: JSON.stringify({ exclude: ['app.mjs'] }) });
  assert.equal(excluded.status, 0, excluded.output);
  assert.match(excluded.output, /app said: hello pong/);
  await noEventsFrom('reg-dep');
  await noEventsFrom('reg-excluded');
});

test('a malformed $SPANFORGE_OPTIONS stops at start-up with a message naming it', () => {
  const r = run(['--import', 'spanforge/register', 'app.mjs'], 'reg-bad', { SPANFORGE_OPTIONS: '{nope' });
  assert.notEqual(r.status, 0);
  assert.match(r.output, /spanforge\/register: \$SPANFORGE_OPTIONS is not JSON/);
  const u = run(['--import', 'spanforge/register', 'app.mjs'], 'reg-bad', { SPANFORGE_OPTIONS: '{"bogus":1}' });
  assert.notEqual(u.status, 0);
  assert.match(u.output, /unknown option "bogus" in the spanforge\/register options/);
});

test('tsx --import spanforge/register in a CommonJS package: the app is instrumented, its trace arrives, one summary line', { timeout: 90_000 }, async () => {
  // tsx compiles .ts to CommonJS itself (esbuild output, `__toESM(require('node:http'))`), outside
  // require.extensions: the Module.prototype._compile hook sees that text and follows the interop helper.
  const cjsDir = mkdtempSync(join(tmpdir(), 'sf-register-tsx-cjs-'));
  try {
    mkdirSync(join(cjsDir, 'node_modules'));
    symlinkSync(root, join(cjsDir, 'node_modules', 'spanforge'));
    writeFileSync(join(cjsDir, 'package.json'), JSON.stringify({ name: 'tsx-cjs', private: true, type: 'commonjs' }));
    writeFileSync(join(cjsDir, 'app.ts'), appSource());
    const r = spawnSync(join(root, 'node_modules', '.bin', 'tsx'), ['--import', 'spanforge/register', 'app.ts'], {
      cwd: cjsDir,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ...agentEnv(intake, 'reg-tsx-cjs') },
    });
    const output = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.status, 0, output);
    assert.match(output, /app said: hello pong/);
    const lines = output.split('\n').filter((l) => l.startsWith('spanforge (register):'));
    assert.equal(lines.length, 1, output);
    assert.match(lines[0]!, /^spanforge \(register\): [2-9] sites instrumented in 1 file, no driver function in dependencies; ES modules: module\.(registerHooks|register \(loader thread\)), CommonJS: Module\._compile$/);
    await assertTrace(intake, 'reg-tsx-cjs', output);
  } finally {
    rmSync(cjsDir, { recursive: true, force: true });
  }
});

// Stack frames of captured errors (issue 11 item 6): V8's `at async <file>:<line>:<col>` frames (an
// anonymous async function awaiting) are parsed without the `async ` marker, so they map through the
// source map to the .ts source and are the culprit; spanforge's own run-time frames (runHandler, runWith,
// withSpan, …) are library frames, not source-mapped, and never the culprit.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, test } from 'node:test';
import ts from 'typescript';
import * as abi from '../../runtime/abi.js';
import { flush, startTransaction } from '../../runtime/index.js';
import { culpritOf, parseStack, toIntakeFrames } from '../../runtime/stacktrace.js';
import { assertValid, freshAgent, type CapturingTransport } from './helpers.js';

let transport: CapturingTransport;
beforeEach(async () => {
  ({ transport } = await freshAgent());
});

const root = join(import.meta.dirname ?? __dirname, '..', '..');

test('`at async /file:line:col` is parsed without the `async ` marker', () => {
  assert.deepEqual(parseStack('Error: x\n    at async /app/dist/index.js:22:22\n    at async Promise.all (index 0)'), [
    { function: undefined, file: '/app/dist/index.js', line: 22, column: 22, native: false },
    { function: 'Promise.all', file: undefined, line: undefined, column: undefined, native: true },
  ]);
  assert.deepEqual(parseStack('Error: x\n    at async file:///app/dist/index.mjs:3:4'), [
    { function: undefined, file: '/app/dist/index.mjs', line: 3, column: 4, native: false },
  ]);
});

const APP_TS = [
  "import { query } from 'fake-db';",
  '',
  'export function handle(): Promise<void> {',
  '  return (async () => {',
  "    await query('SELECT 1');",
  '  })();',
  '}',
  '',
].join('\n');

test('an error from a library awaited by an anonymous async function in app code: the app frame maps to the .ts and is the culprit', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-async-frame-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'src'));
  mkdirSync(join(dir, 'dist'));
  mkdirSync(join(dir, 'node_modules', 'fake-db'), { recursive: true });
  writeFileSync(join(dir, 'node_modules', 'fake-db', 'index.js'), "exports.query = async function query(sql) { await null; throw new Error('connection refused: ' + sql); };\n");
  writeFileSync(join(dir, 'src', 'app.ts'), APP_TS);
  const out = ts.transpileModule(APP_TS, {
    fileName: join(dir, 'src', 'app.ts'),
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, sourceMap: true },
  });
  const map = JSON.parse(out.sourceMapText!);
  map.sources = ['../src/app.ts'];
  writeFileSync(join(dir, 'dist', 'app.js.map'), JSON.stringify(map));
  writeFileSync(join(dir, 'dist', 'app.js'), out.outputText.replace(/\/\/# sourceMappingURL=.*$/m, '//# sourceMappingURL=app.js.map'));
  // As a plain `node dist/app.js` (no --enable-source-maps): the stack points into the generated file.
  process.setSourceMapsEnabled(false);
  let mod: { handle(): Promise<void> };
  try {
    mod = createRequire(join(dir, 'dist', 'x.js'))('./app.js');
  } finally {
    process.setSourceMapsEnabled(true);
  }
  const err = await mod.handle().then(
    () => assert.fail('did not reject'),
    (e: Error) => e,
  );
  assert.match(err.stack!, /\n {4}at async \/.*dist\/app\.js:\d+:\d+/, err.stack);
  const tx = startTransaction('GET /x', 'request');
  const { captureError } = await import('../../runtime/index.js');
  captureError(err, { handled: false });
  tx.end();
  await flush();
  const [e] = transport.of('error');
  assertValid({ error: e });
  const frames = e!.exception.stacktrace as Record<string, unknown>[];
  assert.equal(frames[0]!.function, 'query');
  assert.equal(frames[0]!.library_frame, true);
  const app = frames[1]!;
  assert.deepEqual(
    { abs_path: app.abs_path, lineno: app.lineno, library_frame: app.library_frame, context_line: app.context_line },
    { abs_path: join(dir, 'src', 'app.ts'), lineno: 5, library_frame: false, context_line: "    await query('SELECT 1');" },
  );
  assert.equal(e!.culprit, app.filename);
});

test("spanforge's own frames are library frames, not mapped, and never the culprit", async () => {
  const own = join(root, 'runtime', 'abi.ts');
  const frames = await toIntakeFrames(
    [
      { function: 'runHandler', file: own, line: 560, column: 21, native: false },
      { function: 'AsyncLocalStorage.run', file: 'node:internal/async_local_storage/async_hooks', line: 91, column: 14, native: false },
      { function: 'Layer.handle', file: '/srv/app/node_modules/express/lib/router/layer.js', line: 95, column: 5, native: false },
    ],
    { appLines: 5, libraryLines: 0, cwd: '/srv/app' },
  );
  assert.equal(frames[0]!.library_frame, true);
  assert.equal(frames[0]!.abs_path, own, 'not source-mapped');
  assert.equal(culpritOf(frames), 'AsyncLocalStorage.run (node:internal/async_local_storage/async_hooks)');
  // only our frame: no culprit rather than ours
  assert.equal(culpritOf([frames[0]!]), undefined);
});

test('an error thrown by a route handler: the handler is the culprit, the ABI frames around it are library frames', async () => {
  const [site] = abi.sites(abi.ABI_VERSION, 'src/app.ts', [
    { rule: 'http.server', handler: 'node-http', name: null, type: 'request', line: 1, column: 1, function: '<module>' },
  ]);
  function handler(): void {
    throw new Error('handler failed');
  }
  const wrapped = abi.route(site!, (_req: unknown, _res: unknown) => handler());
  const req = { method: 'GET', url: '/', headers: { host: 'x' } };
  const res = { statusCode: 500, once() {}, getHeaders: () => ({}) };
  assert.throws(() => wrapped(req, res), /handler failed/);
  await flush();
  const [e] = transport.of('error');
  assert.ok(e, 'error captured');
  const frames = e!.exception.stacktrace as Record<string, any>[];
  assert.equal(frames[0]!.function, 'handler');
  assert.equal(frames[0]!.library_frame, false);
  assert.match(e!.culprit, /^handler \(.*stack-frames\.test\.ts\)$/);
  const ours = frames.filter((f) => typeof f.abs_path === 'string' && f.abs_path.startsWith(join(root, 'runtime')));
  assert.ok(ours.length >= 1, JSON.stringify(frames.map((f) => f.function)));
  for (const f of ours) assert.equal(f.library_frame, true, JSON.stringify(f));
});

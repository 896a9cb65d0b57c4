// Tests captureError: exception fields, culprit, V8 frames source-mapped to the original .ts (file and inline maps), context lines, library frames.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import ts from 'typescript';
import { assertValid, freshAgent, type CapturingTransport } from './helpers.js';
import { captureError, flush, startSpan, startTransaction } from '../../runtime/index.js';
import { storage } from '../../runtime/context.js';
import { decodeMappings, findSourceMappingUrl } from '../../runtime/sourcemap.js';
import { parseStack } from '../../runtime/stacktrace.js';

let transport: CapturingTransport;
beforeEach(async () => {
  ({ transport } = await freshAgent());
});

const fixture = join(import.meta.dirname ?? __dirname, 'fixtures', 'thrower.ts');

/** Compiles the fixture with tsc into a temp dir (map as a file or inline) and loads it as plain CommonJS. */
function compileFixture(inline: boolean): { mod: { checkOrder(o: { id: string; total: number }): number }; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sf-map-'));
  const src = readFileSync(fixture, 'utf8');
  mkdirSync(join(dir, 'src'));
  mkdirSync(join(dir, 'dist'));
  writeFileSync(join(dir, 'src', 'thrower.ts'), src);
  const out = ts.transpileModule(src, {
    fileName: join(dir, 'src', 'thrower.ts'),
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, sourceMap: !inline, inlineSourceMap: inline, inlineSources: inline },
  });
  let js = out.outputText;
  if (!inline) {
    js = js.replace(/\/\/# sourceMappingURL=.*$/m, '//# sourceMappingURL=thrower.js.map');
    const map = JSON.parse(out.sourceMapText!);
    map.sources = ['../src/thrower.ts'];
    writeFileSync(join(dir, 'dist', 'thrower.js.map'), JSON.stringify(map));
  }
  writeFileSync(join(dir, 'dist', 'thrower.js'), js);
  const require = createRequire(join(dir, 'dist', 'x.js'));
  // tsx turns on Node's own source-map support, which would map the stack before we see it; load the
  // fixture without it so the stack points into the generated JavaScript, as in a plain `node dist/app.js`.
  process.setSourceMapsEnabled(false);
  try {
    return { mod: require('./thrower.js'), dir };
  } finally {
    process.setSourceMapsEnabled(true);
  }
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('did not throw');
}

for (const inline of [false, true]) {
  test(`error frames are mapped to the original .ts (${inline ? 'inline' : 'file'} source map)`, async () => {
    const { mod, dir } = compileFixture(inline);
    const err = thrown(() => mod.checkOrder({ id: 'o-1', total: -5 }));
    // The raw V8 stack points into the generated JavaScript.
    assert.match(err.stack!.split('\n')[1]!, /dist[\\/]thrower\.js:\d+:\d+\)$/);
    captureError(err, { handled: false });
    await flush();
    const [e] = transport.of('error');
    assertValid({ error: e });
    assert.match(e!.id, /^[0-9a-f]{32}$/);
    assert.equal(e!.exception.type, 'RangeError');
    assert.equal(e!.exception.message, 'order o-1 has a negative total');
    assert.equal(e!.exception.handled, false);
    const top = e!.exception.stacktrace[0];
    assert.deepEqual(
      { abs_path: top.abs_path, lineno: top.lineno, colno: top.colno, function: top.function, library_frame: top.library_frame },
      { abs_path: join(dir, inline ? 'dist' : 'src', 'thrower.ts'), lineno: 9, colno: 11, function: 'Object.checkOrder', library_frame: false },
    );
    assert.equal(top.context_line, '    throw new RangeError(`order ${order.id} has a negative total`);');
    assert.deepEqual(top.pre_context, ['function checkOrder(order: Order): number {'.replace(/^/, 'export '), '  if (order.total < 0) {']);
    assert.deepEqual(top.post_context, ['  }', '  return order.total;']);
    assert.equal(e!.culprit, `Object.checkOrder (${top.filename})`);
  });
}

test('error inside a span: correlation ids, transaction info, span outcome failure, code', async () => {
  await storage.run(undefined as never, async () => {
    const tx = startTransaction('GET /x', 'request');
    tx.setUserContext({ id: 'u1' });
    const span = startSpan('work');
    const err = Object.assign(new Error('nope'), { code: 'E_NOPE' });
    captureError(err, { parent: span, labels: { 'a.b': 'c' }, custom: { k: 1 } });
    span.end();
    tx.end();
    await flush();
    const [e] = transport.of('error');
    assertValid({ error: e });
    assert.equal(e!.trace_id, tx.traceId);
    assert.equal(e!.transaction_id, tx.id);
    assert.equal(e!.parent_id, span.id);
    assert.deepEqual(e!.transaction, { sampled: true, type: 'request', name: 'GET /x' });
    assert.equal(e!.exception.code, 'E_NOPE');
    assert.equal(e!.exception.handled, true);
    assert.deepEqual(e!.context, { user: { id: 'u1' }, custom: { k: 1 }, tags: { a_b: 'c' } });
    assert.equal(transport.of('span')[0]!.outcome, 'failure');
  });
});

test('a string becomes a log error with the call-site stack; non-errors and causes are reported', async () => {
  captureError('something odd');
  captureError(42);
  captureError(new Error('outer', { cause: new TypeError('inner') }));
  await flush();
  const errs = transport.of('error');
  const a = errs.find((e) => e.log);
  const b = errs.find((e) => e.exception?.type === 'number');
  const c = errs.find((e) => e.exception?.message === 'outer');
  for (const e of [a, b, c]) assertValid({ error: e });
  assert.equal(a!.log.message, 'something odd');
  assert.match(a!.log.stacktrace[0].filename, /errors\.test\.ts$/);
  assert.deepEqual([b!.exception.type, b!.exception.message], ['number', '42']);
  assert.equal(c!.exception.cause[0].type, 'TypeError');
  assert.equal(c!.exception.cause[0].message, 'inner');
});

test('V8 stack parsing: named, anonymous, async, new, native, eval and node: frames; library frames', () => {
  const stack = [
    'Error: x',
    '    at fn (/app/src/a.js:1:2)',
    '    at /app/src/b.js:3:4',
    '    at async Server.handle (/app/node_modules/lib/index.js:5:6)',
    '    at new Foo (file:///app/src/c.mjs:7:8)',
    '    at Array.map (<anonymous>)',
    '    at eval (eval at run (/app/src/d.js:9:10), <anonymous>:1:1)',
    '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
  ].join('\n');
  assert.deepEqual(parseStack(stack), [
    { function: 'fn', file: '/app/src/a.js', line: 1, column: 2, native: false },
    { function: undefined, file: '/app/src/b.js', line: 3, column: 4, native: false },
    { function: 'Server.handle', file: '/app/node_modules/lib/index.js', line: 5, column: 6, native: false },
    { function: 'new Foo', file: '/app/src/c.mjs', line: 7, column: 8, native: false },
    { function: 'Array.map', file: undefined, line: undefined, column: undefined, native: true },
    { function: 'eval', file: '/app/src/d.js', line: 9, column: 10, native: false },
    { function: 'process.processTicksAndRejections', file: 'node:internal/process/task_queues', line: 95, column: 5, native: false },
  ]);
});

test('VLQ decoding and sourceMappingURL discovery', () => {
  // "AAAA;AACA,EAAE" : line 0 → [0,0,0,0]; line 1 → [0,0,1,0], [2,0,1,2]
  assert.deepEqual(decodeMappings('AAAA;AACA,EAAE').map((l) => [...l]), [[0, 0, 0, 0], [0, 0, 1, 0, 2, 0, 1, 2]]);
  // Multi-char VLQ: "gBAAgB" → genCol 16, src 0, line 0, col 16
  assert.deepEqual([...decodeMappings('gBAAgB')[0]!], [16, 0, 0, 16]);
  assert.equal(findSourceMappingUrl('x\n//# sourceMappingURL=a.js.map\n'), 'a.js.map');
  assert.equal(findSourceMappingUrl('x\n/*# sourceMappingURL=b.map */'), 'b.map');
  assert.equal(findSourceMappingUrl('const s = "sourceMappingURL=nope";'), undefined);
  assert.throws(() => decodeMappings('A!'), /invalid base64 VLQ character "!" at 1/);
});

test('intake frames: node_modules and node: frames are library frames; relative filename, absolute abs_path', async () => {
  const { toIntakeFrames } = await import('../../runtime/stacktrace.js');
  const frames = await toIntakeFrames(
    [
      { function: 'handle', file: '/srv/app/node_modules/express/lib/router.js', line: 10, column: 3, native: false },
      { function: 'tick', file: 'node:internal/process/task_queues', line: 95, column: 5, native: false },
      { function: 'mine', file: '/srv/app/src/missing.js', line: 1, column: 1, native: false },
      { function: 'Array.map', file: undefined, line: undefined, column: undefined, native: true },
    ],
    { appLines: 5, libraryLines: 5, cwd: '/srv/app' },
  );
  assert.deepEqual(frames, [
    { filename: 'node_modules/express/lib/router.js', abs_path: '/srv/app/node_modules/express/lib/router.js', function: 'handle', lineno: 10, colno: 3, library_frame: true },
    { filename: 'node:internal/process/task_queues', function: 'tick', lineno: 95, colno: 5, library_frame: true },
    { filename: 'src/missing.js', abs_path: '/srv/app/src/missing.js', function: 'mine', lineno: 1, colno: 1, library_frame: false },
    { filename: '<anonymous>', function: 'Array.map', library_frame: true },
  ]);
});

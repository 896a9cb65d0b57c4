// Transform fixtures: fixtures/transform/<case>/input.ts and integrations/<name>/fixtures/<case>/input.ts → output.js compared exactly (UPDATE_FIXTURES=1
// rewrites the expectations; SPANFORGE_FIXTURE=<case> runs one case), plus "instrumenting twice changes nothing".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { compileFile, readOptions, transformCases } from './compile.js';

const only = process.env.SPANFORGE_FIXTURE;
const update = process.env.UPDATE_FIXTURES === '1';

for (const { name, dir: caseDir } of transformCases()) {
  if (only && name !== only) continue;
  test(`fixture ${name}`, () => {
    const { plugin, compiler } = readOptions(caseDir);
    const r = compileFile(join(caseDir, 'input.ts'), plugin, compiler);
    assert.deepEqual(r.diagnostics, [], 'the fixture input type-checks');
    const expectedPath = join(caseDir, 'output.js');
    if (update || !existsSync(expectedPath)) {
      if (!update) assert.fail(`${expectedPath} is missing; run with UPDATE_FIXTURES=1 to create it`);
      writeFileSync(expectedPath, r.js);
      return;
    }
    assert.equal(r.js, readFileSync(expectedPath, 'utf8'));
  });

  test(`fixture ${name}: the declaration output is the one tsc emits without the plugin`, () => {
    const { plugin, compiler } = readOptions(caseDir);
    const withDts = { ...compiler, declaration: true };
    const instrumented = compileFile(join(caseDir, 'input.ts'), plugin, withDts);
    const plain = compileFile(join(caseDir, 'input.ts'), { ...plugin, include: ['nothing/**'] }, withDts);
    const expected = join(caseDir, 'output.js');
    if (existsSync(expected) && readFileSync(expected, 'utf8').includes('__spanforge.sites(')) assert.ok(instrumented.js.includes('__spanforge.sites('), 'the plugin instrumented the file');
    assert.ok(!plain.js.includes('__spanforge'), 'the comparison build has no instrumentation');
    assert.notEqual(instrumented.dts, undefined, 'a .d.ts was emitted');
    assert.equal(instrumented.dts, plain.dts);
  });

  test(`fixture ${name}: instrumenting the output again changes nothing`, () => {
    const { plugin, compiler } = readOptions(caseDir);
    const first = compileFile(join(caseDir, 'input.ts'), plugin, compiler).js;
    const tmp = mkdtempSync(join(tmpdir(), 'sf-twice-'));
    try {
      const file = join(tmp, 'input.js');
      writeFileSync(file, first);
      // Re-emit the emitted JS through TypeScript with the transformer: a marked module is left as is,
      // so the second output is what plain TypeScript makes of the first (no second site table).
      const jsOptions = { ...compiler, allowJs: true, checkJs: false, outDir: join(tmp, 'out'), rootDir: tmp };
      const again = compileFile(file, plugin, jsOptions).js;
      const plain = compileFile(file, { include: ['nothing/**'] }, jsOptions).js;
      assert.notEqual(again, '');
      assert.equal(again, plain);
      assert.equal((again.match(/__spanforge\.sites\(/g) ?? []).length, (first.match(/__spanforge\.sites\(/g) ?? []).length);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

// Options, the TypeScript version gate, include/exclude, and the ABI contract pinned between rules/ and runtime/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ts from 'typescript';
import { join } from 'node:path';
import spanforgeTransformer, { assertSupportedTypeScript, SpanforgeTransformerError } from '../../transformer/index.js';
import { ABI_HELPERS, ABI_VERSION, globToRegExp, isIncluded, resolveOptions, SpanforgeOptionsError, sqlSummary as rulesSqlSummary } from '../../rules/index.js';
import * as runtimeAbi from '../../runtime/abi.js';
import { compileFile, root } from './compile.js';

const program = ts.createProgram({ rootNames: [], options: {} });

test('unknown option: a build error naming the option', () => {
  assert.throws(() => spanforgeTransformer(program, { transform: 'spanforge/transformer', exlcude: ['x'] }, { ts }), {
    name: 'SpanforgeOptionsError',
    code: 'SPANFORGE_ERR_OPTIONS',
    message: 'spanforge: unknown option "exlcude" in the spanforge/transformer plugin entry of compilerOptions.plugins; known options: include, exclude, disable, rules, report, summary, runtimeModule, dependencies',
  });
});

test('bad option values name the option and what is expected', () => {
  assert.throws(() => resolveOptions({ include: 'src/**' }), { message: 'spanforge: option "include" must be an array of strings, got "src/**"' });
  assert.throws(() => resolveOptions({ disable: ['pg.qurey'] }), /option "disable" names unknown rule "pg.qurey"; rule ids: pg\.query, fetch,/);
  assert.throws(() => resolveOptions({ rules: [{ match: 'Order Service.place' }] }), { message: 'spanforge: option "rules[0].match" must be "Class.method" or "functionName", got "Order Service.place"' });
  assert.throws(() => resolveOptions({ rules: [{ match: 'A.b', kind: 'x' }] }), { message: 'spanforge: unknown option "rules[0].kind"; known: match, module, type, subtype, action, name, id' });
  assert.ok(new SpanforgeOptionsError('x') instanceof Error);
});

test('addDiagnostic receives the options error as a TS error diagnostic', () => {
  const diags: ts.Diagnostic[] = [];
  const factory = spanforgeTransformer(program, { nope: 1 }, { ts, addDiagnostic: (d) => diags.push(d) });
  assert.equal(typeof factory, 'function', 'a pass-through transformer: the build reports the error instead of crashing');
  assert.equal(diags.length, 1);
  assert.equal(diags[0]!.category, ts.DiagnosticCategory.Error);
  assert.match(String(diags[0]!.messageText), /unknown option "nope"/);
});

test('TypeScript 7 (no JS compiler API) fails with what to do instead', () => {
  const ts7 = { version: '7.0.2', versionMajorMinor: '7.0' } as unknown as typeof ts;
  assert.throws(() => assertSupportedTypeScript(ts7), (e: unknown) => {
    assert.ok(e instanceof SpanforgeTransformerError);
    assert.equal(e.code, 'SPANFORGE_ERR_TS7');
    assert.match(e.message, /TypeScript 7\.0\.2 has no JavaScript compiler API/);
    assert.match(e.message, /npm:@typescript\/typescript6/);
    assert.match(e.message, /spanforge\/babel/);
    return true;
  });
  assert.throws(() => spanforgeTransformer(program, {}, undefined), { code: 'SPANFORGE_ERR_NO_TS' });
  assert.doesNotThrow(() => assertSupportedTypeScript(ts));
});

test('include/exclude globs', () => {
  assert.equal(globToRegExp('src/**/*.ts').test('src/a/b/c.ts'), true);
  assert.equal(globToRegExp('src/**/*.ts').test('src/c.ts'), true);
  assert.equal(globToRegExp('src/*.ts').test('src/a/c.ts'), false);
  const o = resolveOptions({ include: ['src/**'], exclude: ['src/**/*.test.ts'] });
  assert.equal(isIncluded(o, 'src/app.ts'), true);
  assert.equal(isIncluded(o, 'src/app.test.ts'), false);
  assert.equal(isIncluded(o, 'lib/app.ts'), false);
  assert.equal(isIncluded(o, 'src/node_modules/x/a.ts'), false);
});

test('an excluded file is emitted exactly as plain TypeScript emits it', () => {
  const file = join(root, 'integrations', 'pg', 'fixtures', 'pg-query', 'input.ts');
  const excluded = compileFile(file, { exclude: ['integrations/*/fixtures/**'] }).js;
  assert.doesNotMatch(excluded, /__spanforge/);
  const rulesOff = compileFile(file, { disable: ['pg.query'] }).js;
  assert.equal(rulesOff, excluded);
});

test('ABI contract: rules/abi.ts and runtime/abi.ts agree', () => {
  assert.equal(runtimeAbi.ABI_VERSION, ABI_VERSION);
  for (const name of Object.values(ABI_HELPERS)) assert.equal(typeof (runtimeAbi as Record<string, unknown>)[name], 'function', name);
  assert.deepEqual(Object.keys(runtimeAbi).sort(), ['ABI_VERSION', 'call', 'loop', 'route', 'setAbiCore', 'sites', 'sqlSummary', 'trace', 'wrap']);
});

test('sqlSummary names db spans like the Elastic agents', () => {
  const cases: Array<[string, string]> = [
    ['SELECT * FROM users WHERE id = $1', 'SELECT users'],
    ['select a from "Public"."Users" u', 'SELECT Public.Users'],
    ['INSERT INTO orders (id) VALUES (1)', 'INSERT orders'],
    ['UPDATE ONLY items SET x = 1', 'UPDATE items'],
    ['DELETE FROM t', 'DELETE t'],
    ['/* c */ CREATE TABLE IF NOT EXISTS sf_x (id int)', 'CREATE sf_x'],
    ['BEGIN', 'BEGIN'],
    ['  ', 'SQL'],
  ];
  for (const [sql, name] of cases) {
    assert.equal(runtimeAbi.sqlSummary(sql), name, sql);
    assert.equal(rulesSqlSummary(sql), name, 'rules/ and runtime/ copies agree');
  }
});

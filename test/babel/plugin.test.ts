// The Babel plugin's contract: options errors that name the option, instrumenting twice changes nothing,
// CommonJS and ESM output both run, and emitted calls keep return values, `this` and thrown values.
import assert from 'node:assert/strict';
import { transformSync } from '@babel/core';
import { test } from 'node:test';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import plugin from '../../babel-plugin/index.js';
import { SpanforgeOptionsError } from '../../rules/index.js';
import { babel, root } from './_fixtures.js';

const file = join(root, 'fixtures', 'babel', 'inline.ts');

test('an unknown option is a build error naming it', () => {
  assert.throws(
    () => babel({ inputFile: file, input: 'fetch("x")', options: {} }, { inclde: ['src/**'] }),
    (err: Error) => /unknown option "inclde" in the spanforge Babel plugin options; known options: include, exclude/.test(err.message),
  );
  assert.throws(() => babel({ inputFile: file, input: 'fetch("x")', options: {} }, { disable: ['nope'] }), /option "disable" names unknown rule "nope"/);
  try {
    babel({ inputFile: file, input: '', options: {} }, { summary: 'yes' });
    assert.fail('expected an error');
  } catch (err) {
    assert.ok((err as Error).message.includes('option "summary" must be true or false'));
  }
  assert.equal(new SpanforgeOptionsError('x').code, 'SPANFORGE_ERR_OPTIONS');
});

test('instrumenting twice changes nothing', () => {
  const input = "import { Pool } from 'pg';\nconst pool = new Pool();\nexport const q = () => pool.query('SELECT 1');\n";
  const once = transformSync(input, { filename: file, configFile: false, babelrc: false, plugins: [[plugin, { summary: false }]] })!.code!;
  const twice = transformSync(once, { filename: file, configFile: false, babelrc: false, plugins: [[plugin, { summary: false }]] })!.code!;
  assert.ok(once.includes('__spanforge.call(__spanforge_sites[0], pool, pool.query'), once);
  assert.equal(twice, once);
});

test('disable and exclude turn sites off', () => {
  const input = "import { Pool } from 'pg';\nconst pool = new Pool();\nfetch('http://x');\npool.query('SELECT 1');\n";
  const off = babel({ inputFile: file, input, options: {} }, { disable: ['fetch'] });
  assert.deepEqual(off.report?.sites.map((s) => s.rule), ['pg.query']);
  const excluded = babel({ inputFile: file, input, options: {} }, { exclude: ['fixtures/**'] });
  assert.equal(excluded.report, undefined);
  assert.ok(!excluded.code.includes('__spanforge'));
});

test('emitted code keeps this, return values, thrown values and argument order (CJS output run for real)', () => {
  const input = [
    "const { Pool } = require('pg');",
    'const order = [];',
    'const pool = new Pool();',
    "pool.query = function (sql, n) { order.push('call'); if (sql === 'fail') throw new TypeError('bad sql'); return { self: this === pool, sql, n }; };",
    'const arg = (v) => (order.push(v), v);',
    "module.exports = { ok: pool.query(arg('SELECT 1'), arg(2)), viaTemp: (arg('recv'), pool).query(arg('SELECT 2')), order, fail: () => pool.query('fail') };",
  ].join('\n');
  const out = babel({ inputFile: join(root, 'fixtures', 'babel', 'inline.js'), input, options: {} }, { runtimeModule: join(root, 'runtime', 'abi.ts') });
  assert.ok(out.code.includes('const __spanforge = require('), out.code);
  // (arg('recv'), pool).query(...) goes through the temp, so the receiver expression runs once
  assert.ok(out.code.includes('(__spanforge_r = (arg(\'recv\'), pool), __spanforge.call(__spanforge_sites[1], __spanforge_r, __spanforge_r.query'), out.code);
  assert.deepEqual(out.report?.sites.map((s) => [s.rule, s.line, s.column]), [['pg.query', 6, 29], ['pg.query', 6, 90], ['pg.query', 6, 138]]);
  const m = { exports: {} as Record<string, unknown> };
  // eslint-disable-next-line no-new-func
  new Function('module', 'exports', 'require', out.code)(m, m.exports, require);
  assert.deepEqual(m.exports.ok, { self: true, sql: 'SELECT 1', n: 2 });
  assert.deepEqual(m.exports.viaTemp, { self: true, sql: 'SELECT 2', n: undefined });
  assert.deepEqual(m.exports.order, ['SELECT 1', 2, 'call', 'recv', 'SELECT 2', 'call']);
  const fail = m.exports.fail as () => unknown;
  assert.throws(fail, (e: unknown) => e instanceof TypeError && e.message === 'bad sql');
});

test('plugins: ["spanforge/babel"] resolves to the built plugin through the package exports', (t) => {
  const dist = join(root, 'dist', 'cjs', 'babel-plugin', 'index.js');
  if (!existsSync(dist)) {
    if (process.env.CI) assert.fail(`${dist} is missing: npm test builds it first (npm run build)`);
    return t.skip('dist/ is not built (npm run build); `npm test` builds it first');
  }
  assert.equal(require.resolve('spanforge/babel', { paths: [root] }), dist);
  const out = transformSync("export const r = fetch('http://x/');\n", { filename: join(root, 'src', 'a.js'), cwd: root, configFile: false, babelrc: false, plugins: [['spanforge/babel', { summary: false }]] })!.code!;
  assert.ok(out.startsWith('import * as __spanforge from "spanforge/runtime";'), out);
  assert.ok(out.includes('__spanforge.call(__spanforge_sites[0], undefined, fetch, \'http://x/\')'), out);
});

test('the runtime is imported in ES modules and required in CommonJS ones', () => {
  const form = (input: string, name: string) => babel({ inputFile: join(root, 'fixtures', 'babel', name), input, options: {} }).code.split('\n')[0];
  // The helper parses with sourceType "unambiguous": no import/export makes a script, hence require.
  assert.equal(form("fetch('http://x/');\n", 'a.js'), 'const __spanforge = require("spanforge/runtime");');
  const asModule = transformSync("fetch('http://x/');\n", { filename: join(root, 'a.js'), configFile: false, babelrc: false, sourceType: 'module', plugins: [[plugin, { summary: false }]] })!.code!;
  assert.equal(asModule.split('\n')[0], 'import * as __spanforge from "spanforge/runtime";');
  assert.equal(form("fetch('http://x/');\nmodule.exports = {};\n", 'b.js'), 'const __spanforge = require("spanforge/runtime");');
  assert.equal(form("fetch('http://x/');\n", 'c.cjs'), 'const __spanforge = require("spanforge/runtime");');
  assert.equal(form("import x from 'y';\nfetch(x);\n", 'd.js'), 'import * as __spanforge from "spanforge/runtime";');
});

// A shadowed `require` is not Node's: `require('pg')` through a local function or parameter named
// require gives no pg Pool, so its query() is left alone; the real require is still followed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { babel, root } from './_fixtures.js';

const file = join(root, 'fixtures', 'babel', 'inline.js');

test('require shadowed by a parameter or a local function is not followed; the global one is', () => {
  const real = "const { Pool } = require('pg');\nconst pool = new Pool();\nmodule.exports = () => pool.query('SELECT 1');\n";
  const viaReal = babel({ inputFile: file, input: real, options: {} });
  assert.deepEqual(viaReal.report?.sites.map((s) => s.rule), ['pg.query'], 'control: the real require is followed');

  const param = "module.exports = function load(require) {\n  const { Pool } = require('pg');\n  const pool = new Pool();\n  return pool.query('SELECT 1');\n};\n";
  const local = "function require(name) { return { Pool: class { query() { return name; } } }; }\nconst { Pool } = require('pg');\nconst pool = new Pool();\nmodule.exports = () => pool.query('SELECT 1');\n";
  for (const input of [param, local]) {
    const out = babel({ inputFile: file, input, options: {} });
    assert.deepEqual(out.report?.sites.map((s) => s.rule) ?? [], [], input);
    assert.ok(!out.code.includes('__spanforge.call('), out.code);
  }
});

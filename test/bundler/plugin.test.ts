// The bundler step without a bundler: the pre-check, exact source maps of the text edits, and files
// Babel cannot parse (left alone, warned about, listed in the report).
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { instrumentCode, precheck, spanforge } from '../../bundler/index.js';
import { resolveOptions } from '../../rules/index.js';

const opts = resolveOptions({ summary: false });

test('the pre-check lets only files naming a catalogue module or calling fetch through', () => {
  const re = precheck(opts.rules);
  assert.equal(re.test("import { x } from './util';\nexport const y = x + 1;\n"), false);
  assert.equal(re.test("const s = 'express yourself';"), false);
  assert.equal(re.test("import { Pool } from 'pg';"), true);
  assert.equal(re.test("const http = require(\"node:http\");"), true);
  assert.equal(re.test('await fetch(url)'), true);
  assert.equal(instrumentCode("export const add = (a: number, b: number) => a + b;\n", '/p/src/a.ts', 'src/a.ts', opts), null);
  // Names a module but has no site: nothing to do either.
  assert.equal(instrumentCode("import { Pool } from 'pg';\nexport const p = new Pool();\n", '/p/src/b.ts', 'src/b.ts', opts), null);
  const user = resolveOptions({ summary: false, rules: [{ match: 'OrderService.place' }] });
  assert.equal(precheck(user.rules).test('service.place(order)'), true);
});

test('edits are minimal and the source map points every original token at its original place', () => {
  const code = [
    "import { Pool } from 'pg';",
    'const pool = new Pool();',
    'export async function find(id: number) {',
    "  const r = await pool.query('SELECT * FROM t WHERE id = $1', [id]);",
    "  if (!r.rows.length) throw new Error('missing ' + id);",
    '  return r.rows[0];',
    '}',
    '',
  ].join('\n');
  const out = instrumentCode(code, '/p/src/find.ts', 'src/find.ts', opts)!;
  const lines = out.code.split('\n');
  assert.equal(lines.length, code.split('\n').length, 'no line added or removed');
  assert.equal(lines[3], "  const r = await __spanforge.call(__spanforge_sites[0], pool, pool.query, 'SELECT * FROM t WHERE id = $1', [id]);");
  assert.deepEqual(lines.slice(4), code.split('\n').slice(4), 'lines without sites are unchanged');
  const map = new SourceMap(out.map as never);
  const at = (line: number, text: string) => {
    const col = lines[line]!.indexOf(text);
    const e = map.findEntry(line, col) as { originalLine: number; originalColumn: number; originalSource: string };
    return [e.originalSource, e.originalLine, e.originalColumn];
  };
  assert.deepEqual(at(4, 'new Error'), ['find.ts', 4, code.split('\n')[4]!.indexOf('new Error')]);
  assert.deepEqual(at(3, "'SELECT"), ['find.ts', 3, code.split('\n')[3]!.indexOf("'SELECT")]);
  assert.deepEqual(at(3, 'pool.query'), ['find.ts', 3, code.split('\n')[3]!.indexOf('pool.query')]);
});

test('a file Babel cannot parse is left alone, warned about and listed in the report', () => {
  const report = join(mkdtempSync(join(tmpdir(), 'spanforge-bundler-')), 'report.json');
  const plugin = spanforge.raw({ root: '/p', summary: false, report }, { framework: 'esbuild' }) as {
    transform: (this: unknown, code: string, id: string) => unknown;
    buildEnd: () => void;
  };
  const warnings: string[] = [];
  const ctx = { warn: (m: string) => warnings.push(m) };
  assert.equal(plugin.transform.call(ctx, "import { Pool } from 'pg';\nconst x = ;\n", '/p/src/broken.ts'), null);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^spanforge: src\/broken\.ts: not instrumented: Babel could not parse the file \(Unexpected token \(2:10\)\)$/);
  const ok = plugin.transform.call(ctx, "import { Pool } from 'pg';\nnew Pool().query('SELECT 1');\n", '/p/src/ok.ts') as { code: string };
  assert.ok(ok.code.includes('__spanforge.call(__spanforge_sites[0]'));
  plugin.buildEnd();
  const r = JSON.parse(readFileSync(report, 'utf8')) as { frontEnd: string; files: { file: string; sites: unknown[]; skipped: { reason: string; line: number }[] }[] };
  assert.equal(r.frontEnd, 'bundler');
  assert.deepEqual(r.files.map((f) => [f.file, f.sites.length, f.skipped.map((s) => s.line)]), [
    ['src/broken.ts', 0, [2]],
    ['src/ok.ts', 1, []],
  ]);
});

test('one summary line on stderr per build', () => {
  const plugin = spanforge.raw({ root: '/p' }, { framework: 'rollup' }) as {
    transform: (this: unknown, code: string, id: string) => unknown;
    buildEnd: () => void;
  };
  const ctx = { warn: () => {} };
  plugin.transform.call(ctx, "import { Pool } from 'pg';\nconst p = new Pool();\np.query('SELECT 1');\np.query('SELECT 2');\n", '/p/src/a.ts');
  plugin.transform.call(ctx, "import { Pool } from 'pg';\nexport const f = (db) => db.query('SELECT 3');\n", '/p/src/b.ts');
  plugin.transform.call(ctx, 'export const nothing = 1;\n', '/p/src/c.ts');
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => (lines.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    plugin.buildEnd();
  } finally {
    process.stderr.write = write;
  }
  assert.deepEqual(lines, ['spanforge (bundler): 2 sites instrumented in 1 file, 1 candidate skipped\n']);
});

// Parity with the TypeScript front-end: every fixtures/transform/<case>/input.ts goes through the Babel
// plugin, and its instrumented-site list must equal the one in the transformer's expected output.js,
// except for the differences listed (with their reason) in fixtures/babel/parity.json (docs/babel.md).
import assert from 'node:assert/strict';
import { parseSync, traverse } from '@babel/core';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { babel, cases, root } from './_fixtures.js';
import type { SiteDescriptor } from '../../rules/index.js';

interface Expected {
  /** sites only the TS front-end instruments ("rule@line:column"), with the reason */
  onlyTs?: Record<string, string>;
  onlyBabel?: Record<string, string>;
  /** fields that differ for a site ("rule@line:column.field"), with the reason */
  fieldsDiffer?: Record<string, string>;
  /** sites whose wrapped handler positions differ ("rule@line:column"), with the reason */
  wrapsDiffer?: Record<string, string>;
}

const parity = JSON.parse(readFileSync(join(root, 'fixtures', 'babel', 'parity.json'), 'utf8')) as Record<string, Expected>;

/** The site table of an emitted module: the array literal passed to __spanforge.sites(version, file, [...]). */
function sitesOf(code: string): SiteDescriptor[] {
  const ast = parseSync(code, { configFile: false, babelrc: false, sourceType: 'unambiguous' })!;
  let out: SiteDescriptor[] = [];
  traverse(ast, {
    CallExpression(p) {
      const c = p.node.callee;
      if (c.type === 'MemberExpression' && c.object.type === 'Identifier' && c.object.name === '__spanforge' && c.property.type === 'Identifier' && c.property.name === 'sites') {
        const list = p.get('arguments')[2]!;
        const v = list.evaluate();
        assert.ok(v.confident, 'the site table is a literal');
        out = v.value as SiteDescriptor[];
        p.stop();
      }
    },
  });
  return out;
}

/**
 * Where the emitted code wraps handlers: for each `__spanforge.route(__spanforge_sites[N], h)`, the
 * position it takes in the registration (`arg 2` of the enclosing call, or `prop handler` of a route
 * object), listed per site index N.
 */
function wrappedPositions(code: string): Map<number, string[]> {
  // Babel's output keeps the decorators spanforge does not remove.
  const ast = parseSync(code, { configFile: false, babelrc: false, sourceType: 'unambiguous', parserOpts: { plugins: ['decorators'] } })!;
  const out = new Map<number, string[]>();
  traverse(ast, {
    CallExpression(p) {
      const c = p.node.callee;
      if (!(c.type === 'MemberExpression' && c.object.type === 'Identifier' && c.object.name === '__spanforge' && c.property.type === 'Identifier' && c.property.name === 'route')) return;
      const ref = p.node.arguments[0];
      assert.ok(ref && ref.type === 'MemberExpression' && ref.property.type === 'NumericLiteral', 'route() takes __spanforge_sites[N]');
      const n = ref.property.value;
      const parent = p.parent;
      let where: string;
      if ((parent.type === 'CallExpression' || parent.type === 'NewExpression') && parent.arguments.includes(p.node)) where = `arg ${parent.arguments.indexOf(p.node)}`;
      else if (parent.type === 'ObjectProperty' && parent.value === p.node) where = `prop ${parent.key.type === 'Identifier' ? parent.key.name : parent.key.type === 'StringLiteral' ? parent.key.value : '?'}`;
      else where = `in ${parent.type}`;
      out.set(n, [...(out.get(n) ?? []), where]);
    },
  });
  for (const v of out.values()) v.sort();
  return out;
}

const key = (s: SiteDescriptor) => `${s.rule}@${s.line}:${s.column}`;
const FIELDS = ['handler', 'name', 'type', 'subtype', 'action', 'method', 'function'] as const;

const all = cases('fixtures/transform');
test('the transformer fixtures are there', () => {
  assert.ok(all.length > 0, 'fixtures/transform has no cases');
});

for (const c of all) {
  const outputFile = join(c.dir, 'output.js');
  test(`parity: fixtures/transform/${c.name}`, (t) => {
    if (!existsSync(outputFile)) {
      // In CI a fixture without its expected output is a mistake (a parity check that never runs), not a skip.
      if (process.env.CI) assert.fail(`fixtures/transform/${c.name} has no expected output.js: generate it with UPDATE_FIXTURES=1 node --import tsx --test test/transformer/fixtures.test.ts and commit it`);
      return t.skip('no expected output.js from the transformer yet');
    }
    const tsSites = sitesOf(readFileSync(outputFile, 'utf8'));
    const plugin = (c.options.plugin ?? {}) as Record<string, unknown>;
    const b = babel({ ...c, options: plugin });
    const babelSites = b.report?.sites ?? [];
    const exp = parity[c.name] ?? {};
    const tsKeys = new Map(tsSites.map((s) => [key(s), s]));
    const babelKeys = new Map(babelSites.map((s) => [key(s), s]));
    const onlyTs = [...tsKeys.keys()].filter((k) => !babelKeys.has(k)).sort();
    const onlyBabel = [...babelKeys.keys()].filter((k) => !tsKeys.has(k)).sort();
    assert.deepEqual(onlyTs, Object.keys(exp.onlyTs ?? {}).sort(), 'sites only tsc instruments (document them in fixtures/babel/parity.json)');
    assert.deepEqual(onlyBabel, Object.keys(exp.onlyBabel ?? {}).sort(), 'sites only Babel instruments');
    const differ: string[] = [];
    for (const [k, s] of tsKeys) {
      const bs = babelKeys.get(k);
      if (!bs) continue;
      for (const f of FIELDS) if (JSON.stringify(s[f]) !== JSON.stringify(bs[f])) differ.push(`${k}.${f}: tsc ${JSON.stringify(s[f])}, babel ${JSON.stringify(bs[f])}`);
    }
    assert.deepEqual(differ.map((d) => d.split(':').slice(0, 2).join(':')).sort(), Object.keys(exp.fieldsDiffer ?? {}).sort(), differ.join('\n'));
    // Which arguments get wrapped with route(), per site: the same positions in both outputs.
    const tsWraps = wrappedPositions(readFileSync(outputFile, 'utf8'));
    const babelWraps = wrappedPositions(b.code);
    const babelIndex = new Map(babelSites.map((s, i) => [key(s), i]));
    const wrapDiff: string[] = [];
    tsSites.forEach((s, i) => {
      const j = babelIndex.get(key(s));
      if (j === undefined) return;
      const a = tsWraps.get(i) ?? [];
      const bw = babelWraps.get(j) ?? [];
      if (JSON.stringify(a) !== JSON.stringify(bw)) wrapDiff.push(`${key(s)}: tsc wraps [${a.join(', ')}], babel wraps [${bw.join(', ')}]`);
    });
    assert.deepEqual(wrapDiff.map((d) => d.split(': ')[0]).sort(), Object.keys(exp.wrapsDiffer ?? {}).sort(), wrapDiff.join('\n'));
  });
}

test("the transformer's output run through the Babel plugin is left alone (a build may run both)", () => {
  let checked = 0;
  for (const c of all) {
    const outputFile = join(c.dir, 'output.js');
    if (!existsSync(outputFile)) continue;
    const code = readFileSync(outputFile, 'utf8');
    const b = babel({ inputFile: join(c.dir, 'output.js'), input: code, options: {} });
    assert.equal(b.report, undefined, `${c.name}: no site instrumented a second time`);
    const tables = (text: string) => text.match(/__spanforge\.sites\(/g)?.length ?? 0;
    assert.equal(tables(b.code), tables(code), `${c.name}: no second site table`);
    checked++;
  }
  assert.ok(checked > 0);
});

// fixtures/babel/route-shapes holds the route shapes that need no types (array handlers, template
// paths, Fastify route({ path }), calls in handler positions): tsc must agree with Babel on it exactly.
test('parity: fixtures/babel/route-shapes compiled by tsc has the same sites and wrapped arguments', async () => {
  const { compileFile } = await import('../transformer/compile.js');
  const c = cases('fixtures/babel').find((x) => x.name === 'route-shapes');
  if (!c) return; // SPANFORGE_FIXTURE filtered it out
  const r = compileFile(c.inputFile);
  assert.deepEqual(r.diagnostics, []);
  const b = babel(c);
  const strip = (s: SiteDescriptor) => ({ ...s, method: s.method });
  assert.deepEqual(sitesOf(r.js).map(strip), (b.report?.sites ?? []).map(strip));
  assert.deepEqual([...wrappedPositions(r.js)].sort(), [...wrappedPositions(b.code)].sort());
});

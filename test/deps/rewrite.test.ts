// The dependency-rule step on its own: path and version matching (rules/deps.ts), and the in-place
// rewrite of a matched driver function (bundler/deps.ts) — same lines, `.length`, `this`, `arguments`,
// return values and throws, async kept; unsupported shapes skipped with the reason; no match, no parse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DependencyMatcher, packageFile, satisfies, DEPENDENCY_RULES, type DependencyRule } from '../../rules/index.js';
import { dependencyMatcher, instrumentDependency } from '../../bundler/deps.js';

const rule: DependencyRule = {
  id: 'test.client-query',
  package: '@acme/db',
  versions: '>=2.1 <3',
  file: 'lib/client.js',
  function: { className: 'Client', methodName: 'query' },
  handler: 'pg',
  span: { type: 'db', subtype: 'postgresql', action: 'query' },
  description: 'test',
};

test('packageFile and satisfies', () => {
  assert.deepEqual(packageFile('/app/node_modules/.pnpm/pg@8.1.0/node_modules/pg/lib/client.js'), { name: 'pg', root: '/app/node_modules/.pnpm/pg@8.1.0/node_modules/pg', file: 'lib/client.js' });
  assert.deepEqual(packageFile('C:\\app\\node_modules\\@acme\\db\\lib\\client.js'), { name: '@acme/db', root: 'C:/app/node_modules/@acme/db', file: 'lib/client.js' });
  assert.equal(packageFile('/app/src/client.js'), undefined);
  assert.equal(satisfies('3.24.6', '>=3.2 <4'), true);
  assert.equal(satisfies('3.1.9', '>=3.2 <4'), false);
  assert.equal(satisfies('4.0.0', '>=3.2 <4'), false);
  assert.equal(satisfies('8.23.1', '>=8 <9'), true);
  assert.equal(satisfies('2.0.0', '^1.2 || ^2'), true);
  assert.equal(satisfies('1.1.0', '^1.2 || ^2'), false);
  assert.equal(satisfies('1.2.3-beta.1', '1.2.x'), true);
  assert.ok(DEPENDENCY_RULES.some((r) => r.id === 'pg.client-query'));
});

test('the cheap check reads nothing for files no rule names; the version is read once per package', () => {
  let reads = 0;
  const m = new DependencyMatcher([rule], () => (reads++, '2.3.0'));
  assert.equal(m.candidates('/app/node_modules/@acme/db/lib/other.js'), undefined);
  assert.equal(m.rulesFor('/app/node_modules/express/lib/client.js'), undefined);
  assert.equal(reads, 0);
  assert.equal(m.rulesFor('/app/node_modules/@acme/db/lib/client.js')?.version, '2.3.0');
  m.rulesFor('/app/node_modules/@acme/db/lib/client.js');
  assert.equal(reads, 1);
  assert.equal(new DependencyMatcher([rule], () => '3.0.0').rulesFor('/app/node_modules/@acme/db/lib/client.js'), undefined);
});

test('a matched method is rewritten in place and behaves as before (inactive runtime)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-deps-rewrite-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pkg = join(dir, 'node_modules', '@acme', 'db');
  mkdirSync(join(pkg, 'lib'), { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@acme/db', version: '2.3.0' }));
  const src = `'use strict';
class Client {
  constructor() { this.n = 0; }
  query(text, values, cb) {
    this.n++;
    if (text === 'boom') throw new TypeError('boom');
    if (typeof cb === 'function') { cb(null, { text, args: arguments.length }); return undefined; }
    return { text, values, self: this, args: arguments.length };
  }
  other(a) { return a; }
}
class Async {
  async query(text) { return text + '!'; }
}
class Odd {
  query({ text }) { return text; }
}
module.exports = { Client, Async, Odd };
`;
  const file = join(pkg, 'lib', 'client.js');
  const rules = [rule, { ...rule, id: 'test.async', function: { className: 'Async', methodName: 'query' } }, { ...rule, id: 'test.odd', function: { className: 'Odd', methodName: 'query' } }];
  const r = instrumentDependency(src, file, dependencyMatcher(rules), require.resolve('../../runtime/abi.ts'));
  assert.ok(r);
  assert.equal(r.name, '@acme/db@2.3.0/lib/client.js');
  assert.deepEqual(r.sites.map((s) => [s.rule, s.line, s.function]), [['test.client-query', 4, 'Client.query'], ['test.async', 13, 'Async.query']]);
  assert.deepEqual(r.skipped.map((s) => [s.rule, s.reason]), [['test.odd', 'its parameters are not plain names (defaults or patterns would be evaluated twice)']]);
  assert.equal(r.code.split('\n').length, src.split('\n').length, 'no line moved');
  assert.match(r.code.split('\n')[3]!, /^ {2}query\(text, values, cb\) \{ return __spanforge\.call\(__spanforge_sites\[0\], this, function \(text, values, cb\) \{$/);
  writeFileSync(file, r.code);
  const mod = require(file) as { Client: new () => { n: number; query(...a: unknown[]): unknown }; Async: new () => { query(t: string): Promise<string> } };
  const c = new mod.Client();
  assert.equal(mod.Client.prototype.query.length, 3);
  assert.deepEqual(c.query('SELECT 1', [1]), { text: 'SELECT 1', values: [1], self: c, args: 2 });
  let got: unknown;
  assert.equal(c.query('SELECT 2', [], (_e: unknown, v: unknown) => (got = v)), undefined);
  assert.deepEqual(got, { text: 'SELECT 2', args: 3 });
  assert.throws(() => c.query('boom'), { name: 'TypeError', message: 'boom' });
  assert.equal(c.n, 3);
  const p = new mod.Async().query('x');
  assert.ok(p instanceof Promise);
  assert.equal(await p, 'x!');
});

test('a file no rule names is returned as null without parsing', () => {
  const m = dependencyMatcher([rule]);
  assert.equal(instrumentDependency('this is not JavaScript {', '/app/node_modules/other/lib/client.js', m, 'spanforge/runtime'), null);
});

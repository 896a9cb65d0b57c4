// Fixture pairs of the Babel front-end: input → exact Babel output, exact bundler (magic-string) output,
// and the exact report (instrumented and skipped sites), which both emitters must agree on.
// Update expectations explicitly: SPANFORGE_UPDATE_FIXTURES=1 node scripts/run-tests.mjs test/babel
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { babel, bundlerText, cases, integrationCases, root } from './_fixtures.js';

const update = process.env.SPANFORGE_UPDATE_FIXTURES === '1';

function expectFile(path: string, actual: string): void {
  if (update) writeFileSync(path, actual);
  assert.ok(existsSync(path), `missing expectation ${path}; run with SPANFORGE_UPDATE_FIXTURES=1 to create it`);
  assert.equal(actual, readFileSync(path, 'utf8'), `${path} differs`);
}

// fixtures/babel/<case>, and every integration's cases (integrations/<name>/fixtures/<case>): a case
// with sites has all three expectations; a look-alike-only case (no site) must stay untouched.
const all = [...cases('fixtures/babel'), ...integrationCases()];
test('there are Babel fixtures', () => assert.ok(all.length >= 4));

for (const c of all) {
  test(c.dir.slice(root.length + 1), () => {
    const b = babel(c);
    if (c.dir.includes('/integrations/') && !bundlerText(c)) {
      assert.equal(b.report?.sites.length ?? 0, 0, 'the Babel plugin instruments nothing either');
      assert.doesNotMatch(b.code, /__spanforge/);
      return;
    }
    expectFile(join(c.dir, 'output.babel.js'), b.code + '\n');
    const t = bundlerText(c);
    assert.ok(t, 'the bundler found sites');
    expectFile(join(c.dir, 'output.bundler.txt'), t.code);
    const report = { sites: t.sites, skipped: t.skipped };
    expectFile(join(c.dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    // Both emitters come from one analysis: the Babel plugin reports the very same sites and skips.
    assert.deepEqual({ sites: b.report?.sites, skipped: b.report?.skipped }, report);
  });
}

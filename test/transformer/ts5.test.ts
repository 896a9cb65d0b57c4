// TypeScript 5.9.3 + ts-patch 3.3 (the TS 5 line) build the fixture app to exactly the same JavaScript
// as TypeScript 6 + ts-patch 4. They live side by side in test/compat/ts5 (its own package.json and
// lock file; scripts/run-tests.mjs runs `npm ci --prefix test/compat/ts5` when they are missing), or in
// SPANFORGE_TS5_DIR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDist, linkSpanforge, root } from './_apps.js';

const ts5 = process.env.SPANFORGE_TS5_DIR ?? join(__dirname, '..', 'compat', 'ts5');
const tspc5 = join(ts5, 'node_modules', 'ts-patch', 'bin', 'tspc.js');

function build(tspc: string, appDir: string, outDir: string): string {
  const r = spawnSync(process.execPath, [tspc, '-p', join(appDir, 'tsconfig.json'), '--outDir', outDir], { cwd: appDir, encoding: 'utf8' });
  assert.equal(r.status, 0, `${tspc} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stderr;
}

test('TypeScript 5.9.3 + ts-patch 3.3 emit the same instrumented JavaScript as TypeScript 6 + ts-patch 4', (t) => {
  if (!existsSync(tspc5)) {
    const how = `TypeScript 5.9.3 + ts-patch 3.3 not installed in ${ts5} (npm ci --prefix test/compat/ts5)`;
    if (process.env.CI) assert.fail(`CI: ${how}`);
    return t.skip(how);
  }
  const version = JSON.parse(readFileSync(join(ts5, 'node_modules', 'typescript', 'package.json'), 'utf8')).version;
  assert.match(version, /^5\./);
  ensureDist();
  const tmp = mkdtempSync(join(tmpdir(), 'sf-ts5-'));
  try {
    for (const app of ['express', 'fastify']) {
      const appDir = join(root, 'fixtures', 'apps', app);
      linkSpanforge(appDir);
      const s6 = build(join(root, 'node_modules', 'ts-patch', 'bin', 'tspc.js'), appDir, join(tmp, `${app}-6`));
      const s5 = build(tspc5, appDir, join(tmp, `${app}-5`));
      assert.match(s5, /spanforge: instrumented 9 sites in 2 of 2 files/);
      assert.equal(s5, s6);
      for (const f of ['app.js', 'downstream.js', 'app.d.ts', 'app.js.map']) {
        assert.equal(readFileSync(join(tmp, `${app}-5`, f), 'utf8'), readFileSync(join(tmp, `${app}-6`, f), 'utf8'), `${app}/${f}`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

// TypeScript 5.9.3 + ts-patch 3.3 (the TS 5 line) build the fixture app to exactly the same JavaScript
// as TypeScript 6 + ts-patch 4. Needs them side by side: SPANFORGE_TS5_DIR (default /tmp/sf-ts5) with
//   npm install --prefix /tmp/sf-ts5 typescript@5.9.3 ts-patch@3.3.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDist, linkSpanforge, root } from './_apps.js';

const ts5 = process.env.SPANFORGE_TS5_DIR ?? '/tmp/sf-ts5';
const tspc5 = join(ts5, 'node_modules', 'ts-patch', 'bin', 'tspc.js');

function build(tspc: string, appDir: string, outDir: string): string {
  const r = spawnSync(process.execPath, [tspc, '-p', join(appDir, 'tsconfig.json'), '--outDir', outDir], { cwd: appDir, encoding: 'utf8' });
  assert.equal(r.status, 0, `${tspc} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stderr;
}

test('TypeScript 5.9.3 + ts-patch 3.3 emit the same instrumented JavaScript as TypeScript 6 + ts-patch 4', (t) => {
  if (!existsSync(tspc5)) {
    // Not a service: an optional compiler line installed outside the project's lock file, so it skips (also in CI).
    return t.skip(`TypeScript 5.9.3 + ts-patch 3.3 not installed in ${ts5} (npm install --prefix ${ts5} typescript@5.9.3 ts-patch@3.3.0)`);
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

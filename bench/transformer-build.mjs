// Build-time cost of spanforge/transformer: the Express fixture app compiled with tspc + the plugin vs
// plain tsc (same tsconfig without the plugin), same process tree, alternating runs.
// Run: npm run build && node bench/transformer-build.mjs [runs]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, lstatSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const appDir = join(root, 'fixtures', 'apps', 'express');
const runs = Number(process.argv[2] ?? 5);
mkdirSync(join(appDir, 'node_modules'), { recursive: true });
try { lstatSync(join(appDir, 'node_modules', 'spanforge')); } catch { symlinkSync(join('..', '..', '..', '..'), join(appDir, 'node_modules', 'spanforge')); }
const config = JSON.parse(readFileSync(join(appDir, 'tsconfig.json'), 'utf8'));
delete config.compilerOptions.plugins;
const plainConfig = join(appDir, 'tsconfig.bench-plain.json');
writeFileSync(plainConfig, JSON.stringify(config));
const out = mkdtempSync(join(tmpdir(), 'sf-build-bench-'));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const tspc = join(root, 'node_modules', 'ts-patch', 'bin', 'tspc.js');

function time(bin, project) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, '-p', project, '--outDir', out], { cwd: appDir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${bin} failed: ${r.stdout}${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
const plain = [];
const tspcPlain = [];
const plugin = [];
try {
  time(tsc, plainConfig); // warm the file cache
  for (let i = 0; i < runs; i++) {
    plain.push(time(tsc, plainConfig));
    tspcPlain.push(time(tspc, plainConfig));
    plugin.push(time(tspc, join(appDir, 'tsconfig.json')));
  }
} finally {
  rmSync(plainConfig, { force: true });
  rmSync(out, { recursive: true, force: true });
}
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`node ${process.version}, fixtures/apps/express (2 files, 9 sites), ${runs} alternating runs, median wall time:`);
console.log(`  tsc (no plugin)                     ${med(plain).toFixed(0)} ms`);
console.log(`  tspc (no plugin: ts-patch's cost)   ${med(tspcPlain).toFixed(0)} ms   ${(med(tspcPlain) / med(plain)).toFixed(2)}x`);
console.log(`  tspc + spanforge/transformer        ${med(plugin).toFixed(0)} ms   ${(med(plugin) / med(plain)).toFixed(2)}x (${(med(plugin) / med(tspcPlain)).toFixed(2)}x tspc alone)`);

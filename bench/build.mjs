// Build-time cost of spanforge: a generated project of a few hundred modules (one in ten with sites)
// built with and without the plugin, for esbuild (bundler plugin) and Babel (Babel plugin); prints ratios.
// Run: node --import tsx bench/build.mjs [modules=300] [rounds=7]
import { transformFileSync } from '@babel/core';
import * as esbuild from 'esbuild';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';

const presetTs = createRequire(import.meta.url).resolve('@babel/preset-typescript');

const { esbuildPlugin } = await import('../bundler/index.ts');
const { default: babelPlugin } = await import('../babel-plugin/index.ts');

const modules = Number(process.argv[2] ?? 300);
const rounds = Number(process.argv[3] ?? 7);
const dir = mkdtempSync(join(tmpdir(), 'spanforge-bench-build-'));
const src = join(dir, 'src');
mkdirSync(src);

// Plain modules: types, classes and arithmetic, as most of a service is. Every tenth module registers
// routes and queries PostgreSQL, so it has sites.
const plain = (i) => `// module ${i}
export interface Item${i} { id: number; name: string; tags: string[] }
export class Store${i} {
  private readonly items = new Map<number, Item${i}>();
  get(id: number): Item${i} | undefined { return this.items.get(id); }
  put(item: Item${i}): void { this.items.set(item.id, item); }
  query(tag: string): Item${i}[] { return [...this.items.values()].filter((x) => x.tags.includes(tag)); }
}
export function score${i}(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x * ${i % 7} + Math.sqrt(x);
  return s / Math.max(1, xs.length);
}
`.repeat(3).replace(/(interface|class|function) (Item|Store|score)(\d+)/g, (m, kw, base, n, off) => `${kw} ${base}${n}_${off}`);
const withSites = (i) => `// module ${i} (routes)
import express from 'express';
import { Pool } from 'pg';
const pool = new Pool();
export const router${i} = express.Router();
router${i}.get('/items${i}/:id', async (req, res) => {
  const { rows } = await pool.query('SELECT * FROM items${i} WHERE id = $1', [req.params.id]);
  const up = await fetch('http://127.0.0.1:9/x${i}');
  res.json({ row: rows[0], status: up.status });
});
router${i}.post('/items${i}', async (req, res) => {
  await pool.query('INSERT INTO items${i}(name) VALUES ($1)', [req.body.name]);
  res.status(201).end();
});
${plain(i)}`;
const names = [];
for (let i = 0; i < modules; i++) {
  const name = `m${i}.ts`;
  writeFileSync(join(src, name), i % 10 === 0 ? withSites(i) : plain(i));
  names.push(name);
}
writeFileSync(join(src, 'index.ts'), names.map((n, i) => `export * as m${i} from './${n.replace('.ts', '.js')}';`).join('\n') + '\n');

async function esbuildOnce(plugins) {
  const t0 = performance.now();
  await esbuild.build({ entryPoints: [join(src, 'index.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', write: false, sourcemap: true, logLevel: 'silent', plugins });
  return performance.now() - t0;
}
function babelOnce(withPlugin) {
  const t0 = performance.now();
  for (const n of readdirSync(src)) {
    transformFileSync(join(src, n), {
      configFile: false,
      babelrc: false,
      cwd: dir,
      sourceMaps: true,
      presets: [presetTs],
      plugins: withPlugin ? [[babelPlugin, { summary: false }]] : [],
    });
  }
  return performance.now() - t0;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Warm up both paths (JIT, module loading), then alternate baseline and plugin runs in each round so
// machine noise hits both alike.
await esbuildOnce([]);
await esbuildOnce([esbuildPlugin({ root: dir, summary: false })]);
babelOnce(false);
babelOnce(true);
const r = { esbuild: [[], []], babel: [[], []] };
for (let i = 0; i < rounds; i++) {
  r.esbuild[0].push(await esbuildOnce([]));
  r.esbuild[1].push(await esbuildOnce([esbuildPlugin({ root: dir, summary: false })]));
  r.babel[0].push(babelOnce(false));
  r.babel[1].push(babelOnce(true));
}
// esbuild with a do-nothing onLoad plugin: what any JS plugin costs esbuild (files cross into JS).
const noop = { name: 'noop', setup(b) { b.onLoad({ filter: /\.ts$/ }, () => undefined); } };
const noopRuns = [];
for (let i = 0; i < rounds; i++) noopRuns.push(await esbuildOnce([noop]));

const line = (label, base, withP) => {
  const b = median(base);
  const w = median(withP);
  console.log(`${label.padEnd(40)} ${b.toFixed(1).padStart(8)} ms → ${w.toFixed(1).padStart(8)} ms   ratio ${(w / b).toFixed(2)}x`);
};
console.log(`spanforge build bench: ${modules} modules (${Math.ceil(modules / 10)} with sites), median of ${rounds} rounds, node ${process.version}`);
line('esbuild bundle, without → with plugin', r.esbuild[0], r.esbuild[1]);
line('esbuild bundle, without → no-op JS plugin', r.esbuild[0], noopRuns);
line('Babel (preset-typescript), without → with', r.babel[0], r.babel[1]);
rmSync(dir, { recursive: true, force: true });

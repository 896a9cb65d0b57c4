// Checks that dependencies point one way (ARCHITECTURE.md "The parts and their borders"):
// rules/ imports nothing of ours; runtime/ imports nothing build-time; the receiver only the wire
// types of runtime/; front-ends import rules/ and (types of) runtime/ only; no import cycles.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const parts = ['runtime', 'rules', 'transformer', 'babel-plugin', 'bundler', 'receiver', 'cli', 'register'];
// part -> parts it may import from (besides itself)
const allowed = {
  rules: [],
  runtime: [],
  transformer: ['rules', 'runtime-types'],
  'babel-plugin': ['rules', 'runtime-types'],
  bundler: ['rules', 'babel-plugin', 'runtime-types'],
  receiver: ['runtime-types'],
  register: ['rules', 'babel-plugin', 'bundler'],
  cli: ['receiver', 'runtime', 'rules', 'transformer', 'babel-plugin', 'bundler'],
};
// packages a part must never import
const forbiddenPackages = {
  runtime: [/^typescript$/, /^@babel\//, /^magic-string$/, /^unplugin$/, /^ts-patch/, /^better-sqlite3$/],
  rules: [/^typescript$/, /^@babel\//],
  receiver: [/^typescript$/, /^@babel\//],
};

function walk(dir, out) {
  let names;
  try { names = readdirSync(dir); } catch { return out; }
  for (const name of names) {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'ui') continue;
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mts|cts)$/.test(name) && !name.endsWith('.d.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const importRe = /(?:^|[\s;])(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;
const problems = [];
const graph = new Map();
for (const part of parts) {
  for (const file of walk(join(root, part), [])) {
    const src = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    const rel = relative(root, file);
    const edges = [];
    for (const m of src.matchAll(importRe)) {
      const typeOnly = Boolean(m[1]);
      const spec = m[2] ?? m[3] ?? m[4];
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
        const targetRel = relative(root, target);
        const targetPart = targetRel.split(sep)[0];
        if (!typeOnly) edges.push(targetRel);
        if (targetPart === part) continue;
        const isRuntimeTypes = targetRel === join('runtime', 'types.ts');
        const ok = (allowed[part] ?? []).some((a) => a === targetPart || (a === 'runtime-types' && isRuntimeTypes && (typeOnly || part !== 'receiver')));
        if (!ok) problems.push(`${rel}: imports ${targetRel} (${part}/ may import: ${(allowed[part] ?? []).join(', ') || 'nothing of ours'})`);
      } else {
        for (const re of forbiddenPackages[part] ?? []) {
          if (re.test(spec)) problems.push(`${rel}: imports package '${spec}', which ${part}/ must not use`);
        }
      }
    }
    graph.set(rel, edges);
  }
}
// cycles (files): DFS
const state = new Map();
const stack = [];
function dfs(n) {
  state.set(n, 1); stack.push(n);
  for (const e of graph.get(n) ?? []) {
    if (!graph.has(e)) continue;
    if (state.get(e) === 1) problems.push(`import cycle: ${[...stack.slice(stack.indexOf(e)), e].join(' -> ')}`);
    else if (!state.has(e)) dfs(e);
  }
  stack.pop(); state.set(n, 2);
}
for (const n of graph.keys()) if (!state.has(n)) dfs(n);

if (problems.length) {
  console.error(`check-deps: ${problems.length} problem(s)\n` + problems.map((p) => '  ' + p).join('\n'));
  process.exit(1);
}
console.log(`check-deps: ${graph.size} files, dependencies point one way, no cycles`);

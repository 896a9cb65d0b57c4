// Checks that dependencies point one way (ARCHITECTURE.md "The parts and their borders"):
// rules/ imports nothing of ours; runtime/ imports nothing build-time; the receiver only the wire
// types of runtime/; front-ends import rules/ and (types of) runtime/ only; no import cycles.
// Integrations (integrations/<name>/): rules.ts is build-time data (may import rules/ types, no
// compiler, no package), runtime.ts is run time (may import runtime/abi-kit.ts, runtime/messaging.ts and runtime types, and
// only node: builtins, never the library it instruments); neither imports another integration; only
// rules/ reaches the rules and only runtime/ the handlers (the two index files).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const parts = ['runtime', 'rules', 'transformer', 'babel-plugin', 'bundler', 'receiver', 'cli', 'register', 'integrations'];
// part -> parts it may import from (besides itself)
const allowed = {
  rules: ['integration-rules'],
  runtime: ['integration-runtime'],
  'integration-rules': ['rules'],
  'integration-runtime': ['runtime-kit', 'runtime-types'],
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
  'integration-rules': [/^(?!node:)/],
  'integration-runtime': [/^(?!node:)/],
  receiver: [/^typescript$/, /^@babel\//],
};

function walk(dir, out) {
  let names;
  try { names = readdirSync(dir); } catch { return out; }
  for (const name of names) {
    const p = join(dir, name);
    // integrations/<name>/fixtures and compat: inputs and installs for tests, not part of the package.
    if (name === 'node_modules' || name === 'ui' || name === 'fixtures' || name === 'compat') continue;
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mts|cts)$/.test(name) && !name.endsWith('.d.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const importRe = /(?:^|[\s;])(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;
const problems = [];
const graph = new Map();
/** The part a file belongs to: its top folder, or integration-rules / integration-runtime / integration-test. */
function partOf(rel) {
  const segs = rel.split(sep);
  if (segs[0] !== 'integrations') return segs[0];
  if (segs.length === 3 && segs[2] === 'rules.ts') return 'integration-rules';
  if (segs.length === 3 && segs[2] === 'runtime.ts') return 'integration-runtime';
  return 'integration-test';
}
for (const top of parts) {
  for (const file of walk(join(root, top), [])) {
    const src = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    const rel = relative(root, file);
    const part = partOf(rel);
    if (part === 'integration-test') {
      // Test helpers of an integration (_name.ts) may import anything; other files have no place there.
      if (!/^_/.test(rel.split(sep).at(-1))) problems.push(`${rel}: an integration folder holds rules.ts, runtime.ts, tests (*.test.ts, _helpers.ts), fixtures/ and compat/ only`);
      continue;
    }
    const edges = [];
    for (const m of src.matchAll(importRe)) {
      const typeOnly = Boolean(m[1]);
      const spec = m[2] ?? m[3] ?? m[4];
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
        const targetRel = relative(root, target);
        const targetPart = partOf(targetRel);
        if (!typeOnly) edges.push(targetRel);
        if (part.startsWith('integration-') && targetPart.startsWith('integration')) {
          if (targetRel.split(sep)[1] !== rel.split(sep)[1]) problems.push(`${rel}: imports ${targetRel} (an integration never imports another one)`);
          else if (targetPart !== part) problems.push(`${rel}: imports ${targetRel} (rules.ts and runtime.ts are build time and run time)`);
          continue;
        }
        if (targetPart === part) continue;
        const isRuntimeTypes = targetRel === join('runtime', 'types.ts') || (part === 'integration-runtime' && typeOnly && targetRel === join('runtime', 'abi-core.ts'));
        // The kits integrations' handlers are written with: the ABI's (abi-kit.ts) and the messaging one (messaging.ts).
        const isRuntimeKit = targetRel === join('runtime', 'abi-kit.ts') || targetRel === join('runtime', 'messaging.ts');
        // rules/ and runtime/ reach integrations only through their index (rules/integrations.ts, runtime/integrations.ts,
        // runtime/integration-wrappers.ts for handlers given to a library's constructor, runtime/integration-loops.ts for `for await` consumers).
        const viaIndex = !targetPart.startsWith('integration-') || rel === join(part, 'integrations.ts') || rel === join('runtime', 'integration-wrappers.ts') || rel === join('runtime', 'integration-loops.ts');
        const ok = viaIndex && (allowed[part] ?? []).some((a) => a === targetPart || (a === 'runtime-kit' && isRuntimeKit) || (a === 'runtime-types' && isRuntimeTypes && (typeOnly || part !== 'receiver')));
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

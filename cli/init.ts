// `spanforge init`: looks at a project (build tool, TypeScript and ts-patch versions, module system,
// framework, entry file), works out the edits that wire spanforge in — the tsconfig plugin and the
// matching ts-patch, the Babel plugin, the bundler plugin, the `spanforge/register` hook for tsx and
// ts-node, the start import — shows them as a diff and applies them when asked (or with --yes).
// `--check` applies nothing: it lists what is missing or broken and exits 1 when anything is.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';

export const INIT_USAGE = `spanforge init [--yes] [--check] [--dir DIR]
  Detects the build tool, TypeScript version, module system and framework of the project in DIR
  (default: the working directory), shows the edits that wire spanforge in as a diff, and applies them
  after asking (or at once with --yes). Then run \`npm install\` for the packages it added.
  --check             change nothing: list what is missing or broken; exit 1 when anything is
  -y, --yes           apply without asking
  --dir DIR           the project folder (default: .)
`;

export type Tool = 'next' | 'nest' | 'vite' | 'vitest' | 'tsup' | 'esbuild' | 'rollup' | 'webpack' | 'babel' | 'jest' | 'tsx' | 'ts-node' | 'tsc' | 'node';

export interface Detected {
  dir: string;
  pkg: Record<string, unknown>;
  moduleSystem: 'esm' | 'cjs';
  /** What builds (or runs) the app, most specific first; the first is the one wired. */
  tools: Tool[];
  /** Installed version (node_modules) or else the declared range; undefined when absent. */
  typescript: string | undefined;
  tsPatch: string | undefined;
  framework: string[];
  entry: string | undefined;
  configs: Partial<Record<'tsconfig' | 'babel' | 'vite' | 'vitest' | 'tsup' | 'rollup' | 'webpack' | 'next' | 'nest' | 'jest', string>>;
  node: string;
}

export interface Edit {
  file: string;
  before: string;
  after: string;
  why: string;
}

export interface Plan {
  edits: Edit[];
  /** Problems init cannot fix by editing a file, and manual steps; each a sentence. */
  notes: string[];
  /** Things that are missing (for --check); empty when the project is wired. */
  missing: string[];
  /** What to run after applying. */
  next: string[];
}

const CONFIG_NAMES: Record<keyof Detected['configs'], string[]> = {
  tsconfig: ['tsconfig.json'],
  babel: ['babel.config.json', '.babelrc', '.babelrc.json', 'babel.config.js', 'babel.config.cjs', 'babel.config.mjs'],
  vite: ['vite.config.ts', 'vite.config.mts', 'vite.config.js', 'vite.config.mjs', 'vite.config.cjs'],
  vitest: ['vitest.config.ts', 'vitest.config.mts', 'vitest.config.js', 'vitest.config.mjs'],
  tsup: ['tsup.config.ts', 'tsup.config.mts', 'tsup.config.js', 'tsup.config.mjs', 'tsup.config.cjs'],
  rollup: ['rollup.config.mjs', 'rollup.config.js', 'rollup.config.ts', 'rollup.config.cjs'],
  webpack: ['webpack.config.js', 'webpack.config.cjs', 'webpack.config.mjs', 'webpack.config.ts'],
  next: ['next.config.js', 'next.config.mjs', 'next.config.ts', 'next.config.cjs'],
  nest: ['nest-cli.json'],
  jest: ['jest.config.js', 'jest.config.cjs', 'jest.config.mjs', 'jest.config.ts', 'jest.config.json'],
};

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** tsconfig.json may hold comments and trailing commas. */
function parseJsonc(text: string): Record<string, unknown> | undefined {
  try {
    const stripped = text.replace(/("(?:[^"\\]|\\.)*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (_m, s: string | undefined) => s ?? '').replace(/,(\s*[}\]])/g, '$1');
    return JSON.parse(stripped) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function deps(pkg: Record<string, unknown>): Record<string, string> {
  return { ...(pkg.devDependencies as Record<string, string>), ...(pkg.dependencies as Record<string, string>) };
}

function installedVersion(dir: string, name: string): string | undefined {
  return (readJson(join(dir, 'node_modules', name, 'package.json'))?.version as string | undefined) ?? undefined;
}

function major(v: string | undefined): number | undefined {
  const m = v && /(\d+)\./.exec(v);
  return m ? Number(m[1]) : undefined;
}

/** Node >= 22.15: what ts-patch 4 declares it needs. */
export function nodeFitsTsPatch4(node: string): boolean {
  const [a = 0, b = 0] = node.replace(/^v/, '').split('.').map(Number);
  return a > 22 || (a === 22 && b >= 15);
}

export function detect(dir: string, node = process.version): Detected {
  const pkg = readJson(join(dir, 'package.json'));
  if (!pkg) throw new Error(`no readable package.json in ${dir}: run \`npm init -y\` first (spanforge init wires an npm project)`);
  const d = deps(pkg);
  const configs: Detected['configs'] = {};
  for (const [k, names] of Object.entries(CONFIG_NAMES) as [keyof Detected['configs'], string[]][]) {
    const found = names.find((n) => existsSync(join(dir, n)));
    if (found) configs[k] = found;
  }
  if (!configs.babel && pkg.babel) configs.babel = 'package.json';
  const scripts = Object.values((pkg.scripts as Record<string, string>) ?? {}).join('\n');
  const has = (name: string) => name in d;
  const tools: Tool[] = [];
  if (has('next') || configs.next) tools.push('next');
  if (has('@nestjs/cli') || configs.nest) tools.push('nest');
  if (configs.vite || (has('vite') && /\bvite\b/.test(scripts))) tools.push('vite');
  if (configs.tsup || (has('tsup') && /\btsup\b/.test(scripts))) tools.push('tsup');
  if (has('esbuild') && (/esbuild/.test(scripts) || esbuildScript(dir, pkg))) tools.push('esbuild');
  if (configs.rollup || (has('rollup') && /\brollup\b/.test(scripts))) tools.push('rollup');
  if (configs.webpack || (has('webpack') && /\bwebpack\b/.test(scripts))) tools.push('webpack');
  if (configs.babel || has('@babel/cli')) tools.push('babel');
  if (configs.tsconfig && (has('typescript') || has('ts-patch')) && /\bts[pc]c\b/.test(scripts)) tools.push('tsc');
  if (has('tsx') && /\btsx\b/.test(scripts)) tools.push('tsx');
  if (has('ts-node') && /\bts-node\b/.test(scripts)) tools.push('ts-node');
  if (tools.length === 0) {
    // No build step named: a tsconfig means tsc; else the app runs as it is under node.
    if (configs.tsconfig && has('typescript')) tools.push('tsc');
    else tools.push('node');
  }
  // Test runners come after the build they test.
  if (has('vitest') || configs.vitest) tools.push('vitest');
  if (has('jest') || configs.jest) tools.push('jest');
  const framework = ['express', 'fastify', '@nestjs/core', 'next', 'koa', '@hapi/hapi'].filter(has);
  const moduleSystem = pkg.type === 'module' ? 'esm' : 'cjs';
  return {
    dir,
    pkg,
    moduleSystem,
    tools,
    typescript: installedVersion(dir, 'typescript') ?? d.typescript,
    tsPatch: installedVersion(dir, 'ts-patch') ?? d['ts-patch'],
    framework,
    entry: findEntry(dir, pkg),
    configs,
    node,
  };
}

/** The `node <file>` build script of package.json that calls esbuild's API, if any. */
function esbuildScript(dir: string, pkg: Record<string, unknown>): string | undefined {
  for (const s of Object.values((pkg.scripts as Record<string, string>) ?? {})) {
    for (const m of s.matchAll(/\bnode\s+([\w./-]+\.[cm]?[jt]s)\b/g)) {
      const file = m[1]!.replace(/^\.\//, '');
      try {
        if (/['"]esbuild['"]/.test(readFileSync(join(dir, file), 'utf8'))) return file;
      } catch {
        // not a file of this project
      }
    }
  }
  return undefined;
}

const ENTRY_CANDIDATES = ['src/main.ts', 'src/index.ts', 'src/server.ts', 'src/app.ts', 'src/main.js', 'src/index.js', 'src/server.js', 'src/app.js', 'index.ts', 'index.js', 'server.js', 'app.js', 'main.ts'];

function findEntry(dir: string, pkg: Record<string, unknown>): string | undefined {
  const scripts = (pkg.scripts as Record<string, string>) ?? {};
  for (const s of [scripts.dev, scripts.start, scripts.serve]) {
    const m = s && /([\w./-]+\.[cm]?[jt]s)\b/.exec(s);
    if (m && existsSync(join(dir, m[1]!)) && !/^dist\//.test(m[1]!)) return m[1]!.replace(/^\.\//, '');
  }
  return ENTRY_CANDIDATES.find((c) => existsSync(join(dir, c)));
}

// ---- planning -------------------------------------------------------------------------------

function edit(edits: Edit[], dir: string, file: string, why: string, change: (text: string) => string | undefined, create?: string): boolean {
  const path = join(dir, file);
  const existing = edits.find((e) => e.file === file);
  const before = existing ? existing.after : existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  if (before === undefined && create === undefined) return false;
  const after = change(before ?? create!);
  if (after === undefined || after === before) return false;
  if (existing) {
    existing.after = after;
    existing.why += `; ${why}`;
  } else edits.push({ file, before: before ?? '', after, why });
  return true;
}

function jsonEdit(edits: Edit[], dir: string, file: string, why: string, change: (o: Record<string, unknown>) => boolean, create?: Record<string, unknown>): boolean {
  return edit(
    edits,
    dir,
    file,
    why,
    (text) => {
      const o = parseJsonc(text);
      if (!o) return undefined;
      if (!change(o)) return undefined;
      const indent = /\n(\s+)"/.exec(text)?.[1] ?? '  ';
      return JSON.stringify(o, null, indent) + '\n';
    },
    create ? JSON.stringify(create, null, 2) + '\n' : undefined,
  );
}

function setDep(o: Record<string, unknown>, field: 'dependencies' | 'devDependencies', name: string, range: string, replace = false): boolean {
  const other = field === 'dependencies' ? 'devDependencies' : 'dependencies';
  const cur = (o[field] as Record<string, string> | undefined)?.[name] ?? (o[other] as Record<string, string> | undefined)?.[name];
  if (cur !== undefined && !replace) return false;
  if (cur === range) return false;
  const target = ((o[other] as Record<string, string> | undefined)?.[name] !== undefined ? other : field) as string;
  const m = { ...((o[target] as Record<string, string>) ?? {}), [name]: range };
  o[target] = Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return true;
}

/** Adds `import { NAME } from 'spanforge/bundler'` and `NAME()` to the config's `plugins: [` list (or after `key`). */
function bundlerConfigEdit(text: string, fn: string, listKey: string, esm: boolean): string | undefined {
  if (text.includes('spanforge/bundler')) return undefined;
  const listRe = new RegExp(`(\\b${listKey}\\s*:\\s*\\[)`);
  let out: string;
  const emptyRe = new RegExp(`(\\b${listKey}\\s*:\\s*\\[)\\s*\\]`);
  if (emptyRe.test(text)) out = text.replace(emptyRe, `$1${fn}()]`);
  else if (listRe.test(text)) out = text.replace(listRe, `$1${fn}(), `);
  else {
    // No such list yet: add one to the first object passed to defineConfig(...) / exported.
    const objRe = /(defineConfig\(\s*\{|export default\s*\{|module\.exports\s*=\s*\{)/;
    if (!objRe.test(text)) return undefined;
    out = text.replace(objRe, `$1 ${listKey}: [${fn}()],`);
  }
  const line = esm ? `import { ${fn} } from 'spanforge/bundler';\n` : `const { ${fn} } = require('spanforge/bundler');\n`;
  return line + out;
}

/** This package's version (dist/cjs/cli/init.js → package.json). */
const OWN_VERSION = (readJson(join(__dirname, '..', '..', '..', 'package.json'))?.version as string | undefined) ?? '0.1.0';

const START_ESM = "import 'spanforge/start';";
const START_CJS = "require('spanforge/start');";

export function plan(d: Detected): Plan {
  const edits: Edit[] = [];
  const notes: string[] = [];
  const missing: string[] = [];
  const next: string[] = [];
  const dir = d.dir;
  const tool = d.tools[0]!;
  const pkgDeps = deps(d.pkg);
  let addedPackages = false;
  const pkgEdit = (why: string, f: (o: Record<string, unknown>) => boolean): void => {
    if (jsonEdit(edits, dir, 'package.json', why, f)) addedPackages = true;
  };
  if (!('spanforge' in pkgDeps)) {
    missing.push('spanforge is not a dependency in package.json');
    pkgEdit('spanforge as a dependency', (o) => setDep(o, 'dependencies', 'spanforge', `^${OWN_VERSION}`));
  }

  const tsMajor = major(d.typescript);
  const wantTsPatch = nodeFitsTsPatch4(d.node) ? '^4.0.1' : '~3.3.0';

  const wireTsc = (viaTsPatchInstall: boolean): void => {
    if (tsMajor !== undefined && tsMajor >= 7) {
      missing.push(
        `TypeScript ${d.typescript} has no compiler API for transformers: ts-patch cannot load it (tspc fails with "Cannot read properties of undefined (reading 'LineFeed')", before spanforge runs); npm i -D typescript@6 — or build with the Babel or bundler plugin`,
      );
      pkgEdit('TypeScript 6 (TypeScript 7 has no transformer API)', (o) => setDep(o, 'devDependencies', 'typescript', '^6.0.3', true));
    } else if (tsMajor === undefined) {
      missing.push('typescript is not installed: npm i -D typescript@6');
      pkgEdit('TypeScript 6', (o) => setDep(o, 'devDependencies', 'typescript', '^6.0.3'));
    }
    const tpMajor = major(d.tsPatch);
    if (tpMajor === undefined) {
      missing.push(`ts-patch is not installed (it loads the transformer into tsc): npm i -D ts-patch@${wantTsPatch.replace(/^[~^]/, '')}`);
      pkgEdit('ts-patch (runs the transformer)', (o) => setDep(o, 'devDependencies', 'ts-patch', wantTsPatch));
    } else if (tpMajor >= 4 && !nodeFitsTsPatch4(d.node)) {
      notes.push(`ts-patch ${d.tsPatch} declares node >=22.15.0 and this is Node ${d.node}: npm warns EBADENGINE; ts-patch 3.3 (npm i -D ts-patch@3.3) is the pair for Node 20`);
    }
    const tsconfig = d.configs.tsconfig ?? 'tsconfig.json';
    const tsconfigText = existsSync(join(dir, tsconfig)) ? readFileSync(join(dir, tsconfig), 'utf8') : '';
    if (!tsconfigText.includes('spanforge/transformer')) {
      missing.push(`${tsconfig} has no { "transform": "spanforge/transformer" } in compilerOptions.plugins`);
      const ok = jsonEdit(
        edits,
        dir,
        tsconfig,
        'the spanforge transformer',
        (o) => {
          const co = ((o.compilerOptions as Record<string, unknown>) ??= {});
          const plugins = (Array.isArray(co.plugins) ? co.plugins : []) as unknown[];
          co.plugins = [...plugins, { transform: 'spanforge/transformer' }];
          return true;
        },
        { compilerOptions: { plugins: [{ transform: 'spanforge/transformer' }] } },
      );
      if (!ok) notes.push(`could not parse ${tsconfig}: add { "transform": "spanforge/transformer" } to compilerOptions.plugins by hand`);
    }
    const scripts = (d.pkg.scripts as Record<string, string>) ?? {};
    if (viaTsPatchInstall) {
      if (!Object.values(scripts).some((s) => /ts-patch install/.test(s))) {
        missing.push('the build calls TypeScript itself: ts-patch must patch it in place (`ts-patch install`, kept by a "prepare" script)');
        pkgEdit('"prepare": "ts-patch install -s"', (o) => {
          const s = ((o.scripts as Record<string, string>) ??= {});
          s.prepare = s.prepare ? `${s.prepare} && ts-patch install -s` : 'ts-patch install -s';
          return true;
        });
      }
    } else {
      const tscScripts = Object.entries(scripts).filter(([, s]) => /(^|[\s&;|])tsc(\s|$)/.test(s));
      if (tscScripts.length) {
        missing.push(`${tscScripts.map(([k]) => `"${k}"`).join(', ')} run${tscScripts.length === 1 ? 's' : ''} tsc, which ignores transformers: tspc`);
        pkgEdit('tsc → tspc (ts-patch)', (o) => {
          const s = o.scripts as Record<string, string>;
          for (const [k] of tscScripts) s[k] = s[k]!.replace(/(^|[\s&;|])tsc(?=\s|$)/g, '$1tspc');
          return true;
        });
      } else if (!Object.values(scripts).some((s) => /\btspc\b/.test(s))) {
        notes.push('build with `npx tspc` (ts-patch\'s tsc): plain tsc ignores the transformer');
      }
    }
  };

  const wireBabel = (): void => {
    const file = d.configs.babel;
    const text = file && file !== 'package.json' ? readFileSync(join(dir, file), 'utf8') : JSON.stringify(d.pkg.babel ?? {});
    if (text.includes('spanforge/babel')) return;
    missing.push(`${file ?? 'babel.config.json'} has no "spanforge/babel" in plugins`);
    if (!file || file.endsWith('.json') || file === '.babelrc') {
      const ok = jsonEdit(
        edits,
        dir,
        file ?? 'babel.config.json',
        'the spanforge Babel plugin',
        (o) => {
          const target = file === 'package.json' ? ((o.babel as Record<string, unknown>) ??= {}) : o;
          target.plugins = [...((target.plugins as unknown[]) ?? []), 'spanforge/babel'];
          return true;
        },
        { presets: d.typescript ? ['@babel/preset-typescript'] : [], plugins: ['spanforge/babel'] },
      );
      if (!ok) notes.push(`could not parse ${file}: add "spanforge/babel" to its plugins by hand`);
    } else if (!edit(edits, dir, file, 'the spanforge Babel plugin', (t) => (/\bplugins\s*:\s*\[/.test(t) ? t.replace(/(\bplugins\s*:\s*\[)/, `$1'spanforge/babel', `) : t.replace(/((?:module\.exports\s*=|export default)\s*\{)/, "$1\n  plugins: ['spanforge/babel'],")))) {
      notes.push(`add 'spanforge/babel' to the plugins of ${file} by hand`);
    }
  };

  const wireBundler = (key: 'vite' | 'vitest' | 'tsup' | 'rollup' | 'webpack', fn: string, listKey: string): void => {
    const file = d.configs[key];
    if (!file) {
      missing.push(`no ${key} config file found: add ${fn}() from 'spanforge/bundler' to its ${listKey}`);
      return;
    }
    const text = readFileSync(join(dir, file), 'utf8');
    if (text.includes('spanforge/bundler')) return;
    missing.push(`${file} has no ${fn}() from 'spanforge/bundler' in ${listKey}`);
    const esm = !/\.cjs$/.test(file) && (/\.(mjs|mts|ts)$/.test(file) || d.moduleSystem === 'esm' || /^\s*(import|export)\s/m.test(text));
    if (!edit(edits, dir, file, `${fn}() in ${listKey}`, (t) => bundlerConfigEdit(t, fn, listKey, esm))) {
      notes.push(`add ${fn}() (import { ${fn} } from 'spanforge/bundler') to the ${listKey} of ${file} by hand`);
    }
  };

  const wireRegister = (runner: 'tsx' | 'ts-node'): void => {
    const scripts = (d.pkg.scripts as Record<string, string>) ?? {};
    const re = runner === 'tsx' ? /(^|[\s&;|])tsx(\s+watch)?(?=\s)(?![^&;|]*spanforge\/register)/ : /(^|[\s&;|])ts-node(?=\s)(?![^&;|]*spanforge\/register)/;
    const hits = Object.entries(scripts).filter(([, s]) => re.test(s));
    if (!hits.length) return;
    missing.push(`${hits.map(([k]) => `"${k}"`).join(', ')} run${hits.length === 1 ? 's' : ''} ${runner} without the spanforge/register hook`);
    pkgEdit(`${runner} with spanforge/register`, (o) => {
      const s = o.scripts as Record<string, string>;
      for (const [k] of hits) {
        s[k] = runner === 'tsx'
          ? s[k]!.replace(re, (_m, pre: string, watch: string | undefined) => `${pre}tsx${watch ?? ''} --import spanforge/register`)
          : s[k]!.replace(re, (_m, pre: string) => `${pre}node -r spanforge/register -r ts-node/register/transpile-only`);
      }
      return true;
    });
    if (runner === 'tsx' && d.moduleSystem === 'cjs') {
      notes.push('tsx compiles CommonJS files with a loader of its own that spanforge/register cannot reach: with tsx, the app must be ES modules ("type": "module") to be instrumented');
    }
  };

  const wireNext = (): void => {
    const ts = d.typescript !== undefined || d.configs.tsconfig !== undefined;
    const scripts = (d.pkg.scripts as Record<string, string>) ?? {};
    const webpack = Object.values(scripts).some((s) => /\bnext\s+build\b[^&;|]*--webpack/.test(s));
    // Next looks for instrumentation beside app/ or pages/: in src/ when the app lives there.
    const base = existsSync(join(dir, 'src', 'app')) || existsSync(join(dir, 'src', 'pages')) ? 'src/' : '';
    const instrumentation = ['ts', 'js', 'mjs'].map((x) => `${base}instrumentation.${x}`).find((f) => existsSync(join(dir, f)));
    const startLine = "if (process.env.NEXT_RUNTIME === 'nodejs') (await import('spanforge/next')).register();";
    if (!instrumentation) {
      const file = `${base}instrumentation.${ts ? 'ts' : 'js'}`;
      missing.push(`no ${file}: Next.js starts the agent from its register() (spanforge/next, in the Node.js runtime only)`);
      edit(edits, dir, file, 'start the agent in the Node.js runtime', (t) => t, `// Next.js calls register() once per server process, before it serves anything.\nexport async function register() {\n  ${startLine}\n}\n`);
    } else {
      const text = readFileSync(join(dir, instrumentation), 'utf8');
      if (!text.includes('spanforge')) {
        missing.push(`${instrumentation} does not start the agent (register() from spanforge/next)`);
        const re = /(export\s+async\s+function\s+register\s*\([^)]*\)\s*(?::\s*[^{]+)?\{)/;
        if (!edit(edits, dir, instrumentation, 'start the agent in the Node.js runtime', (t) => (re.test(t) ? t.replace(re, `$1\n  ${startLine}`) : undefined))) {
          notes.push(`${instrumentation} has no \`export async function register()\`: add \`${startLine}\` to the function Next.js calls`);
        }
      }
    }
    const file = d.configs.next ?? `next.config.${ts ? 'ts' : 'mjs'}`;
    const text = d.configs.next ? readFileSync(join(dir, file), 'utf8') : '';
    if (text.includes('spanforge')) return;
    missing.push(`${file} does not keep spanforge external or instrument the server build (serverExternalPackages, ${webpack ? 'webpackPlugin()' : 'spanforge/loader in turbopack.rules'})`);
    const taken = ['serverExternalPackages', 'experimental', webpack ? 'webpack' : 'turbopack'].filter((k) => new RegExp(`\\b${k}\\s*[:(]`).test(text));
    if (taken.length) {
      notes.push(`${file} already sets ${taken.join(', ')}: merge by hand serverExternalPackages: ['spanforge'], experimental: { serverSourceMaps: true } and ${webpack ? "webpack(config, { isServer, nextRuntime }) { if (isServer && nextRuntime === 'nodejs') config.plugins.push(webpackPlugin()); return config; }" : "turbopack: { rules: { '*.{ts,tsx}': [{ condition: { all: ['node', { not: 'foreign' }] }, loaders: ['spanforge/loader'] }] } }"} (docs/frameworks.md#nextjs)`);
      return;
    }
    const glob = ts ? '*.{ts,tsx}' : '*.{js,jsx}';
    const props = [
      "  // spanforge: one agent (not bundled), server source maps for .ts frames, the Node.js server build instrumented.",
      "  serverExternalPackages: ['spanforge'],",
      '  experimental: { serverSourceMaps: true },',
      ...(webpack
        ? ['  webpack(config, { isServer, nextRuntime }) {', "    if (isServer && nextRuntime === 'nodejs') config.plugins.push(webpackPlugin());", '    return config;', '  },']
        : ['  turbopack: {', "    rules: { '" + glob + "': [{ condition: { all: ['node', { not: 'foreign' }] }, loaders: ['spanforge/loader'] }] },", '  },']),
    ].join('\n');
    const esm = /\.(mjs|mts|ts)$/.test(file) || (d.moduleSystem === 'esm' && !/\.cjs$/.test(file)) || /^\s*(import|export)\s/m.test(text);
    const importLine = webpack ? (esm ? "import { webpackPlugin } from 'spanforge/bundler';\n" : "const { webpackPlugin } = require('spanforge/bundler');\n") : '';
    const created = ts
      ? "import type { NextConfig } from 'next';\n\nconst nextConfig: NextConfig = {\n};\n\nexport default nextConfig;\n"
      : "/** @type {import('next').NextConfig} */\nconst nextConfig = {\n};\n\nexport default nextConfig;\n";
    const re = /((?:const\s+\w+\s*(?::\s*NextConfig\s*)?=|module\.exports\s*=|export\s+default)\s*\{)/;
    const ok = edit(
      edits,
      dir,
      file,
      `serverExternalPackages, serverSourceMaps and ${webpack ? 'webpackPlugin()' : 'spanforge/loader for Turbopack'}`,
      (t) => {
        if (!re.test(t)) return undefined;
        const withProps = t.replace(re, `$1\n${props}`);
        if (!importLine) return withProps;
        const lastImport = [...withProps.matchAll(/^(?:import\s[^\n]*|const\s[^\n]*=\s*require\([^\n]*\);?)\n/gm)].pop();
        return lastImport ? withProps.slice(0, lastImport.index! + lastImport[0].length) + importLine + withProps.slice(lastImport.index! + lastImport[0].length) : importLine + withProps;
      },
      d.configs.next ? undefined : created,
    );
    if (!ok) notes.push(`could not find the config object in ${file}: add serverExternalPackages: ['spanforge'], experimental: { serverSourceMaps: true } and ${webpack ? 'webpackPlugin()' : 'spanforge/loader in turbopack.rules'} by hand (docs/frameworks.md#nextjs)`);
  };

  switch (tool) {
    case 'next':
      wireNext();
      break;
    case 'nest':
      wireTsc(true);
      notes.push('Nest controllers are not in the rules catalogue yet: mark handlers with @Traced() (from spanforge) to get a transaction per call; fetch, http and pg calls inside are spans');
      break;
    case 'vite':
      wireBundler('vite', 'vitePlugin', 'plugins');
      break;
    case 'tsup':
      wireBundler('tsup', 'esbuildPlugin', 'esbuildPlugins');
      break;
    case 'esbuild': {
      const file = esbuildScript(dir, d.pkg);
      if (file) {
        if (!readFileSync(join(dir, file), 'utf8').includes('spanforge/bundler')) {
          missing.push(`${file} has no esbuildPlugin() from 'spanforge/bundler' in plugins`);
          const esm = d.moduleSystem === 'esm' || /\.mjs$/.test(file);
          const withPlugin = (t: string): string | undefined => {
            const viaList = bundlerConfigEdit(t, 'esbuildPlugin', 'plugins', esm);
            if (viaList) return viaList;
            if (!/build\(\s*\{/.test(t)) return undefined;
            const line = esm ? "import { esbuildPlugin } from 'spanforge/bundler';\n" : "const { esbuildPlugin } = require('spanforge/bundler');\n";
            return line + t.replace(/(build\(\s*\{)/, '$1 plugins: [esbuildPlugin()],');
          };
          if (!edit(edits, dir, file, 'esbuildPlugin() in plugins', withPlugin))
            notes.push(`add plugins: [esbuildPlugin()] (from 'spanforge/bundler') to the build() options in ${file}`);
        }
      } else {
        missing.push("esbuild runs from the command line, which takes no plugins: call build() from a script with plugins: [esbuildPlugin()] (import { esbuildPlugin } from 'spanforge/bundler')");
      }
      break;
    }
    case 'rollup':
      wireBundler('rollup', 'rollupPlugin', 'plugins');
      break;
    case 'webpack':
      wireBundler('webpack', 'webpackPlugin', 'plugins');
      break;
    case 'babel':
      wireBabel();
      break;
    case 'tsc':
      wireTsc(false);
      break;
    case 'tsx':
    case 'ts-node':
      wireRegister(tool);
      break;
    case 'node':
    case 'jest':
    case 'vitest':
      break;
  }
  // Dev runners and test runners next to the build: wired too.
  for (const t of d.tools.slice(1)) {
    if (t === 'tsx' || t === 'ts-node') wireRegister(t);
    if (t === 'vitest' && !d.tools.includes('vite')) {
      if (d.configs.vitest) wireBundler('vitest', 'vitePlugin', 'plugins');
      else notes.push("vitest: add plugins: [vitePlugin()] (from 'spanforge/bundler') to a vitest.config file");
    }
    if (t === 'jest') {
      if (tool !== 'babel') wireBabel();
      notes.push('jest: babel-jest applies the Babel config (with spanforge/babel)');
    }
  }
  if (tool === 'node') {
    notes.push('no build step found: run the app with `node --import spanforge/register <entry>` to instrument it as it loads');
  }

  // The start import, first in the entry file (not for Next.js, whose entry is not the app's).
  if (tool !== 'next') {
    if (!d.entry) {
      missing.push("no entry file found: add import 'spanforge/start' as the first line of the file that starts your app");
    } else {
      const text = readFileSync(join(dir, d.entry), 'utf8');
      if (!/spanforge\/start|from ['"]spanforge['"]|require\(['"]spanforge['"]\)/.test(text)) {
        missing.push(`${d.entry} does not start the agent (import 'spanforge/start' first)`);
        const esm = /\.m[jt]s$/.test(d.entry) || /\.ts$/.test(d.entry) || (d.moduleSystem === 'esm' && !/\.c[jt]s$/.test(d.entry)) || /^\s*import\s/m.test(text);
        edit(edits, dir, d.entry, 'start the agent first', (t) => {
          const shebang = /^#!.*\n/.exec(t)?.[0] ?? '';
          return `${shebang}${esm ? START_ESM : START_CJS}\n${t.slice(shebang.length)}`;
        });
      }
    }
  }
  if (addedPackages) next.push('npm install');
  if (d.tools.includes('nest')) next.push('npx ts-patch install -s');
  return { edits, notes, missing, next };
}

// ---- diff -----------------------------------------------------------------------------------

/** A unified diff of two texts (3 lines of context). */
export function unifiedDiff(file: string, a: string, b: string, isNew: boolean): string {
  const x = a === '' && isNew ? [] : a.split('\n');
  const y = b.split('\n');
  const n = x.length;
  const m = y.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const ops: { t: ' ' | '-' | '+'; s: string; i: number; j: number }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) ops.push({ t: ' ', s: x[i]!, i: i++, j: j++ });
    else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ t: '-', s: x[i]!, i: i++, j });
    else ops.push({ t: '+', s: y[j]!, i, j: j++ });
  }
  const out = [`--- ${isNew ? '/dev/null' : `a/${file}`}`, `+++ b/${file}`];
  for (let k = 0; k < ops.length; ) {
    if (ops[k]!.t === ' ') {
      k++;
      continue;
    }
    let start = Math.max(0, k - 3);
    let end = k;
    while (end < ops.length) {
      if (ops[end]!.t !== ' ') {
        end++;
        continue;
      }
      let run = end;
      while (run < ops.length && ops[run]!.t === ' ') run++;
      if (run - end > 6 || run === ops.length) {
        end = Math.min(end + 3, ops.length);
        break;
      }
      end = run;
    }
    const hunk = ops.slice(start, end);
    const oldLen = hunk.filter((o) => o.t !== '+').length;
    const newLen = hunk.filter((o) => o.t !== '-').length;
    out.push(`@@ -${oldLen ? hunk[0]!.i + 1 : hunk[0]!.i},${oldLen} +${newLen ? hunk[0]!.j + 1 : hunk[0]!.j},${newLen} @@`);
    for (const o of hunk) out.push(`${o.t}${o.s}`);
    k = end;
    start = end;
  }
  return out.join('\n') + '\n';
}

// ---- the command ----------------------------------------------------------------------------

export function describe(d: Detected): string {
  const ts = d.typescript ? `TypeScript ${d.typescript}${d.tsPatch ? ` + ts-patch ${d.tsPatch}` : ''}` : 'no TypeScript';
  return `project ${relative(process.cwd(), d.dir) || '.'}: ${d.tools.join(', ')}; ${ts}; ${d.moduleSystem === 'esm' ? 'ES modules' : 'CommonJS'}; ` +
    `${d.framework.length ? d.framework.join(', ') : 'no known framework'}; entry ${d.entry ?? '(not found)'}; Node ${d.node}`;
}

export async function init(argv: string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; stdin: NodeJS.ReadableStream & { isTTY?: boolean } } = process): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { yes: { type: 'boolean', short: 'y' }, check: { type: 'boolean' }, dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    io.stderr.write(`spanforge init: ${(err as Error).message.split('. To specify')[0]}\n\n${INIT_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(INIT_USAGE);
    return 0;
  }
  const dir = resolve(values.dir ?? '.');
  let d: Detected;
  try {
    d = detect(dir);
  } catch (err) {
    io.stderr.write(`spanforge init: ${(err as Error).message}\n`);
    return 1;
  }
  const p = plan(d);
  io.stdout.write(`${describe(d)}\n`);
  if (values.check) {
    for (const m of p.missing) io.stdout.write(`missing: ${m}\n`);
    for (const n of p.notes) io.stdout.write(`note: ${n}\n`);
    if (p.missing.length === 0) io.stdout.write('spanforge is wired into this project\n');
    else io.stdout.write(`${p.missing.length} thing${p.missing.length === 1 ? '' : 's'} missing; \`npx spanforge init\` shows the edits that fix ${p.missing.length === 1 ? 'it' : 'them'}\n`);
    return p.missing.length ? 1 : 0;
  }
  if (p.edits.length === 0) {
    for (const n of p.notes) io.stdout.write(`note: ${n}\n`);
    io.stdout.write(p.missing.length ? `nothing init can edit; still missing:\n${p.missing.map((m) => `  - ${m}\n`).join('')}` : 'spanforge is wired into this project: nothing to change\n');
    return p.missing.length ? 1 : 0;
  }
  for (const e of p.edits) io.stdout.write(`\n# ${e.file}: ${e.why}\n${unifiedDiff(e.file, e.before, e.after, !existsSync(join(dir, e.file)))}`);
  for (const n of p.notes) io.stdout.write(`note: ${n}\n`);
  let apply = values.yes === true;
  if (!apply) {
    if (!io.stdin.isTTY) {
      io.stdout.write('\nnot applied: run `npx spanforge init --yes` to apply these edits\n');
      return 1;
    }
    const rl = createInterface({ input: io.stdin, output: io.stdout });
    const answer = await rl.question(`\napply ${p.edits.length} edit${p.edits.length === 1 ? '' : 's'}? [y/N] `);
    rl.close();
    apply = /^y(es)?$/i.test(answer.trim());
    if (!apply) {
      io.stdout.write('nothing changed\n');
      return 1;
    }
  }
  for (const e of p.edits) writeFileSync(join(dir, e.file), e.after);
  io.stdout.write(`\napplied ${p.edits.length} edit${p.edits.length === 1 ? '' : 's'} (${p.edits.map((e) => e.file).join(', ')})\n`);
  if (p.next.length) io.stdout.write(`now run: ${p.next.join(' && ')}\n`);
  return 0;
}

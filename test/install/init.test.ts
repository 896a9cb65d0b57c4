// `npx spanforge init` on fresh projects of each kind, with spanforge installed from the packed tarball:
// it names what it detected, `--check` lists what is missing (exit 1), `init` shows the edits as a diff
// and applies nothing without --yes, `init --yes` applies them, and then `--check` passes. Three of the
// projects (tsc next to TypeScript 7, Vite, tsx) are then installed, built and run, and their trace
// must arrive at a test intake.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentEnv, appSource, assertTrace, bin, freshProject, packSpanforge, startIntake, type Intake, type Project } from './_project.js';

let tarball: string;
let intake: Intake;
before(async () => {
  tarball = packSpanforge();
  intake = await startIntake();
});
after(() => intake.close());

/** The app without its start() call: init adds `import 'spanforge/start'`. */
function bareApp(js = false): string {
  return appSource({ js }).replace(/^import \{ start \} from 'spanforge';\n/, '').replace(/\nstart\(\{[^\n]*\n/, '\n');
}

async function spanforge(p: Project, args: string[]): Promise<{ status: number | null; output: string }> {
  return p.run(process.execPath, [bin(p, 'spanforge'), ...args]);
}

interface Kind {
  name: string;
  type: 'module' | 'commonjs';
  pkg: Record<string, unknown>;
  /** Packages installed before init (besides spanforge); `full` kinds are built and run after init. */
  deps: string[];
  files: Record<string, string>;
  detected: RegExp;
  diff: RegExp[];
  full?: { build?: [string, string[]]; run: (p: Project) => [string, string[]] };
}

const KINDS: Kind[] = [
  {
    name: 'tsc-ts7',
    type: 'commonjs',
    pkg: { scripts: { build: 'tsc -p .', start: 'node dist/app.js' } },
    deps: ['-D', 'typescript', '@types/node@20'],
    files: {
      'tsconfig.json': '{\n  // what `tsc --init` users have\n  "compilerOptions": { "target": "es2022", "module": "nodenext", "rootDir": "src", "outDir": "dist", "types": ["node"] },\n  "include": ["src"]\n}\n',
      'src/app.ts': bareApp(),
    },
    detected: /: tsc; TypeScript 7\.\d+\.\d+; CommonJS; no known framework; entry src\/app\.ts; Node v/,
    diff: [/-\s+"typescript": "\^7/, /\+\s+"typescript": "\^6\.0\.3"/, /\+\s+"ts-patch": "(~3\.3\.0|\^4\.0\.1)"/, /\+\s+"transform": "spanforge\/transformer"/, /\+\s+"build": "tspc -p \."/, /\+import 'spanforge\/start';/],
    full: { build: ['npm', ['run', 'build']], run: () => [process.execPath, ['dist/app.js']] },
  },
  {
    name: 'vite',
    type: 'module',
    pkg: { scripts: { build: 'vite build' } },
    deps: ['-D', 'vite'],
    files: {
      'vite.config.ts': "import { defineConfig } from 'vite';\n\nexport default defineConfig({\n  plugins: [],\n  build: { ssr: 'src/app.ts', outDir: 'dist' },\n});\n",
      'src/app.ts': bareApp(),
    },
    detected: /: vite; [^;]*; ES modules; no known framework; entry src\/app\.ts/,
    diff: [/\+import \{ vitePlugin \} from 'spanforge\/bundler';/, /\+  plugins: \[vitePlugin\(\)\],/, /\+import 'spanforge\/start';/],
    full: { build: ['npm', ['run', 'build']], run: () => [process.execPath, ['dist/app.js']] },
  },
  {
    name: 'tsx',
    type: 'module',
    pkg: { scripts: { dev: 'tsx src/app.ts' } },
    deps: ['-D', 'tsx'],
    files: { 'src/app.ts': bareApp() },
    detected: /: tsx; no TypeScript; ES modules; no known framework; entry src\/app\.ts/,
    diff: [/\+\s+"dev": "tsx --import spanforge\/register src\/app\.ts"/, /\+import 'spanforge\/start';/],
    full: { run: () => ['npm', ['run', 'dev']] },
  },
  {
    name: 'tsup',
    type: 'module',
    pkg: { scripts: { build: 'tsup' }, devDependencies: { tsup: '^8.0.0' } },
    deps: [],
    files: { 'tsup.config.ts': "import { defineConfig } from 'tsup';\n\nexport default defineConfig({ entry: ['src/app.ts'], format: ['esm'] });\n", 'src/app.ts': bareApp() },
    detected: /: tsup; /,
    diff: [/\+import \{ esbuildPlugin \} from 'spanforge\/bundler';/, /\+export default defineConfig\(\{ esbuildPlugins: \[esbuildPlugin\(\)\], entry/],
  },
  {
    name: 'esbuild',
    type: 'module',
    pkg: { scripts: { build: 'node build.mjs' }, devDependencies: { esbuild: '^0.28.0' } },
    deps: [],
    files: {
      'build.mjs': "import { build } from 'esbuild';\n\nawait build({ entryPoints: ['src/app.ts'], bundle: true, platform: 'node', outdir: 'dist', packages: 'external' });\n",
      'src/app.ts': bareApp(),
    },
    detected: /: esbuild; /,
    diff: [/\+import \{ esbuildPlugin \} from 'spanforge\/bundler';/, /\+await build\(\{ plugins: \[esbuildPlugin\(\)\], entryPoints/],
  },
  {
    name: 'babel-jest',
    type: 'commonjs',
    pkg: { scripts: { build: 'babel src -d dist', test: 'jest' }, devDependencies: { '@babel/cli': '^7.0.0', jest: '^30.0.0' } },
    deps: [],
    files: { 'babel.config.json': '{\n  "presets": ["@babel/preset-env"]\n}\n', 'src/app.js': bareApp(true).replace(/^import http from 'node:http';/m, "const http = require('node:http');").replace('export const server', 'const server') },
    detected: /: babel, jest; no TypeScript; CommonJS/,
    diff: [/\+\s+"plugins": \[\n\+\s+"spanforge\/babel"/, /\+require\('spanforge\/start'\);/],
  },
  {
    name: 'webpack',
    type: 'commonjs',
    pkg: { scripts: { build: 'webpack' }, devDependencies: { webpack: '^5.0.0' } },
    deps: [],
    files: {
      'webpack.config.js': "module.exports = {\n  target: 'node',\n  entry: './src/app.js',\n  plugins: [],\n};\n",
      'src/app.js': "const http = require('node:http');\nhttp.createServer((req, res) => res.end()).listen(3000);\n",
    },
    detected: /: webpack; /,
    diff: [/\+const \{ webpackPlugin \} = require\('spanforge\/bundler'\);/, /\+  plugins: \[webpackPlugin\(\)\],/, /\+require\('spanforge\/start'\);/],
  },
  {
    // create-next-app's TypeScript template (App Router, Turbopack): init writes instrumentation.ts and
    // the same next.config entries test/install/next.test.ts builds and runs with next build + next start.
    name: 'next-turbopack',
    type: 'commonjs',
    pkg: { scripts: { dev: 'next dev', build: 'next build', start: 'next start' }, dependencies: { next: '^16', react: '^19', 'react-dom': '^19' }, devDependencies: { typescript: '^5', '@types/node': '^20' } },
    deps: [],
    files: {
      'next.config.ts': 'import type { NextConfig } from "next";\n\nconst nextConfig: NextConfig = {\n  /* config options here */\n};\n\nexport default nextConfig;\n',
      'tsconfig.json': '{ "compilerOptions": { "target": "ES2017", "module": "esnext", "moduleResolution": "bundler", "jsx": "react-jsx" } }\n',
      'app/api/users/[id]/route.ts': "export async function GET(_req: Request, { params }: { params: Promise<{ id: string }> }) {\n  return Response.json({ id: (await params).id });\n}\n",
    },
    detected: /: next; TypeScript 5\.\d+\.\d+; CommonJS; next; entry \(not found\)/,
    diff: [
      /--- \/dev\/null\n\+\+\+ b\/instrumentation\.ts\n[\s\S]*\+export async function register\(\) \{\n\+  if \(process\.env\.NEXT_RUNTIME === 'nodejs'\) \(await import\('spanforge\/next'\)\)\.register\(\);\n\+\}/,
      / const nextConfig: NextConfig = \{\n(\+[^\n]*\n)*\+  serverExternalPackages: \['spanforge'\],\n\+  experimental: \{ serverSourceMaps: true \},\n\+  turbopack: \{\n\+    rules: \{ '\*\.\{ts,tsx\}': \[\{ condition: \{ all: \['node', \{ not: 'foreign' \}\] \}, loaders: \['spanforge\/loader'\] \}\] \},\n\+  \},\n   \/\* config options here \*\//,
    ],
  },
  {
    // next build --webpack, the app under src/, an instrumentation.ts of the user's own: the start line
    // goes into its register(), webpackPlugin() into a webpack() hook for the Node.js server build.
    name: 'next-webpack',
    type: 'commonjs',
    pkg: { scripts: { build: 'next build --webpack', start: 'next start' }, dependencies: { next: '^16', react: '^19', 'react-dom': '^19' }, devDependencies: { typescript: '^5' } },
    deps: [],
    files: {
      'next.config.ts': 'import type { NextConfig } from "next";\n\nconst nextConfig: NextConfig = {\n  reactStrictMode: true,\n};\n\nexport default nextConfig;\n',
      'tsconfig.json': '{ "compilerOptions": { "target": "ES2017" } }\n',
      'src/app/page.tsx': 'export default function Page() {\n  return <h1>hello</h1>;\n}\n',
      'src/instrumentation.ts': "export async function register() {\n  console.log('server starting');\n}\n",
    },
    detected: /: next; TypeScript 5\.\d+\.\d+; CommonJS; next; /,
    diff: [
      /--- a\/src\/instrumentation\.ts\n\+\+\+ b\/src\/instrumentation\.ts\n@@[^\n]*\n export async function register\(\) \{\n\+  if \(process\.env\.NEXT_RUNTIME === 'nodejs'\) \(await import\('spanforge\/next'\)\)\.register\(\);\n   console\.log\('server starting'\);/,
      / import type \{ NextConfig \} from "next";\n\+import \{ webpackPlugin \} from 'spanforge\/bundler';\n/,
      /\+  webpack\(config, \{ isServer, nextRuntime \}\) \{\n\+    if \(isServer && nextRuntime === 'nodejs'\) config\.plugins\.push\(webpackPlugin\(\)\);\n\+    return config;\n\+  \},\n   reactStrictMode: true,/,
    ],
  },
];

// Side by side (installs wait on npm's cache and disk, not on the CPU): the file's time is about its slowest test.
describe('init', { concurrency: 3 }, () => {
  for (const kind of KINDS) {
    test(`init on a fresh ${kind.name} project: --check lists what is missing, the diff, --yes applies it, then --check passes${kind.full ? ', and the trace arrives' : ''}`, { timeout: 300_000 }, async (t) => {
      const p = freshProject(`init-${kind.name}`, kind.type);
      t.after(() => p.remove());
      const pkgPath = join(p.dir, 'package.json');
      p.write('package.json', JSON.stringify({ ...JSON.parse(readFileSync(pkgPath, 'utf8')), ...kind.pkg }, null, 2) + '\n');
      for (const [f, text] of Object.entries(kind.files)) p.write(f, text);
      await p.install([tarball]);
      if (kind.deps.length) await p.install(kind.deps);

      const check = await spanforge(p, ['init', '--check']);
      assert.equal(check.status, 1, check.output);
      assert.match(check.output, kind.detected);
      assert.match(check.output, /missing: /);

      // Without --yes and without a terminal: the diff, and nothing changed.
      const before = readFileSync(pkgPath, 'utf8');
      const dry = await spanforge(p, ['init']);
      assert.equal(dry.status, 1, dry.output);
      for (const re of kind.diff) assert.match(dry.output, re);
      assert.match(dry.output, /not applied: run `npx spanforge init --yes`/);
      assert.equal(readFileSync(pkgPath, 'utf8'), before);

      const yes = await spanforge(p, ['init', '--yes']);
      assert.equal(yes.status, 0, yes.output);
      assert.match(yes.output, /applied \d+ edits? \(/);
      // The packages init added (TypeScript 6, ts-patch) are installed before the check that they are there.
      if (kind.full) await p.install([]);
      const again = await spanforge(p, ['init', '--check']);
      assert.equal(again.status, 0, again.output);
      assert.match(again.output, /spanforge is wired into this project/);

      if (!kind.full) return;
      if (kind.full.build) {
        const b = await p.run(kind.full.build[0], kind.full.build[1]);
        assert.equal(b.status, 0, b.output);
        assert.match(b.output, /spanforge[ :(]/);
      }
      const service = `gs-init-${kind.name}`;
      const [cmd, args] = kind.full.run(p);
      const run = await p.run(cmd, args, { env: { ...agentEnv(intake, service), ELASTIC_APM_SERVICE_NAME: service } });
      assert.equal(run.status, 0, run.output);
      assert.match(run.output, /app said: hello pong/);
      await assertTrace(intake, service, run.output);
    });
  }
});

// Getting started, the build-tool paths, each as the README shows it, from the packed tarball into a
// fresh project with the tool from the npm registry: esbuild, tsup (esbuildPlugins), Vite (an SSR
// build of a Node app), Rollup, webpack and the Babel CLI. Each builds the same small app; its trace
// must arrive at a test intake.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { agentEnv, appSource, assertTrace, bin, freshProject, packSpanforge, startIntake, type Intake, type Project } from './_project.js';

let tarball: string;
let intake: Intake;
before(async () => {
  tarball = packSpanforge();
  intake = await startIntake();
});
after(() => intake.close());

interface Path {
  name: string;
  type: 'module' | 'commonjs';
  deps: string[];
  js?: boolean;
  files: Record<string, string>;
  build: (p: Project) => [string, string[]];
  out: string;
  /** What the build prints when spanforge instrumented the app (its summary line). */
  summary?: RegExp;
}

const PATHS: Path[] = [
  {
    name: 'esbuild',
    type: 'module',
    deps: ['esbuild'],
    files: {
      'build.mjs': `import { build } from 'esbuild';
import { esbuildPlugin } from 'spanforge/bundler';

await build({
  entryPoints: ['src/app.ts'], outdir: 'dist', bundle: true, platform: 'node', format: 'esm',
  packages: 'external', plugins: [esbuildPlugin()],
});
`,
    },
    build: () => [process.execPath, ['build.mjs']],
    out: 'dist/app.js',
    summary: /spanforge \(bundler\): 3 sites instrumented in 1 file/,
  },
  {
    name: 'tsup',
    type: 'module',
    deps: ['tsup', 'typescript'],
    files: {
      'tsup.config.ts': `import { defineConfig } from 'tsup';
import { esbuildPlugin } from 'spanforge/bundler';

export default defineConfig({ entry: ['src/app.ts'], format: ['esm'], esbuildPlugins: [esbuildPlugin()] });
`,
    },
    build: (p) => [bin(p, 'tsup'), []],
    out: 'dist/app.js',
    summary: /spanforge \(bundler\): 3 sites instrumented in 1 file/,
  },
  {
    name: 'vite',
    type: 'module',
    deps: ['vite'],
    files: {
      'vite.config.ts': `import { defineConfig } from 'vite';
import { vitePlugin } from 'spanforge/bundler';

export default defineConfig({ plugins: [vitePlugin()], build: { ssr: 'src/app.ts', outDir: 'dist' } });
`,
    },
    build: (p) => [bin(p, 'vite'), ['build']],
    out: 'dist/app.js',
    summary: /spanforge \(bundler\): 3 sites instrumented in 1 file/,
  },
  {
    name: 'rollup',
    type: 'module',
    deps: ['rollup'],
    js: true,
    files: {
      'rollup.config.mjs': `import { rollupPlugin } from 'spanforge/bundler';

export default {
  input: 'src/app.js',
  output: { file: 'dist/app.js', format: 'esm' },
  external: [/^node:/, /^spanforge(\\/|$)/],
  plugins: [rollupPlugin()],
};
`,
    },
    build: (p) => [bin(p, 'rollup'), ['-c']],
    out: 'dist/app.js',
    summary: /spanforge \(bundler\): 3 sites instrumented in 1 file/,
  },
  {
    name: 'webpack',
    type: 'module',
    deps: ['webpack', 'webpack-cli'],
    js: true,
    files: {
      'webpack.config.js': `import { webpackPlugin } from 'spanforge/bundler';

export default {
  mode: 'production', target: 'node', entry: './src/app.js',
  output: { path: new URL('dist', import.meta.url).pathname, filename: 'app.cjs' },
  externalsType: 'commonjs', externals: [/^spanforge(\\/|$)/],
  plugins: [webpackPlugin()],
};
`,
    },
    build: (p) => [bin(p, 'webpack'), []],
    out: 'dist/app.cjs',
    summary: /spanforge \(bundler\): 3 sites instrumented in 1 file/,
  },
  {
    name: 'babel',
    type: 'module',
    deps: ['@babel/core', '@babel/cli', '@babel/preset-typescript'],
    files: {
      'babel.config.json': JSON.stringify({ presets: ['@babel/preset-typescript'], plugins: ['spanforge/babel'] }, null, 2) + '\n',
    },
    build: (p) => [bin(p, 'babel'), ['src', '--out-dir', 'dist', '--extensions', '.ts']],
    out: 'dist/app.js',
    summary: /spanforge \(babel\): 3 sites instrumented in 1 file/,
  },
];

// Side by side (installs wait on npm's cache and disk, not on the CPU): the file's time is about its slowest test.
describe('build tools', { concurrency: 3 }, () => {
  for (const path of PATHS) {
    test(`${path.name}: npm install spanforge ${path.deps.join(' ')}, the README's config, build, run: the trace arrives`, { timeout: 300_000 }, async (t) => {
      const p = freshProject(path.name, path.type);
      t.after(() => p.remove());
      await p.install([tarball, ...path.deps]);
      p.write(path.js ? 'src/app.js' : 'src/app.ts', appSource({ js: path.js }));
      for (const [f, text] of Object.entries(path.files)) p.write(f, text);
      const [cmd, args] = path.build(p);
      const build = await p.run(cmd, args);
      assert.equal(build.status, 0, build.output);
      if (path.summary) assert.match(build.output, path.summary);
      const service = `gs-${path.name}`;
      const run = await p.run(process.execPath, [path.out], { env: agentEnv(intake, service) });
      assert.equal(run.status, 0, run.output);
      assert.match(run.output, /app said: hello pong/);
      await assertTrace(intake, service, run.output);
    });
  }
});

// Builds dist/cjs (everything) and dist/esm (the parts users import from ESM code).
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
rmSync(join(root, 'dist'), { recursive: true, force: true });
for (const project of ['tsconfig.json', 'tsconfig.esm.json']) {
  execFileSync(process.execPath, [tsc, '-p', join(root, project)], { cwd: root, stdio: 'inherit' });
}
mkdirSync(join(root, 'dist', 'esm'), { recursive: true });
writeFileSync(join(root, 'dist', 'esm', 'package.json'), '{ "type": "module" }\n');
writeFileSync(join(root, 'dist', 'cjs', 'package.json'), '{ "type": "commonjs" }\n');

// dist/edge: the runtime's entry points for Cloudflare's workerd (the `workerd` and `worker` export
// conditions wrangler and other worker bundlers resolve with), bundled from dist/esm with the fetch
// transport and no metrics in place of runtime/transport/index.js and runtime/metrics/index.js, and the
// fetch-based, timer-less central-config poller for runtime/central-config.js, so neither undici nor
// node:http nor process metrics are loaded there. One splitting build: the three
// entries share one copy of the agent and of the context store. node: builtins stay imports (workerd
// provides the ones left under nodejs_compat: async_hooks, diagnostics_channel, os, util, fs, path, ...).
{
  const { build } = await import('esbuild');
  const esm = join(root, 'dist', 'esm');
  const swap = {
    name: 'spanforge-edge',
    setup(b) {
      b.onResolve({ filter: /^\.\/(transport\/index|metrics\/index|transport\/otlp-transport|central-config)\.js$/ }, (a) => ({ path: join(a.resolveDir, a.path.replace(/\.js$/, '.edge.js')) }));
    },
  };
  await build({
    entryPoints: ['index', 'abi', 'start'].map((n) => join(esm, 'runtime', `${n}.js`)),
    outdir: join(root, 'dist', 'edge', 'runtime'),
    outbase: join(esm, 'runtime'),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    external: ['node:*'],
    plugins: [swap],
    logLevel: 'warning',
  });
  writeFileSync(join(root, 'dist', 'edge', 'package.json'), '{ "type": "module" }\n');
}

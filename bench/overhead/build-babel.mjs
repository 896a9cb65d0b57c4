// Builds the benchmark service with Babel: TypeScript stripped by @babel/preset-typescript,
// instrumented by the spanforge Babel plugin ("spanforge/babel"), CommonJS like the other variants.
// Output: bench/overhead/build/spanforge-babel/server.js. Run by run.mjs after `npm run build`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const requireHere = createRequire(path.join(here, 'build-babel.mjs'));
const babel = requireHere('@babel/core');

const source = path.join(here, 'app', 'server.ts');
const result = babel.transformFileSync(source, {
  babelrc: false,
  configFile: false,
  root: here,
  cwd: here,
  presets: [requireHere.resolve('@babel/preset-typescript')],
  plugins: [requireHere.resolve('spanforge/babel'), requireHere.resolve('@babel/plugin-transform-modules-commonjs')],
  sourceMaps: false,
});
if (!result?.code) throw new Error('build-babel: Babel produced no code for app/server.ts');
const outDir = path.join(here, 'build', 'spanforge-babel');
mkdirSync(outDir, { recursive: true });
writeFileSync(path.join(outDir, 'server.js'), result.code);

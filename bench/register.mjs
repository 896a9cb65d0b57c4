// Start-up cost of spanforge/register and the bundler step's cost with and without dependency rules
// (issue 14). Run after `npm run build`, with the ORM fixture installed (`npm ci --prefix test/deps/orms`):
//   node bench/register.mjs [rounds]
// 1. start-up: `node app` against `node --import spanforge/register app` and `node -r spanforge/register
//    app.cjs`, for a small app that loads knex + pg (the dependency rule rewrites pg's lib/client.js)
//    and exits; wall time of the whole process, rounds interleaved, median and range.
// 2. bundling: esbuild bundling the same app without spanforge, with the bundler step and
//    `dependencies: false`, and with the bundler step and its dependency rules; median and range.
// Figures only mean something on a quiet machine (nothing else running): say what the load was.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixture = join(root, 'test', 'deps', 'orms');
const rounds = Number(process.argv[2] ?? 7);
if (!existsSync(join(fixture, 'node_modules', 'knex'))) {
  console.error('install the fixture first: npm ci --prefix test/deps/orms --ignore-scripts');
  process.exit(1);
}
if (!existsSync(join(root, 'dist', 'cjs', 'register', 'index.js'))) {
  console.error('build first: npm run build');
  process.exit(1);
}
if (!existsSync(join(fixture, 'node_modules', 'spanforge'))) symlinkSync(root, join(fixture, 'node_modules', 'spanforge'));

const dir = mkdtempSync(join(fixture, 'bench-'));
const app = `import knexFactory from 'knex';
import http from 'node:http';
const knex = knexFactory({ client: 'pg', connection: { host: '127.0.0.1', database: 'test', user: 'postgres' } });
const server = http.createServer(async (req, res) => res.end(JSON.stringify(await knex.raw('select 1'))));
server.listen(0, () => { server.close(); knex.destroy(); });
`;
writeFileSync(join(dir, 'app.mjs'), app);
writeFileSync(join(dir, 'app.cjs'), app.replace("import knexFactory from 'knex';", "const knexFactory = require('knex');").replace("import http from 'node:http';", "const http = require('node:http');"));

const env = { ...process.env, SPANFORGE_OPTIONS: JSON.stringify({ summary: false }) };
function wall(args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd: dir, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
};
const fmt = (x) => `${x.median.toFixed(1)} ms (${x.min.toFixed(1)}–${x.max.toFixed(1)})`;

console.log(`Node ${process.version}, ${rounds} rounds, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
const startup = { plain: [], esm: [], plainCjs: [], cjs: [] };
wall(['app.mjs']); // warm the file cache
for (let i = 0; i < rounds; i++) {
  startup.plain.push(wall(['app.mjs']));
  startup.esm.push(wall(['--import', 'spanforge/register', 'app.mjs']));
  startup.plainCjs.push(wall(['app.cjs']));
  startup.cjs.push(wall(['-r', 'spanforge/register', 'app.cjs']));
}
const s = Object.fromEntries(Object.entries(startup).map(([k, v]) => [k, stats(v)]));
console.log('start-up (whole process, knex + pg app):');
console.log(`  node app.mjs                              ${fmt(s.plain)}`);
console.log(`  node --import spanforge/register app.mjs  ${fmt(s.esm)}  (+${(s.esm.median - s.plain.median).toFixed(1)} ms)`);
console.log(`  node app.cjs                              ${fmt(s.plainCjs)}`);
console.log(`  node -r spanforge/register app.cjs        ${fmt(s.cjs)}  (+${(s.cjs.median - s.plainCjs.median).toFixed(1)} ms)`);

const require = createRequire(import.meta.url);
const { build } = require(join(root, 'node_modules', 'esbuild'));
const { esbuildPlugin } = require(join(root, 'dist', 'cjs', 'bundler', 'index.js'));
const optional = {
  name: 'missing-optional',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (a) => {
      try {
        createRequire(join(a.resolveDir, 'x.js')).resolve(a.path);
        return undefined;
      } catch (e) {
        return e.code === 'MODULE_NOT_FOUND' ? { path: a.path, external: true } : undefined;
      }
    });
  },
};
async function bundle(plugins) {
  const t = process.hrtime.bigint();
  await build({ entryPoints: [join(dir, 'app.mjs')], outfile: join(dir, 'out.cjs'), bundle: true, platform: 'node', format: 'cjs', logLevel: 'silent', external: ['spanforge', 'spanforge/*'], plugins: [...plugins, optional] });
  return Number(process.hrtime.bigint() - t) / 1e6;
}
const variants = {
  'esbuild alone': () => [],
  'esbuild + spanforge, dependencies: false': () => [esbuildPlugin({ summary: false, dependencies: false })],
  'esbuild + spanforge (dependency rules on)': () => [esbuildPlugin({ summary: false })],
};
const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
await bundle([]); // warm-up
for (let i = 0; i < rounds; i++) for (const [k, v] of Object.entries(variants)) times[k].push(await bundle(v()));
console.log('bundling the same app (knex, pg and their dependencies):');
const base = stats(times['esbuild alone']).median;
for (const [k, v] of Object.entries(times)) {
  const x = stats(v);
  console.log(`  ${k.padEnd(42)} ${fmt(x)}  ${(x.median / base).toFixed(2)}×`);
}
rmSync(dir, { recursive: true, force: true });

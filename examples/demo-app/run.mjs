// Runs the demo: builds examples/demo-app with tspc + spanforge/transformer (when needed), creates its
// table in PostgreSQL, starts the shop and inventory services and drives traffic until stopped.
// Usage: node examples/demo-app/run.mjs --intake http://127.0.0.1:8200 [--rounds N] [--interval ms]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const require = createRequire(import.meta.url);

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) fail(`--${name} needs a value`);
  return v;
}
function fail(msg) {
  process.stderr.write(`demo-app: ${msg}\n`);
  process.exit(2);
}

const intake = arg('intake', process.env.ELASTIC_APM_SERVER_URL ?? 'http://127.0.0.1:8200');
try {
  new URL(intake);
} catch {
  fail(`--intake must be a URL such as http://127.0.0.1:8200, got ${JSON.stringify(intake)}`);
}
const rounds = Number(arg('rounds', 'Infinity'));
const interval = Number(arg('interval', '1000'));
if (!(rounds > 0) || !(interval >= 0)) fail('--rounds must be > 0 and --interval >= 0');
const table = process.env.DEMO_TABLE ?? 'spanforge_demo_products';

// 1. build (dist of spanforge itself must exist: `npm run build`)
if (!existsSync(join(root, 'dist', 'cjs', 'transformer', 'index.js'))) fail('spanforge is not built: run `npm run build` first');
mkdirSync(join(here, 'node_modules'), { recursive: true });
const link = join(here, 'node_modules', 'spanforge');
try {
  lstatSync(link);
} catch {
  symlinkSync(join('..', '..', '..'), link); // as `npm install spanforge` would provide it
}
const newest = (d) => Math.max(...readdirSync(d).map((n) => statSync(join(d, n)).mtimeMs));
const out = join(here, 'dist', 'shop.js');
if (!existsSync(out) || statSync(out).mtimeMs < Math.max(newest(join(here, 'src')), statSync(join(root, 'dist', 'cjs', 'transformer', 'index.js')).mtimeMs)) {
  const tspc = join(root, 'node_modules', 'ts-patch', 'bin', 'tspc.js');
  const r = spawnSync(process.execPath, [tspc, '-p', join(here, 'tsconfig.json')], { cwd: here, stdio: 'inherit' });
  if (r.status !== 0) fail('the tspc build failed');
}

// 2. data
const { Client } = require('pg');
const db = new Client({ host: '127.0.0.1', port: 5432, user: process.env.PGUSER ?? 'postgres', database: process.env.PGDATABASE ?? 'test', connectionTimeoutMillis: 3000 });
try {
  await db.connect();
} catch (err) {
  fail(`PostgreSQL on 127.0.0.1:5432 is unreachable (${err.message}); start it or set PGUSER/PGDATABASE`);
}
await db.query(`CREATE TABLE IF NOT EXISTS ${table} (id int PRIMARY KEY, name text NOT NULL, price numeric NOT NULL)`);
await db.query(`INSERT INTO ${table} VALUES (1, 'kettle', 25), (2, 'teapot', 30), (3, 'mug', 8), (4, 'tea', 12) ON CONFLICT (id) DO NOTHING`);
await db.end();

// 3. services
function startService(file, env) {
  const child = spawn(process.execPath, ['--enable-source-maps', join(here, 'dist', file)], {
    env: { ...process.env, ELASTIC_APM_SERVER_URL: intake, DEMO_TABLE: table, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (c) => {
      buf += c;
      const m = /listening (\d+)/.exec(buf);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
}
const inventory = await startService('inventory.js', {});
const shop = await startService('shop.js', { INVENTORY_URL: `http://127.0.0.1:${inventory.port}` });
const base = `http://127.0.0.1:${shop.port}`;
process.stdout.write(`demo-app: shop on ${base}, inventory on :${inventory.port}, sending to ${intake}\n`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  for (const s of [shop, inventory]) {
    if (s.child.exitCode === null) {
      s.child.kill('SIGTERM');
      await new Promise((r) => s.child.once('exit', r));
    }
  }
}
process.on('SIGINT', () => void stop().then(() => process.exit(0)));
process.on('SIGTERM', () => void stop().then(() => process.exit(0)));

// 4. traffic
const paths = [['GET', '/products'], ['GET', '/products/1'], ['GET', '/products/2'], ['GET', '/products/99'], ['POST', '/checkout/2'], ['POST', '/checkout/3']];
for (let round = 1; round <= rounds && !stopping; round++) {
  const statuses = [];
  for (const [method, path] of paths) {
    try {
      const r = await fetch(base + path, { method });
      await r.arrayBuffer();
      statuses.push(`${method} ${path} ${r.status}`);
    } catch (err) {
      statuses.push(`${method} ${path} ${err.message}`);
    }
  }
  process.stdout.write(`round ${round}: ${statuses.join(', ')}\n`);
  if (round < rounds) await new Promise((r) => setTimeout(r, interval));
}
await stop();

// Runs the demo: compiles examples/demo-api with tsc (source maps on), starts the inventory and orders
// services with the agent pointed at ELASTIC_APM_SERVER_URL (default http://127.0.0.1:8200, the local
// receiver), sends a few requests (one fails on purpose), then stops both services (SIGTERM flushes).
// Needs `npm run build` first: the demo imports "spanforge" like a user would.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
if (!existsSync(join(root, 'dist', 'cjs', 'runtime', 'index.js'))) {
  console.error('demo: dist/ is missing; run `npm run build` first');
  process.exit(1);
}
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', here], { stdio: 'inherit' });

const serverUrl = process.env.ELASTIC_APM_SERVER_URL ?? 'http://127.0.0.1:8200';
function startService(file, name, extra = {}) {
  const child = spawn(process.execPath, [join(here, 'dist', file)], {
    cwd: here,
    env: { ...process.env, ELASTIC_APM_SERVER_URL: serverUrl, ELASTIC_APM_SERVICE_NAME: name, PORT: '0', ...extra },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      const m = /listening on (\d+)/.exec(String(d));
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`${name} exited early with code ${code}`)));
  });
}

const inventory = await startService('backend.js', 'demo-inventory');
const orders = await startService('frontend.js', 'demo-orders', { BACKEND_URL: `http://127.0.0.1:${inventory.port}` });
console.log(`demo: orders on :${orders.port}, inventory on :${inventory.port}, shipping to ${serverUrl}`);
for (const id of [1, 2, -3]) {
  const res = await fetch(`http://127.0.0.1:${orders.port}/orders/${id}`);
  console.log(`GET /orders/${id} → ${res.status} ${await res.text()}`);
}
for (const s of [orders, inventory]) {
  s.child.removeAllListeners('exit');
  s.child.kill('SIGTERM');
}
await Promise.all([orders, inventory].map((s) => new Promise((r) => s.child.on('exit', r))));
rmSync(join(here, 'dist'), { recursive: true, force: true }); // build output only lives for the run
console.log('demo: done (both services flushed their events on SIGTERM)');

// The demo (examples/demo-api) against a test receiver: two services joined by traceparent, spans, and an error source-mapped to the .ts file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { assertValid, startIntake, type Intake } from './helpers.js';

const here = import.meta.dirname ?? __dirname;
const root = join(here, '..', '..');
const demoDir = join(root, 'examples', 'demo-api');
const children: ChildProcess[] = [];
let srv: Intake | undefined;
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await srv?.close();
});

/**
 * Lays the demo out as a user's build would be: src/*.ts, dist/*.js with .js.map files (tsc), and
 * node_modules/spanforge as one CommonJS file (the runtime bundled with esbuild), run with plain node.
 */
async function buildDemo(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sf-demo-'));
  for (const sub of ['src', 'dist', 'node_modules/spanforge']) mkdirSync(join(dir, sub), { recursive: true });
  const { build } = await import('esbuild');
  await build({ entryPoints: [join(root, 'runtime', 'index.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: join(dir, 'node_modules/spanforge/index.js'), logLevel: 'error' });
  writeFileSync(join(dir, 'node_modules/spanforge/package.json'), '{"name":"spanforge","main":"index.js"}');
  const config = JSON.parse(readFileSync(join(demoDir, 'tsconfig.json'), 'utf8'));
  for (const f of readdirSync(join(demoDir, 'src'))) {
    const src = readFileSync(join(demoDir, 'src', f), 'utf8');
    writeFileSync(join(dir, 'src', f), src);
    const out = ts.transpileModule(src, {
      fileName: f,
      compilerOptions: { ...ts.convertCompilerOptionsFromJson(config.compilerOptions, demoDir).options, module: ts.ModuleKind.CommonJS, sourceMap: true, outDir: undefined, rootDir: undefined },
    });
    const js = f.replace(/\.ts$/, '.js');
    writeFileSync(join(dir, 'dist', js), out.outputText.replace(/\/\/# sourceMappingURL=.*$/m, `//# sourceMappingURL=${js}.map`));
    const map = JSON.parse(out.sourceMapText!);
    map.sources = [`../src/${f}`];
    writeFileSync(join(dir, 'dist', `${js}.map`), JSON.stringify(map));
  }
  return dir;
}

function startService(dir: string, file: string, env: Record<string, string>): Promise<{ child: ChildProcess; port: number; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [join(dir, 'dist', file)], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '', ...env } });
  children.push(child);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      const m = /listening on (\d+)/.exec(String(d));
      if (m) resolve({ child, port: Number(m[1]), exited });
    });
    child.on('exit', (code) => reject(new Error(`${file} exited with ${code}: ${stderr}`)));
  });
}

test('demo: transaction with spans, a source-mapped .ts error, and a trace across two services', async () => {
  srv = await startIntake();
  const dir = await buildDemo();
  const backend = await startService(dir, 'backend.js', { ELASTIC_APM_SERVER_URL: srv.url, ELASTIC_APM_SERVICE_NAME: 'demo-inventory' });
  const frontend = await startService(dir, 'frontend.js', {
    ELASTIC_APM_SERVER_URL: srv.url,
    ELASTIC_APM_SERVICE_NAME: 'demo-orders',
    BACKEND_URL: `http://127.0.0.1:${backend.port}`,
  });
  const ok = await fetch(`http://127.0.0.1:${frontend.port}/orders/2`);
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { id: 2, items: 3, total: 28.5 });
  const bad = await fetch(`http://127.0.0.1:${frontend.port}/orders/-4`);
  assert.equal(bad.status, 500);
  assert.deepEqual(await bad.json(), { error: 'order id must be positive, got -4' });
  // SIGTERM: both flush and exit (the demo's own SIGTERM handler closes its server).
  frontend.child.kill('SIGTERM');
  backend.child.kill('SIGTERM');
  assert.equal(await frontend.exited, 0);
  assert.equal(await backend.exited, 0);

  for (const r of srv.requests) for (const l of r.lines) assertValid(l);
  const services = new Map<string, string>();
  for (const r of srv.requests) services.set(String(r.headers['user-agent']), r.lines[0]!.metadata.service.name);
  assert.deepEqual([...new Set(services.values())].sort(), ['demo-inventory', 'demo-orders']);

  const txs = srv.of('transaction');
  const spans = srv.of('span');
  const orders = txs.filter((t) => t.name === 'GET /orders/:id');
  const stock = txs.filter((t) => t.name === 'GET /stock/:id');
  assert.equal(orders.length, 2);
  assert.equal(stock.length, 2);
  const okTx = orders.find((t) => t.context.response.status_code === 200)!;
  const badTx = orders.find((t) => t.context.response.status_code === 500)!;
  assert.deepEqual([okTx.result, okTx.outcome, badTx.result, badTx.outcome], ['HTTP 2xx', 'success', 'HTTP 5xx', 'failure']);

  // The trace crosses services: inventory's transaction is a child of the orders service's exit span.
  for (const tx of orders) {
    const exit = spans.find((s) => s.transaction_id === tx.id && s.name === 'GET inventory')!;
    assert.ok(exit, 'exit span present');
    assert.equal(exit.context.service.target.type, 'http');
    const child = stock.find((t) => t.parent_id === exit.id)!;
    assert.ok(child, 'inventory transaction joined by traceparent');
    assert.equal(child.trace_id, tx.trace_id);
    assert.equal(child.sample_rate, 1, 'es=s:1 travelled in tracestate');
    const db = spans.find((s) => s.transaction_id === child.id)!;
    assert.deepEqual([db.name, db.type, db.subtype, db.parent_id], ['SELECT stock', 'db', 'sqlite', child.id]);
  }
  assert.ok(spans.some((s) => s.name === 'priceOrder' && s.transaction_id === okTx.id && s.outcome === 'success'));
  assert.ok(spans.some((s) => s.name === 'priceOrder' && s.transaction_id === badTx.id && s.outcome === 'failure'));

  const [err] = srv.of('error');
  assert.equal(srv.of('error').length, 1);
  assert.equal(err!.transaction_id, badTx.id);
  assert.equal(err!.trace_id, badTx.trace_id);
  assert.equal(err!.exception.type, 'RangeError');
  assert.equal(err!.exception.message, 'order id must be positive, got -4');
  const top = err!.exception.stacktrace[0];
  assert.equal(top.filename, 'src/orders.ts');
  assert.equal(top.lineno, 10);
  assert.equal(top.context_line, '    throw new RangeError(`order id must be positive, got ${id}`);');
  assert.equal(top.library_frame, false);
  assert.equal(err!.culprit, 'priceOrder (src/orders.ts)');
});

/// <reference lib="dom" />
// End to end: the demo app (examples/demo-api: orders → inventory, built like a user's build with
// the spanforge runtime) sends its traffic to `startReceiver`, then headless Chromium opens the UI
// and finds both services, the cross-service waterfall and the source-mapped error.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import ts from 'typescript';
import { eventually, getJson, withReceiver } from './helpers.js';

const ROOT = join(__dirname, '..', '..');
const DEMO = join(ROOT, 'examples', 'demo-api');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts', 'receiver');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`CI is set but Chromium is missing at ${CHROMIUM} (apt-get install chromium)`);

const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const f of cleanups.reverse()) await f();
});

/** The demo as a user's build lays it out: dist/*.js + maps from tsc, node_modules/spanforge bundled. */
async function buildDemo(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sf-e2e-demo-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const sub of ['src', 'dist', 'node_modules/spanforge']) mkdirSync(join(dir, sub), { recursive: true });
  const { build } = await import('esbuild');
  await build({ entryPoints: [join(ROOT, 'runtime', 'index.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: join(dir, 'node_modules/spanforge/index.js'), logLevel: 'error' });
  writeFileSync(join(dir, 'node_modules/spanforge/package.json'), '{"name":"spanforge","main":"index.js"}');
  const config = JSON.parse(readFileSync(join(DEMO, 'tsconfig.json'), 'utf8'));
  for (const f of readdirSync(join(DEMO, 'src'))) {
    const src = readFileSync(join(DEMO, 'src', f), 'utf8');
    writeFileSync(join(dir, 'src', f), src);
    const out = ts.transpileModule(src, {
      fileName: f,
      compilerOptions: { ...ts.convertCompilerOptionsFromJson(config.compilerOptions, DEMO).options, module: ts.ModuleKind.CommonJS, sourceMap: true, outDir: undefined, rootDir: undefined },
    });
    const js = f.replace(/\.ts$/, '.js');
    writeFileSync(join(dir, 'dist', js), out.outputText.replace(/\/\/# sourceMappingURL=.*$/m, `//# sourceMappingURL=${js}.map`));
    const map = JSON.parse(out.sourceMapText!);
    map.sources = [`../src/${f}`];
    writeFileSync(join(dir, 'dist', `${js}.map`), JSON.stringify(map));
  }
  return dir;
}

function startService(dir: string, file: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [join(dir, 'dist', file)], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '', ...env } });
  children.push(child);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise<{ child: ChildProcess; port: number; exited: Promise<number | null> }>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      const m = /listening on (\d+)/.exec(String(d));
      if (m) resolve({ child, port: Number(m[1]), exited });
    });
    child.on('exit', (code) => reject(new Error(`${file} exited with ${code}: ${stderr}`)));
  });
}

test('the demo app traced into the receiver, seen in the UI', { skip: haveChromium ? false : `Chromium not found at ${CHROMIUM}` }, async () => {
  const r = await withReceiver();
  cleanups.push(() => r.cleanup());
  const dir = await buildDemo();
  const env = { ELASTIC_APM_SERVER_URL: r.url, ELASTIC_APM_METRICS_INTERVAL: '0s' };
  const inventory = await startService(dir, 'backend.js', { ...env, ELASTIC_APM_SERVICE_NAME: 'demo-inventory' });
  const orders = await startService(dir, 'frontend.js', { ...env, ELASTIC_APM_SERVICE_NAME: 'demo-orders', BACKEND_URL: `http://127.0.0.1:${inventory.port}` });
  assert.equal((await fetch(`http://127.0.0.1:${orders.port}/orders/2`)).status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${orders.port}/orders/-4`)).status, 500);
  orders.child.kill('SIGTERM');
  inventory.child.kill('SIGTERM');
  assert.equal(await orders.exited, 0);
  assert.equal(await inventory.exited, 0);
  await eventually(async () => (await getJson(`${r.url}/api/stats`)).transactions === 4);

  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  cleanups.push(() => browser.close());
  mkdirSync(ARTIFACTS, { recursive: true });
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  const open = async (hash: string, shot: string) => {
    await page.goto(`${r.url}/ui/${hash}`);
    await page.waitForSelector('main[data-rendered]');
    await page.screenshot({ path: join(ARTIFACTS, `${shot}.png`), fullPage: true });
  };

  await open('#/services', 'demo-1-services');
  const names = await page.locator('#services-table tbody tr td:first-child').allInnerTexts();
  assert.deepEqual(names, ['demo-inventory', 'demo-orders']);

  await open('#/service/demo-orders', 'demo-2-orders');
  const row = (await page.locator('#transactions-table tbody tr').allInnerTexts())[0]!;
  assert.match(row, /^GET \/orders\/:id\trequest\t2\t/);
  assert.match(row, /\t50\.0 %\t/); // one of the two requests failed

  await page.goto(`${r.url}/ui/#/service/demo-orders/tx/${encodeURIComponent('GET /orders/:id')}`);
  await page.waitForSelector('#samples-table');
  await page.locator('#samples-table tbody tr', { hasText: 'HTTP 5xx' }).locator('a').click();
  await page.waitForSelector('#waterfall');
  await page.waitForFunction(() => document.querySelectorAll('#waterfall .wf-row[data-id]').length >= 4);
  await page.screenshot({ path: join(ARTIFACTS, 'demo-3-trace.png'), fullPage: true });
  const waterfall = (await page.locator('#waterfall').allInnerTexts()).join('\n');
  for (const s of ['GET /orders/:id', 'GET inventory', 'GET /stock/:id', 'SELECT stock', 'priceOrder', 'demo-orders\ntransaction · request', 'demo-inventory\ntransaction · request', '⚠ RangeError']) {
    assert.ok(waterfall.includes(s), `waterfall shows ${s}\n${waterfall}`);
  }
  assert.deepEqual(await page.locator('.legend [data-service]').evaluateAll((els) => els.map((e) => e.getAttribute('data-service'))), ['demo-orders', 'demo-inventory']);

  await page.locator('#trace-errors a', { hasText: 'RangeError' }).first().click();
  await page.waitForSelector('#error-count');
  await page.waitForFunction(() => document.querySelector('ol.stack') !== null);
  await page.screenshot({ path: join(ARTIFACTS, 'demo-4-error.png'), fullPage: true });
  assert.equal(await page.locator('#error-message').innerText(), 'order id must be positive, got -4');
  assert.equal(await page.locator('ol.stack > li .frame').first().innerText(), 'priceOrder at src/orders.ts:10:11');
  assert.equal(await page.locator('ol.stack > li').first().getAttribute('class'), 'app');
  assert.equal(
    await page.locator('pre.source div.cur').first().evaluate((d) => d.lastChild!.textContent),
    '    throw new RangeError(`order id must be positive, got ${id}`);',
  );
});

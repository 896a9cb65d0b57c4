// Two copies of the runtime in one process (as a CJS require and an ESM import would load) share one agent and one context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { resetAgentForTests } from '../../runtime/agent.js';
import { CapturingTransport } from './helpers.js';

const root = join(import.meta.dirname ?? __dirname, '..', '..');

test('a CJS copy and an ESM copy share the agent, the context and the no-op objects', async () => {
  await resetAgentForTests();
  const { build } = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'sf-dual-'));
  const entry = `export * from './runtime/index.ts'; export { getAgent } from './runtime/agent.ts';`;
  await build({ stdin: { contents: entry, resolveDir: root, loader: 'ts' }, bundle: true, platform: 'node', format: 'cjs', outfile: join(dir, 'a.cjs'), logLevel: 'error' });
  await build({ stdin: { contents: entry, resolveDir: root, loader: 'ts' }, bundle: true, platform: 'node', format: 'esm', outfile: join(dir, 'b.mjs'), logLevel: 'error', banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } });
  const a = createRequire(import.meta.url)(join(dir, 'a.cjs'));
  const b = await import(pathToFileURL(join(dir, 'b.mjs')).href);
  assert.notEqual(a.startSpan, b.startSpan, 'really two copies');
  const transport = new CapturingTransport();
  a.getAgent().start({ serviceName: 'dual', metricsInterval: 0 }, { transport, noProcessHandlers: true, env: {} });
  assert.equal(b.isStarted(), true);
  assert.equal(b.getAgent(), a.getAgent());
  const { storage } = await import('../../runtime/context.js');
  await storage.run(undefined as never, async () => {
    const tx = a.startTransaction('dual-tx');
    assert.equal(b.currentTransaction(), tx);
    const s = b.startSpan('from-esm');
    const inner = await b.traced(async () => a.currentSpan()?.name, 'esm-traced')();
    assert.equal(inner, 'esm-traced');
    s.end();
    tx.end();
  });
  assert.deepEqual(transport.of('span').map((s) => [s.name, s.parent_id === transport.of('transaction')[0]!.id]), [['esm-traced', true], ['from-esm', true]]);
  await a.getAgent().stop(100);
  (globalThis as Record<symbol, unknown>)[Symbol.for('spanforge.runtime.v1')] = undefined;
});

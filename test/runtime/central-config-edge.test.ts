// Central configuration in the edge build (runtime/central-config.edge.ts, swapped in for
// runtime/central-config.js by scripts/build.mjs): no I/O at start, a fetch poll from flush() when the last
// max-age has passed, If-None-Match with the ETag (the receiver then records the settings as applied). And
// the built dist/edge bundle: no undici and no node:http client in it, and, run as a whole in a child Node
// process against the local receiver, a value set in `spanforge serve` reaches the agent through the flush
// after the first request and changes the events of the next one.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { startReceiver, type Receiver } from '../../receiver/index.js';
import { CentralConfigPoller } from '../../runtime/central-config.edge.js';
import { createLogger } from '../../runtime/log.js';
import { sleep } from './helpers.js';

const root = join(__dirname, '..', '..');

async function receiver(t: { after: (fn: () => unknown) => void }): Promise<Receiver> {
  const dir = mkdtempSync(join(tmpdir(), 'volume-edge-'));
  const r = await startReceiver({ port: 0, dataDir: dir, agentConfigMaxAgeS: 1, flushIntervalMs: 10 });
  t.after(async () => {
    await r.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return r;
}

async function setConfig(r: Receiver, service: string, environment: string, settings: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${r.url}/api/agent-config`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ service, environment, settings }) });
  assert.equal(res.status, 200, await res.text());
}

async function entry(r: Receiver): Promise<{ applied: number | null; etag: string }> {
  const j = (await (await fetch(`${r.url}/api/agent-config`)).json()) as { entries: Array<{ applied: number | null; etag: string }> };
  return j.entries[0]!;
}

test('edge poller: nothing at start, a fetch poll from flush when due, then If-None-Match → applied', { timeout: 30_000 }, async (t) => {
  const r = await receiver(t);
  await setConfig(r, 'edge-svc', 'prod', { transaction_max_spans: '7' });
  const applied: Record<string, unknown>[] = [];
  const poller = new CentralConfigPoller({
    serverUrl: r.url,
    serviceName: 'edge-svc',
    environment: 'prod',
    userAgent: 'test',
    verifyServerCert: true,
    logger: createLogger('off'),
    apply: (s) => applied.push(s),
  });
  poller.start();
  await sleep(100);
  assert.equal(poller.polls, 0, 'no I/O at start (a worker may not fetch at global scope)');
  const first = poller.onFlush();
  assert.ok(first, 'the first flush polls');
  await first;
  assert.deepEqual(applied, [{ transaction_max_spans: '7' }]);
  assert.equal(poller.lastIntervalS, 5, 'max-age=1 raised to the 5 s minimum');
  assert.equal(poller.onFlush(), undefined, 'not due again before max-age');
  assert.equal((await entry(r)).applied, null);
  // Time passes (max-age over): the next flush polls with the ETag; 304, nothing re-applied, the entry is applied.
  (poller as unknown as { dueAt: number }).dueAt = 0;
  await poller.onFlush();
  assert.equal(poller.polls, 2);
  assert.equal(applied.length, 1);
  assert.ok((await entry(r)).applied! > 0);
  await poller.stop();
  assert.equal(poller.onFlush(), undefined, 'stopped: no more polls');
});

test('dist/edge: no undici or node:http in the bundle, the edge poller in it', { timeout: 600_000 }, async (t) => {
  const edge = join(root, 'dist', 'edge', 'runtime');
  // npm test builds first; a run of this file alone needs `npm run build` (not started here: two builds at once
  // in one checkout remove each other's output).
  assert.ok(existsSync(join(edge, 'index.js')), 'dist/edge is not built: npm run build');
  const code = readdirSync(edge)
    .filter((f) => f.endsWith('.js'))
    .map((f) => readFileSync(join(edge, f), 'utf8'))
    .join('\n');
  assert.doesNotMatch(code, /node_modules\/undici\/|require\("undici"\)|from "undici"|import\("undici"\)/);
  assert.doesNotMatch(code, /from "node:(http|https|net|tls|zlib|stream)"/);
  assert.match(code, /\/config\/v1\/agents/, 'the edge poller is in the bundle');
});

// The whole dist/edge agent run under Node: its flush() polls, and the central value changes the next request.
// (It found that the edge build's OtlpTransport stand-in was FetchTransport itself, so `instanceof OtlpTransport`
// held for the fetch transport and no poller was ever made there.)
test('dist/edge run whole: a central value set while it runs changes the next request', { timeout: 600_000 }, async (t) => {
  const edge = join(root, 'dist', 'edge', 'runtime');
  assert.ok(existsSync(join(edge, 'index.js')), 'dist/edge is not built: npm run build');
  const r = await receiver(t);
  await setConfig(r, 'edge-app', 'edge', { transaction_max_spans: '1' });
  const dir = mkdtempSync(join(tmpdir(), 'volume-edge-app-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'app.mjs');
  writeFileSync(
    script,
    `import * as apm from ${JSON.stringify(pathToFileURL(join(edge, 'index.js')).href)};
apm.start({ serviceName: 'edge-app', environment: 'edge', metricsInterval: 0, logLevel: 'info' });
function request(name) {
  const tx = apm.startTransaction(name, 'request');
  for (let i = 0; i < 3; i++) apm.startSpan('step ' + i, 'app').end();
  tx.end();
  return tx.traceId;
}
const ids = [request('first')];
await apm.flush(); // sends the first request's events, and polls (due: never polled)
ids.push(request('second'));
await apm.flush(); // sends; not due again (max-age)
console.log(JSON.stringify(ids));
`,
  );
  // Asynchronously: the receiver answers from this process.
  const run = await promisify(execFile)(process.execPath, [script], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ELASTIC_APM_SERVER_URL: r.url, ELASTIC_APM_CENTRAL_CONFIG: '' } });
  assert.match(run.stdout + run.stderr, /spanforge info: central config applied: transaction_max_spans=1/, run.stdout + run.stderr);
  const [firstId, secondId] = JSON.parse(run.stdout.trim().split('\n').pop()!) as string[];
  const trace = async (id: string) => {
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${r.url}/api/traces/${id}`);
      if (res.status === 200) {
        const j = (await res.json()) as { transactions: Array<{ event: Record<string, any> }>; spans: unknown[] };
        if (j.transactions.length) return { tx: j.transactions[0]!.event, spans: j.spans.length };
      }
      await sleep(50);
    }
    throw new Error(`trace ${id} not stored`);
  };
  const first = await trace(firstId!);
  const second = await trace(secondId!);
  assert.deepEqual([first.spans, first.tx.span_count], [3, { started: 3, dropped: 0 }], 'the first request ran with the local configuration');
  assert.deepEqual([second.spans, second.tx.span_count], [1, { started: 1, dropped: 2 }], 'the next one with the central value');
  assert.equal((await entry(r)).applied, null, 'one poll only (the second flush was not due), so not yet reported as applied');
});

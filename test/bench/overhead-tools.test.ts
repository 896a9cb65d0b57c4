// Tests for the overhead benchmark's own tools: the discarding sinks and stub (their counts are what
// shows each agent shipped its data) and the CPU-profile summary (what "where the time goes" rests on).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error -- a plain .mjs module without type declarations
import { summariseProfile } from '../../bench/overhead/profile.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const servicesScript = path.join(here, '..', '..', 'bench', 'overhead', 'services.mjs');

async function startServices(): Promise<{ child: ChildProcess; sink: string; stub: string }> {
  const child = spawn(process.execPath, [servicesScript, '--exit-with-stdin'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ports = await new Promise<{ sinkPort: number; stubPort: number }>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c) => {
      buf += c;
      if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0]!));
    });
    child.once('exit', (code) => reject(new Error(`services.mjs exited (${code})`)));
  });
  return { child, sink: `http://127.0.0.1:${ports.sinkPort}`, stub: `http://127.0.0.1:${ports.stubPort}` };
}

test('the intake sink counts events of gzipped NDJSON (metadata line excluded) and answers 202', async (t) => {
  const { child, sink } = await startServices();
  t.after(() => child.kill('SIGKILL'));
  const lines = [{ metadata: { service: { name: 's' } } }, { transaction: { id: 'a' } }, { span: { id: 'b' } }, { span: { id: 'c' } }];
  const body = gzipSync(lines.map((l) => JSON.stringify(l) + '\n').join(''));
  const res = await fetch(`${sink}/intake/v2/events`, { method: 'POST', headers: { 'content-encoding': 'gzip', 'content-type': 'application/x-ndjson' }, body });
  assert.equal(res.status, 202);
  const stats = await (await fetch(`${sink}/__stats`)).json();
  assert.equal(stats.intakeRequests, 1);
  assert.equal(stats.intakeEvents, 3);
  assert.equal(stats.intakeBytes, lines.map((l) => JSON.stringify(l) + '\n').join('').length);
});

test('the OTLP sink counts spans (not parentSpanId) and answers 200 {}; reset clears the counters', async (t) => {
  const { child, sink } = await startServices();
  t.after(() => child.kill('SIGKILL'));
  const payload = { resourceSpans: [{ scopeSpans: [{ spans: [{ spanId: 'a', parentSpanId: 'x' }, { spanId: 'b' }] }] }] };
  const res = await fetch(`${sink}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), '{}');
  const stats = await (await fetch(`${sink}/__stats?reset`)).json();
  assert.equal(stats.otlpRequests, 1);
  assert.equal(stats.otlpSpans, 2);
  const after = await (await fetch(`${sink}/__stats`)).json();
  assert.equal(after.otlpSpans, 0);
  assert.equal(after.otlpRequests, 0);
});

test('the sink answers APM Server info and central config; the stub answers the profile', async (t) => {
  const { child, sink, stub } = await startServices();
  t.after(() => child.kill('SIGKILL'));
  const info = await (await fetch(`${sink}/`)).json();
  assert.equal(info.version, '8.15.0');
  const config = await fetch(`${sink}/config/v1/agents?service.name=x`);
  assert.equal(config.status, 200);
  assert.equal(config.headers.get('cache-control'), 'max-age=300');
  assert.deepEqual(await config.json(), {});
  assert.deepEqual(await (await fetch(`${stub}/profile/4`)).json(), { id: 4, plan: 'pro' });
  assert.deepEqual(await (await fetch(`${stub}/profile/7`)).json(), { id: 7, plan: 'free' });
});

test('the services process exits when the harness holding its stdin goes away', async () => {
  const { child } = await startServices();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdin!.end();
  assert.equal(await exited, 0);
});

test('summariseProfile attributes self time to functions and packages, idle apart', () => {
  const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0, scriptId: '0' });
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('(root)', '') },
      { id: 2, callFrame: frame('(idle)', '') },
      { id: 3, callFrame: frame('encodeTurn', 'file:///repo/dist/cjs/runtime/transport/http-transport.js', 300) },
      { id: 4, callFrame: frame('handle', 'file:///repo/node_modules/router/index.js', 149) },
      { id: 5, callFrame: frame('writeHead', 'node:_http_server', 340) },
      { id: 6, callFrame: frame('(garbage collector)', '') },
    ],
    samples: [2, 3, 3, 4, 5, 6, 3],
    timeDeltas: [5000, 1000, 1000, 2000, 500, 500, 1000],
  };
  const s = summariseProfile(profile, { top: 10 });
  assert.equal(s.busyMs, 6);
  assert.equal(s.idleMs, 5);
  assert.deepEqual(s.topFunctions[0], { name: 'encodeTurn dist/cjs/runtime/transport/http-transport.js:301', selfMs: 3, pct: 50 });
  assert.deepEqual(
    s.byArea.map((a: { name: string; pct: number }) => [a.name, a.pct]),
    [
      ['spanforge', 50],
      ['router', 33.3],
      ['node internals', 8.3],
      ['(garbage collector)', 8.3],
    ],
  );
});

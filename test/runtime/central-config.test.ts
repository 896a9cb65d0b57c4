// Central configuration, live: an agent polling the local receiver's /config/v1/agents (ETag, max-age clamped to
// 5 s) while it records; values set through `spanforge serve`'s API change the events that follow, unknown and
// invalid values are named in the log, a removed key goes back to the local value. Plus the receiver's matching
// precedence, ETag / 304, the persisted settings, the max-age clamp, and central_config=false.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startReceiver, type Receiver } from '../../receiver/index.js';
import { getAgent, resetAgentForTests, type Agent } from '../../runtime/agent.js';
import { storage } from '../../runtime/context.js';
import { intervalFromCacheControl } from '../../runtime/central-config.js';
import { sleep } from './helpers.js';

async function receiver(t: { after: (fn: () => unknown) => void }, maxAge = 1): Promise<Receiver> {
  const dir = mkdtempSync(join(tmpdir(), 'volume-central-'));
  const r = await startReceiver({ port: 0, dataDir: dir, agentConfigMaxAgeS: maxAge, flushIntervalMs: 10 });
  t.after(async () => {
    await r.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return r;
}

async function setConfig(r: Receiver, service: string, environment: string, settings: Record<string, unknown>): Promise<Response> {
  return fetch(`${r.url}/api/agent-config`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ service, environment, settings }) });
}

async function waitFor(what: string, pred: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** One transaction with three identical fast queries (compression off in the local config, so three spans). */
function oneRequest(agent: Agent): string {
  return storage.run(undefined as never, () => {
    const tx = agent.startTransaction('GET /orders', 'request');
    for (let i = 0; i < 3; i++) {
      const s = agent.startSpan('SELECT FROM orders', 'db', { subtype: 'postgresql', action: 'query', exitSpan: true });
      s.setDbContext({ instance: 'test', statement: 'SELECT * FROM orders' });
      s.end();
    }
    tx.end();
    return tx.traceId;
  });
}

async function storedTrace(r: Receiver, traceId: string): Promise<{ tx: Record<string, any>; spans: Record<string, any>[] }> {
  let out: { transactions: Array<{ event: Record<string, any> }>; spans: Array<{ event: Record<string, any> }> } | undefined;
  await waitFor(`trace ${traceId} in the receiver`, async () => {
    const res = await fetch(`${r.url}/api/traces/${traceId}`);
    if (res.status !== 200) return false;
    out = (await res.json()) as typeof out;
    return (out?.transactions.length ?? 0) > 0;
  });
  return { tx: out!.transactions[0]!.event, spans: out!.spans.map((s) => s.event) };
}

test('central config live: a value set in spanforge serve changes the next events; unknown/invalid named; removal reverts', { timeout: 60_000 }, async (t) => {
  const r = await receiver(t, 1);
  const lines: string[] = [];
  await resetAgentForTests();
  t.after(() => resetAgentForTests());
  const agent = getAgent().start(
    { serviceName: 'volume-central', environment: 'staging', metricsInterval: 0, serverUrl: r.url, spanCompressionEnabled: false, logLevel: 'debug' },
    { noProcessHandlers: true, env: {}, logWrite: (l) => lines.push(l) },
  );
  const poller = agent.centralConfigPoller!;
  assert.ok(poller, 'central config is on by default');
  // The first poll: nothing configured ({} with etag "-"), max-age=1 raised to the 5 s minimum.
  await waitFor('the first poll', () => poller.lastIntervalS === 5);

  // Before: the local configuration (500 spans allowed): three spans.
  let trace = await storedTrace(r, oneRequest(agent));
  assert.equal(trace.spans.length, 3);
  assert.deepEqual(trace.tx.span_count, { started: 3, dropped: 0 });

  // The service's own entry wins over the catch-all; the catch-all's value would be 2.
  assert.equal((await setConfig(r, '', '', { transaction_max_spans: '2' })).status, 200);
  const put = await setConfig(r, 'volume-central', 'staging', { transaction_max_spans: '1', log_level: 'debug', no_such_option: 'x', capture_body: 'sometimes' });
  assert.equal(put.status, 200);
  await waitFor('the change to be applied', () => agent.config.transactionMaxSpans === 1);
  assert.ok(lines.some((l) => l === 'spanforge info: central config applied: transaction_max_spans=1, log_level=debug\n'), lines.join(''));
  assert.ok(lines.includes('spanforge warning: central config failure: unsupported config names: no_such_option\n'), lines.join(''));
  assert.ok(lines.includes('spanforge warning: central config: invalid values ignored: capture_body="sometimes" (expected one of off, all, errors, transactions)\n'), lines.join(''));
  assert.equal(agent.config.captureBody, 'off');

  // After: one span sent, two dropped into dropped_spans_stats.
  trace = await storedTrace(r, oneRequest(agent));
  await agent.flush();
  assert.equal(trace.spans.length, 1);
  assert.deepEqual(trace.tx.span_count, { started: 1, dropped: 2 });
  assert.equal(trace.tx.dropped_spans_stats[0].duration.count, 2);

  // Removing the key: back to the local value at the next poll.
  assert.equal((await setConfig(r, 'volume-central', 'staging', { log_level: 'debug' })).status, 200);
  await waitFor('the revert', () => agent.config.transactionMaxSpans === 500);
  assert.ok(lines.includes('spanforge info: central config removed, back to the local value: transaction_max_spans=500\n'), lines.join(''));
  trace = await storedTrace(r, oneRequest(agent));
  assert.equal(trace.spans.length, 3);
  await agent.flush();
});

test('receiver: /config/v1/agents matching precedence, ETag and 304, persisted entries, API errors', { timeout: 30_000 }, async (t) => {
  const r = await receiver(t, 30);
  const get = (q: string, etag?: string) => fetch(`${r.url}/config/v1/agents?${q}`, { headers: etag ? { 'if-none-match': etag } : {} });
  let res = await get('service.name=a&service.environment=prod');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('etag'), '"-"');
  assert.equal(res.headers.get('cache-control'), 'max-age=30, must-revalidate');
  assert.deepEqual(await res.json(), {});
  assert.equal((await setConfig(r, '', '', { transaction_sample_rate: 0.5 })).status, 200);
  assert.equal((await setConfig(r, '', 'prod', { transaction_sample_rate: '0.4' })).status, 200);
  assert.equal((await setConfig(r, 'a', '', { transaction_sample_rate: '0.3' })).status, 200);
  assert.equal((await setConfig(r, 'a', 'prod', { transaction_sample_rate: '0.2', recording: true })).status, 200);
  const rate = async (q: string) => ((await (await get(q)).json()) as Record<string, string>).transaction_sample_rate;
  assert.equal(await rate('service.name=a&service.environment=prod'), '0.2');
  assert.equal(await rate('service.name=a&service.environment=dev'), '0.3');
  assert.equal(await rate('service.name=b&service.environment=prod'), '0.4');
  assert.equal(await rate('service.name=b&service.environment=dev'), '0.5');
  res = await get('service.name=a&service.environment=prod');
  const etag = res.headers.get('etag')!;
  assert.deepEqual(await res.json(), { transaction_sample_rate: '0.2', recording: 'true' });
  assert.match(etag, /^"[0-9a-f]{16}"$/);
  res = await get('service.name=a&service.environment=prod', etag);
  assert.equal(res.status, 304);
  assert.equal(res.headers.get('etag'), etag);
  // Listed by the API (what the UI form shows), and removed by DELETE.
  const list = (await (await fetch(`${r.url}/api/agent-config`)).json()) as { keys: string[]; entries: Array<{ service: string; environment: string }> };
  assert.ok(list.keys.includes('transaction_max_spans'));
  assert.deepEqual(list.entries.map((e) => [e.service, e.environment]), [['', ''], ['', 'prod'], ['a', ''], ['a', 'prod']]);
  assert.equal((await fetch(`${r.url}/api/agent-config?service=a&environment=prod`, { method: 'DELETE' })).status, 200);
  assert.equal(await rate('service.name=a&service.environment=prod'), '0.3');
  assert.equal((await fetch(`${r.url}/api/agent-config?service=zz`, { method: 'DELETE' })).status, 404);
  const bad = await setConfig(r, 'a', '', { 'Bad-Name': '1' });
  assert.equal(bad.status, 400);
  assert.deepEqual(await bad.json(), { error: 'setting name "Bad-Name" must be snake_case (a-z, 0-9, _)' });
  assert.equal((await fetch(`${r.url}/api/agent-config`, { method: 'PUT', body: '{', headers: { 'content-type': 'application/json' } })).status, 400);
});

test('the poll interval: max-age clamped to [5 s, 1 day], 300 s when missing or not positive', () => {
  assert.equal(intervalFromCacheControl('max-age=30, must-revalidate'), 30);
  assert.equal(intervalFromCacheControl('max-age=1'), 5);
  assert.equal(intervalFromCacheControl('max-age=5'), 5);
  assert.equal(intervalFromCacheControl('max-age=999999'), 86_400);
  assert.equal(intervalFromCacheControl('max-age=0'), 300);
  assert.equal(intervalFromCacheControl('no-cache'), 300);
  assert.equal(intervalFromCacheControl(undefined), 300);
});

test('central_config=false (ELASTIC_APM_CENTRAL_CONFIG): no polling', { timeout: 20_000 }, async (t) => {
  const r = await receiver(t, 1);
  await resetAgentForTests();
  t.after(() => resetAgentForTests());
  const agent = getAgent().start({ serviceName: 'volume-central-off', metricsInterval: 0, serverUrl: r.url }, { noProcessHandlers: true, env: { ELASTIC_APM_CENTRAL_CONFIG: 'false' } });
  assert.equal(agent.centralConfigPoller, undefined);
});

test('applyCentralConfig: every live option parsed as its environment variable; recording=false pauses', { timeout: 20_000 }, async (t) => {
  await resetAgentForTests();
  t.after(() => resetAgentForTests());
  const lines: string[] = [];
  const { CapturingTransport } = await import('./helpers.js');
  const transport = new CapturingTransport();
  const agent = getAgent().start({ serviceName: 'volume-apply', metricsInterval: 0 }, { transport, noProcessHandlers: true, env: {}, logWrite: (l) => lines.push(l) });
  const done = agent.applyCentralConfig({
    transaction_sample_rate: '0.25',
    capture_body: 'all',
    capture_headers: 'false',
    transaction_max_spans: '10',
    log_level: 'error',
    sanitize_field_names: 'secret*,pin',
    transaction_ignore_urls: '/health*',
    ignore_urls: '/ping',
    ignore_message_queues: 'tmp-*',
    exit_span_min_duration: '1ms',
    span_compression_enabled: 'false',
    span_compression_exact_match_max_duration: '0.5ms',
    span_compression_same_kind_max_duration: '2s',
    span_stack_trace_min_duration: '5ms',
    recording: 'false',
  });
  assert.deepEqual(done.unknown, []);
  assert.deepEqual(done.invalid, []);
  const c = agent.config;
  assert.deepEqual(
    [c.transactionSampleRate, c.captureBody, c.captureHeaders, c.transactionMaxSpans, c.logLevel, c.sanitizeFieldNames, c.transactionIgnoreUrls, c.ignoreMessageQueues, c.exitSpanMinDuration, c.spanCompressionEnabled, c.spanCompressionExactMatchMaxDuration, c.spanCompressionSameKindMaxDuration, c.spanStackTraceMinDuration, c.recording],
    [0.25, 'all', false, 10, 'error', ['secret*', 'pin'], ['/ping'], ['tmp-*'], 1, false, 0.5, 2000, 5, false],
  );
  assert.equal(agent.sanitizeRes.length, 2);
  // recording=false: nothing is recorded or sent until it is lifted.
  storage.run(undefined as never, () => agent.startTransaction('paused').end());
  assert.equal(transport.events.length, 0);
  agent.applyCentralConfig({});
  assert.equal(agent.config.recording, true);
  assert.equal(agent.config.logLevel, 'info');
  storage.run(undefined as never, () => agent.startTransaction('resumed').end());
  assert.equal(transport.of('transaction')[0]!.name, 'resumed');
});

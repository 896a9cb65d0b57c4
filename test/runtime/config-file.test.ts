// The config file (spanforge.config.{js,cjs,mjs,json}, ELASTIC_APM_CONFIG_FILE), the precedence elastic-apm-node
// documents (environment > start() > config file > default), bad values named with their source, and the
// start-up preamble at debug level (each non-default option and its source, secrets redacted).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfigDetailed } from '../../runtime/config.js';
import { getAgent, resetAgentForTests } from '../../runtime/agent.js';
import { CapturingTransport } from './helpers.js';

function dir(t: { after: (fn: () => unknown) => void }, files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'volume-cfgfile-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function resolve(cwd: string, opts = {}, env: NodeJS.ProcessEnv = {}) {
  const warnings: string[] = [];
  const r = resolveConfigDetailed(opts, env, (m) => warnings.push(m), cwd);
  return { ...r, warnings };
}

test('each file kind is read: .js (CommonJS), .cjs, .mjs (export default), .json', (t) => {
  for (const [name, text] of [
    ['spanforge.config.js', "module.exports = { serviceName: 'from-js', transactionMaxSpans: 7 };"],
    ['spanforge.config.cjs', "module.exports = { serviceName: 'from-cjs', transactionMaxSpans: 7 };"],
    ['spanforge.config.mjs', "export default { serviceName: 'from-mjs', transactionMaxSpans: 7 };"],
    ['spanforge.config.json', '{ "serviceName": "from-json", "transactionMaxSpans": 7 }'],
  ]) {
    const d = dir(t, { [name!]: text! });
    const r = resolve(d);
    assert.deepEqual(r.warnings, [], name);
    assert.equal(r.file, join(d, name!));
    assert.equal(r.config.serviceName, `from-${name!.split('.').pop()}`);
    assert.equal(r.config.transactionMaxSpans, 7);
    assert.deepEqual(r.sources, { serviceName: 'file', transactionMaxSpans: 'file' });
  }
});

test('the first of spanforge.config.js, .cjs, .mjs, .json is used; ELASTIC_APM_CONFIG_FILE names another (relative to cwd)', (t) => {
  const d = dir(t, {
    'spanforge.config.cjs': "module.exports = { serviceName: 'cjs' };",
    'spanforge.config.json': '{ "serviceName": "json" }',
    'other.json': '{ "serviceName": "other" }',
  });
  assert.equal(resolve(d).config.serviceName, 'cjs');
  const r = resolve(d, {}, { ELASTIC_APM_CONFIG_FILE: 'other.json' });
  assert.equal(r.config.serviceName, 'other');
  assert.equal(r.file, join(d, 'other.json'));
  const missing = resolve(d, {}, { ELASTIC_APM_CONFIG_FILE: 'nope.js' });
  assert.deepEqual(missing.warnings, ['config file "nope.js" (ELASTIC_APM_CONFIG_FILE) does not exist; no file options are used']);
  assert.equal(missing.file, undefined);
});

test('precedence: environment > start() > config file > default', (t) => {
  const d = dir(t, { 'spanforge.config.json': JSON.stringify({ serviceName: 'file', transactionSampleRate: 0.1, captureBody: 'errors', logLevel: 'error' }) });
  const r = resolve(d, { transactionSampleRate: 0.2, captureBody: 'all' }, { ELASTIC_APM_TRANSACTION_SAMPLE_RATE: '0.3' });
  assert.equal(r.config.transactionSampleRate, 0.3);
  assert.equal(r.config.captureBody, 'all');
  assert.equal(r.config.logLevel, 'error');
  assert.equal(r.config.serviceName, 'file');
  assert.equal(r.config.exitSpanMinDuration, 0);
  assert.deepEqual(r.sources, { serviceName: 'file', transactionSampleRate: 'environment', captureBody: 'start', logLevel: 'file' });
});

test('bad values name the option and the file; unknown options in the file are named; a broken file is one warning', (t) => {
  let d = dir(t, { 'spanforge.config.json': JSON.stringify({ transactionMaxSpans: 'many', exitSpanMinDuration: '5 parsecs', servceName: 'typo' }) });
  let r = resolve(d);
  const f = join(d, 'spanforge.config.json');
  assert.deepEqual(r.warnings, [
    `unknown option "servceName" in config file ${f}; ignored`,
    `invalid value "many" for option transactionMaxSpans in config file ${f}: expected an integer of at least -1; using the default`,
    `invalid value "5 parsecs" for option exitSpanMinDuration in config file ${f}: expected a duration like "10s", "500ms" or "1m"; using the default`,
  ]);
  assert.equal(r.config.transactionMaxSpans, 500);
  d = dir(t, { 'spanforge.config.json': '{ "serviceName": ' });
  r = resolve(d);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, new RegExp(`^cannot read config file ${join(d, 'spanforge.config.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*JSON.*; no file options are used$`));
  d = dir(t, { 'spanforge.config.cjs': 'module.exports = [1, 2];' });
  assert.deepEqual(resolve(d).warnings, [`config file ${join(d, 'spanforge.config.cjs')} must export an object of options, got an array; no file options are used`]);
  d = dir(t, { 'spanforge.config.cjs': "throw new Error('boom');" });
  assert.deepEqual(resolve(d).warnings, [`cannot read config file ${join(d, 'spanforge.config.cjs')}: boom; no file options are used`]);
});

test('the start-up preamble at debug level: each non-default option with its source, secrets and URL credentials redacted', async (t) => {
  const d = dir(t, { 'spanforge.config.json': JSON.stringify({ apiKey: 'file-api-key-123', transactionMaxSpans: 50 }) });
  await resetAgentForTests();
  t.after(() => resetAgentForTests());
  const lines: string[] = [];
  getAgent().start(
    { serviceName: 'volume-pre', logLevel: 'debug', secretToken: 'hunter2', serverUrl: 'http://user:pw@127.0.0.1:9', metricsInterval: 0 },
    { transport: new CapturingTransport(), noProcessHandlers: true, env: { ELASTIC_APM_EXIT_SPAN_MIN_DURATION: '5ms' }, cwd: d, logWrite: (l) => lines.push(l) },
  );
  const all = lines.join('');
  assert.equal(/hunter2|file-api-key-123|user:pw/.test(all), false, all);
  const pre = lines.find((l) => l.startsWith('spanforge debug: agent spanforge '))!;
  assert.ok(pre, all);
  assert.match(pre, new RegExp(`; config file: ${join(d, 'spanforge.config.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; non-default options:\\n`));
  assert.deepEqual(pre.split('\n').slice(1, -1), [
    '  serverUrl: "http://[REDACTED]@127.0.0.1:9" (start() option)',
    '  serviceName: "volume-pre" (start() option)',
    '  secretToken: "[REDACTED]" (start() option)',
    '  apiKey: "[REDACTED]" (config file)',
    '  logLevel: "debug" (start() option)',
    '  transactionMaxSpans: 50 (config file)',
    '  metricsInterval: 0 (start() option)',
    '  exitSpanMinDuration: 5 (environment ELASTIC_APM_EXIT_SPAN_MIN_DURATION)',
  ]);
});

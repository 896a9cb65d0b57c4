// Tests runtime/log.ts (levels, prefix, never throws) and runtime/sanitize.ts (wildcards, headers, bodies, truncation).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../runtime/log.js';
import { compileWildcards, matchesAny, sanitizeBody, sanitizeHeaders, truncate, sanitizeLabelKey } from '../../runtime/sanitize.js';
import { DEFAULT_SANITIZE_FIELD_NAMES } from '../../runtime/config.js';

test('logger writes "spanforge <level>:" lines at or above its level only, and never throws', () => {
  const lines: string[] = [];
  const log = createLogger('warning', (l) => lines.push(l));
  log.trace('t');
  log.debug('d');
  log.info('i');
  log.warn('w %s', 'x');
  log.error('e %d', 3);
  assert.deepEqual(lines, ['spanforge warning: w x\n', 'spanforge error: e 3\n']);
  const off = createLogger('off', (l) => lines.push(l));
  off.error('nothing');
  assert.equal(lines.length, 2);
  const broken = createLogger('trace', () => {
    throw new Error('EPIPE');
  });
  assert.doesNotThrow(() => broken.error('x'));
});

test('wildcards: case-insensitive, whole-name, (?-i) for case-sensitive', () => {
  const res = compileWildcards(DEFAULT_SANITIZE_FIELD_NAMES);
  for (const n of ['password', 'PASSWORD', 'x-api-key', 'Authorization', 'sessionid', 'my_token_v2', 'set-cookie', 'creditCard', 'connect.sid', 'userPrincipal'])
    assert.equal(matchesAny(n, res), true, n);
  for (const n of ['keys', 'passwords', 'accept', 'content-type', 'connectXsid', 'user'])
    assert.equal(matchesAny(n, res), false, n);
  const cs = compileWildcards(['(?-i)Secret*']);
  assert.equal(matchesAny('SecretX', cs), true);
  assert.equal(matchesAny('secretx', cs), false);
});

test('headers, cookies and bodies are redacted by name', () => {
  const res = compileWildcards(DEFAULT_SANITIZE_FIELD_NAMES);
  assert.deepEqual(sanitizeHeaders({ Authorization: 'x', 'X-Trace': ['a', 'b'], cookie: 'a=1; sessionid=2', gone: undefined }, res), {
    Authorization: '[REDACTED]',
    'X-Trace': ['a', 'b'],
    cookie: '[REDACTED]', // 'cookie' is one of the default patterns (elastic-apm-node 4.x)
  });
  // Without 'cookie' in the list, the header is redacted cookie by cookie.
  const noCookie = compileWildcards(DEFAULT_SANITIZE_FIELD_NAMES.filter((n) => n !== 'cookie'));
  assert.deepEqual(sanitizeHeaders({ cookie: 'a=1; sessionid=2' }, noCookie), { cookie: 'a=1; sessionid=[REDACTED]' });
  assert.equal(sanitizeBody('user=a&password=b&password=c', 'application/x-www-form-urlencoded', res, 10000), 'user=a&password=[REDACTED]');
  assert.deepEqual(sanitizeBody({ list: [{ apiKey: 1, ok: 2 }] }, 'application/json', res, 10000), { list: [{ apiKey: '[REDACTED]', ok: 2 }] });
  assert.equal(sanitizeBody('x'.repeat(20), 'text/plain', res, 10), 'xxxxxxxxx\u2026');
});

test('truncation and label keys', () => {
  assert.equal(truncate('abc', 3), 'abc');
  assert.equal(truncate('abcd', 3), 'ab\u2026');
  assert.equal(sanitizeLabelKey('a.b*c"d'), 'a_b_c_d');
});

test('at debug level start() logs the effective configuration with secrets redacted', async () => {
  const { resetAgentForTests, getAgent } = await import('../../runtime/agent.js');
  const { CapturingTransport } = await import('./helpers.js');
  await resetAgentForTests();
  const written: string[] = [];
  const orig = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    getAgent().start({ serviceName: 'pre', logLevel: 'debug', secretToken: 'hunter2', metricsInterval: 0 }, { transport: new CapturingTransport(), noProcessHandlers: true, env: {} });
  } finally {
    process.stderr.write = orig;
  }
  // The preamble (test/runtime/config-file.test.ts checks it whole): non-default options with their source.
  const line = written.find((l) => l.startsWith('spanforge debug: agent spanforge '));
  assert.ok(line, written.join(''));
  assert.equal(written.join('').includes('hunter2'), false);
  assert.ok(line!.includes('\n  secretToken: "[REDACTED]" (start() option)'), line);
  await resetAgentForTests();
});

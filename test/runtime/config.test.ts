// Tests runtime/config.ts: env names, defaults, units, precedence, one warning per bad value, service name from package.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SANITIZE_FIELD_NAMES, parseBytes, parseDuration, resolveConfig, sanitizeServiceName } from '../../runtime/config.js';

function resolve(opts: object, env: Record<string, string> = {}, cwd = '/') {
  const warnings: string[] = [];
  const cfg = resolveConfig(opts, env, (m) => warnings.push(m), cwd);
  return { cfg, warnings };
}

test('defaults match Elastic Node', () => {
  const { cfg, warnings } = resolve({}, {});
  assert.deepEqual(warnings, []);
  assert.equal(cfg.active, true);
  assert.equal(cfg.serverUrl, 'http://127.0.0.1:8200');
  assert.equal(cfg.serviceName, 'unknown-nodejs-service');
  assert.equal(cfg.environment, 'development');
  assert.equal(cfg.transactionSampleRate, 1);
  assert.equal(cfg.logLevel, 'info');
  assert.equal(cfg.captureBody, 'off');
  assert.equal(cfg.captureHeaders, true);
  // elastic-apm-node 4.x's 16 default patterns, written out so a change to the default shows here.
  assert.deepEqual(cfg.sanitizeFieldNames, [
    'password', 'passwd', 'pwd', 'secret', '*key', '*token*', '*session*', '*credit*', '*card*', '*auth*',
    'set-cookie', '*principal*', 'pw', 'pass', 'connect.sid', 'cookie',
  ]);
  assert.deepEqual(DEFAULT_SANITIZE_FIELD_NAMES, cfg.sanitizeFieldNames);
  assert.equal(cfg.transactionMaxSpans, 500);
  assert.equal(cfg.metricsInterval, 30_000);
  assert.equal(cfg.apiRequestTime, 10_000);
  assert.equal(cfg.apiRequestSize, 768 * 1024);
  assert.equal(cfg.serverTimeout, 30_000);
  assert.deepEqual(cfg.globalLabels, {});
  assert.deepEqual(cfg.transactionIgnoreUrls, []);
  assert.equal(cfg.verifyServerCert, true);
  assert.equal(cfg.breakdownMetrics, true);
  assert.equal(cfg.maxQueueSize, 1024);
  assert.equal(cfg.secretToken, undefined);
  assert.equal(cfg.apiKey, undefined);
});

test('every option is read from its ELASTIC_APM_* variable', () => {
  const { cfg, warnings } = resolve({}, {
    ELASTIC_APM_ACTIVE: 'false',
    ELASTIC_APM_SERVER_URL: 'https://apm.example:8200/',
    ELASTIC_APM_SERVICE_NAME: 'orders',
    ELASTIC_APM_SERVICE_VERSION: '2.0.1',
    ELASTIC_APM_ENVIRONMENT: 'prod',
    ELASTIC_APM_SECRET_TOKEN: 's3cr3t',
    ELASTIC_APM_API_KEY: 'a2V5',
    ELASTIC_APM_TRANSACTION_SAMPLE_RATE: '0.25',
    ELASTIC_APM_LOG_LEVEL: 'debug',
    ELASTIC_APM_CAPTURE_BODY: 'errors',
    ELASTIC_APM_CAPTURE_HEADERS: 'false',
    ELASTIC_APM_SANITIZE_FIELD_NAMES: 'foo, *bar*',
    ELASTIC_APM_TRANSACTION_MAX_SPANS: '-1',
    ELASTIC_APM_METRICS_INTERVAL: '5s',
    ELASTIC_APM_API_REQUEST_TIME: '2s',
    ELASTIC_APM_API_REQUEST_SIZE: '1mb',
    ELASTIC_APM_SERVER_TIMEOUT: '1m',
    ELASTIC_APM_GLOBAL_LABELS: 'team=core,region=eu',
    ELASTIC_APM_TRANSACTION_IGNORE_URLS: '/health*,/metrics',
    ELASTIC_APM_VERIFY_SERVER_CERT: 'false',
    ELASTIC_APM_BREAKDOWN_METRICS: 'false',
    ELASTIC_APM_DISABLE_METRICS: 'system.*',
    ELASTIC_APM_MAX_QUEUE_SIZE: '10',
  });
  assert.deepEqual(warnings, []);
  assert.equal(cfg.active, false);
  assert.equal(cfg.serverUrl, 'https://apm.example:8200');
  assert.equal(cfg.serviceName, 'orders');
  assert.equal(cfg.serviceVersion, '2.0.1');
  assert.equal(cfg.environment, 'prod');
  assert.equal(cfg.secretToken, 's3cr3t');
  assert.equal(cfg.apiKey, 'a2V5');
  assert.equal(cfg.transactionSampleRate, 0.25);
  assert.equal(cfg.logLevel, 'debug');
  assert.equal(cfg.captureBody, 'errors');
  assert.equal(cfg.captureHeaders, false);
  assert.deepEqual(cfg.sanitizeFieldNames, ['foo', '*bar*']);
  assert.equal(cfg.transactionMaxSpans, -1);
  assert.equal(cfg.metricsInterval, 5000);
  assert.equal(cfg.apiRequestTime, 2000);
  assert.equal(cfg.apiRequestSize, 1024 * 1024);
  assert.equal(cfg.serverTimeout, 60_000);
  assert.deepEqual(cfg.globalLabels, { team: 'core', region: 'eu' });
  assert.deepEqual(cfg.transactionIgnoreUrls, ['/health*', '/metrics']);
  assert.equal(cfg.verifyServerCert, false);
  assert.equal(cfg.breakdownMetrics, false);
  assert.deepEqual(cfg.disableMetrics, ['system.*']);
  assert.equal(cfg.maxQueueSize, 10);
});

test('environment wins over start() options, start() over defaults', () => {
  const { cfg } = resolve({ serviceName: 'from-code', transactionSampleRate: 0.5, logLevel: 'error' }, { ELASTIC_APM_SERVICE_NAME: 'from-env' });
  assert.equal(cfg.serviceName, 'from-env');
  assert.equal(cfg.transactionSampleRate, 0.5);
  assert.equal(cfg.logLevel, 'error');
});

test('a bad value logs one warning naming the variable and value, and falls back to the default', () => {
  const cases: [Record<string, string>, string, unknown, string][] = [
    [{ ELASTIC_APM_TRANSACTION_SAMPLE_RATE: '1.5' }, 'transactionSampleRate', 1, 'invalid value "1.5" for ELASTIC_APM_TRANSACTION_SAMPLE_RATE: expected a number from 0 to 1; using the default'],
    [{ ELASTIC_APM_API_REQUEST_TIME: '10 parsecs' }, 'apiRequestTime', 10_000, 'invalid value "10 parsecs" for ELASTIC_APM_API_REQUEST_TIME: expected a duration like "10s", "500ms" or "1m"; using the default'],
    [{ ELASTIC_APM_API_REQUEST_SIZE: 'huge' }, 'apiRequestSize', 768 * 1024, 'invalid value "huge" for ELASTIC_APM_API_REQUEST_SIZE: expected a size like "768kb", "1mb" or a number of bytes; using the default'],
    [{ ELASTIC_APM_ACTIVE: 'yes' }, 'active', true, 'invalid value "yes" for ELASTIC_APM_ACTIVE: expected true or false; using the default'],
    [{ ELASTIC_APM_LOG_LEVEL: 'loud' }, 'logLevel', 'info', 'invalid value "loud" for ELASTIC_APM_LOG_LEVEL: expected one of trace, debug, info, warning, warn, error, critical, fatal, off; using the default'],
    [{ ELASTIC_APM_SERVER_URL: 'ftp://x' }, 'serverUrl', 'http://127.0.0.1:8200', 'invalid value "ftp://x" for ELASTIC_APM_SERVER_URL: expected an http(s) URL; using the default'],
    [{ ELASTIC_APM_TRANSACTION_MAX_SPANS: '12.5' }, 'transactionMaxSpans', 500, 'invalid value "12.5" for ELASTIC_APM_TRANSACTION_MAX_SPANS: expected an integer of at least -1; using the default'],
    [{ ELASTIC_APM_GLOBAL_LABELS: 'novalue' }, 'globalLabels', {}, 'invalid value "novalue" for ELASTIC_APM_GLOBAL_LABELS: expected key=value pairs separated by commas; using the default'],
    [{ ELASTIC_APM_API_REQUEST_TIME: '0' }, 'apiRequestTime', 10_000, 'invalid value "0" for ELASTIC_APM_API_REQUEST_TIME: expected a duration greater than zero; using the default'],
    [{ ELASTIC_APM_API_REQUEST_SIZE: '0kb' }, 'apiRequestSize', 768 * 1024, 'invalid value "0kb" for ELASTIC_APM_API_REQUEST_SIZE: expected a size greater than zero; using the default'],
    [{ ELASTIC_APM_METRICS_INTERVAL: '99999999s' }, 'metricsInterval', 30_000, 'invalid value "99999999s" for ELASTIC_APM_METRICS_INTERVAL: expected a duration of at most 24 days; using the default'],
  ];
  for (const [env, key, def, msg] of cases) {
    const { cfg, warnings } = resolve({}, env);
    assert.deepEqual(warnings, [msg]);
    assert.deepEqual((cfg as unknown as Record<string, unknown>)[key], def);
  }
  const { cfg, warnings } = resolve({ metricsInterval: -3, captureBody: 'sometimes' });
  assert.deepEqual(warnings, [
    'invalid value "sometimes" for option captureBody: expected one of off, all, errors, transactions; using the default',
    'invalid value -3 for option metricsInterval: expected a duration of zero or more; using the default',
  ]);
  assert.equal(cfg.metricsInterval, 30_000);
  assert.equal(cfg.captureBody, 'off');
});

test('unknown start() options are reported, not fatal', () => {
  const { warnings } = resolve({ serviceNmae: 'typo' });
  assert.deepEqual(warnings, ['unknown option "serviceNmae" passed to start(); ignored']);
});

test('durations and sizes', () => {
  assert.equal(parseDuration('10s', 's'), 10_000);
  assert.equal(parseDuration('500ms', 's'), 500);
  assert.equal(parseDuration('2m', 's'), 120_000);
  assert.equal(parseDuration('3', 's'), 3000);
  assert.equal(parseDuration(3, 'ms'), 3);
  assert.equal(parseBytes('768kb'), 786432);
  assert.equal(parseBytes('1MB'), 1048576);
  assert.equal(parseBytes('2gb'), 2 * 1024 ** 3);
  assert.equal(parseBytes('100'), 100);
  assert.throws(() => parseBytes('-1kb'));
  assert.throws(() => parseDuration('1h', 's'));
});

test('sample rate is rounded to 4 decimals, never to 0 when positive', () => {
  assert.equal(resolve({ transactionSampleRate: 0.123456 }).cfg.transactionSampleRate, 0.1235);
  assert.equal(resolve({ transactionSampleRate: 0.00001 }).cfg.transactionSampleRate, 0.0001);
  assert.equal(resolve({ transactionSampleRate: 0 }).cfg.transactionSampleRate, 0);
});

test('service name and version default from the nearest package.json, sanitized', () => {
  const root = mkdtempSync(join(tmpdir(), 'sf-cfg-'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: '@acme/api.v2', version: '3.1.4' }));
  const sub = join(root, 'src', 'deep');
  mkdirSync(sub, { recursive: true });
  const { cfg, warnings } = resolve({}, {}, sub);
  assert.deepEqual(warnings, []);
  assert.equal(cfg.serviceName, 'acme-api-v2');
  assert.equal(cfg.serviceVersion, '3.1.4');
  assert.equal(sanitizeServiceName('my svc_1-2'), 'my svc_1-2');
  const bad = resolve({ serviceName: 'bad/name!' });
  assert.equal(bad.cfg.serviceName, 'bad-name-');
  assert.deepEqual(bad.warnings, ['service name "bad/name!" has characters other than a-z, A-Z, 0-9, space, _ and -; using "bad-name-"']);
});

test('NODE_ENV is the default environment; metricsInterval=0 turns breakdown metrics off', () => {
  const { cfg } = resolve({ metricsInterval: 0 }, { NODE_ENV: 'staging' });
  assert.equal(cfg.environment, 'staging');
  assert.equal(cfg.breakdownMetrics, false);
});

// Intake-v2 `log` events in the local receiver: what APM Server accepts (flat or nested ECS keys,
// `@timestamp` in µs or RFC 3339, the reference testdata/logs.ndjson) and rejects (with its status
// and message), how they are stored (node:sqlite on Node 24, better-sqlite3 on Node 20: CI runs this
// file on both), and the API that reads them back: a trace's logs and a range's, with bounded,
// validated parameters.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseLogTimestamp } from '../../receiver/logs.js';
import { sqliteBackend } from '../../receiver/sqlite.js';
import { eventually, getJson, NDJSON, send, testdata, withReceiver } from './helpers.js';

const T = { timeout: 30_000 };
const META = JSON.stringify({ metadata: { service: { name: 'logsvc', environment: 'test', agent: { name: 'nodejs', version: '4.0.0' } } } });
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const TX = '00f067aa0ba902b7';
const SPAN = 'b7ad6b7169203331';
const nowUs = Date.now() * 1000;
const body = (...lines: unknown[]) => [META, ...lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l)))].join('\n') + '\n';

describe('intake v2 log events', () => {
  let r: Awaited<ReturnType<typeof withReceiver>>;
  const intake = () => `${r.url}/intake/v2/events`;
  const api = (path: string) => getJson(`${r.url}/api/${path}`);
  const apiRaw = async (path: string) => {
    const res = await fetch(`${r.url}/api/${path}`);
    return { status: res.status, body: (await res.json()) as any };
  };

  before(async () => {
    r = await withReceiver();
  });
  after(async () => {
    await r?.cleanup();
  });

  test('the reference testdata/logs.ndjson: all 7 accepted, each stored with its fields (nested ECS keys win over flat)', T, async () => {
    const before = Date.now() * 1000;
    const rep = await send(`${intake()}?verbose`, testdata('logs.ndjson'), { headers: NDJSON });
    assert.equal(rep.status, 202, rep.text);
    assert.deepEqual(rep.json(), { accepted: 7 });
    const after = Date.now() * 1000;
    const got = await eventually(async () => {
      const a = await api(`logs?from=0&to=${Date.now() + 1000}&limit=1000`);
      return a.logs.length === 7 ? a : undefined;
    });
    // Newest first; the line without @timestamp has the receive time.
    const [first, ...rest] = got.logs;
    assert.ok(first.ts >= before && first.ts <= after, `receive time ${first.ts} in [${before}, ${after}]`);
    assert.deepEqual(first, {
      ts: first.ts, service: '1234_service-12a3', message: 'test log message without timestamp',
      level: null, logger: null, traceId: null, transactionId: null, spanId: null,
    });
    const ecs = (message: string) => ({
      ts: 1662616049000000, service: 'testSvc', message, level: 'warn', logger: 'testLogger',
      traceId: 'trace-id', transactionId: 'txn-id', spanId: 'txn-id', // span.id from transaction.id, as APM Server maps it
      origin: { file: 'testFile', line: 10, function: 'testFunc' },
      labels: { str: 'str', int: 1, float: 1.1, bool: true },
      dataset: 'accesslog', threadName: 'testThread', serviceVersion: 'v1.0.0', environment: 'prod',
    });
    const plain = (ts: number, message: string) => ({ ts, service: '1234_service-12a3', message, level: null, logger: null, traceId: null, transactionId: null, spanId: null });
    assert.deepEqual(rest, [
      // "2022-09-08T13:47:29.111-0800" (Go's Z0700 layout, fractional seconds) = 21:47:29.111 UTC
      plain(Date.UTC(2022, 8, 8, 21, 47, 29, 111) * 1000, 'test log message with string timestamp'),
      // same timestamp: newest id first
      ecs('test log message with override of flat ecs fields by nested ecs fields'),
      ecs('test log message with nested ecs fields'),
      ecs('test log message with ecs fields'),
      plain(1662616049000000, 'test log message with faas'),
      plain(1662616049000000, 'test log message with timestamp'),
    ]);
    // The log's own service.name is a service (APM Server sets the event's service from it).
    const services = (await api('services?from=0&to=' + (Date.now() + 1000))).map((s: any) => s.name);
    assert.ok(services.includes('testSvc') && services.includes('1234_service-12a3'), services.join(','));
  });

  test("a trace's logs: /api/traces/:id/logs, oldest first, with trace, transaction and span ids", T, async () => {
    const tx = { id: TX, trace_id: TRACE, name: 'GET /orders/:id', type: 'request', duration: 12.5, timestamp: nowUs, span_count: { started: 1 } };
    const span = { id: SPAN, transaction_id: TX, parent_id: TX, trace_id: TRACE, name: 'SELECT orders', type: 'db', subtype: 'postgresql', timestamp: nowUs + 1000, duration: 3 };
    const logs = [
      // what ecs-pino-format writes (flat keys), and Elastic's log_sending shape
      { '@timestamp': new Date((nowUs + 500) / 1000).toISOString(), 'log.level': 'info', message: 'loading order 42', 'trace.id': TRACE, 'transaction.id': TX, 'service.name': 'logsvc', 'ecs.version': '8.10.0' },
      { '@timestamp': nowUs + 2000, log: { level: 'error', logger: 'db' }, message: '<script>alert(1)</script> query failed', trace: { id: 'ignored: only the flat trace.id is read' }, 'trace.id': TRACE, 'transaction.id': TX, 'span.id': SPAN, error: { type: 'Error', message: 'boom', stack_trace: 'Error: boom\n    at q (db.js:1:1)' } },
      { '@timestamp': nowUs + 3000, 'log.level': 'warn', message: 'slow', 'trace.id': TRACE, 'transaction.id': TX, labels: { order: '42', n: 3 } },
      // another trace: not in the answer
      { '@timestamp': nowUs + 2500, message: 'other', 'trace.id': 'ffffffffffffffffffffffffffffffff' },
    ];
    const rep = await send(`${intake()}?verbose`, body({ transaction: tx }, { span }, ...logs.map((log) => ({ log }))), { headers: NDJSON });
    assert.equal(rep.status, 202, rep.text);
    assert.deepEqual(rep.json(), { accepted: 6 });
    const got = await eventually(async () => {
      const a = await api(`traces/${TRACE}/logs`);
      return a.logs.length === 3 ? a : undefined;
    });
    assert.deepEqual(got, {
      traceId: TRACE,
      logs: [
        { ts: nowUs + 500 - ((nowUs + 500) % 1000), service: 'logsvc', message: 'loading order 42', level: 'info', logger: null, traceId: TRACE, transactionId: TX, spanId: TX },
        {
          ts: nowUs + 2000, service: 'logsvc', message: '<script>alert(1)</script> query failed', level: 'error', logger: 'db', traceId: TRACE, transactionId: TX, spanId: SPAN,
          error: { type: 'Error', message: 'boom', stackTrace: 'Error: boom\n    at q (db.js:1:1)' },
        },
        { ts: nowUs + 3000, service: 'logsvc', message: 'slow', level: 'warn', logger: null, traceId: TRACE, transactionId: TX, spanId: TX, labels: { order: '42', n: 3 } },
      ],
    });
    // The trace itself is unchanged by its logs.
    const trace = await api(`traces/${TRACE}`);
    assert.deepEqual([trace.transactions.length, trace.spans.length, trace.errors.length], [1, 1, 0]);
    // limit bounds the answer and says it was cut
    assert.deepEqual((await api(`traces/${TRACE}/logs?limit=2`)).logs.map((l: any) => l.message), ['loading order 42', '<script>alert(1)</script> query failed']);
    assert.equal((await api(`traces/${TRACE}/logs?limit=2`)).truncated, true);
    assert.equal((await api(`traces/${TRACE}/logs?limit=3`)).truncated, undefined);
    // a range's logs, by service and level
    const to = Math.ceil(nowUs / 1000) + 60_000;
    const byLevel = await api(`logs?from=${Math.floor(nowUs / 1000) - 1000}&to=${to}&service=logsvc&level=error`);
    assert.deepEqual(byLevel.logs.map((l: any) => l.message), ['<script>alert(1)</script> query failed']);
    const bySvc = await api(`logs?from=${Math.floor(nowUs / 1000) - 1000}&to=${to}&service=logsvc`);
    assert.deepEqual(bySvc.logs.map((l: any) => l.message), ['slow', 'other', '<script>alert(1)</script> query failed', 'loading order 42']);
    assert.deepEqual((await api(`traces/0123456789abcdef0123456789abcdef/logs`)), { traceId: '0123456789abcdef0123456789abcdef', logs: [] });
  });

  test('API parameters are validated (400 naming the parameter) and bounded', T, async () => {
    const cases: Array<[string, string, string]> = [
      [`traces/${TRACE}/logs?limit=0`, 'limit', "query parameter 'limit' must be an integer from 1 to 1000, got '0'"],
      [`traces/${TRACE}/logs?limit=1001`, 'limit', "query parameter 'limit' must be an integer from 1 to 1000, got '1001'"],
      [`traces/${TRACE}/logs?limit=x`, 'limit', "query parameter 'limit' must be an integer from 1 to 1000, got 'x'"],
      [`traces/${TRACE}/logs?from=1`, 'from', "unknown query parameter 'from'; this route takes limit"],
      [`logs?limit=1&limit=2`, 'limit', "query parameter 'limit' is given 2 times; give it once"],
      [`logs?from=10&to=5`, 'to', "query parameter 'to' (5) must not be before 'from' (10)"],
      [`logs?level=${'x'.repeat(1025)}`, 'level', "query parameter 'level' must be at most 1024 characters, got 1025"],
      [`logs?service=a&service=b`, 'service', "query parameter 'service' is given 2 times; give it once"],
    ];
    for (const [path, parameter, error] of cases) {
      const res = await apiRaw(path);
      assert.equal(res.status, 400, path);
      assert.deepEqual(res.body, { error, parameter }, path);
    }
    const long = await apiRaw(`traces/${'a'.repeat(1025)}/logs`);
    assert.equal(long.status, 400);
    assert.equal(long.body.parameter, 'path segment 3');
  });

  test("rejected as APM Server rejects them: 400, the server's message, the other lines still stored", T, async () => {
    const bad: Array<[unknown, string]> = [
      [{ log: {} }, "validation error: 'log' required"],
      [{ log: { unknown: 'field' } }, "validation error: 'log' required"],
      [{ log: { labels: {} } }, "validation error: 'log' required"],
      [{ log: 'text' }, 'decode error: data read error: v2.logRoot.Log: expected object'],
      [{ log: { message: 5 } }, 'decode error: data read error: v2.logRoot.Log: v2.log.Message: ReadString: expects " or n, but found a number'],
      [{ log: { message: 'm', '@timestamp': 'yesterday' } }, 'decode error: data read error: v2.logRoot.Log: v2.log.Timestamp: failed to parse the provided time string'],
      [{ log: { message: 'm', '@timestamp': true } }, 'decode error: data read error: v2.logRoot.Log: v2.log.Timestamp: invalid input type for timestamp'],
      [{ log: { message: 'm', 'log.origin.file.line': 'ten' } }, 'decode error: data read error: v2.logRoot.Log: v2.log.OriginFileLine: ReadInt: expects an integer'],
      [{ log: { message: 'm', service: 'svc' } }, 'decode error: data read error: v2.logRoot.Log: v2.log.NestedStruct: expected an object for "service"'],
      [{ log: { message: 'm', labels: { a: { b: 1 } } } }, "validation error: log: 'labels': validation rule 'inputTypesVals(string;bool;number)' violated for key a"],
      [{ log: { message: 'm', labels: { a: 'x'.repeat(1025) } } }, "validation error: log: 'labels': validation rule 'maxLengthVals(1024)' violated"],
      [{ log: { message: 'm', 'trace.id': 'x'.repeat(1025) } }, "validation error: log: 'trace.id': validation rule 'maxLength(1024)' violated"],
      [{ log: { message: 'm', log: { level: 'x'.repeat(1025) } } }, "validation error: log: ecsloglogfields: 'log.level': validation rule 'maxLength(1024)' violated"],
      [{ log: { message: 'm', service: { name: 'é'.repeat(1025) } } }, "validation error: log: ecslogservicefields: 'service.name': validation rule 'maxLength(1024)' violated"],
    ];
    const good = { log: { message: 'kept', 'trace.id': 'cafecafecafecafecafecafecafecafe', labels: { a: 'é'.repeat(1024) }, '@timestamp': '2026-01-02T03:04:05Z' } };
    for (const [line, message] of bad) {
      const doc = JSON.stringify(line);
      const rep = await send(intake(), body(line, good), { headers: NDJSON });
      assert.equal(rep.status, 400, doc);
      assert.deepEqual(rep.json(), { accepted: 1, errors: [{ document: doc, message }] }, doc);
    }
    const kept = await eventually(async () => {
      const a = await api('traces/cafecafecafecafecafecafecafecafe/logs');
      return a.logs.length === bad.length ? a : undefined;
    });
    assert.ok(kept.logs.every((l: any) => l.message === 'kept' && l.ts === Date.UTC(2026, 0, 2, 3, 4, 5) * 1000));
    // null values are "not set", like the Go decoder's nullable types
    const rep = await send(intake(), body({ log: { message: null, 'log.level': null, labels: null, '@timestamp': null } }), { headers: NDJSON });
    assert.equal(rep.status, 400);
    assert.equal(rep.json().errors[0].message, "validation error: 'log' required");
  });

  test('@timestamp: integer µs, or RFC 3339 with Z, ±hh:mm, ±hhmm or ±hh', () => {
    const at = Date.UTC(2022, 8, 8, 21, 47, 29, 111) * 1000;
    assert.equal(parseLogTimestamp(1662616049000000), 1662616049000000);
    assert.equal(parseLogTimestamp('2022-09-08T21:47:29.111Z'), at);
    assert.equal(parseLogTimestamp('2022-09-08T13:47:29.111-08:00'), at);
    assert.equal(parseLogTimestamp('2022-09-08T13:47:29.111-0800'), at);
    assert.equal(parseLogTimestamp('2022-09-08T13:47:29.111-08'), at);
    assert.equal(parseLogTimestamp('2022-09-08T21:47:29.111123456Z'), at + 123);
    assert.equal(parseLogTimestamp(null), undefined);
    for (const v of ['2022-09-08 21:47:29Z', '2022-09-08T21:47:29', '2022-02-30T00:00:00Z', '2022-09-08T24:00:00Z', 'now']) {
      assert.ok(parseLogTimestamp(v) instanceof Error, v);
    }
    assert.ok(parseLogTimestamp(1.5) instanceof Error);
  });

  test('the SQLite backend in use', () => {
    // Node 20 stores through better-sqlite3, Node 22.13+/24 through node:sqlite (CI runs both).
    const major = Number(process.versions.node.split('.')[0]);
    if (!process.env.SPANFORGE_SQLITE && (major === 20 || major >= 24)) assert.equal(sqliteBackend(), major === 20 ? 'better-sqlite3' : 'node:sqlite');
  });
});

// The OTLP/HTTP exporter (runtime/transport/otlp-transport.ts, otlp.ts): the agent started with the
// standard OTEL_* variables sends its transactions and spans to an HTTP server on loopback as an
// ExportTraceServiceRequest, in protobuf (decoded here with the protobufjs code OpenTelemetry generated
// from the official opentelemetry-proto definitions, @opentelemetry/otlp-transformer 0.57's root.js,
// installed in test/compat/otel) and in OTLP/JSON. Every field of every span and of the resource is
// compared: ids, parent links, kinds, nanosecond times, semantic-convention attributes, status, headers.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { getAgent, resetAgentForTests } from '../../runtime/agent.js';
import { storage } from '../../runtime/context.js';
import { parseKeyValues } from '../../runtime/transport/otlp.js';
import { otlpSettings } from '../../runtime/transport/otlp-transport.js';
import { VERSION } from '../../runtime/version.js';

const otelDir = process.env.SPANFORGE_OTEL_DIR ?? join(__dirname, '..', 'compat', 'otel', 'node_modules');

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

async function sink(): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got, close: () => new Promise((r) => server.close(() => r())) };
}

after(async () => {
  await resetAgentForTests();
});

/** Runs one trace: a request transaction with a db, an HTTP client and a messaging span; returns their ids. */
async function scenario(env: Record<string, string>) {
  await resetAgentForTests();
  const agent = getAgent().start({ serviceName: 'from-config', serviceVersion: '1.2.3', environment: 'test', metricsInterval: 0 }, { noProcessHandlers: true, env });
  let out: any;
  await storage.run(undefined as never, async () => {
    const tx = agent.startTransaction('GET /users/:id', 'request', { childOf: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    tx.setRequestContext({ method: 'GET', url: '/users/42?full=1', headers: { host: 'shop.local:3000', 'user-agent': 'curl/8' }, socket: { remoteAddress: '10.0.0.7' } });
    tx.setLabel('tenant', 'acme');
    const db = agent.startSpan('SELECT users', 'db', { subtype: 'postgresql', action: 'query', exitSpan: true });
    db.setDbContext({ type: 'sql', instance: 'test', statement: 'SELECT * FROM users WHERE id = $1', user: 'postgres', rowsAffected: 1 });
    db.setDestination({ address: '127.0.0.1', port: 5432 });
    db.end();
    const http = agent.startSpan('GET api.local', 'external', { subtype: 'http', action: 'request', exitSpan: true });
    http.setHttpContext({ url: 'http://api.local:8080/stock?sku=1', method: 'GET', statusCode: 503 });
    http.setOutcome('failure');
    http.end();
    const send = agent.startSpan('RabbitMQ SEND to orders', 'messaging', { subtype: 'rabbitmq', action: 'send', exitSpan: true });
    send.setMessageContext({ queue: 'orders' });
    send.end();
    tx.setResponseContext({ statusCode: 200 });
    tx.setResult('HTTP 2xx');
    tx.end();
    out = { tx, db, http, send };
  });
  await agent.flush(5000);
  return out;
}

const attrs = (list: any[]) => Object.fromEntries(list.map((kv: any) => [kv.key, Object.values(kv.value)[0]]));

function checkSpans(spans: any[], ids: any, idOf: (v: any) => string) {
  const byName = Object.fromEntries(spans.map((s) => [s.name, s]));
  assert.deepEqual(Object.keys(byName).sort(), ['GET /users/:id', 'GET api.local', 'RabbitMQ SEND to orders', 'SELECT users']);
  const tx = byName['GET /users/:id'];
  assert.equal(idOf(tx.traceId), '0af7651916cd43dd8448eb211c80319c');
  assert.equal(idOf(tx.spanId), ids.tx.id);
  assert.equal(idOf(tx.parentSpanId), 'b7ad6b7169203331');
  assert.equal(tx.kind, 2);
  assert.deepEqual(attrs(tx.attributes), {
    'http.request.method': 'GET',
    'url.path': '/users/42',
    'url.query': 'full=1',
    'url.scheme': 'http',
    'server.address': 'shop.local',
    'server.port': '3000',
    'http.route': '/users/:id',
    'http.response.status_code': '200',
    'user_agent.original': 'curl/8',
    'client.address': '10.0.0.7',
    'spanforge.transaction.type': 'request',
    'spanforge.transaction.result': 'HTTP 2xx',
    tenant: 'acme',
  });
  assert.equal(tx.status.code ?? 0, 0);
  for (const name of ['SELECT users', 'GET api.local', 'RabbitMQ SEND to orders']) {
    assert.equal(idOf(byName[name].traceId), '0af7651916cd43dd8448eb211c80319c', `${name} trace`);
    assert.equal(idOf(byName[name].parentSpanId), ids.tx.id, `${name} parent`);
  }
  const db = byName['SELECT users'];
  assert.equal(idOf(db.spanId), ids.db.id);
  assert.equal(db.kind, 3);
  assert.deepEqual(attrs(db.attributes), {
    'db.system.name': 'postgresql',
    'db.system': 'postgresql',
    'db.namespace': 'test',
    'db.query.text': 'SELECT * FROM users WHERE id = $1',
    'db.operation.name': 'SELECT',
    'db.user': 'postgres',
    'db.response.returned_rows': '1',
    'server.address': '127.0.0.1',
    'server.port': '5432',
    'spanforge.span.type': 'db',
    'spanforge.span.subtype': 'postgresql',
    'spanforge.span.action': 'query',
  });
  const http = byName['GET api.local'];
  assert.equal(http.kind, 3);
  assert.deepEqual(attrs(http.attributes), {
    'http.request.method': 'GET',
    'url.full': 'http://api.local:8080/stock?sku=1',
    'server.address': 'api.local',
    'server.port': '8080',
    'http.response.status_code': '503',
    'spanforge.span.type': 'external',
    'spanforge.span.subtype': 'http',
    'spanforge.span.action': 'request',
  });
  assert.equal(http.status.code, 2, 'a failed span has status ERROR');
  const send = byName['RabbitMQ SEND to orders'];
  assert.equal(send.kind, 4);
  assert.deepEqual(attrs(send.attributes), {
    'messaging.system': 'rabbitmq',
    'messaging.operation.type': 'send',
    'messaging.destination.name': 'orders',
    'spanforge.span.type': 'messaging',
    'spanforge.span.subtype': 'rabbitmq',
    'spanforge.span.action': 'send',
  });
  for (const s of spans) {
    const start = BigInt(s.startTimeUnixNano);
    const end = BigInt(s.endTimeUnixNano);
    assert.ok(end >= start, `${s.name}: end after start`);
    assert.ok(start > 1_700_000_000_000_000_000n && start % 1000n === 0n, `${s.name}: ns since the epoch from µs`);
  }
  assert.ok(BigInt(db.startTimeUnixNano) >= BigInt(tx.startTimeUnixNano));
}

function checkResource(resource: any) {
  assert.deepEqual(attrs(resource.attributes), {
    'service.name': 'otel-named',
    'service.version': '1.2.3',
    'deployment.environment.name': 'staging',
    'telemetry.sdk.name': 'spanforge',
    'telemetry.sdk.language': 'nodejs',
    'telemetry.sdk.version': VERSION,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
    'process.pid': String(process.pid),
    'host.name': hostname(),
    'host.arch': process.arch,
    team: 'core',
  });
}

const env = (url: string, protocol: string) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: url + '/otel/',
  OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
  OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=acme,Authorization=Bearer%20t0k',
  OTEL_SERVICE_NAME: 'otel-named',
  OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=staging,team=core',
});

test('OTLP/HTTP protobuf: decoded with the official opentelemetry-proto definitions, field by field', { timeout: 30_000 }, async (t) => {
  assert.ok(existsSync(join(otelDir, 'otlp-transformer-pbjs')), 'the OpenTelemetry packages are not installed: npm ci --prefix test/compat/otel (scripts/run-tests.mjs does it)');
  const s = await sink();
  t.after(() => s.close());
  const ids = await scenario(env(s.url, 'http/protobuf'));
  assert.equal(s.got.length, 1);
  const r = s.got[0]!;
  assert.equal(r.url, '/otel/v1/traces');
  assert.equal(r.headers['content-type'], 'application/x-protobuf');
  assert.equal(r.headers['x-tenant'], 'acme');
  assert.equal(r.headers.authorization, 'Bearer t0k');
  const root = require(join(otelDir, 'otlp-transformer-pbjs', 'build', 'src', 'generated', 'root.js'));
  const Req = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
  const msg = Req.toObject(Req.decode(r.body), { longs: String, bytes: String, defaults: false });
  assert.equal(msg.resourceSpans.length, 1);
  const rs = msg.resourceSpans[0];
  checkResource(rs.resource);
  assert.equal(rs.scopeSpans.length, 1);
  assert.deepEqual(rs.scopeSpans[0].scope, { name: 'spanforge', version: VERSION });
  const b64 = (v: string) => Buffer.from(v, 'base64').toString('hex');
  checkSpans(rs.scopeSpans[0].spans, ids, b64);
  // Span.flags (field 16, added in opentelemetry-proto 1.1, after that root.js) is read from the bytes.
  assert.ok(r.body.includes(Buffer.from([0x85, 0x01, 0x01, 0, 0, 0])), 'flags: sampled');
});

test('OTLP/HTTP JSON: the same spans and resource, ids as hex, 64-bit integers as strings', { timeout: 30_000 }, async (t) => {
  const s = await sink();
  t.after(() => s.close());
  const ids = await scenario(env(s.url, 'http/json'));
  assert.equal(s.got.length, 1);
  const r = s.got[0]!;
  assert.equal(r.headers['content-type'], 'application/json');
  const msg = JSON.parse(r.body.toString('utf8'));
  const rs = msg.resourceSpans[0];
  checkResource(rs.resource);
  checkSpans(rs.scopeSpans[0].spans, ids, (v) => v);
  for (const sp of rs.scopeSpans[0].spans) assert.equal(sp.flags, 1);
});

test('OTLP settings: endpoint rules, protocol fallback, headers, selection against ELASTIC_APM_SERVER_URL', () => {
  const warnings: string[] = [];
  const w = (m: string) => warnings.push(m);
  assert.equal(otlpSettings({}, undefined, w), undefined, 'nothing set: intake v2');
  assert.equal(otlpSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', ELASTIC_APM_SERVER_URL: 'http://apm:8200' }, undefined, w), undefined, 'an APM Server URL wins when exporter is unset');
  assert.equal(otlpSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, 'elastic', w), undefined);
  assert.equal(otlpSettings({}, 'otlp', w)!.url, 'http://localhost:4318/v1/traces');
  assert.equal(otlpSettings({ SPANFORGE_EXPORTER: 'otlp' }, undefined, w)!.url, 'http://localhost:4318/v1/traces');
  assert.equal(otlpSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }, undefined, w)!.url, 'http://c:4318/v1/traces');
  assert.equal(otlpSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://t/x' }, undefined, w)!.url, 'https://t/x');
  assert.deepEqual(warnings, []);
  assert.equal(otlpSettings({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'otlp', w)!.protocol, 'http/protobuf');
  assert.deepEqual(warnings, ['OTLP protocol "grpc" is not supported (http/protobuf or http/json; gRPC is not built); using http/protobuf']);
  assert.deepEqual(otlpSettings({ OTEL_EXPORTER_OTLP_HEADERS: 'a=1,B=x%3Dy', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'a=2' }, 'otlp', w)!.headers, { a: '2', b: 'x=y' });
  assert.deepEqual(parseKeyValues('k=v, bad ,=x,e=%E0%A4%A'), [['k', 'v']]);
});

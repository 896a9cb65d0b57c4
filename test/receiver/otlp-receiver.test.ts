// The receiver's OTLP/HTTP intake (receiver/otlp.ts, POST /v1/traces): a service instrumented with the
// OpenTelemetry JS SDK, exporting with the SDK's own OTLP exporters (protobuf and JSON, from
// test/compat/otel), shows up beside spanforge's own services: its trace is in /api/traces/:id with
// the SERVER span as a transaction and its children as spans, and in /api/services. The intake's
// rules apply: a foreign Origin is refused, the secret token is required when set, bodies over the
// size limit get 413.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventually, getJson, withReceiver } from './helpers.js';

const otelDir = process.env.SPANFORGE_OTEL_DIR ?? join(__dirname, '..', 'compat', 'otel', 'node_modules');
const req = (m: string) => require(join(otelDir, m));

async function sdkTrace(url: string, exporterPkg: string, service: string): Promise<string> {
  const { BasicTracerProvider, SimpleSpanProcessor } = req('@opentelemetry/sdk-trace-base');
  const { defaultResource, resourceFromAttributes } = req('@opentelemetry/resources');
  const { OTLPTraceExporter } = req(exporterPkg);
  const api = req('@opentelemetry/api');
  const exporter = new OTLPTraceExporter({ url: `${url}/v1/traces` });
  const provider = new BasicTracerProvider({ resource: defaultResource().merge(resourceFromAttributes({ 'service.name': service, 'service.version': '9.9.9' })), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('checkout-test');
  let traceId = '';
  const server = tracer.startSpan('GET /cart/:id', { kind: api.SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'http.route': '/cart/:id', 'http.response.status_code': 200 } });
  traceId = server.spanContext().traceId;
  const ctx = api.trace.setSpan(api.ROOT_CONTEXT, server);
  const db = tracer.startSpan('SELECT carts', { kind: api.SpanKind.CLIENT, attributes: { 'db.system.name': 'postgresql', 'db.query.text': 'SELECT * FROM carts' } }, ctx);
  db.end();
  const http = tracer.startSpan('GET', { kind: api.SpanKind.CLIENT, attributes: { 'http.request.method': 'GET', 'url.full': 'http://prices.local/p/1' } }, ctx);
  http.setStatus({ code: api.SpanStatusCode.ERROR });
  http.end();
  server.end();
  await provider.forceFlush();
  await provider.shutdown();
  return traceId;
}

for (const [label, pkg] of [
  ['protobuf', '@opentelemetry/exporter-trace-otlp-proto'],
  ['JSON', '@opentelemetry/exporter-trace-otlp-http'],
] as const) {
  test(`OTLP/HTTP ${label} from the OpenTelemetry JS SDK's own exporter: the trace in the API`, { timeout: 60_000 }, async (t) => {
    assert.ok(existsSync(join(otelDir, '@opentelemetry', 'sdk-trace-base')), 'npm ci --prefix test/compat/otel (scripts/run-tests.mjs does it)');
    const r = await withReceiver();
    t.after(() => r.cleanup());
    const service = `otel-sdk-${label.toLowerCase()}`;
    const traceId = await sdkTrace(r.url, pkg, service);
    const trace = await eventually(async () => {
      const tr = await getJson(`${r.url}/api/traces/${traceId}`);
      return tr.transactions.length + tr.spans.length === 3 ? tr : undefined;
    }, 10_000);
    assert.equal(trace.transactions.length, 1);
    const tx = trace.transactions[0];
    assert.equal(tx.service, service);
    assert.equal(tx.agent.name, 'opentelemetry/nodejs');
    assert.deepEqual(
      { name: tx.event.name, type: tx.event.type, result: tx.event.result, outcome: tx.event.outcome, trace_id: tx.event.trace_id, kind: tx.event.otel.span_kind },
      { name: 'GET /cart/:id', type: 'request', result: 'HTTP 2xx', outcome: 'unknown', trace_id: traceId, kind: 'SERVER' },
    );
    const spans = Object.fromEntries(trace.spans.map((s: any) => [s.event.name, s.event]));
    assert.deepEqual(Object.keys(spans).sort(), ['GET', 'SELECT carts']);
    for (const s of Object.values(spans) as any[]) {
      assert.equal(s.parent_id, tx.event.id);
      assert.equal(s.transaction_id, tx.event.id);
      assert.ok(s.duration >= 0 && s.timestamp >= tx.event.timestamp);
    }
    assert.deepEqual([spans['SELECT carts'].type, spans['SELECT carts'].subtype, spans['SELECT carts'].context.db.statement], ['db', 'postgresql', 'SELECT * FROM carts']);
    assert.deepEqual([spans.GET.type, spans.GET.subtype, spans.GET.outcome, spans.GET.context.http.url], ['external', 'http', 'failure', 'http://prices.local/p/1']);
    const services = await getJson(`${r.url}/api/services`);
    assert.ok(JSON.stringify(services).includes(service), 'the OTel service is listed');
  });
}

test('OTLP intake rules: foreign Origin 403, token required when set, size limit 413, bad body 400, content type 415', { timeout: 30_000 }, async (t) => {
  const r = await withReceiver({ secretToken: 'sekret', maxRequestSize: 1024 * 1024 });
  t.after(() => r.cleanup());
  const post = (headers: Record<string, string>, body: string | Buffer) => fetch(`${r.url}/v1/traces`, { method: 'POST', headers, body });
  const auth = { authorization: 'Bearer sekret' };
  assert.equal((await post({ 'content-type': 'application/json' }, '{}')).status, 401);
  assert.equal((await post({ ...auth, 'content-type': 'application/json', origin: 'http://evil.example' }, '{}')).status, 403);
  assert.equal((await post({ ...auth, 'content-type': 'text/plain' }, '{}')).status, 415);
  assert.equal((await post({ ...auth, 'content-type': 'application/json' }, '{"resourceSpans": [')).status, 400);
  assert.equal((await post({ ...auth, 'content-type': 'application/x-protobuf' }, Buffer.from([0x0a, 0x05, 0x01]))).status, 400);
  assert.equal((await post({ ...auth, 'content-type': 'application/json' }, '{"resourceSpans":[]}')).status, 200);
  const big = Buffer.alloc(4 * 1024 * 1024, 0x20);
  assert.equal((await post({ ...auth, 'content-type': 'application/json' }, big)).status, 413);
});

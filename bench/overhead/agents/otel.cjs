// Starts the OpenTelemetry Node SDK the documented way (`node --require ./otel.cjs app.js`): http,
// express, undici (fetch) and pg instrumentations, always-on sampling, OTLP/HTTP (JSON) exporter
// behind the SDK's default batch span processor, shipping to the harness's discarding sink.
'use strict';
const { NodeSDK, tracing } = require('@opentelemetry/sdk-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express');
const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici');
const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg');

const sdk = new NodeSDK({
  serviceName: 'bench-otel',
  sampler: new tracing.AlwaysOnSampler(),
  traceExporter: new OTLPTraceExporter({ url: `${process.env.BENCH_SINK_URL}/v1/traces` }),
  instrumentations: [new HttpInstrumentation(), new ExpressInstrumentation(), new UndiciInstrumentation(), new PgInstrumentation()],
});
sdk.start();
process.on('SIGTERM', () => {
  sdk.shutdown().finally(() => process.exit(0));
});

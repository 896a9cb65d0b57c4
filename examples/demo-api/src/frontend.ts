// Demo "orders" API: a transaction per request, a traced function, an exit span to the inventory service carrying traceparent, and a captured error.
import { createServer } from 'node:http';
import { captureError, start, startSpan, startTransaction, traced } from 'spanforge';
import { priceOrder } from './orders.js';

start({ serviceName: process.env.ELASTIC_APM_SERVICE_NAME ?? 'demo-orders', metricsInterval: 0 });

const backend = process.env.BACKEND_URL ?? 'http://127.0.0.1:3001';
const price = traced(priceOrder, { name: 'priceOrder' });

async function fetchStock(id: number): Promise<number> {
  const url = `${backend}/stock/${id}`;
  const span = startSpan('GET inventory', 'external', { subtype: 'http', action: 'GET', exitSpan: true });
  span.setHttpContext({ url, method: 'GET' });
  try {
    const headers: Record<string, string> = {};
    // The exit span's traceparent makes the inventory transaction its child.
    if (span.traceparent()) headers.traceparent = span.traceparent();
    const tracestate = span.tracestate();
    if (tracestate) headers.tracestate = tracestate;
    const res = await fetch(url, { headers });
    span.setHttpContext({ statusCode: res.status });
    return ((await res.json()) as { level: number }).level;
  } finally {
    span.end();
  }
}

const server = createServer((req, res) => {
  const tx = startTransaction('GET /orders/:id', 'request', { childOf: req.headers.traceparent as string | undefined });
  tx.setRequestContext({ method: req.method ?? 'GET', url: req.url ?? '/', httpVersion: req.httpVersion, headers: req.headers, socket: req.socket });
  const id = Number((req.url ?? '').split('/')[2]);
  const finish = (status: number, body: unknown) => {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
    tx.setResponseContext({ statusCode: status });
    tx.end();
  };
  fetchStock(Math.abs(id))
    .then((stock) => finish(200, price(id, stock)))
    .catch((err: unknown) => {
      captureError(err);
      finish(500, { error: (err as Error).message });
    });
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const addr = server.address() as { port: number };
  process.stdout.write(`orders listening on ${addr.port}\n`);
});
process.on('SIGTERM', () => server.close());

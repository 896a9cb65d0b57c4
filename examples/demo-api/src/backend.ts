// Demo "inventory" service: continues the caller's trace from the traceparent header and answers with a stock level.
import { createServer } from 'node:http';
import { start, startSpan, startTransaction } from 'spanforge';

start({ serviceName: process.env.ELASTIC_APM_SERVICE_NAME ?? 'demo-inventory', metricsInterval: 0 });

const server = createServer((req, res) => {
  const tx = startTransaction('GET /stock/:id', 'request', {
    childOf: req.headers.traceparent as string | undefined,
    tracestate: req.headers.tracestate as string | undefined,
  });
  tx.setRequestContext({ method: req.method ?? 'GET', url: req.url ?? '/', httpVersion: req.httpVersion, headers: req.headers, socket: req.socket });
  const span = startSpan('SELECT stock', 'db', { subtype: 'sqlite', action: 'query', exitSpan: true });
  span.setDbContext({ type: 'sql', instance: 'inventory', statement: 'SELECT level FROM stock WHERE id = ?' });
  span.setCodeLocation({ file: 'src/backend.ts', line: 15, column: 16, function: '<request handler>' });
  setTimeout(() => {
    span.end();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ level: 7 }));
    tx.setResponseContext({ statusCode: res.statusCode });
    tx.end();
  }, 5);
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const addr = server.address() as { port: number };
  process.stdout.write(`inventory listening on ${addr.port}\n`);
});
process.on('SIGTERM', () => server.close());

// Demo "inventory" service: a plain node:http server; its transactions continue the shop's traces.
import { createServer } from 'node:http';
import { flush, start } from 'spanforge';

start({ serviceName: 'demo-inventory', metricsInterval: 0 });

const server = createServer((req, res) => {
  const m = /^\/(stock|reserve)\/(\d+)$/.exec(req.url ?? '');
  res.setHeader('content-type', 'application/json');
  if (!m) {
    res.statusCode = 404;
    res.end('{"error":"unknown path"}');
  } else if (m[1] === 'reserve' && Number(m[2]) % 3 === 0) {
    res.statusCode = 409; // every third product is out of stock
    res.end('{"error":"out of stock"}');
  } else {
    res.end(JSON.stringify({ id: Number(m[2]), available: 10 - (Number(m[2]) % 10) }));
  }
});

server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`listening ${typeof a === 'object' && a ? a.port : 0}\n`);
});

process.on('SIGTERM', () => {
  void flush().finally(() => {
    server.close();
    process.exit(0);
  });
});

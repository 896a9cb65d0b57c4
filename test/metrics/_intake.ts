// Test helper: a minimal APM Server intake on loopback (port 0) that gunzips and parses NDJSON events.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';

export interface Intake {
  url: string;
  /** Every event line received, in order (metadata lines included). */
  events: Record<string, Record<string, unknown>>[];
  close(): Promise<void>;
}

export async function startIntake(): Promise<Intake> {
  const events: Intake['events'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ version: '8.15.0', build_date: '2024-01-01T00:00:00Z', build_sha: 'test' }));
        return;
      }
      if (req.method === 'POST' && req.url?.startsWith('/intake/v2/events')) {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
        for (const line of body.toString('utf8').split('\n')) {
          if (line.trim() !== '') events.push(JSON.parse(line) as Record<string, Record<string, unknown>>);
        }
        res.statusCode = 202;
        res.end();
        return;
      }
      res.statusCode = 404;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    events,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

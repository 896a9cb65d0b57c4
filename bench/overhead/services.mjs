// The benchmark's peers of the app, in one child process: the stub the app fetches from, and the
// sinks the agents ship to (intake v2 for elastic-apm-node and spanforge, OTLP/HTTP for OTel).
// The sinks accept and discard, counting what they received so the harness can show that every
// agent really shipped its data during the run.
import http from 'node:http';
import zlib from 'node:zlib';

const counters = { intakeRequests: 0, intakeBytes: 0, intakeEvents: 0, otlpRequests: 0, otlpBytes: 0, otlpSpans: 0, other: 0 };

function reset() {
  for (const key of Object.keys(counters)) counters[key] = 0;
}

/**
 * Consumes a request body (gunzipping when asked), counting bytes and needles as chunks arrive:
 * elastic-apm-node keeps one request open for up to 10 s, so counting only at its end would miss
 * most of a short run.
 */
function consume(req, needle, onChunk, onDone) {
  const gzip = /gzip/i.test(String(req.headers['content-encoding'] ?? ''));
  const source = gzip ? req.pipe(zlib.createGunzip()) : req;
  source.on('data', (chunk) => onChunk(chunk.length, count(chunk, needle)));
  source.on('error', () => onDone());
  source.on('end', onDone);
}

function count(buffer, needle) {
  let n = 0;
  for (let at = buffer.indexOf(needle); at !== -1; at = buffer.indexOf(needle, at + needle.length)) n++;
  return n;
}

const NEWLINE = Buffer.from('\n');
const SPAN_ID = Buffer.from('"spanId"');

const sink = http.createServer((req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'POST' && url.startsWith('/intake/v2/events')) {
    counters.intakeRequests++;
    // One event per line; the first line of each request is metadata.
    counters.intakeEvents--;
    consume(
      req,
      NEWLINE,
      (bytes, lines) => {
        counters.intakeBytes += bytes;
        counters.intakeEvents += lines;
      },
      () => res.writeHead(202).end(),
    );
    return;
  }
  if (req.method === 'POST' && url.startsWith('/v1/traces')) {
    counters.otlpRequests++;
    consume(
      req,
      SPAN_ID,
      (bytes, spans) => {
        counters.otlpBytes += bytes;
        counters.otlpSpans += spans;
      },
      () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'),
    );
    return;
  }
  if (url.startsWith('/config/v1/agents')) {
    req.resume();
    // Central config: nothing to change; tell the agent to ask again in 5 minutes.
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300', etag: '"bench"' }).end('{}');
    return;
  }
  if (url.startsWith('/__stats')) {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counters));
    if (url.includes('reset')) reset();
    return;
  }
  counters.other++;
  req.resume();
  if (url === '/' || url === '') {
    // APM Server info, as elastic-apm-node asks for it at start-up.
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ build_date: '2026-01-01T00:00:00Z', build_sha: 'bench', publish_ready: true, version: '8.15.0' }));
    return;
  }
  res.writeHead(404).end();
});

const stub = http.createServer((req, res) => {
  req.resume();
  const match = /^\/profile\/(\d+)/.exec(req.url ?? '');
  const id = match ? Number(match[1]) : 0;
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id, plan: id % 2 === 0 ? 'pro' : 'free' }));
});
// Keep-alive sockets from the app's fetch pool must outlive a pause between load phases.
stub.keepAliveTimeout = 60_000;
sink.keepAliveTimeout = 60_000;

let listening = 0;
for (const server of [sink, stub]) {
  server.listen(0, '127.0.0.1', () => {
    if (++listening === 2) {
      process.stdout.write(JSON.stringify({ sinkPort: sink.address().port, stubPort: stub.address().port }) + '\n');
    }
  });
}
process.on('SIGTERM', () => process.exit(0));
if (process.argv.includes('--exit-with-stdin')) {
  // The harness holds our stdin open; when it dies (even by SIGKILL) the pipe ends and so do we.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

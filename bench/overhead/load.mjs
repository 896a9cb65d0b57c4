// The load generator, run as its own process so it does not share an event loop with the app or
// the harness: autocannon on loopback for a bounded time, either saturating (closed loop over N
// connections) or at a fixed overall rate. Latencies are taken from autocannon's per-response
// event at hrtime resolution (its own histogram keeps whole milliseconds, too coarse for a 1 ms
// target). Prints one JSON line.
import autocannon from 'autocannon';

const opts = JSON.parse(process.argv[2]);
const latencies = [];
let next = 0;

const instance = autocannon({
  url: opts.url,
  connections: opts.connections,
  duration: opts.duration,
  ...(opts.rate ? { overallRate: opts.rate } : {}),
  timeout: 10,
  requests: [
    {
      method: 'GET',
      // Spread the ids over the table so the query is not one cached row.
      setupRequest: (req) => ({ ...req, path: `/users/${1 + (next++ % 1000)}` }),
    },
  ],
});

instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
  if (statusCode >= 200 && statusCode < 300) latencies.push(responseTimeMs);
});

instance.on('done', (result) => {
  const sorted = Float64Array.from(latencies).sort();
  const pct = (p) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);
  const ok = sorted.length;
  process.stdout.write(
    JSON.stringify({
      requests: ok,
      durationSeconds: result.duration,
      rps: ok / result.duration,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      p50: pct(50),
      p90: pct(90),
      p99: pct(99),
      max: ok ? sorted[ok - 1] : null,
    }) + '\n',
  );
});

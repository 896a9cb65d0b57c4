// Issue 12, item 1: every query parameter of every /api route is validated. The time-bucket loop
// of the charts hung the receiver on `from=1e22&to=1e22` (t + step === t in floating point, RSS
// without bound); now any malformed, repeated, unknown or out-of-bounds parameter is a 400 that
// names it, answered at once, and the receiver keeps serving. The receiver runs in a child process
// so that a hang fails the test (time limit per request) instead of hanging it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_TIME_MS } from '../../receiver/params.js';
import { NDJSON, send } from './helpers.js';
import { raw, serveChild, waitStored, type Served } from './security-helpers.js';

describe('API query parameters are validated (issue 12 item 1)', { timeout: 120_000 }, () => {
  let s: Served;
  before(async () => {
    s = await serveChild();
    const lines = [
      JSON.stringify({ metadata: { service: { name: 'sec-params', agent: { name: 'nodejs', version: '4.0.0' } } } }),
      JSON.stringify({ transaction: { id: 'a'.repeat(16), trace_id: 'b'.repeat(32), name: 'GET /x', type: 'request', duration: 5, timestamp: Date.now() * 1000, span_count: { started: 0 } } }),
    ];
    const rep = await send(`${s.url}/intake/v2/events?verbose`, lines.join('\n'), { headers: NDJSON });
    assert.deepEqual(rep.json(), { accepted: 1 });
    await waitStored(s, 1);
  });
  after(async () => {
    await s?.stop();
  });

  test('charts?from=1e22&to=1e22 answers 400 naming from at once; the receiver keeps serving and its RSS stays put', async () => {
    const rss0 = s.rss()!;
    const r = await raw(`${s.url}/api/services/any/charts?from=1e22&to=1e22`, { timeoutMs: 3000 });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json().parameter, 'from');
    assert.match(r.json().error, /^query parameter 'from' must be a time in milliseconds since 1970 \(an integer from 0 to 8640000000000000\), got '1e22'$/);
    assert.ok(r.ms < 1000, `answered in ${r.ms} ms`);
    // Digits only, but past the latest JS Date: also 400, not a loop over 10^19 seconds.
    const big = await raw(`${s.url}/api/services/any/charts?from=10000000000000000&to=10000000000000000`, { timeoutMs: 3000 });
    assert.equal(big.status, 400, big.text);
    const stats = await raw(`${s.url}/api/stats`, { timeoutMs: 3000 });
    assert.equal(stats.status, 200);
    assert.equal(stats.json().transactions, 1);
    assert.ok(s.rss()! < rss0 + 50 * 1024 * 1024, `RSS ${rss0} -> ${s.rss()}`);
  });

  test('the latest representable range answers a bounded chart quickly', async () => {
    const r = await raw(`${s.url}/api/services/sec-params/charts?from=${MAX_TIME_MS - 3600_000}&to=${MAX_TIME_MS}`, { timeoutMs: 3000 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().stepSeconds, 60);
    assert.equal(r.json().points.length, 61);
    // the longest range (all of time a JS Date holds) still gives about 60 points
    const y = await raw(`${s.url}/api/services/sec-params/charts?from=0&to=${MAX_TIME_MS}`, { timeoutMs: 3000 });
    assert.equal(y.status, 200, y.text);
    assert.ok(y.json().points.length <= 62, `${y.json().points.length} points`);
    assert.equal(y.json().points.reduce((n: number, p: { count: number }) => n + p.count, 0), 1);
  });

  const now = Date.now();
  const cases: Array<[string, string, RegExp]> = [
    ['/api/services?from=-1', 'from', /must be a time in milliseconds since 1970/],
    ['/api/services?from=abc', 'from', /got 'abc'/],
    ['/api/services?from=1.5', 'from', /got '1\.5'/],
    ['/api/services?to=Infinity', 'to', /got 'Infinity'/],
    ['/api/services?from=0x10', 'from', /got '0x10'/],
    [`/api/services?from=${now}&to=${now - 1}`, 'to', /^query parameter 'to' \(\d+\) must not be before 'from' \(\d+\)$/],
    ['/api/services?from=1&from=2', 'from', /^query parameter 'from' is given 2 times; give it once$/],
    ['/api/services?bogus=1', 'bogus', /^unknown query parameter 'bogus'; this route takes from, to$/],
    ['/api/stats?from=1', 'from', /^unknown query parameter 'from'; this route takes none$/],
    [`/api/services/x/charts?type=${'t'.repeat(1025)}`, 'type', /^query parameter 'type' must be at most 1024 characters, got 1025$/],
    ['/api/services/x/charts?type=a&type=b', 'type', /given 2 times/],
    ['/api/services/x/transactions?to=9e99', 'to', /got '9e99'/],
    ['/api/services/x/samples?limit=0', 'limit', /^query parameter 'limit' must be an integer from 1 to 500, got '0'$/],
    ['/api/services/x/samples?limit=100000', 'limit', /from 1 to 500/],
    ['/api/services/x/samples?limit=ten', 'limit', /got 'ten'/],
    [`/api/services/x/metrics?${Array.from({ length: 51 }, (_, i) => `name=m${i}`).join('&')}`, 'name', /^query parameter 'name' is given 51 times; at most 50 are allowed$/],
    ['/api/traces/abc?limit=1', 'limit', /unknown query parameter 'limit'/],
    ['/api/errors?service=a&service=b', 'service', /given 2 times/],
    ['/api/errors/somekey?from=x', 'from', /got 'x'/],
    [`/api/traces/${'f'.repeat(1025)}`, 'path segment 3', /^path segment 3 must be at most 1024 characters, got 1025$/],
  ];
  for (const [path, parameter, message] of cases) {
    test(`GET ${path.length > 90 ? path.slice(0, 90) + '…' : path} → 400 naming ${parameter}`, async () => {
      const r = await raw(`${s.url}${path}`, { timeoutMs: 3000 });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.json().parameter, parameter);
      assert.match(r.json().error, message);
    });
  }

  test('valid parameters still answer as before', async () => {
    const q = `from=${now - 3600_000}&to=${now + 60_000}`;
    const svc = await raw(`${s.url}/api/services?${q}`);
    assert.equal(svc.status, 200, svc.text);
    assert.deepEqual(svc.json().map((x: { name: string; count: number }) => [x.name, x.count]), [['sec-params', 1]]);
    const samples = await raw(`${s.url}/api/services/sec-params/samples?${q}&name=GET%20%2Fx&limit=1`);
    assert.equal(samples.status, 200, samples.text);
    assert.deepEqual(samples.json().map((x: { id: string }) => x.id), ['a'.repeat(16)]);
    const def = await raw(`${s.url}/api/services/sec-params/transactions`);
    assert.equal(def.status, 200, def.text);
    assert.deepEqual(def.json().map((x: { name: string }) => x.name), ['GET /x']);
  });
});

// Issue 12, item 7: malformed percent-encoding in an /api path (`/api/traces/%`) answered 500
// (decodeURIComponent threw into the catch-all); it is a 400 naming the path segment, and
// well-formed encodings still reach the route.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NDJSON, send } from './helpers.js';
import { raw, serveChild, type Served } from './security-helpers.js';

describe('malformed percent-encoding in /api paths (issue 12 item 7)', { timeout: 60_000 }, () => {
  let s: Served;
  before(async () => {
    s = await serveChild();
  });
  after(async () => {
    await s?.stop();
  });

  const cases: Array<[string, string]> = [
    ['/api/traces/%', 'path segment 3'],
    ['/api/traces/%zz', 'path segment 3'],
    ['/api/traces/%E0%A4%A', 'path segment 3'],
    ['/api/traces/%C0%AF', 'path segment 3'], // overlong UTF-8
    ['/api/errors/%ED%A0%80', 'path segment 3'], // a lone surrogate
    ['/api/services/%/charts', 'path segment 3'],
    ['/api/services/a%2/transactions', 'path segment 3'],
    ['/api/%/x', 'path segment 2'],
  ];
  for (const [path, parameter] of cases) {
    test(`GET ${path} → 400 naming ${parameter}`, async () => {
      const r = await raw(`${s.url}${path}`, { timeoutMs: 3000 });
      assert.equal(r.status, 400, r.text);
      assert.deepEqual(r.json(), { error: `${parameter} of '${path}' has malformed percent-encoding`, parameter });
    });
  }

  test('an empty segment is a 400 too, and well-formed encodings reach the route', async () => {
    const empty = await raw(`${s.url}/api/services//charts`, { timeoutMs: 3000 });
    assert.equal(empty.status, 400, empty.text);
    assert.equal(empty.json().parameter, 'path segment 3');
    const lines = [
      JSON.stringify({ metadata: { service: { name: 'sec path-x y', agent: { name: 'nodejs', version: '4.0.0' } } } }),
      JSON.stringify({ transaction: { id: 'c'.repeat(16), trace_id: 'd'.repeat(32), name: 'GET /', type: 'request', duration: 1, timestamp: Date.now() * 1000, span_count: { started: 0 } } }),
    ];
    assert.equal((await send(`${s.url}/intake/v2/events`, lines.join('\n'), { headers: NDJSON })).status, 202);
    const name = encodeURIComponent('sec path-x y');
    for (let i = 0; i < 100; i++) {
      const r = await raw(`${s.url}/api/services/${name}/transactions`, { timeoutMs: 3000 });
      assert.equal(r.status, 200, r.text);
      if (r.json().length === 1) return;
      await new Promise((res) => setTimeout(res, 30));
    }
    assert.fail('the transaction of the encoded service name never showed');
  });
});

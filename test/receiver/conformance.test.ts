// Intake-v2 conformance: every reference testdata file posted as an agent would, with the status
// codes and bodies APM Server answers (testdata/README.md), plus the protocol's edge cases.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import { NDJSON, REFERENCE_SCHEMAS, send, TESTDATA, testdata, withReceiver } from './helpers.js';

type R = Awaited<ReturnType<typeof withReceiver>>;
let r: R;
before(async () => {
  r = await withReceiver();
});
after(async () => {
  await r.cleanup();
});

const intake = () => `${r.url}/intake/v2/events`;
const META = JSON.stringify({ metadata: { service: { name: 'conf', agent: { name: 'nodejs', version: '1.0.0' } } } });
const SPAN = (id: string) =>
  JSON.stringify({ span: { id, trace_id: '0123456789abcdef0123456789abcdef', parent_id: 'abcdef0123456789', name: 'q', type: 'db', start: 0, duration: 1 } });

// Expected outcome of each testdata file (README "testdata/"); accepted counts for the valid ones
// are the event lines of the file.
const REJECTED: Record<string, { accepted: number; errors: Array<{ message: string | RegExp; document: string }> }> = {
  'invalid-event.ndjson': {
    accepted: 1,
    errors: [{ message: /^decode error: data read error: v2\.transaction\.ID: /, document: 'LINE2' }],
  },
  'invalid-json-event.ndjson': { accepted: 1, errors: [{ message: 'did not recognize object type: "invalid-json"', document: '{ "invalid-json" }' }] },
  'invalid-event-type.ndjson': {
    accepted: 0,
    errors: [{ message: 'did not recognize object type: "tennis-court"', document: '{"tennis-court": {"name": "Centre Court, Wimbledon"}}' }],
  },
  'invalid-json-metadata.ndjson': {
    accepted: 0,
    errors: [{ message: /^decode error: data read error: v2\.metadataRoot\.Metadata: /, document: '{"metadata": {"invalid-json"}}' }],
  },
  'invalid-metadata.ndjson': { accepted: 0, errors: [{ message: "validation error: 'metadata' required", document: '{"metadata": {"user": null}}' }] },
  'invalid-metadata-2.ndjson': { accepted: 0, errors: [{ message: '"metadata" or "m" required', document: '{"not": "metadata"}' }] },
};
const KNOWN_COUNTS: Record<string, number> = {
  'errors.ndjson': 5,
  'events.ndjson': 4,
  'heavy.ndjson': 1920,
  'logs.ndjson': 7,
  'metadata.ndjson': 0,
  'metricsets.ndjson': 6,
  'spans.ndjson': 10,
  'transactions.ndjson': 5,
  'transactions_spans.ndjson': 9,
  'apm-nodejs-traces-3.29.0.ndjson': 1844,
};

function eventLines(buf: Buffer): string[] {
  return buf.toString('utf8').split('\n').filter((l) => l.trim() !== '');
}

describe('reference testdata', () => {
  const files = readdirSync(TESTDATA).filter((f) => f.endsWith('.ndjson')).sort();
  test('all 30 files are present', () => assert.equal(files.length, 30));
  for (const file of files) {
    for (const encoding of ['gzip', 'deflate', 'plain'] as const) {
      test(`${file} (${encoding})`, async () => {
        const raw = testdata(file);
        const body = encoding === 'gzip' ? gzipSync(raw) : encoding === 'deflate' ? deflateSync(raw) : raw;
        const headers: Record<string, string> = { ...NDJSON };
        if (encoding !== 'plain') headers['Content-Encoding'] = encoding;
        const rep = await send(`${intake()}?verbose`, body, { headers });
        const expected = REJECTED[file];
        if (!expected) {
          const n = eventLines(raw).length - 1;
          if (KNOWN_COUNTS[file] !== undefined) assert.equal(n, KNOWN_COUNTS[file]);
          assert.equal(rep.status, 202, rep.text);
          assert.deepEqual(rep.json(), { accepted: n });
          assert.equal(rep.headers['content-type'], 'application/json');
          return;
        }
        assert.equal(rep.status, 400, rep.text);
        assert.equal(rep.headers.connection, 'close');
        const got = rep.json();
        assert.equal(got.accepted, expected.accepted);
        assert.equal(got.errors.length, expected.errors.length);
        expected.errors.forEach((e, i) => {
          const doc = e.document === 'LINE2' ? eventLines(raw)[1] : e.document;
          assert.equal(got.errors[i].document, doc);
          if (typeof e.message === 'string') assert.equal(got.errors[i].message, e.message);
          else assert.match(got.errors[i].message, e.message);
        });
      });
    }
  }
});

describe('protocol edge cases', () => {
  test('202 without ?verbose has no body and no Content-Type', async () => {
    const rep = await send(intake(), testdata('errors.ndjson'), { headers: NDJSON });
    assert.equal(rep.status, 202);
    assert.equal(rep.text, '');
    assert.equal(rep.headers['content-type'], undefined);
  });

  test('empty body: 202, nothing accepted', async () => {
    const rep = await send(`${intake()}?verbose`, '', { headers: NDJSON });
    assert.equal(rep.status, 202);
    assert.deepEqual(rep.json(), { accepted: 0 });
  });

  test('only POST is supported (400, not 405)', async () => {
    const rep = await send(intake(), undefined, { method: 'GET', headers: { Accept: 'application/json' } });
    assert.equal(rep.status, 400);
    assert.deepEqual(rep.json(), { accepted: 0, errors: [{ message: 'only POST requests are supported' }] });
  });

  test('Content-Type must contain application/x-ndjson; absent is fine; charset is fine', async () => {
    const bad = await send(intake(), testdata('errors.ndjson'), { headers: { 'Content-Type': 'application/json', Accept: 'application/json' } });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json(), { accepted: 0, errors: [{ message: "invalid content type: 'application/json'" }] });
    const none = await send(`${intake()}?verbose`, testdata('errors.ndjson'), { headers: { Accept: 'application/json' } });
    assert.deepEqual([none.status, none.json()], [202, { accepted: 5 }]);
    const cs = await send(`${intake()}?verbose`, testdata('errors.ndjson'), { headers: { 'Content-Type': 'application/x-ndjson; charset=utf-8' } });
    assert.equal(cs.status, 202);
  });

  test('without Accept: application/json the body is JSON but text/plain', async () => {
    const rep = await send(intake(), '{"nope":1}\n', { headers: { 'Content-Type': 'application/x-ndjson' } });
    assert.equal(rep.status, 400);
    assert.equal(rep.headers['content-type'], 'text/plain; charset=utf-8');
    assert.deepEqual(rep.json(), { accepted: 0, errors: [{ document: '{"nope":1}', message: '"metadata" or "m" required' }] });
  });

  test('corrupt gzip / zlib: data decoding error', async () => {
    const g = await send(intake(), 'this is not gzip', { headers: { ...NDJSON, 'Content-Encoding': 'gzip' } });
    assert.equal(g.status, 400);
    assert.deepEqual(g.json(), { accepted: 0, errors: [{ message: 'data decoding error: gzip: invalid header' }] });
    const d = await send(intake(), 'this is not zlib', { headers: { ...NDJSON, 'Content-Encoding': 'deflate' } });
    assert.equal(d.status, 400);
    assert.deepEqual(d.json(), { accepted: 0, errors: [{ message: 'data decoding error: zlib: invalid header' }] });
  });

  test('compression is sniffed when Content-Encoding is missing or unknown', async () => {
    const raw = testdata('events.ndjson');
    for (const [body, ce] of [[gzipSync(raw), undefined], [deflateSync(raw), undefined], [gzipSync(raw), 'br']] as const) {
      const headers: Record<string, string> = { ...NDJSON };
      if (ce) headers['Content-Encoding'] = ce;
      const rep = await send(`${intake()}?verbose`, body, { headers });
      assert.deepEqual([rep.status, rep.json()], [202, { accepted: 4 }]);
    }
  });

  test('a truncated gzip stream keeps the events decoded before the cut', async () => {
    const lines = [META, ...Array.from({ length: 200 }, (_, i) => SPAN(`trunc${String(i).padStart(11, '0')}`))].join('\n') + '\n';
    const gz = gzipSync(lines);
    const rep = await send(`${intake()}?verbose`, gz.subarray(0, Math.floor(gz.length * 0.8)), { headers: { ...NDJSON, 'Content-Encoding': 'gzip' } });
    assert.equal(rep.status, 400);
    const body = rep.json();
    assert.ok(body.accepted > 0 && body.accepted < 200, `accepted ${body.accepted}`);
    assert.equal(body.errors.at(-1).message, 'data decoding error: gzip: unexpected EOF');
  });

  test('a line over 300 KiB: "event exceeded the permitted size", the stream continues', async () => {
    const big = JSON.stringify({ span: { id: 'x', name: 'a'.repeat(310 * 1024) } });
    const body = [META, SPAN('aaaaaaaaaaaaaaaa'), big, SPAN('bbbbbbbbbbbbbbbb')].join('\n');
    const rep = await send(`${intake()}?verbose`, gzipSync(body), { headers: { ...NDJSON, 'Content-Encoding': 'gzip' } });
    assert.equal(rep.status, 400);
    const got = rep.json();
    assert.equal(got.accepted, 2);
    assert.equal(got.errors.length, 1);
    assert.equal(got.errors[0].message, 'event exceeded the permitted size');
    assert.equal(got.errors[0].document, big.slice(0, 300 * 1024));
  });

  test('an oversized metadata line aborts the stream', async () => {
    const meta = JSON.stringify({ metadata: { service: { name: 'x', agent: { name: 'a', version: '1' } }, labels: { a: 'b'.repeat(301 * 1024) } } });
    const rep = await send(`${intake()}?verbose`, [meta, SPAN('cccccccccccccccc')].join('\n'), { headers: NDJSON });
    assert.equal(rep.status, 400);
    const got = rep.json();
    assert.equal(got.accepted, 0);
    assert.equal(got.errors[0].message, 'event exceeded the permitted size');
  });

  test('at most 5 per-event errors are reported; valid events are still accepted', async () => {
    const body = [META, ...Array.from({ length: 7 }, (_, i) => `{"bogus${i}": {}}`), SPAN('dddddddddddddddd'), ''].join('\n');
    const rep = await send(`${intake()}?verbose`, body, { headers: NDJSON });
    assert.equal(rep.status, 400);
    const got = rep.json();
    assert.equal(got.accepted, 1);
    assert.deepEqual(
      got.errors.map((e: { message: string }) => e.message),
      [0, 1, 2, 3, 4].map((i) => `did not recognize object type: "bogus${i}"`),
    );
  });

  test('schema violations are validation errors naming the field', async () => {
    const tx = JSON.stringify({ transaction: { id: 'abcdefabcdef0123', trace_id: '0123456789abcdef0123456789abcdef', type: 'request', duration: 1 } });
    const rep = await send(`${intake()}?verbose`, [META, tx].join('\n'), { headers: NDJSON });
    assert.equal(rep.status, 400);
    assert.deepEqual(rep.json().errors, [{ document: tx, message: "validation error: 'span_count' required" }]);
    const badName = JSON.stringify({ metadata: { service: { name: 'bad/name', agent: { name: 'nodejs', version: '1' } } } });
    const rep2 = await send(`${intake()}?verbose`, [badName, SPAN('eeeeeeeeeeeeeeee')].join('\n'), { headers: NDJSON });
    assert.equal(rep2.status, 400);
    assert.equal(rep2.json().accepted, 0);
    assert.match(rep2.json().errors[0].message, /^validation error: 'service\.name': must match pattern/);
  });

  test('breakdown metricsets keep only span.self_time.*; without them the line is dropped uncounted', async () => {
    const keep = JSON.stringify({ metricset: { transaction: { name: 'GET /', type: 'request' }, span: { type: 'db' }, samples: { 'span.self_time.count': { value: 1 }, 'transaction.duration.count': { value: 1 } } } });
    const drop = JSON.stringify({ metricset: { transaction: { name: 'GET /', type: 'request' }, samples: { 'transaction.duration.count': { value: 1 } } } });
    const rep = await send(`${intake()}?verbose`, [META, keep, drop].join('\n'), { headers: NDJSON });
    assert.deepEqual([rep.status, rep.json()], [202, { accepted: 1 }]);
  });

  test('the request-size limit answers 413 and the server stays up', async () => {
    const small = await withReceiver({ maxRequestSize: 64 * 1024 });
    try {
      const lines = [META, ...Array.from({ length: 2000 }, (_, i) => SPAN(`big${String(i).padStart(13, '0')}`))].join('\n');
      const rep = await send(`${small.url}/intake/v2/events?verbose`, lines, { headers: NDJSON });
      assert.equal(rep.status, 413);
      const got = rep.json();
      assert.ok(got.accepted > 0 && got.accepted < 2000);
      assert.equal(got.errors.at(-1).message, 'request body exceeded the permitted size of 65536 bytes');
      const ok = await send(`${small.url}/intake/v2/events?verbose`, testdata('errors.ndjson'), { headers: NDJSON });
      assert.deepEqual([ok.status, ok.json()], [202, { accepted: 5 }]);
    } finally {
      await small.cleanup();
    }
  });

  test('RUM v3 metadata {"m": …} as the first line is accepted, as APM Server does on this endpoint', async () => {
    const m = JSON.stringify({ m: { se: { n: 'rum-app', en: 'prod', ve: '2.1', a: { n: 'rum-js', ve: '5.16.0' }, la: { n: 'javascript' } }, l: { team: 'web' }, u: { id: 7 } } });
    const tx = JSON.stringify({ transaction: { id: 'a1b2c3d4e5f60718', trace_id: 'a1b2c3d4e5f60718a1b2c3d4e5f60718', type: 'page-load', duration: 12.5, span_count: { started: 0 } } });
    const ok = await send(`${intake()}?verbose`, `${m}\n${tx}\n`, { headers: NDJSON });
    assert.deepEqual([ok.status, ok.json()], [202, { accepted: 1 }]);
    // The compact metadata is stored in the v2 shape: service, environment and agent are indexed.
    const { eventually, getJson } = await import('./helpers.js');
    const svc = await eventually(async () => (await getJson(`${r.url}/api/services?from=0&to=${Date.now() + 60_000}`)).find((x: any) => x.name === 'rum-app'));
    assert.equal(svc.environment, 'prod');
    assert.equal(svc.agentName, 'rum-js');
    // Its own rules: service name and agent name/version required, name pattern.
    const missing = JSON.stringify({ m: { se: { a: { n: 'rum-js', ve: '1' } } } });
    const bad = await send(intake(), `${missing}\n${tx}\n`, { headers: NDJSON });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json(), { accepted: 0, errors: [{ message: "validation error: 'se.n' required", document: missing }] });
    const noAgent = JSON.stringify({ m: { se: { n: 'x' } } });
    assert.deepEqual((await send(intake(), `${noAgent}\n`, { headers: NDJSON })).json().errors[0].message, "validation error: 'se.a' required");
    const pattern = JSON.stringify({ m: { se: { n: 'bad/name', a: { n: 'rum-js', ve: '1' } } } });
    assert.match((await send(intake(), `${pattern}\n`, { headers: NDJSON })).json().errors[0].message, /^validation error: 'se\.n': must match pattern/);
    assert.equal((await send(intake(), '{"m": null}\n', { headers: NDJSON })).json().errors[0].message, "validation error: 'm' required");
  });

  test('unknown paths: 404 {"error": ...}', async () => {
    const rep = await send(`${r.url}/nope`, undefined, { method: 'GET' });
    assert.equal(rep.status, 404);
    assert.deepEqual(rep.json(), { error: '404 page not found' });
  });
});

describe('server information and central config', () => {
  test('GET / answers agents with server information', async () => {
    const rep = await send(`${r.url}/`, undefined, { method: 'GET', headers: { Accept: 'application/json' } });
    assert.equal(rep.status, 200);
    const info = rep.json();
    assert.equal(info.version, '9.5.2');
    assert.equal(info.publish_ready, true);
    assert.match(info.build_date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  test('GET / from a browser redirects to the UI; POST / is 405', async () => {
    const html = await send(`${r.url}/`, undefined, { method: 'GET', headers: { Accept: 'text/html,application/xhtml+xml' } });
    assert.equal(html.status, 302);
    assert.equal(html.headers.location, '/ui/');
    const post = await send(`${r.url}/`, '', { headers: { Accept: 'application/json' } });
    assert.equal(post.status, 405);
    assert.deepEqual(post.json(), {
      error: 'method not supported: this is the server information endpoint; did you mean to send data to another endpoint instead?',
    });
  });

  test('config: {} with Etag "-", 304 on If-None-Match, 400 without service.name, 405 on PUT', async () => {
    const get = await send(`${r.url}/config/v1/agents?service.name=conf`, undefined, { method: 'GET' });
    assert.equal(get.status, 200);
    assert.deepEqual(get.json(), {});
    assert.equal(get.headers.etag, '"-"');
    assert.equal(get.headers['cache-control'], 'max-age=30, must-revalidate');
    const cached = await send(`${r.url}/config/v1/agents?service.name=conf`, undefined, { method: 'GET', headers: { 'If-None-Match': '"-"' } });
    assert.equal(cached.status, 304);
    assert.equal(cached.text, '');
    const q = await send(`${r.url}/config/v1/agents?service.name=conf&ifnonematch=-`, undefined, { method: 'GET' });
    assert.equal(q.status, 304);
    const post = await send(`${r.url}/config/v1/agents`, JSON.stringify({ service: { name: 'conf', environment: 'dev' } }), { headers: { 'Content-Type': 'application/json' } });
    assert.deepEqual([post.status, post.json()], [200, {}]);
    const missing = await send(`${r.url}/config/v1/agents`, undefined, { method: 'GET' });
    assert.deepEqual([missing.status, missing.json()], [400, { error: 'service.name is required' }]);
    const put = await send(`${r.url}/config/v1/agents?service.name=conf`, '', { method: 'PUT' });
    assert.deepEqual([put.status, put.json()], [405, { error: 'method not supported: PUT' }]);
  });
});

describe('secret token and API key', () => {
  let s: R;
  const apiKey = Buffer.from('id1:key1').toString('base64');
  before(async () => {
    s = await withReceiver({ secretToken: 's3cret', apiKey });
  });
  after(async () => {
    await s.cleanup();
  });
  const post = (auth?: string) => send(`${s.url}/intake/v2/events?verbose`, testdata('errors.ndjson'), { headers: { ...NDJSON, ...(auth ? { Authorization: auth } : {}) } });

  test('missing, wrong, unknown scheme and malformed ApiKey: 401 {"error": ...}', async () => {
    const hint = "expected 'Authorization: Bearer secret_token' or 'Authorization: ApiKey base64(API key ID:API key)'";
    const cases: Array<[string | undefined, string]> = [
      [undefined, `authentication failed: missing or improperly formatted Authorization header: ${hint}`],
      ['Bearer nope', 'authentication failed'],
      ['Basic abc', `authentication failed: unknown Authentication header Basic: ${hint}`],
      ['ApiKey !!!', 'authentication failed: improperly encoded/formatted ApiKey credentials: expected base64(ID:APIKey)'],
      [`ApiKey ${Buffer.from('id1:wrong').toString('base64')}`, 'authentication failed'],
    ];
    for (const [auth, message] of cases) {
      const rep = await post(auth);
      assert.equal(rep.status, 401, String(auth));
      assert.deepEqual(rep.json(), { error: message });
    }
  });

  test('a right token or key is accepted', async () => {
    assert.deepEqual((await post('Bearer s3cret')).json(), { accepted: 5 });
    assert.deepEqual((await post(`ApiKey ${apiKey}`)).json(), { accepted: 5 });
  });

  test('GET / without credentials: 200 with an empty body', async () => {
    const anon = await send(`${s.url}/`, undefined, { method: 'GET', headers: { Accept: 'application/json' } });
    assert.deepEqual([anon.status, anon.text], [200, '']);
    const authed = await send(`${s.url}/`, undefined, { method: 'GET', headers: { Accept: 'application/json', Authorization: 'Bearer s3cret' } });
    assert.equal(authed.json().version, '9.5.2');
  });
});

test('receiver/schemas is an unmodified copy of the reference schemas', () => {
  for (const name of ['metadata', 'transaction', 'span', 'error', 'metricset']) {
    assert.equal(
      readFileSync(join(__dirname, '..', '..', 'receiver', 'schemas', `${name}.json`), 'utf8'),
      readFileSync(join(REFERENCE_SCHEMAS, `${name}.json`), 'utf8'),
      name,
    );
  }
});

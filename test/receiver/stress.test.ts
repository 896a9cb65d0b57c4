// Stress: many concurrent agents streaming gzip in small chunks, side by side with garbage,
// truncated, aborted and half-valid streams and a decompression bomb. The server stays up, every
// valid event of a valid stream is stored exactly once, half-valid streams keep their valid events.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { openDatabase } from '../../receiver/sqlite.js';
import { NDJSON, send, withReceiver } from './helpers.js';

const meta = (service: string) => JSON.stringify({ metadata: { service: { name: service, agent: { name: 'nodejs', version: '1.0.0' } } } });
const span = (i: number, a: number) =>
  JSON.stringify({
    span: {
      id: `${a.toString(16).padStart(6, '0')}${i.toString(16).padStart(10, '0')}`, trace_id: `${a.toString(16).padStart(32, '0')}`, parent_id: 'abcdef0123456789',
      name: `SELECT ${i}`, type: 'db', subtype: 'postgresql', duration: 1.5, timestamp: Date.now() * 1000, context: { db: { statement: `SELECT ${i} FROM t` } },
    },
  });
const tx = (i: number, a: number) =>
  JSON.stringify({
    transaction: { id: `${a.toString(16).padStart(6, '0')}${i.toString(16).padStart(10, '0')}`, trace_id: `${a.toString(16).padStart(32, '0')}`, name: `GET /${i % 5}`, type: 'request', duration: 3, timestamp: Date.now() * 1000, span_count: { started: 1 }, outcome: 'success' },
  });

function chunks(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

/** Sends part of a body, then destroys the connection (an agent that crashed mid-request). */
function abortAfter(url: string, body: Buffer, bytes: number, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'POST', headers });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      resolve();
    });
    req.write(body.subarray(0, bytes), () => setTimeout(() => {
      req.destroy();
      resolve();
    }, 20));
  });
}

test('concurrent agents, garbage and aborted streams: server stays up, valid events kept exactly', async () => {
  const r = await withReceiver();
  try {
    const url = `${r.url}/intake/v2/events?verbose`;
    const AGENTS = 40;
    const PER_AGENT = 250;
    const good = Array.from({ length: AGENTS }, async (_, a) => {
      const lines = [meta(`good-${a % 4}`)];
      for (let i = 0; i < PER_AGENT; i++) lines.push(i % 5 === 0 ? tx(i, a) : span(i, a));
      const gz = gzipSync(lines.join('\n') + '\n');
      const rep = await send(url, chunks(gz, 512), { headers: { ...NDJSON, 'Content-Encoding': 'gzip' }, chunkDelayMs: 1 });
      assert.equal(rep.status, 202, rep.text);
      assert.deepEqual(rep.json(), { accepted: PER_AGENT });
    });
    let halfValidAccepted = 0;
    const bad: Array<Promise<unknown>> = [];
    for (let b = 0; b < 30; b++) {
      const kind = b % 6;
      if (kind === 0) bad.push(send(url, randomBytes(4096), { headers: NDJSON }).then((x) => assert.equal(x.status, 400)));
      if (kind === 1) bad.push(send(url, randomBytes(4096), { headers: { ...NDJSON, 'Content-Encoding': 'gzip' } }).then((x) => assert.equal(x.status, 400)));
      if (kind === 2) {
        const gz = gzipSync([meta('aborted'), ...Array.from({ length: 300 }, (_, i) => span(i, 1000 + b))].join('\n'));
        bad.push(abortAfter(url, gz, Math.floor(gz.length / 2), { ...NDJSON, 'Content-Encoding': 'gzip' }));
      }
      if (kind === 3) {
        // half-valid: garbage lines, truncated JSON and unknown kinds between valid spans
        const lines = [meta('half')];
        for (let i = 0; i < 40; i++) lines.push(i % 4 === 0 ? '{"span": {"id": "trunc' : i % 4 === 1 ? '\u0000\u0001garbage' : span(i, 2000 + b));
        bad.push(
          send(url, lines.join('\n'), { headers: NDJSON }).then((x) => {
            assert.equal(x.status, 400);
            assert.equal(x.json().accepted, 20);
            assert.equal(x.json().errors.length, 5);
            halfValidAccepted += x.json().accepted;
          }),
        );
      }
      if (kind === 4) bad.push(abortAfter(url, Buffer.from(meta('headers-only')), 0, NDJSON));
      if (kind === 5) {
        const plain = [meta('trunc-plain'), span(1, 3000 + b), '{"span": {"id": "abc", "name": "cut off mid'].join('\n');
        bad.push(send(url, plain, { headers: NDJSON }).then((x) => assert.deepEqual([x.status, x.json().accepted], [400, 1])));
      }
    }
    await Promise.all([...good, ...bad]);
    const info = await send(`${r.url}/`, undefined, { method: 'GET', headers: { Accept: 'application/json' } });
    assert.equal(info.status, 200);
    // close() flushes the last batch; then count straight from the database file
    await r.close();
    const db = openDatabase(join(r.dataDir, 'spanforge.db'), { readonly: true });
    try {
      const q = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
      assert.equal(q("SELECT count(*) AS n FROM spans WHERE service LIKE 'good-%'"), AGENTS * PER_AGENT * 0.8);
      assert.equal(q("SELECT count(*) AS n FROM transactions WHERE service LIKE 'good-%'"), AGENTS * PER_AGENT * 0.2);
      assert.equal(q("SELECT count(DISTINCT span_id) AS n FROM spans WHERE service LIKE 'good-%'"), AGENTS * PER_AGENT * 0.8);
      assert.equal(q("SELECT count(*) AS n FROM spans WHERE service = 'half'"), halfValidAccepted);
      assert.equal(q("SELECT count(*) AS n FROM spans WHERE service = 'trunc-plain'"), 5);
      const rollup = q("SELECT sum(count) AS n FROM rollup_tx WHERE service LIKE 'good-%'");
      assert.equal(rollup, AGENTS * PER_AGENT * 0.2);
    } finally {
      db.close();
    }
  } finally {
    await r.cleanup();
  }
});

test('a decompression bomb gets 413 and memory stays bounded', async () => {
  const r = await withReceiver({ maxRequestSize: 16 * 1024 * 1024 });
  try {
    const bomb = gzipSync(Buffer.concat([Buffer.from(meta('bomb') + '\n'), Buffer.alloc(200 * 1024 * 1024, 0x61)]));
    assert.ok(bomb.length < 1024 * 1024, `bomb is ${bomb.length} bytes compressed`);
    const before = process.memoryUsage().rss;
    const rep = await send(`${r.url}/intake/v2/events?verbose`, bomb, { headers: { ...NDJSON, 'Content-Encoding': 'gzip' } });
    assert.equal(rep.status, 413);
    assert.deepEqual(rep.json(), { accepted: 0, errors: [{ message: 'request body exceeded the permitted size of 16777216 bytes' }] });
    assert.ok(process.memoryUsage().rss - before < 100 * 1024 * 1024, 'did not inflate the whole body in memory');
    const ok = await send(`${r.url}/intake/v2/events?verbose`, [meta('after'), span(1, 1)].join('\n'), { headers: NDJSON });
    assert.deepEqual([ok.status, ok.json()], [202, { accepted: 1 }]);
  } finally {
    await r.cleanup();
  }
});

test('intake decodes at most maxConcurrentIntake requests at once; the others wait, then succeed', async () => {
  const r = await withReceiver({ maxConcurrentIntake: 2 });
  try {
    const url = `${r.url}/intake/v2/events?verbose`;
    // Three agents open a request and send metadata + one span, then keep the request open.
    const open = (a: number) => {
      let reply!: Promise<{ status: number; body: string }>;
      const req = request(url, { method: 'POST', headers: NDJSON });
      reply = new Promise((resolve, reject) => {
        req.on('response', (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
      });
      req.write(`${meta(`slot-${a}`)}\n${span(1, a)}\n`);
      return { req, reply };
    };
    const agents = [open(1), open(2), open(3)];
    const db = () => openDatabase(join(r.dataDir, 'spanforge.db'), { readonly: true });
    const services = () => {
      const d = db();
      try {
        return (d.prepare("SELECT service FROM spans WHERE service LIKE 'slot-%' ORDER BY service").all() as Array<{ service: string }>).map((x) => x.service);
      } finally {
        d.close();
      }
    };
    const { eventually } = await import('./helpers.js');
    await eventually(() => services().length === 2);
    await new Promise((res) => setTimeout(res, 300));
    assert.deepEqual(services(), ['slot-1', 'slot-2'], 'the third request is not decoded while two are open');
    agents[0]!.req.end();
    assert.deepEqual(await agents[0]!.reply, { status: 202, body: '{\n  "accepted": 1\n}\n' });
    await eventually(() => services().length === 3);
    agents[1]!.req.end();
    agents[2]!.req.end(`${span(2, 3)}\n`);
    assert.equal((await agents[1]!.reply).status, 202);
    assert.deepEqual(await agents[2]!.reply, { status: 202, body: '{\n  "accepted": 2\n}\n' });
  } finally {
    await r.cleanup();
  }
});

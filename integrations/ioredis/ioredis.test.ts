// ioredis against the Redis on 127.0.0.1:6379, built with both front-ends and run under the real
// agent: promise and callback commands, call(), *Buffer variants, a multi/exec and a pipeline (one span
// per queued command at exec), a failing command, and a look-alike class left alone. Each span is
// compared field by field as the intake received it; no argument or value reaches the events.
// SPANFORGE_IOREDIS_DIR=<node_modules> runs it against a side-by-side install (the lowest supported).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { build, cleanBuilds, dbFacts, FRONT_ENDS, reachable, startHarness, type Harness } from '../_harness.js';

const nodePath = process.env.SPANFORGE_IOREDIS_DIR;
const key = `sf_ioredis_test_${process.pid}`;

const source = `import Redis from 'ioredis';

const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: false, maxRetriesPerRequest: 1 });

export async function commands(key: string): Promise<unknown[]> {
  await redis.set(key, 'secret-value');
  const v = await redis.get(key);
  await redis.hset(key + ':h', 'field', 'secret-field-value');
  const n = await redis.call('HLEN', key + ':h');
  const b = await new Promise<Buffer | null>((resolve, reject) => redis.getBuffer(key, (err, r) => (err ? reject(err) : resolve(r ?? null))));
  return [v, n, b?.toString()];
}

export async function transactions(key: string): Promise<unknown> {
  const m = await redis.multi().incr(key + ':n').incr(key + ':n').exec();
  const p = await redis.pipeline().get(key + ':n').del(key + ':n').exec();
  return [m, p];
}

export function failing(key: string): Promise<unknown> {
  return redis.hget(key, 'field');
}

class Cache {
  get(k: string): string {
    return k;
  }
}
export function lookAlike(): string {
  return new Cache().get('x');
}

export async function cleanup(key: string): Promise<void> {
  await redis.del(key, key + ':h');
  await redis.quit();
}
`;

const redisSpan = (name: string, outcome = 'success') => ({
  name,
  type: 'db',
  subtype: 'redis',
  action: 'query',
  outcome,
  db: { type: 'redis' },
  destination: { address: '127.0.0.1', port: 6379, service: { type: '', name: '', resource: 'redis' } },
  target: { type: 'redis' },
});

let h: Harness;
let skip: string | undefined;
before(async () => {
  skip = await reachable('Redis on 127.0.0.1:6379', async () => {
    const { createConnection } = await import('node:net');
    await new Promise<void>((resolve, reject) => {
      const s = createConnection(6379, '127.0.0.1', () => {
        s.end();
        resolve();
      });
      s.on('error', reject);
      s.setTimeout(3000, () => reject(new Error('connect timeout')));
    });
  });
  // Compression off: the test asserts one span per command, and multi()/pipeline() send consecutive identical
  // INCRs that Elastic's default span compression (exact_match under 50 ms) would fold into one composite span.
  if (!skip) h = await startHarness('ioredis-test', { spanCompressionEnabled: false });
});
after(async () => {
  cleanBuilds(__dirname);
  if (h) await h.close();
});

for (const fe of FRONT_ENDS) {
  test(`ioredis (${fe}): commands, call(), Buffer variants, multi and pipeline, failure: exact spans`, { timeout: 30_000 }, async (t) => {
    if (skip) return t.skip(skip);
    const { mod, sites } = build(fe, __dirname, `ioredis-${fe}`, source, nodePath);
    assert.equal(sites.length, 14, `instrumented sites: ${sites.join(', ')}`);
    const k = `${key}_${fe}`;
    try {
      const r = await h.run('ioredis scenario', async () => {
        assert.deepEqual(await mod.commands(k), ['secret-value', 1, 'secret-value']);
        assert.deepEqual(await mod.transactions(k), [[[null, 1], [null, 2]], [[null, '2'], [null, 1]]]);
        assert.equal(mod.lookAlike(), 'x');
      });
      assert.deepEqual(r.spans.map(dbFacts), ['SET', 'GET', 'HSET', 'HLEN', 'GET', 'INCR', 'INCR', 'GET', 'DEL'].map((n) => redisSpan(n)));
      for (const s of r.spans) assert.equal(s.parent_id, r.tx.id, `${s.name} is a child of the transaction`);
      assert.doesNotMatch(JSON.stringify(r.spans), /secret|field/, 'no argument or value is recorded');
      assert.deepEqual(r.errors, []);

      const f = await h.run('ioredis failure', async () => {
        await assert.rejects(mod.failing(k), /WRONGTYPE/);
      });
      assert.deepEqual(f.spans.map(dbFacts), [redisSpan('HGET', 'failure')]);
      assert.equal(f.errors.length, 1);
      assert.equal(f.errors[0].parent_id, f.spans[0].id);
    } finally {
      await mod.cleanup(k);
    }
  });
}

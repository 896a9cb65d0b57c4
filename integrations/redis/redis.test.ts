// node-redis against the Redis on 127.0.0.1:6379, built with both front-ends and run under the real
// agent: camel-case and upper-case command methods, sendCommand(), container commands, commands issued
// in one tick (node-redis pipelines them on the socket), a multi/exec (MULTI, the queued commands,
// EXEC), an execAsPipeline (the queued commands only), a failing command, a client reached through a
// `RedisClientType` annotation, and look-alikes left alone. Each span is compared field by field as
// the intake received it; no argument or value reaches the events.
// The first tsc build type-checks node-redis's 10,000-line command declarations: up to a minute on a
// loaded machine, hence the long timeout.
// SPANFORGE_REDIS_DIR=<node_modules> runs it against a side-by-side install (compat/redis-<version>:
// the lowest and newest of each supported major; the project's own is the newest of all).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { build, cleanBuilds, dbFacts, FRONT_ENDS, reachable, startHarness, type Harness } from '../_harness.js';

const nodePath = process.env.SPANFORGE_REDIS_DIR;
const version = JSON.parse(readFileSync(join(nodePath ?? join(__dirname, '..', '..', 'node_modules'), 'redis', 'package.json'), 'utf8')).version as string;
const key = `sf_redis_test_${process.pid}`;

const source = `import { createClient, type RedisClientType } from 'redis';

const client = createClient({ socket: { host: '127.0.0.1', port: 6379 } });
client.on('error', () => undefined);

export async function connect(): Promise<void> {
  await client.connect();
}

export async function commands(key: string): Promise<unknown[]> {
  await client.set(key, 'secret-value');
  const v = await client.get(key);
  await client.hSet(key + ':h', 'field', 'secret-field-value');
  const n = await client.HLEN(key + ':h');
  const raw = await client.sendCommand(['HGET', key + ':h', 'field']);
  const cfg = await client.configGet('maxmemory');
  const both = await Promise.all([client.exists(key), client.strLen(key)]);
  return [v, n, raw, typeof cfg, both];
}

export async function transactions(key: string): Promise<unknown[]> {
  const m = await client.multi().incr(key + ':n').incrBy(key + ':n', 2).exec();
  const p = await client.multi().get(key + ':n').del(key + ':n').execAsPipeline();
  return [m, p];
}

export function failing(key: string): Promise<unknown> {
  return client.hGet(key, 'field');
}

export async function annotated(c: RedisClientType, key: string): Promise<unknown> {
  return c.get(key);
}
export function viaAnnotation(key: string): Promise<unknown> {
  return annotated(client as unknown as RedisClientType, key);
}

class Cache {
  get(k: string): string {
    return k;
  }
  multi(): Cache {
    return this;
  }
  exec(): string[] {
    return ['x'];
  }
}
const store = { hSet: (k: string) => k, sendCommand: (a: string[]) => a.length };
export function lookAlike(): unknown[] {
  const c = new Cache();
  return [c.get('x'), c.multi().exec(), store.hSet('k'), store.sendCommand(['GET', 'k'])];
}

export async function cleanup(key: string): Promise<void> {
  await client.del([key, key + ':h', key + ':n']);
  await client.quit();
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
  if (!skip) h = await startHarness('redis-test');
});
after(async () => {
  cleanBuilds(__dirname);
  if (h) await h.close();
});

for (const fe of FRONT_ENDS) {
  test(`redis ${version} (${fe}): commands, sendCommand, multi/exec and execAsPipeline, failure, annotation: exact spans`, { timeout: 180_000 }, async (t) => {
    if (skip) return t.skip(skip);
    const { mod, sites } = build(fe, __dirname, `redis-${fe}`, source, nodePath);
    // set get hSet HLEN sendCommand configGet exists strLen | exec incrBy incr multi, execAsPipeline del
    // get multi (outermost call first) | hGet | c.get | del quit: 20 sites, none in the look-alikes.
    assert.deepEqual(
      sites.map((s) => s.split(' ')[1]),
      ['11:16', '12:26', '13:16', '14:26', '15:28', '16:28', '17:42', '17:62', '22:73', '22:51', '22:34', '22:26', '23:66', '23:50', '23:34', '23:26', '28:17', '32:12', '56:16', '57:16'],
      `instrumented sites: ${sites.join(', ')}`,
    );
    assert.ok(sites.every((s) => s.startsWith('redis.command ')));
    const k = `${key}_${fe}`;
    await mod.connect();
    try {
      const r = await h.run('redis scenario', async () => {
        const [v, n, raw, cfg, both] = await mod.commands(k);
        assert.deepEqual([v, n, raw, cfg, both], ['secret-value', 1, 'secret-field-value', 'object', [1, 12]]);
        assert.deepEqual(await mod.transactions(k), [
          [1, 3],
          ['3', 1],
        ]);
        assert.equal(await mod.viaAnnotation(k), 'secret-value');
        assert.deepEqual(mod.lookAlike(), ['x', ['x'], 'k', 2]);
      });
      assert.deepEqual(
        r.spans.map(dbFacts),
        ['SET', 'GET', 'HSET', 'HLEN', 'HGET', 'CONFIG GET', 'EXISTS', 'STRLEN', 'MULTI', 'INCR', 'INCRBY', 'EXEC', 'GET', 'DEL', 'GET'].map((n) => redisSpan(n)),
      );
      for (const s of r.spans) assert.equal(s.parent_id, r.tx.id, `${s.name} is a child of the transaction`);
      assert.doesNotMatch(JSON.stringify(r.spans), /secret|field|maxmemory/, 'no argument or value is recorded');
      assert.equal(r.spans.some((s) => 'statement' in (s.context?.db ?? {})), false, 'no db.statement');
      assert.deepEqual(r.errors, []);

      const f = await h.run('redis failure', async () => {
        await assert.rejects(mod.failing(k), /WRONGTYPE/);
      });
      assert.deepEqual(f.spans.map(dbFacts), [redisSpan('HGET', 'failure')]);
      assert.equal(f.errors.length, 1);
      assert.equal(f.errors[0].parent_id, f.spans[0].id);
      assert.match(f.errors[0].exception.message, /WRONGTYPE/);
    } finally {
      await mod.cleanup(k);
    }
  });
}

// One request of a small node:http app that uses pg, mysql2 and ioredis (the three real servers on
// loopback), built with both front-ends: one `request` transaction, its pg, mysql and redis spans in
// call order, each a child of the transaction, all schema-valid as the intake received them.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { build, cleanBuilds, FRONT_ENDS, reachable, startHarness, type Harness } from './_harness.js';

const dir = join(__dirname, 'pg');
const table = `sf_data_stores_test_${process.pid}`;

const source = `import http from 'node:http';
import pg from 'pg';
import mysql from 'mysql2/promise';
import Redis from 'ioredis';

const pgPool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: process.env.PGUSER ?? 'postgres', database: 'test' });
const my = mysql.createPool({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test' });
const redis = new Redis({ host: '127.0.0.1', port: 6379 });

export const server = http.createServer(async (req, res) => {
  try {
    const table = String(req.url).slice(1);
    const cached = await redis.get(table + ':count');
    const { rows } = await pgPool.query('SELECT count(*)::int AS n FROM ' + table);
    const [mine] = await my.query('SELECT COUNT(*) AS n FROM ' + table);
    await redis.set(table + ':count', String(rows[0].n));
    res.end(JSON.stringify({ cached, pg: rows[0].n, mysql: (mine as Array<{ n: number }>)[0]!.n }));
  } catch (err) {
    res.statusCode = 500;
    res.end(String(err));
  }
});

export async function close(table: string): Promise<void> {
  await redis.del(table + ':count');
  await redis.quit();
  await pgPool.end();
  await my.end();
  await new Promise((r) => server.close(r));
}
`;

let h: Harness;
let skip: string | undefined;
let pgc: import('pg').Client;
let myc: import('mysql2/promise').Connection;
before(async () => {
  skip = await reachable('PostgreSQL :5432, MariaDB :3306 and Redis :6379', async () => {
    const { Client } = await import('pg');
    pgc = new Client({ host: '127.0.0.1', port: 5432, user: process.env.PGUSER ?? 'postgres', database: 'test', connectionTimeoutMillis: 3000 });
    await pgc.connect();
    myc = await (await import('mysql2/promise')).createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test', connectTimeout: 3000 });
    const Redis = (await import('ioredis')).default;
    const r = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 0 });
    await r.connect();
    await r.quit();
  });
  if (skip) return;
  await pgc.query(`CREATE TABLE IF NOT EXISTS ${table} (id int)`);
  await pgc.query(`INSERT INTO ${table} VALUES (1), (2)`);
  await myc.query(`CREATE TABLE IF NOT EXISTS ${table} (id INT)`);
  await myc.query(`INSERT INTO ${table} VALUES (1), (2), (3)`);
  h = await startHarness('data-stores-test');
});
after(async () => {
  cleanBuilds(dir);
  if (h) await h.close();
  if (pgc) {
    await pgc.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await pgc.end();
  }
  if (myc) {
    await myc.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await myc.end();
  }
});

for (const fe of FRONT_ENDS) {
  test(`one request using pg, mysql2 and ioredis (${fe}): one transaction, spans in order, parents right, schema-valid`, { timeout: 30_000 }, async (t) => {
    if (skip) return t.skip(skip);
    const { mod, sites } = build(fe, dir, `data-stores-${fe}`, source);
    assert.deepEqual(sites.map((s) => s.split(' ')[0]), ['http.server', 'ioredis.command', 'pg.query', 'mysql2.query', 'ioredis.command', 'ioredis.command', 'ioredis.command']);
    try {
      await new Promise<void>((r) => mod.server.listen(0, '127.0.0.1', r));
      const port = (mod.server.address() as AddressInfo).port;
      const ofPath = () => h.intake.of('transaction').filter((t) => t.context?.request?.url?.pathname === `/${table}`).length;
      const before = ofPath();
      const res = await fetch(`http://127.0.0.1:${port}/${table}`);
      assert.deepEqual(await res.json(), { cached: null, pg: 2, mysql: 3 });
      const { tx, spans, errors } = await h.transaction('GET unknown route', `/${table}`);
      // Exactly one transaction for the request (the intake's own requests have other paths).
      assert.equal(ofPath() - before, 1);
      assert.equal(tx.type, 'request');
      assert.equal(tx.result, 'HTTP 2xx');
      assert.deepEqual(spans.map((s) => [s.name, s.type, s.subtype, s.parent_id === tx.id, s.trace_id === tx.trace_id]), [
        ['GET', 'db', 'redis', true, true],
        [`SELECT ${table}`, 'db', 'postgresql', true, true],
        [`SELECT ${table}`, 'db', 'mysql', true, true],
        ['SET', 'db', 'redis', true, true],
      ]);
      // In order: each span starts after the previous one ended (the handler awaits each call).
      for (let i = 1; i < spans.length; i++) assert.ok(spans[i].timestamp >= spans[i - 1].timestamp + spans[i - 1].duration * 1000 - 1, `${spans[i].name} after ${spans[i - 1].name}`);
      assert.equal(tx.span_count.started, 4);
      assert.deepEqual(errors, []);
    } finally {
      await mod.close(table);
    }
  });
}

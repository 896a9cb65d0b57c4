// mysql2 against the MariaDB on 127.0.0.1:3306 (root, no password, db `test`), built with both
// front-ends and run under the real agent: the callback and promise APIs, query and execute, pools,
// PoolConnection (callback and promise), a returned Query emitter, conn.promise(), a failing query,
// and a look-alike class left alone. Each span is compared field by field as the intake received it.
// SPANFORGE_MYSQL2_DIR=<node_modules> runs it against a side-by-side install (the lowest supported).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { build, cleanBuilds, dbFacts, FRONT_ENDS, reachable, startHarness, type Harness } from '../_harness.js';

const nodePath = process.env.SPANFORGE_MYSQL2_DIR;
const mysql2p = require(require.resolve('mysql2/promise', nodePath ? { paths: [nodePath] } : undefined)) as typeof import('mysql2/promise');
const table = `sf_mysql2_test_${process.pid}`;
const missing = `sf_mysql2_test_missing_${process.pid}`;
const cfg = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' };

const source = `import mysql from 'mysql2';
import * as mp from 'mysql2/promise';

const cfg = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' };
const pool = mysql.createPool(cfg);
const ppool = mp.createPool(cfg);
const conn = mysql.createConnection(cfg);

export function callbackQuery(table: string): Promise<number> {
  return new Promise((resolve, reject) => {
    pool.query('SELECT * FROM ' + table, (err, rows) => (err ? reject(err) : resolve((rows as unknown[]).length)));
  });
}

export function poolConnectionExecute(table: string): Promise<void> {
  return new Promise((resolve, reject) => {
    pool.getConnection((err, c) => {
      if (err) return reject(err);
      c.execute('UPDATE ' + table + ' SET name = ? WHERE name = ?', ['bob', 'ann'], (e) => {
        c.release();
        if (e) reject(e);
        else resolve();
      });
    });
  });
}

export function emitter(table: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const q = conn.query('SELECT name FROM ' + table);
    q.on('result', () => n++);
    q.on('error', reject);
    q.on('end', () => resolve(n));
  });
}

export async function promises(table: string): Promise<unknown> {
  await ppool.execute('INSERT INTO ' + table + ' (name) VALUES (?)', ['cid']);
  const c = await ppool.getConnection();
  try {
    const [rows] = await c.query('SELECT name FROM ' + table + ' WHERE name = ?', ['cid']);
    const direct = await mp.createConnection(cfg);
    await direct.query('DELETE FROM ' + table + ' WHERE name = ?', ['cid']);
    await direct.end();
    // typed through the promise API's Connection: mysql2 3.0-3.9 declare promise() on an interface createConnection does not return
    await (conn as unknown as { promise(): mp.Connection }).promise().execute('SELECT COUNT(*) AS n FROM ' + table);
    return rows;
  } finally {
    c.release();
  }
}

export function failing(table: string): Promise<unknown> {
  return ppool.query('SELECT * FROM ' + table);
}

class Pool {
  query(sql: string): string {
    return sql;
  }
}
export function lookAlike(): string {
  return new Pool().query('SELECT 1');
}

export async function close(): Promise<void> {
  await new Promise((r) => pool.end(r));
  await ppool.end();
  await new Promise((r) => conn.end(r));
}
`;

const mysqlSpan = (name: string, statement: string, rows: number | undefined, outcome = 'success') => ({
  name,
  type: 'db',
  subtype: 'mysql',
  action: 'query',
  outcome,
  db: { type: 'sql', instance: 'test', statement, user: 'root', ...(rows !== undefined ? { rows_affected: rows } : {}) },
  destination: { address: '127.0.0.1', port: 3306, service: { type: '', name: '', resource: 'mysql/test' } },
  target: { type: 'mysql', name: 'test' },
});

let h: Harness;
let skip: string | undefined;
let admin: import('mysql2/promise').Connection;
before(async () => {
  skip = await reachable('MariaDB on 127.0.0.1:3306 (db test)', async () => {
    admin = await mysql2p.createConnection({ ...cfg, connectTimeout: 3000 });
  });
  if (skip) return;
  await admin.query(`DROP TABLE IF EXISTS ${table}`);
  await admin.query(`CREATE TABLE ${table} (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20))`);
  h = await startHarness('mysql2-test');
});
after(async () => {
  cleanBuilds(__dirname);
  if (h) await h.close();
  if (admin) {
    await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.end();
  }
});

for (const fe of FRONT_ENDS) {
  test(`mysql2 (${fe}): callback and promise APIs, query/execute, pools, PoolConnection, emitter: exact spans`, { timeout: 30_000 }, async (t) => {
    if (skip) return t.skip(skip);
    await admin.query(`DELETE FROM ${table}`);
    await admin.query(`INSERT INTO ${table} (name) VALUES ('ann')`);
    const { mod, sites } = build(fe, __dirname, `mysql2-${fe}`, source, nodePath);
    assert.deepEqual(sites, ['11:10', '19:9', '31:20', '39:15', '42:28', '44:18', '47:71', '55:16'].map((at) => `mysql2.query ${at}`), 'instrumented sites');
    try {
      const r = await h.run('mysql2 scenario', async () => {
        assert.equal(await mod.callbackQuery(table), 1);
        await mod.poolConnectionExecute(table);
        assert.equal(await mod.emitter(table), 1);
        assert.deepEqual(await mod.promises(table), [{ name: 'cid' }]);
        assert.equal(mod.lookAlike(), 'SELECT 1');
      });
      assert.deepEqual(r.spans.map(dbFacts), [
        mysqlSpan(`SELECT ${table}`, `SELECT * FROM ${table}`, 1),
        mysqlSpan(`UPDATE ${table}`, `UPDATE ${table} SET name = ? WHERE name = ?`, 1),
        mysqlSpan(`SELECT ${table}`, `SELECT name FROM ${table}`, undefined),
        mysqlSpan(`INSERT ${table}`, `INSERT INTO ${table} (name) VALUES (?)`, 1),
        mysqlSpan(`SELECT ${table}`, `SELECT name FROM ${table} WHERE name = ?`, 1),
        mysqlSpan(`DELETE ${table}`, `DELETE FROM ${table} WHERE name = ?`, 1),
        mysqlSpan(`SELECT ${table}`, `SELECT COUNT(*) AS n FROM ${table}`, 1),
      ]);
      for (const s of r.spans) assert.equal(s.parent_id, r.tx.id, `${s.name} is a child of the transaction`);
      assert.deepEqual(r.errors, []);
      assert.equal(r.tx.span_count.started, 7);

      const f = await h.run('mysql2 failure', async () => {
        await assert.rejects(mod.failing(missing), /doesn't exist/);
      });
      assert.deepEqual(f.spans.map(dbFacts), [mysqlSpan(`SELECT ${missing}`, `SELECT * FROM ${missing}`, undefined, 'failure')]);
      assert.equal(f.errors.length, 1);
      assert.equal(f.errors[0].parent_id, f.spans[0].id);
      assert.match(f.errors[0].exception.message, /doesn't exist/);
    } finally {
      await mod.close();
    }
  });
}

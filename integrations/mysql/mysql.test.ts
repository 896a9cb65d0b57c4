// mysql (mysqljs) against the MariaDB on 127.0.0.1:3306 (root, no password, db `test`), built with
// both front-ends and run under the real agent: connection and pool query with callbacks, an options
// object, PoolConnection from getConnection, a returned Query emitter, a failing query, and a
// look-alike class left alone. Each span is compared field by field as the intake received it.
// SPANFORGE_MYSQL_DIR=<node_modules> runs it against a side-by-side install (the lowest supported).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { build, cleanBuilds, dbFacts, FRONT_ENDS, reachable, startHarness, type Harness } from '../_harness.js';

const nodePath = process.env.SPANFORGE_MYSQL_DIR;
// The admin connection (table set-up) uses the project's mysql2, whatever mysql version is under test.
const mysql2p = require('mysql2/promise') as typeof import('mysql2/promise');
const table = `sf_mysql_test_${process.pid}`;
const missing = `sf_mysql_test_missing_${process.pid}`;
const cfg = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' };

const source = `import * as mysql from 'mysql';

const cfg = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' };
const pool = mysql.createPool(cfg);
const conn = mysql.createConnection(cfg);

export function callbackQuery(table: string): Promise<number> {
  return new Promise((resolve, reject) => {
    conn.query('SELECT * FROM ' + table, (err, rows) => (err ? reject(err) : resolve((rows as unknown[]).length)));
  });
}

export function optionsQuery(table: string): Promise<void> {
  return new Promise((resolve, reject) => {
    pool.query({ sql: 'UPDATE ' + table + ' SET name = ? WHERE name = ?', values: ['bob', 'ann'] }, (err) => (err ? reject(err) : resolve()));
  });
}

export function poolConnection(table: string): Promise<void> {
  return new Promise((resolve, reject) => {
    pool.getConnection((err, c) => {
      if (err) return reject(err);
      c.query('INSERT INTO ' + table + ' (name) VALUES (?)', ['cid'], (e) => {
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

export function failing(table: string): Promise<unknown> {
  return new Promise((resolve, reject) => conn.query('SELECT * FROM ' + table, (err, rows) => (err ? reject(err) : resolve(rows))));
}

class Connection {
  query(sql: string): string {
    return sql;
  }
}
export function lookAlike(): string {
  return new Connection().query('SELECT 1');
}

export async function close(): Promise<void> {
  await new Promise((r) => pool.end(r));
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
  h = await startHarness('mysql-test');
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
  test(`mysql (${fe}): connection and pool, callbacks, options object, PoolConnection, emitter: exact spans`, { timeout: 30_000 }, async (t) => {
    if (skip) return t.skip(skip);
    await admin.query(`DELETE FROM ${table}`);
    await admin.query(`INSERT INTO ${table} (name) VALUES ('ann')`);
    const { mod, sites } = build(fe, __dirname, `mysql-${fe}`, source, nodePath);
    assert.deepEqual(sites, ['9:10', '15:10', '23:9', '35:20', '43:48'].map((at) => `mysql.query ${at}`), 'instrumented sites (not the look-alike)');
    try {
      const r = await h.run('mysql scenario', async () => {
        assert.equal(await mod.callbackQuery(table), 1);
        await mod.optionsQuery(table);
        await mod.poolConnection(table);
        assert.equal(await mod.emitter(table), 2);
        assert.equal(mod.lookAlike(), 'SELECT 1');
      });
      assert.deepEqual(r.spans.map(dbFacts), [
        mysqlSpan(`SELECT ${table}`, `SELECT * FROM ${table}`, 1),
        mysqlSpan(`UPDATE ${table}`, `UPDATE ${table} SET name = ? WHERE name = ?`, 1),
        mysqlSpan(`INSERT ${table}`, `INSERT INTO ${table} (name) VALUES (?)`, 1),
        mysqlSpan(`SELECT ${table}`, `SELECT name FROM ${table}`, undefined),
      ]);
      for (const s of r.spans) assert.equal(s.parent_id, r.tx.id, `${s.name} is a child of the transaction`);
      assert.deepEqual(r.errors, []);

      const f = await h.run('mysql failure', async () => {
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

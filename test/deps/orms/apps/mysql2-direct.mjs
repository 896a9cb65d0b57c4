import { start } from 'spanforge';
import mysql from 'mysql2/promise';
import { serve } from './_serve.mjs';

// The app calls the driver itself (promise API, pool): user-code sites and mysql2's connection
// query/execute dependency sites; each query must still be one span.
start({ serviceName: process.env.GS_SERVICE });
const table = process.env.TABLE;
const pool = mysql.createPool({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test' });

serve({
  setup: async () => {
    await pool.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, name text)`);
    await pool.query(`INSERT INTO ${table} VALUES (1, 'ada')`);
  },
  route: async () => {
    const [rows] = await pool.execute(`SELECT * FROM ${table} WHERE id = ?`, [1]);
    const [[{ n }]] = await pool.query(`SELECT count(*) AS n FROM ${table}`);
    return { user: rows[0], n: Number(n) };
  },
  teardown: async () => {
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.end();
  },
});

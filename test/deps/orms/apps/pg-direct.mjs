import { start } from 'spanforge';
import pg from 'pg';
import { serve } from './_serve.mjs';

// The app calls the driver itself: its own pool.query / client.query are user-code sites and pg's
// Client#query a dependency site; each query must still be one span.
start({ serviceName: process.env.GS_SERVICE });
const table = process.env.TABLE;
const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });

serve({
  setup: async () => {
    await pool.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, name text)`);
    await pool.query(`INSERT INTO ${table} VALUES (1, 'ada')`);
  },
  route: async () => {
    const { rows } = await pool.query(`SELECT * FROM ${table} WHERE id = $1`, [1]);
    const client = await pool.connect();
    try {
      const r = await client.query(`SELECT count(*) AS n FROM ${table}`);
      return { user: rows[0], n: Number(r.rows[0].n) };
    } finally {
      client.release();
    }
  },
  teardown: async () => {
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.end();
  },
});

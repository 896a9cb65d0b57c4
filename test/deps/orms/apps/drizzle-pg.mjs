import { start } from 'spanforge';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, integer, text } from 'drizzle-orm/pg-core';
import { eq, count, sql } from 'drizzle-orm';
import { serve } from './_serve.mjs';

start({ serviceName: process.env.GS_SERVICE });
const table = process.env.TABLE;
const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
const db = drizzle({ client: pool });
const users = pgTable(table, { id: integer('id').primaryKey(), name: text('name') });

serve({
  setup: async () => {
    await db.execute(sql.raw(`DROP TABLE IF EXISTS ${table}`));
    await db.execute(sql.raw(`CREATE TABLE ${table} (id integer PRIMARY KEY, name text)`));
    await db.insert(users).values({ id: 1, name: 'ada' });
  },
  route: async () => {
    const [user] = await db.select().from(users).where(eq(users.id, 1));
    const [{ n }] = await db.select({ n: count() }).from(users);
    return { user, n: Number(n) };
  },
  teardown: async () => {
    await db.execute(sql.raw(`DROP TABLE IF EXISTS ${table}`));
    await pool.end();
  },
});

import { start } from 'spanforge';
import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { serve } from './_serve.mjs';

start({ serviceName: process.env.GS_SERVICE });
const table = process.env.TABLE;
const db = new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' }) }) });

serve({
  setup: async () => {
    await db.schema.dropTable(table).ifExists().execute();
    await db.schema.createTable(table).addColumn('id', 'integer', (c) => c.primaryKey()).addColumn('name', 'text').execute();
    await db.insertInto(table).values({ id: 1, name: 'ada' }).execute();
  },
  route: async () => {
    const user = await db.selectFrom(table).selectAll().where('id', '=', 1).executeTakeFirst();
    const { n } = await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return { user, n: Number(n) };
  },
  teardown: async () => {
    await db.schema.dropTable(table).ifExists().execute();
    await db.destroy();
  },
});

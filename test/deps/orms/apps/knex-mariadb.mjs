import { start } from 'spanforge';
import knexFactory from 'knex';
import { serve } from './_serve.mjs';

start({ serviceName: process.env.GS_SERVICE });
const table = process.env.TABLE;
const knex = knexFactory({ client: 'mysql2', connection: { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' } });

serve({
  setup: async () => {
    await knex.schema.dropTableIfExists(table);
    await knex.schema.createTable(table, (t) => {
      t.integer('id').primary();
      t.string('name');
    });
    await knex(table).insert({ id: 1, name: 'ada' });
  },
  route: async () => {
    const user = await knex(table).where({ id: 1 }).first();
    const [{ n }] = await knex(table).count({ n: '*' });
    return { user, n: Number(n) };
  },
  teardown: async () => {
    await knex.schema.dropTableIfExists(table);
    await knex.destroy();
  },
});

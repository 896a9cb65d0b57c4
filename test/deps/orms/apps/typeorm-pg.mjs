import { start } from 'spanforge';
import 'reflect-metadata';
import { DataSource, EntitySchema } from 'typeorm';
import { serve } from './_serve.mjs';

start({ serviceName: process.env.GS_SERVICE });
const table = process.env.TABLE;
const User = new EntitySchema({ name: 'User', tableName: table, columns: { id: { type: 'int', primary: true }, name: { type: 'text' } } });
const ds = new DataSource({ type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test', entities: [User], synchronize: false });

serve({
  setup: async () => {
    await ds.initialize();
    await ds.query(`DROP TABLE IF EXISTS ${table}`);
    await ds.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, name text)`);
    await ds.query(`INSERT INTO ${table} (id, name) VALUES (1, 'ada')`);
  },
  route: async () => {
    const repo = ds.getRepository(User);
    const user = await repo.findOneBy({ id: 1 });
    const n = await repo.count();
    return { user, n };
  },
  teardown: async () => {
    await ds.query(`DROP TABLE IF EXISTS ${table}`);
    await ds.destroy();
  },
});

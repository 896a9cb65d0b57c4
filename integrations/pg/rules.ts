// pg (node-postgres): Client/Pool/PoolClient `query` calls become `db`/`postgresql`/`query` spans named
// `SELECT users` (runtime.ts). tsc matches by the declaring class of `query` in pg's types; Babel follows
// `new Pool()`/`new Client()` and `pool.connect()` bindings (the `babel` table below).
import type { Integration } from '../../rules/integration.js';

const pool = { module: 'pg', cls: 'Pool' } as const;
const client = { module: 'pg', cls: 'Client' } as const;
const poolClient = { module: 'pg', cls: 'PoolClient' } as const;

export const integration: Integration = {
  name: 'pg',
  packages: { pg: '>=8 <9' },
  rules: [
    {
      id: 'pg.query',
      kind: 'call',
      target: { module: ['pg'], owner: ['Pool', 'ClientBase', 'Client', 'PoolClient'], names: ['query'] },
      handler: 'pg',
      span: { type: 'db', subtype: 'postgresql', action: 'query' },
      description: 'pg Client/Pool/PoolClient query (promise, callback, config object, submittable)',
    },
  ],
  // The driver's own Client#query (pg-pool's Pool#query and every ORM end there): what knex, drizzle,
  // Kysely, TypeORM and Sequelize call. Same handler, so the same span; a user-code pg span already
  // open around it (pool.query in the app) makes this one a no-op (runtime: no child of an exit span).
  deps: [
    {
      id: 'pg.client-query',
      package: 'pg',
      versions: '>=8 <9',
      file: 'lib/client.js',
      function: { className: 'Client', methodName: 'query' },
      handler: 'pg',
      span: { type: 'db', subtype: 'postgresql', action: 'query' },
      description: 'pg Client#query inside the driver (calls made by ORMs and query builders)',
    },
  ],
  babel: {
    selfExports: { pg: ['default'] },
    constructs: { 'pg.Pool': pool, 'pg.Client': client },
    methods: {
      'pg.Pool#connect': { returns: { promiseOf: poolClient }, unlessCallback: true, callbackParam: { index: 1, value: poolClient } },
    },
  },
};

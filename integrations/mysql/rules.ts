// mysql (mysqljs): Connection/Pool/PoolConnection `query` calls become `db`/`mysql`/`query` spans named
// `SELECT users` (runtime.ts, handler `mysql`, shared with the mysql2 integration). tsc matches by the
// declaring interface of `query` in @types/mysql; Babel follows createConnection/createPool results and
// the connection getConnection's callback receives.
import type { Integration } from '../../rules/integration.js';

const connection = { module: 'mysql', cls: 'Connection' } as const;
const pool = { module: 'mysql', cls: 'Pool' } as const;
const poolConnection = { module: 'mysql', cls: 'PoolConnection' } as const;

export const integration: Integration = {
  name: 'mysql',
  packages: { mysql: '>=2.16 <3' },
  rules: [
    {
      id: 'mysql.query',
      kind: 'call',
      target: { module: ['mysql'], owner: ['Connection', 'Pool', 'PoolConnection'], names: ['query'] },
      handler: 'mysql',
      span: { type: 'db', subtype: 'mysql', action: 'query' },
      description: 'mysql Connection/Pool/PoolConnection query (callback, options object, returned Query emitter)',
    },
  ],
  babel: {
    selfExports: { mysql: ['default'] },
    calls: { 'mysql.createConnection': connection, 'mysql.createPool': pool },
    methods: {
      'mysql.Pool#getConnection': { returns: 'self', unlessCallback: true, callbackParam: { index: 1, value: poolConnection } },
    },
  },
};

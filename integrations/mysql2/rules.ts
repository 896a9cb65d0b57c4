// mysql2: `query` and `execute` of connections, pools and pool connections, callback API (`mysql2`)
// and promise API (`mysql2/promise`, `conn.promise()`), become `db`/`mysql`/`query` spans named
// `SELECT users` by the mysql integration's handler (integrations/mysql/runtime.ts, handler `mysql`).
// mysql2 declares both methods in mixins (`QueryableBase(ExecutableBase(EventEmitter))`), so for tsc
// the declaring owner is the mixin function's name; Babel knows the classes by their factories.
import type { Integration } from '../../rules/integration.js';

const cb = (cls: string) => ({ module: 'mysql2', cls }) as const;
const pr = (cls: string) => ({ module: 'mysql2/promise', cls }) as const;

export const integration: Integration = {
  name: 'mysql2',
  packages: { mysql2: '>=3.2 <4' },
  rules: [
    {
      id: 'mysql2.query',
      kind: 'call',
      target: {
        module: ['mysql2', 'mysql2/promise'],
        owner: ['QueryableBase', 'ExecutableBase', 'Connection', 'Pool', 'PoolConnection'],
        names: ['query', 'execute'],
      },
      handler: 'mysql',
      span: { type: 'db', subtype: 'mysql', action: 'query' },
      description: 'mysql2 Connection/Pool/PoolConnection query and execute (callback and promise APIs)',
    },
  ],
  // The driver's core connection methods, where the pool, the promise API and every ORM end: in
  // lib/connection.js up to 3.11, in lib/base/connection.js (class BaseConnection) since. A file that
  // does not hold the class/method is left alone, so both rules cover the whole 3.x range.
  deps: [
    {
      id: 'mysql2.connection-query',
      package: 'mysql2',
      versions: '>=3.2 <4',
      file: 'lib/connection.js',
      function: { className: 'Connection', methodName: 'query' },
      handler: 'mysql',
      span: { type: 'db', subtype: 'mysql', action: 'query' },
      description: 'mysql2 Connection#query inside the driver (calls made by ORMs and query builders)',
    },
    {
      id: 'mysql2.connection-execute',
      package: 'mysql2',
      versions: '>=3.2 <4',
      file: 'lib/connection.js',
      function: { className: 'Connection', methodName: 'execute' },
      handler: 'mysql',
      span: { type: 'db', subtype: 'mysql', action: 'query' },
      description: 'mysql2 Connection#execute inside the driver (calls made by ORMs and query builders)',
    },
    {
      id: 'mysql2.base-query',
      package: 'mysql2',
      versions: '>=3.2 <4',
      file: 'lib/base/connection.js',
      function: { className: 'BaseConnection', methodName: 'query' },
      handler: 'mysql',
      span: { type: 'db', subtype: 'mysql', action: 'query' },
      description: 'mysql2 BaseConnection#query inside the driver (calls made by ORMs and query builders)',
    },
    {
      id: 'mysql2.base-execute',
      package: 'mysql2',
      versions: '>=3.2 <4',
      file: 'lib/base/connection.js',
      function: { className: 'BaseConnection', methodName: 'execute' },
      handler: 'mysql',
      span: { type: 'db', subtype: 'mysql', action: 'query' },
      description: 'mysql2 BaseConnection#execute inside the driver (calls made by ORMs and query builders)',
    },
  ],
  babel: {
    selfExports: { mysql2: ['default'], 'mysql2/promise': ['default'] },
    calls: {
      'mysql2.createConnection': cb('Connection'),
      'mysql2.createPool': cb('Pool'),
      'mysql2/promise.createPool': pr('Pool'),
      'mysql2/promise.createConnection': { promiseOf: pr('Connection') },
    },
    methods: {
      'mysql2.Pool#getConnection': { returns: 'self', unlessCallback: true, callbackParam: { index: 1, value: cb('PoolConnection') } },
      'mysql2.Pool#promise': { returns: pr('Pool') },
      'mysql2.Connection#promise': { returns: pr('Connection') },
      'mysql2.PoolConnection#promise': { returns: pr('PoolConnection') },
      'mysql2/promise.Pool#getConnection': { returns: { promiseOf: pr('PoolConnection') } },
    },
  },
};

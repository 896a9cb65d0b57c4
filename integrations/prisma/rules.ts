// Prisma 7 (the `prisma-client` generator, any driver adapter; tested with @prisma/adapter-pg on
// PostgreSQL): every model operation of a generated client (`prisma.user.findMany(...)`,
// `prisma.post.create(...)`, inside `$transaction` too) becomes a `db` span named by model and
// operation (`User.findMany`), subtype from the adapter (`postgresql`), action `query`, no statement.
// The client is generated into the user's project, so no package owns its declarations: tsc matches a
// member of a `<Model>Delegate` interface declared in a file that imports Prisma's client runtime
// (`@prisma/client/runtime/client`), which a user's own `UserDelegate` does not.
// Raw SQL (`$queryRawUnsafe(sql, ...values)`, `$executeRawUnsafe`, and `$queryRaw(sql)` /
// `$executeRaw(sql)` called with a `Prisma.sql` fragment) is a `db` span named like the pg ones
// (`SELECT FROM users`) with the SQL as db.statement; parameters are never recorded. The tagged
// template form (prisma.$queryRaw`...`) is not a call and is not instrumented yet.
// Babel/bundler (no types): a relative import that resolves to a file importing Prisma's client runtime
// is the generated client (babel-plugin/generated.ts), so `new PrismaClient(...)` from it is a client,
// `client.user` its `UserDelegate`; a module that exports such a client (`lib/prisma.ts`) is followed.
// Supported and tested: Prisma 7.0.0 (compat/prisma-7.0.0) to 7.10.1 (fixtures/app).
import type { Integration } from '../../rules/integration.js';

/** The model operations of Prisma 7's `<Model>Delegate` (findRaw/aggregateRaw: MongoDB only). */
export const OPERATIONS: readonly string[] = [
  'findUnique',
  'findUniqueOrThrow',
  'findFirst',
  'findFirstOrThrow',
  'findMany',
  'create',
  'createMany',
  'createManyAndReturn',
  'update',
  'updateMany',
  'updateManyAndReturn',
  'upsert',
  'delete',
  'deleteMany',
  'groupBy',
  'count',
  'aggregate',
  'findRaw',
  'aggregateRaw',
];

/** Raw SQL methods of the client. */
export const RAW: readonly string[] = ['$queryRaw', '$executeRaw', '$queryRawUnsafe', '$executeRawUnsafe'];

/** What every generated client file imports (the evidence both front-ends match on). */
const RUNTIME = '@prisma/client/runtime/client';
const CLIENT = { module: RUNTIME, cls: 'PrismaClient' } as const;

export const integration: Integration = {
  name: 'prisma',
  packages: { prisma: '>=7.0 <8', '@prisma/client': '>=7.0 <8', '@prisma/adapter-pg': '>=7.0 <8' },
  rules: [
    {
      id: 'prisma.operation',
      kind: 'call',
      target: { module: [], ownerSuffix: 'Delegate', generatedBy: [RUNTIME], names: OPERATIONS },
      handler: 'prisma',
      nameFromMember: true,
      quiet: true,
      span: { type: 'db', subtype: 'postgresql', action: 'query' },
      description: 'Prisma 7 generated client model operations (prisma.<model>.findMany/create/...)',
    },
    {
      id: 'prisma.raw',
      kind: 'call',
      target: { module: [], owner: ['PrismaClient'], generatedBy: [RUNTIME], names: RAW },
      handler: 'prismaRaw',
      quiet: true,
      span: { type: 'db', subtype: 'postgresql', action: 'query' },
      description: 'Prisma 7 raw SQL ($queryRawUnsafe/$executeRawUnsafe, $queryRaw/$executeRaw with a Prisma.sql fragment)',
    },
  ],
  // Babel: the generated client module is named by the runtime specifier it imports (babel-plugin/generated.ts).
  babel: {
    constructs: { [`${RUNTIME}.PrismaClient`]: CLIENT },
    methods: {
      [`${RUNTIME}.PrismaClient#$extends`]: { returns: 'self' },
      // prisma.$transaction(async (tx) => …): tx is a client bound to the transaction.
      [`${RUNTIME}.PrismaClient#$transaction`]: { returns: { promiseOf: { module: RUNTIME, cls: 'TransactionResult' } }, callbackParam: { index: 0, value: CLIENT } },
    },
  },
};

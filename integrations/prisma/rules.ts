// Prisma 7 (the `prisma-client` generator, any driver adapter; tested with @prisma/adapter-pg on
// PostgreSQL): every model operation of a generated client (`prisma.user.findMany(...)`,
// `prisma.post.create(...)`, inside `$transaction` too) becomes a `db` span named by model and
// operation (`User.findMany`), subtype from the adapter (`postgresql`), action `query`, no statement.
// The client is generated into the user's project, so no package owns its declarations: tsc matches a
// member of a `<Model>Delegate` interface declared in a file that imports Prisma's client runtime
// (`@prisma/client/runtime/client`), which a user's own `UserDelegate` does not. Babel has no types and
// cannot know a relative import is a generated Prisma client: it leaves Prisma calls alone.
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

export const integration: Integration = {
  name: 'prisma',
  packages: { prisma: '>=7.10 <8', '@prisma/client': '>=7.10 <8', '@prisma/adapter-pg': '>=7.10 <8' },
  rules: [
    {
      id: 'prisma.operation',
      kind: 'call',
      target: { module: [], ownerSuffix: 'Delegate', generatedBy: ['@prisma/client/runtime/client'], names: OPERATIONS },
      handler: 'prisma',
      nameFromMember: true,
      quiet: true,
      span: { type: 'db', subtype: 'postgresql', action: 'query' },
      description: 'Prisma 7 generated client model operations (prisma.<model>.findMany/create/...)',
    },
  ],
};

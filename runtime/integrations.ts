// The run-time side of the integrations: one line per library, `export { handlers as <name> } from
// '../integrations/<name>/runtime.js'`. abi.ts flattens these into its handler table by name; each
// handler name is the `handler` a rule in integrations/<name>/rules.ts emits (docs/integrations.md).
export { handlers as pg } from '../integrations/pg/runtime.js';
export { handlers as fetch } from '../integrations/fetch/runtime.js';
export { handlers as undici } from '../integrations/undici/runtime.js';
export { handlers as http } from '../integrations/http/runtime.js';
export { handlers as mysql } from '../integrations/mysql/runtime.js';
export { handlers as ioredis } from '../integrations/ioredis/runtime.js';
export { handlers as redis } from '../integrations/redis/runtime.js';
export { handlers as prisma } from '../integrations/prisma/runtime.js';
export { handlers as amqplib } from '../integrations/amqplib/runtime.js';
export { handlers as nats } from '../integrations/nats/runtime.js';
export { handlers as mqtt } from '../integrations/mqtt/runtime.js';
export { handlers as bullmq } from '../integrations/bullmq/runtime.js';
export { handlers as graphql } from '../integrations/graphql/runtime.js';
export { handlers as pino } from '../integrations/pino/runtime.js';
export { handlers as winston } from '../integrations/winston/runtime.js';
export { handlers as bunyan } from '../integrations/bunyan/runtime.js';
export { handlers as hono } from '../integrations/hono/runtime.js';
export { handlers as nestjs } from '../integrations/nestjs/runtime.js';

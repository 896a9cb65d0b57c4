// The build-time side of the integrations: each library's rules (integrations/<name>/rules.ts) are
// imported here and listed once in INTEGRATIONS. The catalogue takes their call rules in this order
// (reports and option errors list rule ids in it) and the Babel front-end their producer tables
// (docs/integrations.md).
import { integration as pg } from '../integrations/pg/rules.js';
import { integration as fetch } from '../integrations/fetch/rules.js';
import { integration as undici } from '../integrations/undici/rules.js';
import { integration as http } from '../integrations/http/rules.js';
import { integration as mysql } from '../integrations/mysql/rules.js';
import { integration as mysql2 } from '../integrations/mysql2/rules.js';
import { integration as ioredis } from '../integrations/ioredis/rules.js';
import { integration as redis } from '../integrations/redis/rules.js';
import { integration as prisma } from '../integrations/prisma/rules.js';
import { integration as amqplib } from '../integrations/amqplib/rules.js';
import { integration as nats } from '../integrations/nats/rules.js';
import { integration as bullmq } from '../integrations/bullmq/rules.js';
import { integration as mqtt } from '../integrations/mqtt/rules.js';
import { integration as graphql } from '../integrations/graphql/rules.js';
import { integration as pino } from '../integrations/pino/rules.js';
import { integration as winston } from '../integrations/winston/rules.js';
import { integration as bunyan } from '../integrations/bunyan/rules.js';
import { integration as hono } from '../integrations/hono/rules.js';
import { integration as koa } from '../integrations/koa/rules.js';
import { integration as nextjs } from '../integrations/nextjs/rules.js';
import { integration as nestjs } from '../integrations/nestjs/rules.js';
import type { Integration } from './integration.js';

export const INTEGRATIONS: readonly Integration[] = [pg, fetch, undici, http, mysql, mysql2, ioredis, redis, prisma, amqplib, nats, mqtt, bullmq, graphql, pino, winston, bunyan, hono, koa, nextjs, nestjs];

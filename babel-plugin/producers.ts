// What the Babel front-end must be told because it has no types: how instances of the catalogue's
// library classes come to exist (constructors, factories, methods returning them, callbacks given them).
// Class names are the declaration names the catalogue's `owner` lists use, so one rule serves both
// front-ends.
// Library clients' tables come from their integration (integrations/<name>/rules.ts `babel`); the
// frameworks' (route rules) are here.
import { INTEGRATIONS } from '../rules/index.js';
import type { Producers } from './bindings.js';

const express = { module: 'express', cls: 'Express' } as const;
const router = { module: 'express', cls: 'Router' } as const;
const route = { module: 'express', cls: 'IRoute' } as const;
const fastify = { module: 'fastify', cls: 'FastifyInstance' } as const;
const httpServer = { module: 'http', cls: 'Server' } as const;
const httpsServer = { module: 'https', cls: 'Server' } as const;

/** The frameworks' part of the table. */
const FRAMEWORKS: Producers = {
  aliases: { 'node:http': 'http', 'node:https': 'https', 'express-serve-static-core': 'express' },
  selfExports: { fastify: ['default', 'fastify'], express: ['default'] },
  constructs: {
    'http.Server': httpServer,
    'https.Server': httpsServer,
  },
  calls: {
    express: express,
    'express.Router': router,
    fastify: fastify,
    'http.createServer': httpServer,
    'https.createServer': httpsServer,
  },
  methods: {
    'express.Express#route': { returns: route },
    'express.Router#route': { returns: route },
    // Route registration returns the app/router/route itself, so chains stay known.
    ...Object.fromEntries(
      ['get', 'post', 'put', 'patch', 'delete', 'all', 'use', 'head', 'options'].flatMap((m) => [
        [`express.Express#${m}`, { returns: 'self' }],
        [`express.Router#${m}`, { returns: 'self' }],
        [`express.IRoute#${m}`, { returns: 'self' }],
      ]),
    ),
    ...Object.fromEntries(
      ['get', 'post', 'put', 'patch', 'delete', 'all', 'head', 'options', 'route', 'register', 'addHook'].map((m) => [
        `fastify.FastifyInstance#${m}`,
        { returns: 'self' },
      ]),
    ),
    'http.Server#on': { returns: 'self' },
    'https.Server#on': { returns: 'self' },
  },
};

/** The producers table for the built-in catalogue: the frameworks' plus every integration's. */
export const PRODUCERS: Producers = {
  aliases: merge('aliases'),
  selfExports: merge('selfExports'),
  constructs: merge('constructs'),
  calls: merge('calls'),
  methods: merge('methods'),
};

function merge<K extends keyof Producers>(k: K): Producers[K] {
  return Object.assign({}, FRAMEWORKS[k], ...INTEGRATIONS.map((i) => i.babel?.[k] ?? {})) as Producers[K];
}

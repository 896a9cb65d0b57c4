// What the Babel front-end must be told because it has no types: how instances of the catalogue's
// library classes come to exist (constructors, factories, methods returning them, callbacks given them).
// Class names are the declaration names the catalogue's `owner` lists use, so one rule serves both
// front-ends.
// Library clients' tables come from their integration (integrations/<name>/rules.ts `babel`, Koa's and
// Hono's included); Express's, Fastify's and node:http's (route rules in rules/catalogue.ts) are here.
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
  selfExports: { fastify: ['default', 'fastify'], express: ['default'], 'fastify-plugin': ['default', 'fastifyPlugin'] },
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
      ['get', 'post', 'put', 'patch', 'delete', 'all', 'head', 'options', 'route', 'addHook'].map((m) => [
        `fastify.FastifyInstance#${m}`,
        { returns: 'self' },
      ]),
    ),
    // app.register(async (instance) => { instance.get(...) }): the plugin receives the (child) instance.
    'fastify.FastifyInstance#register': { returns: 'self', callbackParam: { index: 0, value: fastify } },
    'http.Server#on': { returns: 'self' },
    'https.Server#on': { returns: 'self' },
  },
  // Interface names of @types/express that tsc resolves to the catalogue's owners (Application, IRouter).
  types: {
    'express.Application': express,
    'express.Express': express,
    'express.IRouter': router,
    'express.Router': router,
    'fastify.FastifyInstance': fastify,
  },
  // The first parameter of a Fastify plugin is the instance, whatever type provider the plugin type names.
  functionTypes: Object.fromEntries(
    [
      ['fastify', ['FastifyPluginAsync', 'FastifyPluginCallback', 'FastifyPlugin']],
      ['@fastify/type-provider-typebox', ['FastifyPluginAsyncTypebox', 'FastifyPluginCallbackTypebox']],
      ['@fastify/type-provider-json-schema-to-ts', ['FastifyPluginAsyncJsonSchemaToTs', 'FastifyPluginCallbackJsonSchemaToTs']],
      ['fastify-type-provider-zod', ['FastifyPluginAsyncZod', 'FastifyPluginCallbackZod']],
    ].flatMap(([mod, names]) => (names as string[]).map((n) => [`${mod as string}.${n}`, { index: 0, value: fastify }])),
  ),
  // fastify-plugin: fp(async (fastify, opts) => …) / fp(function (fastify, opts, done) …).
  callbackCalls: { 'fastify-plugin': { index: 0, value: fastify } },
  // @fastify/autoload loads every file of routes/ and plugins/ as a plugin: `export default async
  // function (fastify, opts)` needs no annotation there (fastify-cli's templates write it so).
  pluginFiles: [{ dirs: ['routes', 'plugins'], paramName: 'fastify', modules: ['fastify', 'fastify-plugin', '@fastify/*', 'fastify-type-provider-zod'], value: fastify }],
};

/** The producers table for the built-in catalogue: the frameworks' plus every integration's. */
export const PRODUCERS: Producers = {
  aliases: merge('aliases'),
  selfExports: merge('selfExports'),
  constructs: merge('constructs'),
  calls: merge('calls'),
  methods: merge('methods'),
  types: merge('types'),
  functionTypes: merge('functionTypes'),
  callbackCalls: merge('callbackCalls'),
  pluginFiles: [...FRAMEWORKS.pluginFiles, ...INTEGRATIONS.flatMap((i) => i.babel?.pluginFiles ?? [])],
};

function merge<K extends Exclude<keyof Producers, 'pluginFiles'>>(k: K): Producers[K] {
  return Object.assign({}, FRAMEWORKS[k], ...INTEGRATIONS.map((i) => i.babel?.[k] ?? {})) as Producers[K];
}

// The catalogue of what spanforge instruments, as plain data shared by every front-end (tsc, Babel).
// Front-ends decide *that* a site matches a rule (types or bindings); this file says *what* it is.
// Library call rules live with their integration (integrations/<name>/rules.ts, listed in
// rules/integrations.ts); frameworks' route rules and spanforge's own decorators are here.
import { INTEGRATIONS } from './integrations.js';

export { INTEGRATIONS };

/**
 * Where a matched callee is declared. `module` is the package (or node builtin) name the declaration
 * comes from, with `@types/x` mapped to `x` and `node:` prefixes removed; `owner` is the class or
 * interface that declares the member (absent for exported functions and globals).
 */
export interface TargetMatch {
  module: readonly string[];
  owner?: readonly string[];
  names: readonly string[];
  /** Also matches the global of that name (`fetch`), declared in a lib or @types file. */
  global?: boolean;
  /** The owner's name ends with this (Prisma's generated `UserDelegate`, `PostDelegate`), when `owner` cannot list them. */
  ownerSuffix?: string;
  /**
   * Code a library generates into the user's project: the declaring file imports one of these module
   * specifiers (Prisma's generated client imports `@prisma/client/runtime/client`). `module` is then
   * usually empty (the generated files belong to no package).
   */
  generatedBy?: readonly string[];
  /**
   * Also matches a call of the module itself (`pino()` after `import pino from 'pino'` or
   * `require('pino')`), for Babel; tsc resolves the call to the function declaration named in `names`.
   */
  self?: boolean;
}

/**
 * The run-time behaviour the emitted call asks for: `app` (user rules), or the name of a handler an
 * integration registers (integrations/<name>/runtime.ts, `pg`, `fetch`, `mysql`, ...).
 */
export type CallHandler = string;
/** How a route registration is shaped. */
export type RouteShape =
  /** `app.get(path, ...handlers)`; Fastify `app.get(path, [opts,] handler)`; @koa/router `router.get([name,] path, ...middleware)` */
  | 'path-handlers'
  /** `app.route(path).get(...handlers)` (Express): path from the inner call. */
  | 'chained-route'
  /** Fastify `app.route({ method, url, handler })` */
  | 'route-object'
  /** Express `app.use(...)`: error middleware reports, other middleware runs in the request (decided at run time); Koa `app.use(mw)` / @koa/router `router.use([path,] ...mw)`: every middleware. */
  | 'error-middleware'
  /** `http.createServer([opts,] handler)` */
  | 'server-handler'
  /** `server.on('request', handler)` */
  | 'server-event'
  /** `new Worker(name, processor[, opts])` (BullMQ): the function arguments of the constructor call are wrapped. */
  | 'constructor-handler';

export interface SpanFacts {
  type: string;
  subtype?: string;
  action?: string;
}

export interface CallRule {
  id: string;
  kind: 'call';
  target: TargetMatch;
  handler: CallHandler;
  /** The site's name is the called member's name (`hset`), for handlers that name spans by it (ioredis). */
  nameFromMember?: boolean;
  span: SpanFacts;
  description: string;
  /**
   * Method names too common to report (`get`, `add`, `publish`, ioredis's `set`/`del`): a call of that name
   * on a receiver the Babel front-end cannot follow is not listed as a skipped candidate under this rule,
   * and other rules still see the call (tsc resolves every one by type).
   */
  quiet?: boolean;
}

export interface RouteRule {
  id: string;
  kind: 'route';
  /** Route rules of a framework, or of an integration whose handlers are passed to a constructor (`bullmq`). */
  framework: 'express' | 'fastify' | 'koa' | 'node-http' | 'bullmq';
  target: TargetMatch;
  shape: RouteShape;
  description: string;
  /**
   * A call on a receiver the Babel front-end cannot follow is not listed as a skipped candidate under
   * this rule (the Express and Fastify rules with the same member names list it already).
   */
  quiet?: boolean;
}

/** `@Traced()` / `@Traced({ name, type })` on methods. */
export interface DecoratorRule {
  id: string;
  kind: 'decorator';
  target: TargetMatch;
  span: SpanFacts;
  description: string;
}

/** `traced(fn)` / `traced(fn, { name, type })`. */
export interface WrapRule {
  id: string;
  kind: 'wrap';
  target: TargetMatch;
  span: SpanFacts;
  description: string;
}

/**
 * A framework's file convention: what a module exports is a handler because of where the file is
 * (Next.js `app/…/route.ts` exports `GET`, `POST`…; `'use server'` modules; `proxy.ts`). Only the Babel
 * analysis (Babel plugin, bundler step, `spanforge/loader`) applies these; tsc leaves them alone.
 */
export interface FileRule {
  id: string;
  kind: 'file';
  framework: 'nextjs';
  /** route-handler: `app/…/route.ts` method exports; server-action: functions of `'use server'` modules and functions with that directive; proxy: `proxy.ts`'s `proxy` (or default) export. */
  convention: 'route-handler' | 'server-action' | 'proxy';
  /** The run-time wrapper the site calls (integrations/<name>/runtime.ts `wrappers`). */
  handler: string;
  /** No module to match: file rules are decided by the file's path and directives. */
  target: TargetMatch;
  span: SpanFacts;
  description: string;
}

/**
 * `for await (const v of <iterable>)` over one of a library's iterables (nats `Subscription`, JetStream
 * `ConsumerMessages`): the loop body is rewritten so that each iteration is one transaction (runtime
 * `loop(site, value)`), with break/continue/return/labels/await unchanged. `target.names` are the
 * iterable's type names: tsc matches the iterated expression's type (declared in `target.module`),
 * Babel the producer bindings (`nc.subscribe(...)`, `await consumer.consume()`), as `ClassRef`s of these names.
 */
export interface LoopRule {
  id: string;
  kind: 'loop';
  target: TargetMatch;
  /** The integration's loop handler (integrations/<name>/runtime.ts `loops`). */
  handler: string;
  span: SpanFacts;
  description: string;
}

export type Rule = CallRule | RouteRule | DecoratorRule | WrapRule | FileRule | LoopRule;

/** HTTP methods a route-registration member name stands for (`all` = any method). */
export const ROUTE_METHODS: Readonly<Record<string, string>> = {
  get: 'GET',
  post: 'POST',
  put: 'PUT',
  patch: 'PATCH',
  delete: 'DELETE',
  del: 'DELETE',
  head: 'HEAD',
  options: 'OPTIONS',
  all: '*',
};
const routeMemberNames = Object.keys(ROUTE_METHODS);
const SPANFORGE_MODULES = ['spanforge', 'spanforge/runtime'] as const;

/** The catalogue. Ids are stable: options turn rules off by id and reports name them. */
export const RULES: readonly Rule[] = [
  // The integrations' call rules (integrations/<name>/rules.ts), in rules/integrations.ts order.
  ...INTEGRATIONS.flatMap((i) => i.rules),
  {
    id: 'express.route',
    kind: 'route',
    framework: 'express',
    target: {
      module: ['express', 'express-serve-static-core'],
      owner: ['IRouter', 'Application', 'Router', 'Express'],
      names: routeMemberNames,
    },
    shape: 'path-handlers',
    description: 'Express app/router .get/.post/.put/.patch/.delete/.all(path, ...handlers)',
  },
  {
    id: 'express.route-chain',
    kind: 'route',
    framework: 'express',
    target: { module: ['express', 'express-serve-static-core'], owner: ['IRoute'], names: routeMemberNames },
    shape: 'chained-route',
    description: 'Express app.route(path).get(...handlers)',
  },
  {
    id: 'express.error-middleware',
    kind: 'route',
    framework: 'express',
    target: {
      module: ['express', 'express-serve-static-core'],
      owner: ['IRouter', 'Application', 'Router', 'Express'],
      names: ['use'],
    },
    shape: 'error-middleware',
    description: 'Express use([path,] ...middleware): error middleware (err, req, res, next) reports errors; other middleware runs in the request transaction; a path names the requests it answers',
  },
  {
    id: 'fastify.route',
    kind: 'route',
    framework: 'fastify',
    target: { module: ['fastify'], owner: ['FastifyInstance'], names: routeMemberNames },
    shape: 'path-handlers',
    description: 'Fastify .get/.post/...(path, [options,] handler)',
  },
  {
    id: 'fastify.route-object',
    kind: 'route',
    framework: 'fastify',
    target: { module: ['fastify'], owner: ['FastifyInstance'], names: ['route'] },
    shape: 'route-object',
    description: 'Fastify .route({ method, url, handler })',
  },
  {
    id: 'http.server',
    kind: 'route',
    framework: 'node-http',
    target: { module: ['http', 'https'], names: ['createServer'] },
    shape: 'server-handler',
    description: 'http(s).createServer([options,] handler)',
  },
  {
    id: 'http.server-request-event',
    kind: 'route',
    framework: 'node-http',
    target: { module: ['http', 'https'], owner: ['Server'], names: ['on', 'addListener', 'once', 'prependListener'] },
    shape: 'server-event',
    description: "server.on('request', handler)",
  },
  {
    id: 'traced.decorator',
    kind: 'decorator',
    target: { module: SPANFORGE_MODULES, names: ['Traced'] },
    span: { type: 'app' },
    description: '@Traced() / @Traced({ name, type }) on class methods (legacy and standard decorators)',
  },
  {
    id: 'traced.fn',
    kind: 'wrap',
    target: { module: SPANFORGE_MODULES, names: ['traced'] },
    span: { type: 'app' },
    description: 'traced(fn) / traced(fn, { name, type })',
  },
];

/** Looks a rule up by id. */
export function ruleById(id: string): Rule | undefined {
  return RULES.find((r) => r.id === id);
}

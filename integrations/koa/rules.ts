// Koa at build time: Koa's `app.use(mw)` and @koa/router's `router.get/post/…([name,] path, …mw)` and
// `router.use([path,] …mw)` are route registrations whose function arguments are wrapped (route(site,
// fn), runtime.ts `wrappers.koa`): middleware runs in the request's transaction, route middleware names
// it from the matched layer. tsc matches by the declaring class (`Application` in koa's types,
// `RouterImplementation`/`Router` in @koa/router's), Babel by the `new Koa()` / `new Router()` bindings
// and the chaining of these methods.
import type { RouteRule } from '../../rules/catalogue.js';
import type { ClassRef, Integration } from '../../rules/integration.js';

/** The route-registration member names (the keys of rules/catalogue.ts ROUTE_METHODS, not imported: rules.ts holds data only). */
const routeMemberNames = ['get', 'post', 'put', 'patch', 'delete', 'del', 'head', 'options', 'all'];

const rules: RouteRule[] = [
  {
    id: 'koa.route',
    kind: 'route',
    framework: 'koa',
    target: { module: ['@koa/router'], owner: ['RouterImplementation', 'Router'], names: routeMemberNames },
    shape: 'path-handlers',
    quiet: true,
    description: '@koa/router router.get/.post/...([name,] path, ...middleware): named by the matched layer (prefixes and nested routers included)',
  },
  {
    id: 'koa.router-use',
    kind: 'route',
    framework: 'koa',
    target: { module: ['@koa/router'], owner: ['RouterImplementation', 'Router'], names: ['use'] },
    shape: 'error-middleware',
    quiet: true,
    description: '@koa/router router.use([path,] ...middleware): middleware run in the request transaction, errors reported (nested routers untouched)',
  },
  {
    id: 'koa.use',
    kind: 'route',
    framework: 'koa',
    target: { module: ['koa'], owner: ['Application'], names: ['use'] },
    shape: 'error-middleware',
    quiet: true,
    description: 'Koa app.use(middleware): run in the request transaction; errors reaching Koa\'s default error handling reported handled: false',
  },
];

const koa: ClassRef = { module: 'koa', cls: 'Application' };
const koaRouter: ClassRef = { module: '@koa/router', cls: 'RouterImplementation' };

export const integration: Integration = {
  name: 'koa',
  packages: { koa: '>=3 <4', '@koa/router': '>=15 <16' },
  rules,
  babel: {
    selfExports: { koa: ['default'], '@koa/router': ['default', 'Router'] },
    constructs: { koa, '@koa/router': koaRouter },
    methods: {
      'koa.Application#use': { returns: 'self' },
      ...Object.fromEntries(
        ['get', 'post', 'put', 'patch', 'delete', 'del', 'all', 'head', 'options', 'use', 'param', 'prefix', 'redirect'].map((m) => [`@koa/router.RouterImplementation#${m}`, { returns: 'self' as const }]),
      ),
    },
    types: { 'koa.Application': koa, '@koa/router.Router': koaRouter, '@koa/router.RouterInstance': koaRouter },
  },
};

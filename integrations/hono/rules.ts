// Hono at build time: route, middleware and error-handler registrations of a Hono app
// (`app.get('/users/:id', h)`, `app.use(mw)`, `app.on(m, p, h)`, `app.onError(h)`, `app.route(p, sub)`)
// are calls the runtime (runtime.ts) passes through with the function arguments wrapped, and the
// app's `fetch` wrapped once: the entry point on Bun, Deno and workerd, where no node:http server
// sees the request. tsc matches by the declaring class (`Hono` in hono's types, hono-base.d.ts), Babel
// by `new Hono()` bindings (hono, hono/tiny, hono/quick) and the chaining of these methods.
import type { CallRule } from '../../rules/catalogue.js';
import type { Integration } from '../../rules/integration.js';

const modules = ['hono', 'hono/tiny', 'hono/quick'];
const methods = ['get', 'post', 'put', 'delete', 'patch', 'options', 'all', 'on', 'use', 'onError', 'route'];

const rules: CallRule[] = [
  {
    id: 'hono.route',
    kind: 'call',
    target: { module: modules, owner: ['Hono'], names: methods },
    handler: 'hono',
    nameFromMember: true,
    quiet: true,
    span: { type: 'app', subtype: 'hono' },
    description: 'Hono app .get/.post/.put/.delete/.patch/.options/.all/.on/.use(path?, ...handlers), .onError(handler), .route(path, sub): one request transaction per fetch(request, env, ctx), named by the matched route (basePath and route() prefixes included), incoming traceparent continued, errors reported (handled when the app\'s onError took them)',
  },
];

const self = { returns: 'self' } as const;

export const integration: Integration = {
  name: 'hono',
  packages: { hono: '>=4.0 <5' },
  rules,
  babel: {
    constructs: Object.fromEntries(modules.map((m) => [`${m}.Hono`, { module: m, cls: 'Hono' }])),
    methods: Object.fromEntries(modules.flatMap((m) => [...methods, 'basePath', 'notFound'].map((n) => [`${m}.Hono#${n}`, self]))),
  },
};

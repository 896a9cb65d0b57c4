// Next.js (App Router) at build time: file conventions rather than calls. A route handler's transaction
// name comes from its file's path (`app/api/users/[id]/route.ts` → `GET /api/users/[id]`), server actions
// are the functions of `'use server'` modules (or with that directive), the proxy is `proxy.ts`'s export.
// The Babel analysis applies these (babel-plugin/nextjs.ts), for `next build --webpack` through the
// bundler step and for Turbopack through `spanforge/loader`.
import type { Integration } from '../../rules/integration.js';

const none = { module: [] as string[], names: [] as string[] };

export const integration: Integration = {
  name: 'nextjs',
  packages: { next: '>=16 <17' },
  rules: [
    {
      id: 'nextjs.route-handler',
      kind: 'file',
      framework: 'nextjs',
      convention: 'route-handler',
      handler: 'nextjs-route',
      target: none,
      span: { type: 'request' },
      description: 'Next.js app/**/route.ts exports GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS: the request transaction, named by the file route',
    },
    {
      id: 'nextjs.server-action',
      kind: 'file',
      framework: 'nextjs',
      convention: 'server-action',
      handler: 'nextjs-action',
      target: none,
      span: { type: 'app', subtype: 'nextjs', action: 'action' },
      description: "Next.js server actions: the exported async functions of a 'use server' module and functions whose body starts with 'use server'",
    },
    {
      id: 'nextjs.proxy',
      kind: 'file',
      framework: 'nextjs',
      convention: 'proxy',
      handler: 'nextjs-proxy',
      target: none,
      span: { type: 'app', subtype: 'nextjs', action: 'proxy' },
      description: "Next.js proxy.ts (Next 16's middleware, Node.js runtime): its `proxy` or default export",
    },
  ],
};

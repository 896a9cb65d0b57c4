// fetch: the global `fetch` (Node's built-in undici) and undici's exported `fetch` become
// `external`/`http` exit spans with trace headers added (runtime.ts). A local function or import named
// `fetch` from elsewhere is left alone: tsc checks the declaration, Babel the binding.
import type { Integration } from '../../rules/integration.js';

export const integration: Integration = {
  name: 'fetch',
  packages: { node: '>=20', undici: '>=6 <8' },
  rules: [
    {
      id: 'fetch',
      kind: 'call',
      target: { module: ['undici', 'undici-types'], names: ['fetch'], global: true },
      handler: 'fetch',
      span: { type: 'external', subtype: 'http', action: 'request' },
      description: 'global fetch and undici fetch',
    },
  ],
};

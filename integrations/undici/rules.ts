// undici: the exported `request` and `stream` functions become `external`/`http` exit spans with trace
// headers added (runtime.ts). undici's `fetch` is the fetch integration's.
import type { Integration } from '../../rules/integration.js';

export const integration: Integration = {
  name: 'undici',
  packages: { undici: '>=6 <8' },
  rules: [
    {
      id: 'undici.request',
      kind: 'call',
      target: { module: ['undici'], names: ['request'] },
      handler: 'undici',
      span: { type: 'external', subtype: 'http', action: 'request' },
      description: 'undici request (promise and callback forms)',
    },
    {
      id: 'undici.stream',
      kind: 'call',
      target: { module: ['undici'], names: ['stream'] },
      handler: 'undici-stream',
      span: { type: 'external', subtype: 'http', action: 'request' },
      description: 'undici stream(url, opts, factory[, callback])',
    },
  ],
};

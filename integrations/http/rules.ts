// node:http / node:https clients: `request`/`get` become `external`/`http` exit spans with trace headers
// added (runtime.ts). The server side (createServer, 'request' listeners) is a route rule of the
// catalogue (rules/catalogue.ts), handled by runtime/abi.ts route().
import type { Integration } from '../../rules/integration.js';

export const integration: Integration = {
  name: 'http',
  packages: { node: '>=20' },
  rules: [
    {
      id: 'http.request',
      kind: 'call',
      target: { module: ['http'], names: ['request', 'get'] },
      handler: 'http',
      span: { type: 'external', subtype: 'http', action: 'request' },
      description: 'node:http request/get',
    },
    {
      id: 'https.request',
      kind: 'call',
      target: { module: ['https'], names: ['request', 'get'] },
      handler: 'https',
      span: { type: 'external', subtype: 'http', action: 'request' },
      description: 'node:https request/get',
    },
  ],
  babel: { aliases: { 'node:http': 'http', 'node:https': 'https' } },
};

// bunyan at build time: `bunyan.createLogger(options)` is a site; runtime.ts wraps the created
// logger (and the children it makes) so that every record written inside a transaction carries
// `trace.id`, `transaction.id` and `span.id` (ECS names). No span is recorded.
import type { Integration } from '../../rules/integration.js';

export const integration: Integration = {
  name: 'bunyan',
  packages: { bunyan: '>=1.8 <3' },
  rules: [
    {
      id: 'bunyan.logger',
      kind: 'call',
      target: { module: ['bunyan'], names: ['createLogger'] },
      handler: 'bunyan',
      span: { type: 'log', subtype: 'bunyan', action: 'correlate' },
      description: 'bunyan.createLogger(options): records written inside a transaction carry trace.id, transaction.id, span.id',
    },
  ],
};

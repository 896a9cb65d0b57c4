// winston at build time: `winston.createLogger(options)` is a site; runtime.ts wraps the created
// logger's `write` so that every record written inside a transaction carries `trace.id`,
// `transaction.id` and `span.id` (ECS names) before the logger's formats run. No span is recorded.
import type { Integration } from '../../rules/integration.js';

export const integration: Integration = {
  name: 'winston',
  packages: { winston: '>=3 <4' },
  rules: [
    {
      id: 'winston.logger',
      kind: 'call',
      target: { module: ['winston'], names: ['createLogger'] },
      handler: 'winston',
      span: { type: 'log', subtype: 'winston', action: 'correlate' },
      description: 'winston.createLogger(options): records written inside a transaction carry trace.id, transaction.id, span.id (added to a copy of each record before the formats run)',
    },
  ],
};

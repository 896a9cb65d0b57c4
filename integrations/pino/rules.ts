// pino at build time: the logger's construction, `pino(...)` (default import, `{ pino }`, require), is a
// site; runtime.ts adds a `mixin` to a copy of the options so that every record written inside a
// transaction carries `trace.id`, `transaction.id` and `span.id` (ECS names). No span is recorded.
// tsc matches the `pino` function declared in pino's own types, Babel the module binding.
import type { Integration } from '../../rules/integration.js';

export const integration: Integration = {
  name: 'pino',
  packages: { pino: '>=8 <11' },
  rules: [
    {
      id: 'pino.logger',
      kind: 'call',
      target: { module: ['pino'], names: ['pino'], self: true },
      handler: 'pino',
      span: { type: 'log', subtype: 'pino', action: 'correlate' },
      description: 'pino(options?, destination?): records written inside a transaction carry trace.id, transaction.id, span.id (a mixin added to a copy of the options)',
    },
  ],
  babel: {
    selfExports: { pino: ['default', 'pino'] },
  },
};

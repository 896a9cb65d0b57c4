// BullMQ at build time: Queue add/addBulk are send spans (runtime.ts writes the trace context into the
// job's data under a reserved key); the processor given to `new Worker(name, processor, opts)` is wrapped
// so each job runs as its own `messaging` transaction. tsc matches by the declaring class (Queue, Worker
// in bullmq's types), Babel by `new Queue()` bindings and the `Worker` import.
import type { CallRule, RouteRule } from '../../rules/catalogue.js';
import type { Integration } from '../../rules/integration.js';

const modules = ['bullmq'];

const rules: (CallRule | RouteRule)[] = [
  {
    id: 'bullmq.add',
    kind: 'call',
    target: { module: modules, owner: ['Queue'], names: ['add', 'addBulk'] },
    handler: 'bullmq-add',
    quiet: true,
    span: { type: 'messaging', subtype: 'bullmq', action: 'send' },
    description: 'BullMQ Queue add(name, data, opts) / addBulk(jobs): send span, trace context in the job data (reserved key _spanforge)',
  },
  {
    id: 'bullmq.worker',
    kind: 'route',
    framework: 'bullmq',
    target: { module: modules, names: ['Worker'] },
    shape: 'constructor-handler',
    description: 'BullMQ new Worker(queue, processor, opts): each job a messaging transaction continuing the producer\'s trace; failed attempts reported as errors',
  },
];

const queue = { module: 'bullmq', cls: 'Queue' } as const;

export const integration: Integration = {
  name: 'bullmq',
  // lowest and newest tested against Redis: 5.0.0 (compat/) and 6.7
  packages: { bullmq: '>=5 <7' },
  rules,
  babel: {
    constructs: { 'bullmq.Queue': queue },
  },
};

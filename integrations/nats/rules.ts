// nats at build time: core NatsConnection publish/request/subscribe and JetStream publish/consume — tsc
// by the declaring interface in nats' types, Babel by following connect() → jetstream() bindings and
// `Consumer`-annotated parameters — and how the runtime handles each (runtime.ts).
import type { CallRule, LoopRule } from '../../rules/catalogue.js';
import type { Integration } from '../../rules/integration.js';

const modules = ['nats'];
const connection = ['NatsConnection', 'NatsConnectionImpl'];
const span = { type: 'messaging', subtype: 'nats', action: 'send' } as const;

const rules: (CallRule | LoopRule)[] = [
  {
    id: 'nats.publish',
    kind: 'call',
    target: { module: modules, owner: connection, names: ['publish', 'request'] },
    handler: 'nats-publish',
    quiet: true,
    span,
    description: 'nats NatsConnection publish(subject, payload, opts) / request(...): send span, trace context in the NATS headers',
  },
  {
    id: 'nats.subscribe',
    kind: 'call',
    target: { module: modules, owner: connection, names: ['subscribe'] },
    handler: 'nats-subscribe',
    quiet: true,
    span: { type: 'messaging', subtype: 'nats', action: 'receive' },
    description: 'nats NatsConnection subscribe(subject, { callback }): each message a messaging transaction continuing the producer\'s trace',
  },
  {
    id: 'nats.jetstream.publish',
    kind: 'call',
    target: { module: modules, owner: ['JetStreamClient', 'JetStreamClientImpl'], names: ['publish'] },
    handler: 'nats-js-publish',
    quiet: true,
    span,
    description: 'nats JetStreamClient publish(subject, payload, opts): send span, trace context in the NATS headers',
  },
  {
    id: 'nats.jetstream.consume',
    kind: 'call',
    target: { module: modules, owner: ['ExportedConsumer', 'Consumer', 'PullConsumerImpl', 'OrderedPullConsumerImpl'], names: ['consume'] },
    handler: 'nats-js-consume',
    span: { type: 'messaging', subtype: 'nats', action: 'receive' },
    description: 'nats JetStream Consumer consume({ callback }): each message a messaging transaction continuing the producer\'s trace',
  },
  {
    id: 'nats.iterate',
    kind: 'loop',
    // The iterables' type names: nc.subscribe(subject) without a callback, JetStream consumer.consume() / fetch().
    target: { module: modules, names: ['Subscription', 'ConsumerMessages'] },
    handler: 'nats-iterate',
    span: { type: 'messaging', subtype: 'nats', action: 'receive' },
    description: 'for await (const m of sub) over a nats Subscription or JetStream ConsumerMessages (consume()/fetch()): each iteration\'s body a messaging transaction continuing the producer\'s trace',
  },
];

const nc = { module: 'nats', cls: 'NatsConnection' } as const;
const js = { module: 'nats', cls: 'JetStreamClient' } as const;
const consumer = { module: 'nats', cls: 'Consumer' } as const;
const subscription = { module: 'nats', cls: 'Subscription' } as const;
const consumerMessages = { module: 'nats', cls: 'ConsumerMessages' } as const;

export const integration: Integration = {
  name: 'nats',
  // lowest and newest tested against NATS + JetStream: 2.17.0 (compat/) and 2.29
  packages: { nats: '>=2.17 <3' },
  rules,
  babel: {
    // `await connect(opts)`: Babel follows the awaited value as the instance itself.
    calls: { 'nats.connect': nc },
    methods: {
      'nats.NatsConnection#jetstream': { returns: js },
      // Makes `c: Consumer` annotations (from `js.consumers.get()`, a property Babel does not follow) known.
      'nats.Consumers#get': { returns: { promiseOf: consumer } },
      // The iterables of `for await` loops (rule nats.iterate).
      'nats.NatsConnection#subscribe': { returns: subscription },
      'nats.Consumer#consume': { returns: { promiseOf: consumerMessages } },
      'nats.Consumer#fetch': { returns: { promiseOf: consumerMessages } },
    },
  },
};

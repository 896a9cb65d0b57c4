// amqplib (RabbitMQ) at build time: which calls of the promise API (`amqplib`) and the callback API
// (`amqplib/callback_api`) are instrumented — tsc by the declaring interface (Channel, ConfirmChannel),
// Babel by following connect() → createChannel() bindings — and how the runtime handles each.
import type { CallRule } from '../../rules/catalogue.js';
import type { Integration } from '../../rules/integration.js';

const owner = ['Channel', 'ConfirmChannel'];
const modules = ['amqplib', 'amqplib/callback_api'];

const rules: CallRule[] = [
  {
    id: 'amqplib.publish',
    kind: 'call',
    target: { module: modules, owner, names: ['publish'] },
    handler: 'amqplib-publish',
    quiet: true,
    span: { type: 'messaging', subtype: 'rabbitmq', action: 'send' },
    description: 'amqplib Channel/ConfirmChannel publish(exchange, routingKey, content[, options][, cb]): send span, trace context in the AMQP headers',
  },
  {
    id: 'amqplib.sendToQueue',
    kind: 'call',
    target: { module: modules, owner, names: ['sendToQueue'] },
    handler: 'amqplib-send-to-queue',
    span: { type: 'messaging', subtype: 'rabbitmq', action: 'send' },
    description: 'amqplib Channel/ConfirmChannel sendToQueue(queue, content[, options][, cb]): send span, trace context in the AMQP headers',
  },
  {
    id: 'amqplib.consume',
    kind: 'call',
    target: { module: modules, owner, names: ['consume'] },
    handler: 'amqplib-consume',
    span: { type: 'messaging', subtype: 'rabbitmq', action: 'receive' },
    description: 'amqplib Channel consume(queue, onMessage, ...): each delivery a messaging transaction continuing the producer\'s trace',
  },
  {
    id: 'amqplib.get',
    kind: 'call',
    target: { module: modules, owner, names: ['get'] },
    handler: 'amqplib-get',
    quiet: true,
    span: { type: 'messaging', subtype: 'rabbitmq', action: 'poll' },
    description: 'amqplib Channel get(queue[, options][, cb]): a poll span linked to the message it returns',
  },
];

const channelModel = { module: 'amqplib', cls: 'ChannelModel' } as const;
const channel = { module: 'amqplib', cls: 'Channel' } as const;
const confirmChannel = { module: 'amqplib', cls: 'ConfirmChannel' } as const;
const cbConnection = { module: 'amqplib/callback_api', cls: 'Connection' } as const;
const cbChannel = { module: 'amqplib/callback_api', cls: 'Channel' } as const;
const cbConfirmChannel = { module: 'amqplib/callback_api', cls: 'ConfirmChannel' } as const;

export const integration: Integration = {
  name: 'amqplib',
  // lowest and newest tested against RabbitMQ: 0.10.0 (typed by @types/amqplib 0.10.0; compat/) and 2.3
  packages: { amqplib: '>=0.10 <3' },
  rules,
  babel: {
    // `await amqp.connect(url)`: Babel follows the awaited value as the instance itself.
    // (the callback API's entry makes `conn: Connection` annotations from amqplib/callback_api known)
    calls: { 'amqplib.connect': channelModel, 'amqplib/callback_api.connect': cbConnection },
    methods: {
      'amqplib.ChannelModel#createChannel': { returns: { promiseOf: channel } },
      'amqplib.ChannelModel#createConfirmChannel': { returns: { promiseOf: confirmChannel } },
      'amqplib/callback_api.Connection#createChannel': { returns: cbChannel, callbackParam: { index: 1, value: cbChannel } },
      'amqplib/callback_api.Connection#createConfirmChannel': { returns: cbConfirmChannel, callbackParam: { index: 1, value: cbConfirmChannel } },
    },
  },
};

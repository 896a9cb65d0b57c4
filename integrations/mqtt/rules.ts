// mqtt (MQTT.js 5) at build time: MqttClient publish/publishAsync are send spans (runtime.ts writes the
// trace context into MQTT 5 user properties); listeners registered with on/once/prependListener for the
// `message` event are wrapped so each message runs as its own `messaging` transaction (off/removeListener
// are rewritten to find the wrapper again); subscribe/unsubscribe are followed to name transactions by
// the topic filter a message matched. tsc matches by the declaring class or interface in mqtt's types
// (MqttClient, its TypedEventEmitter), Babel by following connect()/connectAsync()/new MqttClient() bindings.
import type { CallRule } from '../../rules/catalogue.js';
import type { ClassRef, Integration, MethodResult } from '../../rules/integration.js';

const modules = ['mqtt'];
const client = ['MqttClient'];

const rules: CallRule[] = [
  {
    id: 'mqtt.publish',
    kind: 'call',
    target: { module: modules, owner: client, names: ['publish', 'publishAsync'] },
    handler: 'mqtt-publish',
    nameFromMember: true,
    quiet: true,
    span: { type: 'messaging', subtype: 'mqtt', action: 'send' },
    description: 'mqtt MqttClient publish(topic, message[, opts][, cb]) / publishAsync(...): send span, trace context in the MQTT 5 user properties',
  },
  {
    id: 'mqtt.listener',
    kind: 'call',
    // `on` and friends are declared by mqtt's TypedEventEmitter interface, which MqttClient extends.
    target: { module: modules, owner: ['TypedEventEmitter', ...client], names: ['on', 'once', 'prependListener', 'prependOnceListener', 'off', 'removeListener'] },
    handler: 'mqtt-listener',
    nameFromMember: true,
    quiet: true,
    span: { type: 'messaging', subtype: 'mqtt', action: 'receive' },
    description: "mqtt MqttClient on('message', listener) (once, prependListener, off, removeListener): each message a messaging transaction continuing the producer's trace",
  },
  {
    id: 'mqtt.subscribe',
    kind: 'call',
    target: { module: modules, owner: client, names: ['subscribe', 'subscribeAsync', 'unsubscribe', 'unsubscribeAsync'] },
    handler: 'mqtt-subscribe',
    nameFromMember: true,
    quiet: true,
    span: { type: 'messaging', subtype: 'mqtt', action: 'receive' },
    description: 'mqtt MqttClient subscribe/unsubscribe(topic filters): the filters name the RECEIVE transactions of the messages they match',
  },
];

const mqttClient: ClassRef = { module: 'mqtt', cls: 'MqttClient' };
const chained: MethodResult = { returns: 'self' };

export const integration: Integration = {
  name: 'mqtt',
  packages: { mqtt: '>=5 <6' },
  rules,
  babel: {
    // `mqtt.connect(url)` / `await mqtt.connectAsync(url)` (default, namespace or named imports).
    calls: { 'mqtt.connect': mqttClient, 'mqtt.connectAsync': { promiseOf: mqttClient } },
    constructs: { 'mqtt.MqttClient': mqttClient, 'mqtt.Client': mqttClient },
    types: { 'mqtt.MqttClient': mqttClient },
    // The client's methods return the client: `client.on('connect', …).on('message', …)`.
    methods: Object.fromEntries(['on', 'once', 'prependListener', 'prependOnceListener', 'off', 'removeListener', 'publish', 'subscribe', 'unsubscribe'].map((m) => [`mqtt.MqttClient#${m}`, chained])),
  },
};

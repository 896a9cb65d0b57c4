// amqplib at run time (promise and callback APIs): publish/sendToQueue are `messaging`/`rabbitmq`/`send`
// exit spans with traceparent/tracestate added to the message's AMQP headers; each delivery to a
// consume() callback is its own `messaging` transaction continuing the producer's trace; get() is a
// `poll` span linked to the message it returns.
import { endSpan, runCall, runCallbackCall, startSpan, type CallHandler, type Site } from '../../runtime/abi-kit.js';
import type { AbiCore } from '../../runtime/abi-core.js';
import { consume, ignored, nowMs, sendSpan, spanCallback, traceHeaders, withTraceContext } from '../../runtime/messaging.js';
import type { Span } from '../../runtime/types.js';

const FRAMEWORK = 'RabbitMQ';

interface AmqpMessage {
  content?: unknown;
  fields?: { routingKey?: string; exchange?: string; consumerTag?: string };
  properties?: { headers?: Record<string, unknown>; timestamp?: number };
}

/** The spec: broker-generated queue names (`amq.gen-…`) are one name in span names, to keep cardinality low. */
function queueName(q: unknown): string {
  const s = typeof q === 'string' ? q : '';
  return s.startsWith('amq.gen-') ? 'amq.gen-*' : s;
}

/** The broker's address from the channel's connection socket, when it has one. */
function destination(ch: unknown): { address?: string; port?: number } {
  try {
    const stream = (ch as { connection?: { stream?: { remoteAddress?: string; remotePort?: number; _socket?: { remoteAddress?: string; remotePort?: number } } } })?.connection?.stream;
    const sock = stream && typeof stream.remoteAddress === 'string' ? stream : stream?._socket;
    return sock && typeof sock.remoteAddress === 'string' ? { address: sock.remoteAddress, ...(typeof sock.remotePort === 'number' ? { port: sock.remotePort } : {}) } : {};
  } catch {
    return {};
  }
}

/** AMQP's timestamp property is in seconds (when the producer set it): the message's age from it. */
function ageMs(msg: AmqpMessage): number | undefined {
  const ts = msg.properties?.timestamp;
  return typeof ts === 'number' && ts > 0 ? nowMs() - ts * 1000 : undefined;
}

/**
 * publish(exchange, routingKey, content[, options][, cb]) and sendToQueue(queue, content[, options][, cb])
 * (the callback is ConfirmChannel's broker confirm). `optIndex` is where the options argument sits.
 */
function send(core: AbiCore, site: Site, thisArg: unknown, fn: (...a: unknown[]) => unknown, args: unknown[], optIndex: number): unknown {
  const toQueue = optIndex === 2;
  const target = String(args[0] ?? '');
  if (ignored(core, target)) return Reflect.apply(fn, thisArg, args);
  const shown = toQueue ? queueName(target) : target === '' ? '<default>' : target;
  const routingKey = toQueue ? undefined : args[1];
  const span = sendSpan(core, site, `${FRAMEWORK} SEND to ${shown}`, { queue: target, ...(typeof routingKey === 'string' ? { routingKey } : {}) }, { ...destination(thisArg), targetName: target });
  const carrier = span ?? core.current();
  const copy = args.slice();
  const opts = args[optIndex];
  if (carrier && (opts === undefined || opts === null || typeof opts === 'object')) {
    const o = (opts ?? {}) as { headers?: unknown };
    const headers = withTraceContext(o.headers, carrier);
    // A copy of the options with a copy of the headers: the user's objects are never mutated.
    if (headers) copy[optIndex] = { ...o, headers };
  }
  if (!span) return Reflect.apply(fn, thisArg, copy);
  const cbIndex = optIndex + 1;
  if (typeof copy[cbIndex] === 'function') {
    copy[cbIndex] = spanCallback(core, span, copy[cbIndex] as (...a: unknown[]) => unknown);
    return runCallbackCall(core, span, thisArg, fn, copy);
  }
  // publish returns a boolean (write buffer full or not) at once: the span is the hand-over to the socket.
  return runCall(core, span, thisArg, fn, copy);
}

function deliveryHandler(core: AbiCore, queue: string, onMessage: (...a: unknown[]) => unknown): (...a: unknown[]) => unknown {
  return function (this: unknown, msg: unknown) {
    // null: the broker cancelled the consumer; no message, no transaction.
    if (!msg || typeof msg !== 'object' || !core.active()) return Reflect.apply(onMessage, this, arguments);
    const m = msg as AmqpMessage;
    const headers = m.properties?.headers;
    const { traceparent, tracestate } = traceHeaders(headers);
    const routingKey = m.fields?.routingKey;
    return consume(core, {
      name: `${FRAMEWORK} RECEIVE from ${queueName(queue)}`,
      ...(traceparent !== undefined ? { traceparent } : {}),
      ...(tracestate !== undefined ? { tracestate } : {}),
      message: {
        queue,
        ...(typeof routingKey === 'string' ? { routingKey } : {}),
        ...(ageMs(m) !== undefined ? { ageMs: ageMs(m) } : {}),
        ...(headers ? { headers } : {}),
        body: m.content,
        framework: FRAMEWORK,
      },
    }, onMessage, this, arguments);
  };
}

/** get(queue[, options][, cb]): a `RabbitMQ POLL from <queue>` span, linked to the message's producer when one comes back. */
function get(core: AbiCore, site: Site, thisArg: unknown, fn: (...a: unknown[]) => unknown, args: unknown[]): unknown {
  const queue = String(args[0] ?? '');
  if (ignored(core, queue)) return Reflect.apply(fn, thisArg, args);
  const span = startSpan(core, site, `${FRAMEWORK} POLL from ${queueName(queue)}`, true);
  if (!span) return Reflect.apply(fn, thisArg, args);
  try {
    span.setMessageContext({ queue });
    span.setDestination({ ...destination(thisArg), serviceTargetType: 'rabbitmq', serviceTargetName: queue });
  } catch {
    // best effort
  }
  const onMessage = (v: unknown) => received(span, queue, v);
  const last = args.length - 1;
  if (last >= 1 && typeof args[last] === 'function') {
    const copy = args.slice();
    const cb = args[last] as (...a: unknown[]) => unknown;
    const ctx = core.current();
    copy[last] = function (this: unknown, err: unknown, v: unknown) {
      if (err == null) received(span, queue, v);
      endSpan(core, span, err != null, err);
      return core.runWith(ctx, cb, this, arguments);
    };
    return runCallbackCall(core, span, thisArg, fn, copy);
  }
  return runCall(core, span, thisArg, fn, args, onMessage);
}

/** get() returned a message (or false: the queue was empty): link to its producer, record its age and routing key. */
function received(span: Span, queue: string, v: unknown): void {
  if (!v || typeof v !== 'object') return;
  const m = v as AmqpMessage;
  const { traceparent } = traceHeaders(m.properties?.headers);
  if (traceparent) span.addLink(traceparent);
  const age = ageMs(m);
  const routingKey = m.fields?.routingKey;
  span.setMessageContext({ queue, ...(age !== undefined ? { ageMs: age } : {}), ...(typeof routingKey === 'string' ? { routingKey } : {}) });
}

export const handlers: Record<string, CallHandler> = {
  'amqplib-publish'(core, site, thisArg, fn, args) {
    return send(core, site, thisArg, fn, args, 3);
  },
  'amqplib-send-to-queue'(core, site, thisArg, fn, args) {
    return send(core, site, thisArg, fn, args, 2);
  },
  /** consume(queue, onMessage[, options][, cb]): the registration itself is no span; each delivery is a transaction. */
  'amqplib-consume'(core, _site, thisArg, fn, args) {
    const queue = String(args[0] ?? '');
    if (typeof args[1] !== 'function' || ignored(core, queue)) return Reflect.apply(fn, thisArg, args);
    const copy = args.slice();
    copy[1] = deliveryHandler(core, queue, args[1] as (...a: unknown[]) => unknown);
    // Deliveries arrive from socket events; deliveryHandler gives each one its own transaction.
    return Reflect.apply(fn, thisArg, copy);
  },
  'amqplib-get'(core, site, thisArg, fn, args) {
    return get(core, site, thisArg, fn, args);
  },
};

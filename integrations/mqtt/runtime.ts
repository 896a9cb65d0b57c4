// mqtt (MQTT.js 5) at run time: publish/publishAsync are `messaging`/`mqtt`/`send` exit spans with
// traceparent/tracestate added to the MQTT 5 user properties of the message (MQTT 3.1.1 has no
// properties: nothing is added, and the consumer starts a trace of its own); each call of a `message`
// listener is its own `messaging` transaction continuing the producer's trace, named by the topic
// filter the client subscribed with that the message matched (else by its topic).
import { runCall, runCallbackCall, type CallHandler, type Site } from '../../runtime/abi-kit.js';
import type { AbiCore } from '../../runtime/abi-core.js';
import { consume, ignored, sendSpan, spanCallback, traceHeaders, withTraceContext } from '../../runtime/messaging.js';

const FRAMEWORK = 'MQTT';

type Fn = (...a: unknown[]) => unknown;

interface ClientLike {
  options?: { protocolVersion?: number; host?: string; hostname?: string; port?: number | string };
}

interface PublishPacket {
  properties?: { userProperties?: Record<string, string | string[]> };
}

/** The user's message listener → the listener registered in its place (so that off/removeListener find it). */
const wrapped = new WeakMap<Fn, Fn>();
/** Topic filters each client subscribed with (through an instrumented subscribe call), in order. */
const filters = new WeakMap<object, string[]>();

/** MQTT 5 (protocolVersion 5) is the only version whose PUBLISH packets carry user properties. */
function isV5(client: unknown): boolean {
  try {
    return (client as ClientLike)?.options?.protocolVersion === 5;
  } catch {
    return false;
  }
}

/** The broker the client was configured with (mqtt's parsed connect options). */
function destination(client: unknown): { address?: string; port?: number } {
  try {
    const o = (client as ClientLike)?.options;
    const address = o?.hostname ?? o?.host;
    const port = typeof o?.port === 'number' ? o.port : Number(o?.port);
    return { ...(typeof address === 'string' && address ? { address } : {}), ...(Number.isFinite(port) && port > 0 ? { port } : {}) };
  } catch {
    return {};
  }
}

/**
 * publish(topic, message[, opts][, cb]) / publishAsync(topic, message[, opts]). On an MQTT 5 client the
 * options are copied with a copy of `properties.userProperties` carrying the trace context; the user's
 * objects are never changed, and a traceparent the user set is left as is.
 */
function publish(core: AbiCore, site: Site, thisArg: unknown, fn: Fn, args: unknown[]): unknown {
  const topic = typeof args[0] === 'string' ? args[0] : String(args[0] ?? '');
  if (ignored(core, topic)) return Reflect.apply(fn, thisArg, args);
  const span = sendSpan(core, site, `${FRAMEWORK} SEND to ${topic}`, { queue: topic }, { ...destination(thisArg), targetName: topic });
  const carrier = span ?? core.current();
  let copy = args;
  let cbIndex = typeof args[2] === 'function' ? 2 : typeof args[3] === 'function' ? 3 : -1;
  const opts = cbIndex === 2 ? undefined : args[2];
  if (carrier && isV5(thisArg) && (opts === undefined || opts === null || typeof opts === 'object')) {
    try {
      const o = (opts ?? {}) as { properties?: { userProperties?: unknown } };
      const props = o.properties && typeof o.properties === 'object' ? o.properties : {};
      const userProperties = withTraceContext(props.userProperties, carrier);
      if (userProperties) {
        copy = args.slice();
        // publish(topic, message, cb): the options go in before the callback, as mqtt reads them.
        if (cbIndex === 2) {
          copy.splice(2, 0, undefined);
          cbIndex = 3;
        }
        copy[2] = { ...o, properties: { ...props, userProperties } };
      }
    } catch {
      copy = args;
    }
  }
  if (!span) return Reflect.apply(fn, thisArg, copy);
  if (cbIndex >= 0 && site.name !== 'publishAsync') {
    // The callback is the hand-over to the socket (QoS 0) or the broker's PUBACK/PUBCOMP (QoS 1/2).
    if (copy === args) copy = args.slice();
    copy[cbIndex] = spanCallback(core, span, copy[cbIndex] as Fn);
    return runCallbackCall(core, span, thisArg, fn, copy);
  }
  // publish without a callback returns the client at once (the span is the hand-over); publishAsync's
  // promise settles with the send's outcome.
  return runCall(core, span, thisArg, fn, copy);
}

/** MQTT topic filter matching: `+` one level, `#` the rest (and the parent level), `$share/<group>/` stripped. */
export function topicMatches(filter: string, topic: string): boolean {
  let f = filter;
  if (f.startsWith('$share/')) f = f.split('/').slice(2).join('/');
  if (f === topic) return true;
  // Wildcards never match topics starting with `$` (MQTT 4.7.2).
  if (topic.startsWith('$') && (f.startsWith('+') || f.startsWith('#'))) return false;
  const fl = f.split('/');
  const tl = topic.split('/');
  for (let i = 0; i < fl.length; i++) {
    if (fl[i] === '#') return i === fl.length - 1;
    if (i >= tl.length) return false;
    if (fl[i] !== '+' && fl[i] !== tl[i]) return false;
  }
  return fl.length === tl.length;
}

/** The name a message's transaction gets: the first wildcard filter of the client matching the topic, else the topic. */
function nameFor(client: unknown, topic: string): string {
  try {
    const list = client && typeof client === 'object' ? filters.get(client) : undefined;
    if (!list) return topic;
    let best: string | undefined;
    for (const f of list) {
      if (!topicMatches(f, topic)) continue;
      const plain = f.startsWith('$share/') ? f.split('/').slice(2).join('/') : f;
      // A filter equal to the topic wins: the topic is as specific as a name gets.
      if (plain === topic) return topic;
      best ??= plain;
    }
    return best ?? topic;
  } catch {
    return topic;
  }
}

/** The listener registered in place of a user's `message` listener (one per listener, so off() finds it). */
function messageListener(core: AbiCore, user: Fn): Fn {
  const known = wrapped.get(user);
  if (known) return known;
  const w = function (this: unknown, topic: unknown, payload: unknown, packet: unknown) {
    if (typeof topic !== 'string' || !core.active() || ignored(core, topic)) return Reflect.apply(user, this, arguments);
    let userProperties: Record<string, string | string[]> | undefined;
    try {
      const up = (packet as PublishPacket | undefined)?.properties?.userProperties;
      userProperties = up && typeof up === 'object' ? up : undefined;
    } catch {
      userProperties = undefined;
    }
    const { traceparent, tracestate } = traceHeaders(userProperties);
    return consume(core, {
      name: `${FRAMEWORK} RECEIVE from ${nameFor(this, topic)}`,
      ...(traceparent !== undefined ? { traceparent } : {}),
      ...(tracestate !== undefined ? { tracestate } : {}),
      message: {
        queue: topic,
        ...(userProperties ? { headers: userProperties } : {}),
        body: payload,
        framework: FRAMEWORK,
      },
    }, user, this, arguments);
  };
  wrapped.set(user, w);
  return w;
}

/** The filters of subscribe(topic | topic[] | { [filter]: opts }) / unsubscribe(topic | topic[]). */
function filterList(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  if (v && typeof v === 'object') return Object.keys(v).filter((k) => k !== 'resubscribe');
  return [];
}

export const handlers: Record<string, CallHandler> = {
  'mqtt-publish'(core, site, thisArg, fn, args) {
    return publish(core, site, thisArg, fn, args);
  },
  /** on/once/prependListener('message', fn) register the wrapper; off/removeListener('message', fn) remove it. */
  'mqtt-listener'(core, site, thisArg, fn, args) {
    if (args[0] !== 'message' || typeof args[1] !== 'function') return Reflect.apply(fn, thisArg, args);
    const user = args[1] as Fn;
    let listener: Fn | undefined;
    try {
      listener = site.name === 'off' || site.name === 'removeListener' ? wrapped.get(user) : messageListener(core, user);
    } catch {
      listener = undefined;
    }
    if (!listener) return Reflect.apply(fn, thisArg, args);
    const copy = args.slice();
    copy[1] = listener;
    return Reflect.apply(fn, thisArg, copy);
  },
  /** Records the client's topic filters (the call itself is no span). */
  'mqtt-subscribe'(_core, site, thisArg, fn, args) {
    try {
      if (thisArg && typeof thisArg === 'object') {
        const list = filters.get(thisArg) ?? [];
        const given = filterList(args[0]);
        if (site.name === 'subscribe' || site.name === 'subscribeAsync') {
          for (const f of given) if (!list.includes(f)) list.push(f);
        } else {
          for (const f of given) {
            const i = list.indexOf(f);
            if (i >= 0) list.splice(i, 1);
          }
        }
        filters.set(thisArg, list);
      }
    } catch {
      // naming is best effort
    }
    return Reflect.apply(fn, thisArg, args);
  },
};

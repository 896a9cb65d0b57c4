// nats at run time: core publish/request and JetStream publish are `messaging`/`nats`/`send` exit spans
// with traceparent/tracestate in the message's NATS headers; each message given to a subscribe() or
// JetStream consume() callback is its own `messaging` transaction continuing the producer's trace.
import { runCall, type CallHandler, type Site } from '../../runtime/abi-kit.js';
import type { AbiCore, Holder } from '../../runtime/abi-core.js';
import { consume, ignored, nowMs, sendSpan, traceHeaders, type Delivery, type LoopDelivery } from '../../runtime/messaging.js';

const FRAMEWORK = 'NATS';

/** What nats' MsgHdrs offers that is read here (nats 2.x and @nats-io 3.x alike). */
interface Hdrs {
  get?(k: string): string;
  append?(k: string, v: string): void;
  set?(k: string, v: string): void;
  [Symbol.iterator]?(): Iterator<[string, string[]]>;
}

/**
 * Headers for a message the user sent without any: the MsgHdrs surface nats' publish paths use (the
 * connection only calls encode(); JetStream's publish set()s its Nats-Msg-Id and expectation headers),
 * encoded as the protocol's `NATS/1.0` header block.
 */
class TraceHeaders implements Hdrs {
  private readonly map = new Map<string, string[]>();
  code = 0;
  description = '';
  hasError = false;
  status = '';
  constructor(init: Record<string, string>) {
    for (const k of Object.keys(init)) this.map.set(k, [init[k]!]);
  }
  [Symbol.iterator](): Iterator<[string, string[]]> {
    return this.map.entries();
  }
  size(): number {
    return this.map.size;
  }
  has(k: string): boolean {
    return this.map.has(k);
  }
  get(k: string): string {
    return this.map.get(k)?.[0] ?? '';
  }
  last(k: string): string {
    const v = this.map.get(k);
    return v ? v[v.length - 1]! : '';
  }
  values(k: string): string[] {
    return this.map.get(k) ?? [];
  }
  keys(): string[] {
    return [...this.map.keys()];
  }
  set(k: string, v: string): void {
    this.map.set(k, [v]);
  }
  append(k: string, v: string): void {
    const list = this.map.get(k);
    if (list) list.push(v);
    else this.map.set(k, [v]);
  }
  delete(k: string): void {
    this.map.delete(k);
  }
  encode(): Uint8Array {
    let s = 'NATS/1.0\r\n';
    for (const [k, vs] of this.map) for (const v of vs) s += `${k}: ${v}\r\n`;
    return new TextEncoder().encode(`${s}\r\n`);
  }
  toString(): string {
    return new TextDecoder().decode(this.encode());
  }
}

/** The user's headers as a plain record (first value of each key; several values as an array). */
function headerRecord(h: unknown): Record<string, string | string[]> | undefined {
  try {
    const it = h as Hdrs | undefined;
    if (!it || typeof it[Symbol.iterator] !== 'function') return undefined;
    const out: Record<string, string | string[]> = {};
    for (const [k, vs] of it as Iterable<[string, string[]]>) out[k] = vs.length === 1 ? vs[0]! : vs.slice();
    return out;
  } catch {
    return undefined;
  }
}

/**
 * The options to send with: a copy whose headers carry the trace context. The user's MsgHdrs is
 * copied (same class, same entries), never changed; a user traceparent is left as is.
 */
function withTraceOptions(opts: unknown, carrier: Holder | undefined): unknown {
  try {
    if (!carrier) return opts;
    const tp = carrier.traceparent();
    if (!tp) return opts;
    const ts = carrier.tracestate();
    const o = (opts && typeof opts === 'object' ? opts : {}) as { headers?: Hdrs };
    const user = o.headers;
    let headers: Hdrs;
    if (user && typeof user === 'object') {
      const rec = headerRecord(user);
      if (!rec) return opts;
      if (Object.keys(rec).some((k) => k.toLowerCase() === 'traceparent')) return opts;
      const C = (user as { constructor?: new () => Hdrs }).constructor;
      headers = typeof C === 'function' && C !== Object ? new C() : new TraceHeaders({});
      for (const [k, vs] of user as Iterable<[string, string[]]>) for (const v of vs) headers.append!(k, v);
      headers.set!('traceparent', tp);
      if (ts) headers.set!('tracestate', ts);
    } else headers = new TraceHeaders(ts ? { traceparent: tp, tracestate: ts } : { traceparent: tp });
    return { ...o, headers };
  } catch {
    return opts;
  }
}

/** host:port of the server the connection is on (`nc.getServer()`), for the span's destination. */
function destination(nc: unknown): { address?: string; port?: number } {
  try {
    const s = (nc as { getServer?(): string })?.getServer?.();
    const m = typeof s === 'string' ? /^\[?([^\]]+?)\]?:(\d+)$/.exec(s) : null;
    return m ? { address: m[1]!, port: Number(m[2]) } : {};
  } catch {
    return {};
  }
}

/** publish(subject, payload, opts) / request(...) / js.publish(...): the options are the third argument. */
function send(core: AbiCore, site: Site, thisArg: unknown, fn: (...a: unknown[]) => unknown, args: unknown[], dest: unknown): unknown {
  const subject = String(args[0] ?? '');
  if (ignored(core, subject)) return Reflect.apply(fn, thisArg, args);
  const span = sendSpan(core, site, `${FRAMEWORK} SEND to ${subject}`, { queue: subject }, { ...destination(dest), targetName: subject });
  const copy = args.slice();
  while (copy.length < 2) copy.push(undefined);
  // A server without header support (before 2.2) would reject a message with headers: send it as written.
  if ((dest as { info?: { headers?: boolean } } | undefined)?.info?.headers !== false) copy[2] = withTraceOptions(args[2], span ?? core.current());
  if (!span) return Reflect.apply(fn, thisArg, copy);
  return runCall(core, span, thisArg, fn, copy);
}

interface NatsMsg {
  subject?: string;
  headers?: Hdrs;
  data?: Uint8Array;
  info?: { timestampNanos?: number; stream?: string };
}

function delivery(core: AbiCore, subject: string, msg: NatsMsg, fn: (...a: unknown[]) => unknown, thisArg: unknown, args: ArrayLike<unknown>): unknown {
  return consume(core, deliveryOf(subject, msg), fn, thisArg, args);
}

/** The transaction one message is: named by `subject`, continuing the trace in the message's headers. */
function deliveryOf(subject: string, msg: NatsMsg): Delivery {
  const headers = headerRecord(msg.headers);
  const { traceparent, tracestate } = traceHeaders(headers);
  const ts = msg.info?.timestampNanos;
  return {
    name: `${FRAMEWORK} RECEIVE from ${subject}`,
    ...(traceparent !== undefined ? { traceparent } : {}),
    ...(tracestate !== undefined ? { tracestate } : {}),
    message: {
      queue: typeof msg.subject === 'string' ? msg.subject : subject,
      ...(typeof ts === 'number' && ts > 0 ? { ageMs: nowMs() - ts / 1e6 } : {}),
      ...(headers ? { headers } : {}),
      body: msg.data,
      framework: FRAMEWORK,
    },
  };
}

/**
 * The subject a message is named by in a `for await` loop: a JetStream message's own subject (as the
 * consume() callback names it); a core message's subscription subject (`orders.*`, wildcards kept), found
 * through the connection's subscription table by the message's sid, else the message's subject.
 */
function loopSubject(msg: NatsMsg): string {
  try {
    const m = msg as NatsMsg & { ack?: unknown; sid?: number; publisher?: { subscriptions?: { get?(sid: number): { subject?: unknown } | undefined } } };
    if (typeof m.ack !== 'function' && typeof m.sid === 'number') {
      const sub = m.publisher?.subscriptions?.get?.(m.sid);
      if (sub && typeof sub.subject === 'string') return sub.subject;
    }
    return typeof m.subject === 'string' ? m.subject : '';
  } catch {
    return '';
  }
}

/** `for await (const m of sub)` / `for await (const m of messages)` (core subscriptions, JetStream consume()/fetch()): each body one transaction. */
export const loops: Record<string, LoopDelivery> = {
  'nats-iterate'(core, _site, value) {
    if (!value || typeof value !== 'object') return undefined;
    const msg = value as NatsMsg;
    const subject = loopSubject(msg);
    if (ignored(core, subject)) return undefined;
    return deliveryOf(subject, msg);
  },
};

export const handlers: Record<string, CallHandler> = {
  'nats-publish'(core, site, thisArg, fn, args) {
    return send(core, site, thisArg, fn, args, thisArg);
  },
  /** JetStream: the client keeps its connection as `nc`. */
  'nats-js-publish'(core, site, thisArg, fn, args) {
    return send(core, site, thisArg, fn, args, (thisArg as { nc?: unknown })?.nc);
  },
  /** subscribe(subject, { callback }): each message to the callback is a transaction; the iterator form is passed through. */
  'nats-subscribe'(core, _site, thisArg, fn, args) {
    const subject = String(args[0] ?? '');
    const opts = args[1] as { callback?: (err: unknown, msg: unknown) => unknown } | undefined;
    if (!opts || typeof opts !== 'object' || typeof opts.callback !== 'function' || ignored(core, subject)) return Reflect.apply(fn, thisArg, args);
    const cb = opts.callback;
    const copy = args.slice();
    copy[1] = {
      ...opts,
      callback(this: unknown, err: unknown, msg: unknown) {
        if (err || !msg || typeof msg !== 'object' || !core.active()) return Reflect.apply(cb, this, arguments);
        return delivery(core, subject, msg as NatsMsg, cb, this, arguments);
      },
    };
    return Reflect.apply(fn, thisArg, copy);
  },
  /** JetStream consumer.consume({ callback }): each message a transaction named by the subject it was published to. */
  'nats-js-consume'(core, _site, thisArg, fn, args) {
    const opts = args[0] as { callback?: (msg: unknown) => unknown } | undefined;
    if (!opts || typeof opts !== 'object' || typeof opts.callback !== 'function') return Reflect.apply(fn, thisArg, args);
    const cb = opts.callback;
    const copy = args.slice();
    copy[0] = {
      ...opts,
      callback(this: unknown, msg: unknown) {
        if (!msg || typeof msg !== 'object' || !core.active()) return Reflect.apply(cb, this, arguments);
        const m = msg as NatsMsg;
        const subject = typeof m.subject === 'string' ? m.subject : '';
        if (ignored(core, subject)) return Reflect.apply(cb, this, arguments);
        return delivery(core, subject, m, cb, this, arguments);
      },
    };
    return Reflect.apply(fn, thisArg, copy);
  },
};

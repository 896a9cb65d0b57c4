// What every messaging integration (amqplib, nats, mqtt, bullmq) shares at run time: the consumer
// entry point (one `messaging` transaction per delivery, continuing the producer's trace read from the
// message), send spans, and the carriers that write traceparent/tracestate into a message's metadata.
// Elastic's messaging spec: span `messaging`/<subtype>/send, transaction type `messaging`, names
// `<FRAMEWORK> SEND to <queue>` / `<FRAMEWORK> RECEIVE from <queue>`, `context.message`.
import type { AbiCore, Holder } from './abi-core.js';
import { endSpan, report, settle, startSpan, type Site } from './abi-kit.js';
import type { MessageInfo, Span, Transaction } from './types.js';
export type { AbiCore } from './abi-core.js';

/** One delivery as a consumer handler receives it. */
export interface Delivery {
  /** `RabbitMQ RECEIVE from orders` */
  name: string;
  /** The trace context the producer wrote into the message (undefined: the transaction starts a trace). */
  traceparent?: string;
  tracestate?: string;
  /** When one delivery carries several messages: the traceparent of each (span links, not a parent). */
  links?: readonly string[];
  message: MessageInfo;
  /** Labels of the transaction (BullMQ: the job's name and attempt). */
  labels?: Record<string, string | number | boolean>;
}

/** The trace context a carrier holds, read case-insensitively from a header-like record. */
export function traceHeaders(h: unknown): { traceparent?: string; tracestate?: string } {
  const out: { traceparent?: string; tracestate?: string } = {};
  try {
    if (!h || typeof h !== 'object') return out;
    for (const k of Object.keys(h)) {
      const lk = k.toLowerCase();
      if (lk !== 'traceparent' && lk !== 'tracestate') continue;
      let v = (h as Record<string, unknown>)[k];
      if (Array.isArray(v)) v = v[0];
      if (v instanceof Uint8Array) v = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
      if (typeof v === 'string') out[lk] = v;
    }
  } catch {
    // hostile headers: no context
  }
  return out;
}

/** true when a record already carries a traceparent (the user propagates context himself: leave it). */
function hasTraceparent(h: unknown): boolean {
  if (!h || typeof h !== 'object') return false;
  for (const k of Object.keys(h)) if (k.toLowerCase() === 'traceparent') return true;
  return false;
}

/**
 * A copy of a plain header record with the carrier's traceparent/tracestate added (AMQP headers, MQTT 5
 * user properties, BullMQ's reserved data key); undefined when there is nothing to add or the user set one.
 */
export function withTraceContext(h: unknown, carrier: Holder | undefined): Record<string, unknown> | undefined {
  try {
    if (!carrier || hasTraceparent(h)) return undefined;
    const tp = carrier.traceparent();
    if (!tp) return undefined;
    const ts = carrier.tracestate();
    const base = h && typeof h === 'object' ? (h as Record<string, unknown>) : {};
    return ts ? { ...base, traceparent: tp, tracestate: ts } : { ...base, traceparent: tp };
  } catch {
    return undefined;
  }
}

/** `ignore_message_queues`: sends to and receives from these names are neither traced nor propagated. */
export function ignored(core: AbiCore, queue: string | undefined): boolean {
  try {
    return queue !== undefined && core.ignoreMessageQueue !== undefined && core.ignoreMessageQueue(queue);
  } catch {
    return false;
  }
}

/** A send exit span at a site (`RabbitMQ SEND to orders`) with its message and destination context; undefined when nothing records. */
export function sendSpan(core: AbiCore, site: Site, name: string, message: MessageInfo, dest: { address?: string; port?: number; targetName?: string }): Span | undefined {
  const span = startSpan(core, site, name, true);
  if (!span) return undefined;
  try {
    span.setMessageContext(message);
    span.setDestination({
      ...(dest.address ? { address: dest.address } : {}),
      ...(typeof dest.port === 'number' ? { port: dest.port } : {}),
      serviceTargetType: site.subtype ?? 'messaging',
      ...(dest.targetName !== undefined ? { serviceTargetName: dest.targetName } : {}),
    });
  } catch {
    // context is best effort
  }
  return span;
}

/**
 * Runs one delivery's handler as its own `messaging` transaction: started as a child of the message's
 * traceparent (or linked to each message of a batch), current while the handler runs and what it
 * schedules, ended when the handler returns or its promise settles. A throw or rejection is reported as
 * an unhandled error of the transaction and passed on unchanged, so the library does with it what it
 * always does (amqplib's handler-error, BullMQ's failed job) and the consumer keeps consuming.
 */
export function consume(core: AbiCore, delivery: Delivery, fn: (...a: unknown[]) => unknown, thisArg: unknown, args: ArrayLike<unknown>): unknown {
  let tx: Transaction | undefined;
  try {
    tx = core.startTransaction(delivery.name, 'messaging', {
      ...(delivery.traceparent !== undefined ? { childOf: delivery.traceparent } : {}),
      ...(delivery.tracestate !== undefined ? { tracestate: delivery.tracestate } : {}),
      ...(delivery.links ? { links: delivery.links } : {}),
    });
    tx.setMessageContext(delivery.message);
    if (delivery.labels) tx.addLabels(delivery.labels);
  } catch {
    tx = undefined;
  }
  if (!tx) return Reflect.apply(fn, thisArg, args);
  const t = tx;
  const done = (failed: boolean, v: unknown) => {
    try {
      if (failed) report(core, v, t, false);
      t.setOutcome(failed ? 'failure' : 'success');
      t.setResult(failed ? 'failure' : 'success');
      t.end();
    } catch {
      // never into user code
    }
  };
  let result: unknown;
  try {
    result = core.runWith(t, fn, thisArg, args);
  } catch (err) {
    done(true, err);
    throw err;
  }
  return settle(result, done);
}

/**
 * One iteration of a `for await` consumer loop (the front-ends' loop-body rewrite, runtime/abi.ts
 * loop()): what the emitted code calls when the body ends (`end`, always, from a `finally`) and when it
 * throws (`fail(err)` returns `err`, which the emitted code rethrows unchanged).
 */
export interface LoopIteration {
  fail(err: unknown): unknown;
  end(): void;
}

/** The integration's reading of one iterated value (a message) at a loop site; undefined: not traced. */
export type LoopDelivery = (core: AbiCore, site: Site, value: unknown) => Delivery | undefined;

/**
 * Starts one loop body's `messaging` transaction and makes it current for the rest of the body (what
 * it awaits and schedules): a body is no function that could be run inside it, so the context is
 * entered and, when the body ends, the one current before it entered again. undefined: not recorded.
 */
export function consumeIteration(core: AbiCore, delivery: Delivery): LoopIteration | undefined {
  if (!core.enter) return undefined;
  const prev = core.current();
  let tx: Transaction | undefined;
  try {
    tx = core.startTransaction(delivery.name, 'messaging', {
      ...(delivery.traceparent !== undefined ? { childOf: delivery.traceparent } : {}),
      ...(delivery.tracestate !== undefined ? { tracestate: delivery.tracestate } : {}),
      ...(delivery.links ? { links: delivery.links } : {}),
    });
    tx.setMessageContext(delivery.message);
    if (delivery.labels) tx.addLabels(delivery.labels);
    core.enter(tx);
  } catch {
    try {
      core.enter(prev);
    } catch {
      // never into user code
    }
    return undefined;
  }
  const t = tx;
  let failed = false;
  let ended = false;
  return {
    fail(err: unknown): unknown {
      if (!failed && !ended) {
        failed = true;
        report(core, err, t, false);
      }
      return err;
    },
    end(): void {
      if (ended) return;
      ended = true;
      try {
        t.setOutcome(failed ? 'failure' : 'success');
        t.setResult(failed ? 'failure' : 'success');
        t.end();
      } catch {
        // never into user code
      }
      try {
        core.enter!(prev);
      } catch {
        // never into user code
      }
    },
  };
}

/** Ends a span in a node-style callback, which then runs in the context it was registered in. */
export function spanCallback(core: AbiCore, span: Span, cb: (...a: unknown[]) => unknown): (...a: unknown[]) => unknown {
  const ctx = core.current();
  return function (this: unknown, err: unknown) {
    endSpan(core, span, err != null, err);
    return core.runWith(ctx, cb, this, arguments);
  };
}

/** Epoch ms now, on the tracer's clock. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/**
 * Wraps a handler registered at a site (BullMQ's Worker processor, Koa's middleware); route() calls it
 * once per registration. `core()` is the installed core at call time (undefined: inactive). undefined:
 * the handler is left as it is.
 */
export type HandlerWrapper = (site: Site, handler: (...a: unknown[]) => unknown, core: () => AbiCore | undefined) => ((...a: unknown[]) => unknown) | undefined;

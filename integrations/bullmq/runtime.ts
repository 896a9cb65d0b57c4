// BullMQ at run time: Queue add/addBulk are `messaging`/`bullmq`/`send` exit spans whose trace context
// travels in the job's data under the reserved key `_spanforge` (BullMQ jobs have no headers); the
// Worker processor runs each job as its own `messaging` transaction continuing that trace, the key taken
// out of `job.data` before the processor sees it. A processor that throws or rejects is reported as an
// error of its attempt's transaction and passed on, so BullMQ retries or fails the job as it always does.
import { runCall, type CallHandler, type Site } from '../../runtime/abi-kit.js';
import type { AbiCore, Holder } from '../../runtime/abi-core.js';
import { consume, ignored, nowMs, sendSpan, type HandlerWrapper } from '../../runtime/messaging.js';

const FRAMEWORK = 'BullMQ';
/** Where the producer's trace context sits in a job's data. */
export const TRACE_KEY = '_spanforge';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A copy of plain-object job data with the trace context under TRACE_KEY; anything else is sent as is. */
function withJobTrace(data: unknown, carrier: Holder | undefined): unknown {
  try {
    if (!carrier || !isPlainObject(data) || TRACE_KEY in data) return data;
    const traceparent = carrier.traceparent();
    if (!traceparent) return data;
    const tracestate = carrier.tracestate();
    return { ...data, [TRACE_KEY]: tracestate ? { traceparent, tracestate } : { traceparent } };
  } catch {
    return data;
  }
}

/** The Redis server the queue talks to, from its connection options. */
function destination(queue: unknown): { address?: string; port?: number } {
  try {
    const c = (queue as { opts?: { connection?: { host?: unknown; port?: unknown; options?: { host?: unknown; port?: unknown } } } })?.opts?.connection;
    const o = c && typeof c.host !== 'string' && c.options ? c.options : c;
    if (!o) return {};
    return { address: typeof o.host === 'string' ? o.host : 'localhost', port: typeof o.port === 'number' ? o.port : 6379 };
  } catch {
    return {};
  }
}

interface Job {
  name?: string;
  data?: unknown;
  queueName?: string;
  timestamp?: number;
  attemptsMade?: number;
  attemptsStarted?: number;
  opts?: { attempts?: number };
}

export const handlers: Record<string, CallHandler> = {
  /** add(name, data, opts) and addBulk([{ name, data, opts }]): one span, each job's data carrying it. */
  'bullmq-add'(core, site, thisArg, fn, args) {
    const queue = String((thisArg as { name?: unknown })?.name ?? '');
    if (ignored(core, queue)) return Reflect.apply(fn, thisArg, args);
    const span = sendSpan(core, site, `${FRAMEWORK} SEND to ${queue}`, { queue }, { ...destination(thisArg), targetName: queue });
    const carrier = span ?? core.current();
    const copy = args.slice();
    if (Array.isArray(args[0])) {
      copy[0] = (args[0] as unknown[]).map((j) => (isPlainObject(j) ? { ...j, data: withJobTrace(j.data, carrier) } : j));
    } else if (args.length >= 2) copy[1] = withJobTrace(args[1], carrier);
    if (!span) return Reflect.apply(fn, thisArg, copy);
    return runCall(core, span, thisArg, fn, copy);
  },
};

export const wrappers: Record<string, HandlerWrapper> = {
  /** The processor of `new Worker(queue, processor, opts)`, called once per job attempt. */
  bullmq(_site: Site, processor, installed) {
    return function (this: unknown, job: unknown) {
      const core: AbiCore | undefined = installed();
      if (core === undefined || !core.active() || !job || typeof job !== 'object') return Reflect.apply(processor, this, arguments);
      const j = job as Job;
      const queue = typeof j.queueName === 'string' ? j.queueName : '';
      let trace: { traceparent?: unknown; tracestate?: unknown } | undefined;
      try {
        if (isPlainObject(j.data) && isPlainObject(j.data[TRACE_KEY])) {
          trace = j.data[TRACE_KEY] as { traceparent?: unknown; tracestate?: unknown };
          // The processor sees the data its producer passed, as without instrumentation.
          delete j.data[TRACE_KEY];
        }
      } catch {
        trace = undefined;
      }
      if (ignored(core, queue)) return Reflect.apply(processor, this, arguments);
      const attempt = typeof j.attemptsStarted === 'number' && j.attemptsStarted > 0 ? j.attemptsStarted : (j.attemptsMade ?? 0) + 1;
      return consume(core, {
        name: `${FRAMEWORK} RECEIVE from ${queue}`,
        ...(typeof trace?.traceparent === 'string' ? { traceparent: trace.traceparent } : {}),
        ...(typeof trace?.tracestate === 'string' ? { tracestate: trace.tracestate } : {}),
        message: {
          queue,
          ...(typeof j.timestamp === 'number' ? { ageMs: nowMs() - j.timestamp } : {}),
          body: j.data,
          framework: FRAMEWORK,
        },
        labels: { bullmq_job: String(j.name ?? ''), bullmq_attempt: attempt, bullmq_attempts: j.opts?.attempts ?? 1 },
      }, processor, this, arguments);
    };
  },
};

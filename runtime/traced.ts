// traced(fn) and the @Traced() decorator (legacy experimentalDecorators and TC39 standard): a span per call, or a 'background' transaction when none is active.
import { getAgent } from './agent.js';
import { runWith } from './context.js';
import { NOOP_SPAN, TransactionImpl } from './tracer.js';
import type { Span, Transaction } from './types.js';

export interface TracedOptions {
  /** Span (or background transaction) name; default: the function name, or Class.method for decorators. */
  name?: string;
  /** Span type; default "app". The background transaction's type is always "background". */
  type?: string;
  subtype?: string;
  action?: string;
}

const NATIVE_PROMISE_PROTO = Promise.prototype;

/**
 * The options as plain strings: a field that is not a string (or whose getter throws) is left out with
 * one warning, so bad options can neither throw into the caller nor put a non-string into an event.
 */
function normalize(opts: unknown): TracedOptions {
  if (typeof opts === 'string') return { name: opts };
  if (opts === undefined || opts === null) return {};
  if (typeof opts !== 'object') {
    warn(`traced()/@Traced() options must be a string or an object, got ${typeof opts}; ignored`);
    return {};
  }
  const out: TracedOptions = {};
  for (const k of ['name', 'type', 'subtype', 'action'] as const) {
    let v: unknown;
    try {
      v = (opts as Record<string, unknown>)[k];
    } catch {
      warn(`traced()/@Traced() option "${k}" could not be read; ignored`);
      continue;
    }
    if (v === undefined || v === null) continue;
    if (typeof v === 'string') out[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    else warn(`traced()/@Traced() option "${k}" must be a string, got ${typeof v}; ignored`);
  }
  return out;
}

function warn(msg: string): void {
  try {
    getAgent().logger.warn(msg);
  } catch {
    // never into user code
  }
}

/** fn.name, or '' when it is not a string or its getter throws. */
function nameOf(fn: Function): string {
  try {
    return typeof fn.name === 'string' ? fn.name : '';
  } catch {
    return '';
  }
}

function end(span: Span | Transaction, outcome: 'success' | 'failure', err?: unknown): void {
  try {
    // As the compiled form (runtime/abi.ts) does: the error is reported once, linked to this span,
    // as handled (it may still be caught further up); the same error object is not reported twice.
    if (outcome === 'failure') getAgent().captureErrorOnce(err, span);
    span.setOutcome(outcome);
    if (span.kind === 'transaction') span.setResult(outcome);
    span.end();
  } catch {
    // never into user code
  }
}

/** Core of traced() and @Traced(): calls fn exactly as the caller asked, inside a span or a transaction. */
function invoke(fn: Function, thisArg: unknown, args: unknown[], name: string, o: TracedOptions): unknown {
  const agent = getAgent();
  if (!agent.recording) return Reflect.apply(fn, thisArg, args);
  let span: Span | Transaction;
  if (agent.currentTransaction()) {
    span = agent.startSpan(name, o.type ?? 'app', { subtype: o.subtype, action: o.action });
    if (span === NOOP_SPAN) return Reflect.apply(fn, thisArg, args);
  } else {
    // Not startTransaction(): that one enters the context for the caller, this one is scoped to the call.
    try {
      span = new TransactionImpl(agent, name, 'background', undefined);
    } catch {
      return Reflect.apply(fn, thisArg, args);
    }
  }
  let result: unknown;
  try {
    result = runWith(span, fn as (...a: unknown[]) => unknown, thisArg, args);
  } catch (e) {
    end(span, 'failure', e);
    throw e;
  }
  // Only plain native promises are followed: the returned promise is then a chained one that settles the
  // same way (its rejection stays unhandled exactly when the caller does not handle it). Other thenables
  // (query builders, subclasses) are returned untouched and the span ends now, so nothing is triggered.
  if (result instanceof Promise && Object.getPrototypeOf(result) === NATIVE_PROMISE_PROTO) {
    return result.then(
      (v) => {
        end(span, 'success');
        return v;
      },
      (e) => {
        end(span, 'failure', e);
        throw e;
      },
    );
  }
  end(span, 'success');
  return result;
}

/**
 * Wraps fn so each call runs in a span (inside an active transaction) or in its own 'background' transaction.
 * `this`, arguments, the return value, thrown errors and sync-vs-async behaviour are unchanged.
 * @example const load = traced(async function loadUser(id: string) { ... });
 */
export function traced<F extends (...args: any[]) => any>(fn: F, opts?: string | TracedOptions): F {
  // Not a function: nothing to trace. Hand it back untouched (a later call fails exactly as it would
  // have without spanforge) and say so, rather than throwing into the caller.
  if (typeof fn !== 'function') {
    warn(`traced() expects a function, got ${fn === null ? 'null' : typeof fn}; returned as is`);
    return fn;
  }
  const o = normalize(opts);
  const own = nameOf(fn);
  const name = o.name || own || 'anonymous';
  const wrapped = function (this: unknown, ...args: unknown[]) {
    return invoke(fn, this, args, name, o);
  };
  copyShape(wrapped, fn, own);
  return wrapped as unknown as F;
}

/** Gives the wrapper the original's name and length (best effort: a hostile `length` getter is skipped). */
function copyShape(wrapped: Function, fn: Function, name: string): void {
  try {
    Object.defineProperty(wrapped, 'name', { value: name, configurable: true });
    Object.defineProperty(wrapped, 'length', { value: fn.length, configurable: true });
  } catch {
    // keep the wrapper's own
  }
}

function ownerName(thisArg: unknown): string | undefined {
  try {
    if (typeof thisArg === 'function') return thisArg.name || undefined;
    if (thisArg && typeof thisArg === 'object') return (thisArg as { constructor?: { name?: string } }).constructor?.name || undefined;
  } catch {
    // a hostile getter: no owner name
  }
  return undefined;
}

function wrapMethod(fn: Function, methodName: string, className: string | undefined, o: TracedOptions): Function {
  let name = o.name ?? (className ? `${className}.${methodName}` : undefined);
  const wrapped = function (this: unknown, ...args: unknown[]) {
    // TC39 decorators do not see the class: name it from the first receiver.
    name ??= `${ownerName(this) ?? 'anonymous'}.${methodName}`;
    return invoke(fn, this, args, name, o);
  };
  copyShape(wrapped, fn, nameOf(fn));
  return wrapped;
}

/**
 * Method decorator: each call of the method runs in a span named "Class.method" (or opts.name).
 * Works with TypeScript's experimentalDecorators and with standard (TC39) decorators, without a build step.
 * @example class Repo { @Traced() async find(id: string) { ... } }
 */
export function Traced(opts?: string | TracedOptions): (...args: any[]) => any {
  const o = normalize(opts);
  return function decorate(...args: any[]): any {
    // TC39: (value, context) with context.kind.
    if (args.length === 2 && args[1] && typeof args[1] === 'object' && 'kind' in args[1]) {
      const [value, context] = args as [unknown, { kind: string; name: string | symbol }];
      if (context.kind !== 'method' || typeof value !== 'function') {
        getAgent().logger.warn('@Traced() applies to methods only; "%s" (%s) left as is', String(context.name), context.kind);
        return undefined;
      }
      return wrapMethod(value, String(context.name), undefined, o);
    }
    // Legacy: (target, key, descriptor).
    const [target, key, descriptor] = args as [unknown, string | symbol, PropertyDescriptor | undefined];
    if (!descriptor || typeof descriptor.value !== 'function') {
      getAgent().logger.warn('@Traced() applies to methods only; "%s" left as is', String(key));
      return descriptor;
    }
    const className = typeof target === 'function' ? target.name : (target as { constructor?: { name?: string } })?.constructor?.name;
    return { ...descriptor, value: wrapMethod(descriptor.value, String(key), className || undefined, o) };
  };
}


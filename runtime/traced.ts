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

function normalize(opts: string | TracedOptions | undefined): TracedOptions {
  if (typeof opts === 'string') return { name: opts };
  return opts && typeof opts === 'object' ? opts : {};
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
  if (typeof fn !== 'function') throw new TypeError(`spanforge traced(): expected a function, got ${fn === null ? 'null' : typeof fn}`);
  const o = normalize(opts);
  const name = o.name || fn.name || 'anonymous';
  const wrapped = function (this: unknown, ...args: unknown[]) {
    return invoke(fn, this, args, name, o);
  };
  Object.defineProperty(wrapped, 'name', { value: fn.name, configurable: true });
  Object.defineProperty(wrapped, 'length', { value: fn.length, configurable: true });
  return wrapped as unknown as F;
}

function ownerName(thisArg: unknown): string | undefined {
  if (typeof thisArg === 'function') return thisArg.name || undefined;
  if (thisArg && typeof thisArg === 'object') return (thisArg as { constructor?: { name?: string } }).constructor?.name || undefined;
  return undefined;
}

function wrapMethod(fn: Function, methodName: string, className: string | undefined, o: TracedOptions): Function {
  let name = o.name ?? (className ? `${className}.${methodName}` : undefined);
  const wrapped = function (this: unknown, ...args: unknown[]) {
    // TC39 decorators do not see the class: name it from the first receiver.
    name ??= `${ownerName(this) ?? 'anonymous'}.${methodName}`;
    return invoke(fn, this, args, name, o);
  };
  Object.defineProperty(wrapped, 'name', { value: fn.name, configurable: true });
  Object.defineProperty(wrapped, 'length', { value: fn.length, configurable: true });
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


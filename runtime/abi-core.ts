// The seam between the ABI helpers (abi.ts) and the agent: the few tracer operations the helpers
// need, resolved once. Tests install an in-memory core through the same global slot.
import type { Span, StartSpanOptions, StartTransactionOptions, Transaction } from './types.js';

export type Holder = Transaction | Span;

/** What abi.ts needs from the agent. Implementations never throw. */
export interface AbiCore {
  /** false: every helper falls through to the original call after one branch. */
  active(): boolean;
  startTransaction(name: string, type: string, opts?: StartTransactionOptions): Transaction;
  /** A child of the current span/transaction; undefined when there is none (or it is not recorded). */
  startSpan(name: string, type: string, opts?: StartSpanOptions): Span | undefined;
  /** The innermost active span or transaction. */
  current(): Holder | undefined;
  currentTransaction(): Transaction | undefined;
  /** Makes holder current for the rest of this synchronous execution and what it schedules (optional: test cores may lack it). */
  enter?(holder: Holder | undefined): void;
  /** Runs fn.apply(thisArg, args) with holder as the current context. */
  runWith<R>(holder: Holder | undefined, fn: (...a: any[]) => R, thisArg: unknown, args: ArrayLike<unknown>): R;
  captureError(err: unknown, opts: { handled: boolean; parent?: Holder }): void;
  warn(msg: string): void;
  /** true when sends to and receives from this queue/topic/exchange are not traced (ignore_message_queues). */
  ignoreMessageQueue?(name: string): boolean;
  /** true when GraphQL resolver calls get spans of their own (graphqlResolverSpans). */
  graphqlResolverSpans?(): boolean;
  /** Sends what is queued (resolves, never rejects): what a worker hands to `ctx.waitUntil` (Hono on workerd). */
  flush?(timeoutMs?: number): Promise<void>;
}

const SLOT = Symbol.for('spanforge.abi.core.v1');
/** Per-process state behind the slot, shared by every loaded copy of this module. */
const SHARED = Symbol.for('spanforge.abi.core.v1.shared');
type Listener = (core: AbiCore | undefined) => void;
interface Shared {
  core: AbiCore | undefined;
  listeners: Listener[];
}
type G = typeof globalThis & { [SLOT]?: AbiCore; [SHARED]?: Shared };

const inactive: AbiCore = {
  active: () => false,
  startTransaction: () => {
    throw new Error('unreachable: inactive core');
  },
  startSpan: () => undefined,
  current: () => undefined,
  currentTransaction: () => undefined,
  runWith: (_h, fn, thisArg, args) => Reflect.apply(fn, thisArg, args),
  captureError: () => {},
  warn: () => {},
};

/**
 * The slot is an accessor, installed once per process by the first copy loaded (keeping a core set
 * before it): whoever assigns it (setAbiCore, the agent, a test) notifies every copy's listener, so
 * each copy can keep the core in a module-level variable instead of reading a global symbol slot on
 * every call (bench/overhead/abi-dispatch.cjs: ~10 ns against ~4.4 ns per inactive call).
 */
function shared(): Shared {
  const g = globalThis as G;
  let s = g[SHARED];
  if (s !== undefined) return s;
  const state: Shared = { core: g[SLOT], listeners: [] };
  s = state;
  Object.defineProperty(g, SHARED, { value: state, configurable: true });
  Object.defineProperty(g, SLOT, {
    configurable: true,
    get: () => state.core,
    set: (core: AbiCore | undefined) => {
      state.core = core;
      for (const l of state.listeners) l(core);
    },
  });
  return s;
}

/** Calls listener with the installed core (undefined: none) now and whenever it changes. */
export function onAbiCore(listener: Listener): void {
  const s = shared();
  s.listeners.push(listener);
  listener(s.core);
}

/**
 * Installs the core the helpers use (the agent does this when it starts; tests install a recorder).
 * One global slot, so the CJS and ESM copies of the runtime share it.
 */
export function setAbiCore(core: AbiCore | undefined): void {
  shared();
  (globalThis as G)[SLOT] = core;
}

/** The installed core, or the inactive one. */
export function abiCore(): AbiCore {
  return (globalThis as G)[SLOT] ?? inactive;
}

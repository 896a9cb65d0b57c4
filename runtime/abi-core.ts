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
  /** Runs fn.apply(thisArg, args) with holder as the current context. */
  runWith<R>(holder: Holder | undefined, fn: (...a: any[]) => R, thisArg: unknown, args: ArrayLike<unknown>): R;
  captureError(err: unknown, opts: { handled: boolean; parent?: Holder }): void;
  warn(msg: string): void;
}

const SLOT = Symbol.for('spanforge.abi.core.v1');
type G = typeof globalThis & { [SLOT]?: AbiCore };

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
 * Installs the core the helpers use (the agent does this when it starts; tests install a recorder).
 * One global slot, so the CJS and ESM copies of the runtime share it.
 */
export function setAbiCore(core: AbiCore | undefined): void {
  (globalThis as G)[SLOT] = core;
}

/** The installed core, or the inactive one. */
export function abiCore(): AbiCore {
  return (globalThis as G)[SLOT] ?? inactive;
}

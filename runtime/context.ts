// Run context: the current transaction/span, kept in one AsyncLocalStorage shared by every copy of the runtime.
import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What the storage holds: the innermost active span or transaction. Values are never mutated; entering a
 * child runs the callback with a new value, so a context change can never leak into a sibling task.
 */
export interface ContextHolder {
  readonly kind: 'transaction' | 'span';
}

const SLOT = Symbol.for('spanforge.context.v1');
type G = typeof globalThis & { [SLOT]?: AsyncLocalStorage<ContextHolder> };

/** The CJS and ESM copies of the runtime must see the same storage, or spans would lose their parent. */
export const storage: AsyncLocalStorage<ContextHolder> =
  (globalThis as G)[SLOT] ?? ((globalThis as G)[SLOT] = new AsyncLocalStorage<ContextHolder>());

export function currentHolder(): ContextHolder | undefined {
  return storage.getStore();
}

/** Runs fn with holder as the current context; returns what fn returns, throws what it throws. */
export function runWith<R>(holder: ContextHolder | undefined, fn: (...args: any[]) => R, thisArg?: unknown, args?: readonly unknown[]): R {
  // Reflect.apply as the callback avoids allocating a closure per call.
  return storage.run(holder as ContextHolder, Reflect.apply as (f: typeof fn, t: unknown, a: readonly unknown[]) => R, fn, thisArg, args ?? []);
}

/** Makes holder current for the rest of this synchronous execution and what it schedules (used by startTransaction). */
export function enter(holder: ContextHolder | undefined): void {
  storage.enterWith(holder as ContextHolder);
}

/** Binds fn to the context current now (for callbacks registered in one context and called from another). */
export function bind<F extends (...args: any[]) => any>(fn: F): F {
  const holder = storage.getStore();
  return function (this: unknown, ...args: unknown[]) {
    return storage.run(holder as ContextHolder, () => fn.apply(this, args));
  } as F;
}

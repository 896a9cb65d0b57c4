// Internal entry for runtime/abi.ts (not part of the public API): run code under a given span, reach the agent.
import { getAgent } from './agent.js';
import type { Span, Transaction } from './types.js';

export { getAgent } from './agent.js';
export { NOOP_SPAN, NOOP_TRANSACTION, isNoop } from './tracer.js';

/**
 * Calls fn.apply(thisArg, args) with span as the current context (so spans started inside become its
 * children); the no-op span leaves the context unchanged. Returns and throws exactly what fn does.
 */
export function withSpan<R>(span: Span | Transaction | undefined, fn: (...args: any[]) => R, thisArg?: unknown, args?: readonly unknown[]): R {
  return getAgent().withSpan(span, fn, thisArg, args);
}

/** true when the agent records (started, active, not failed): emitted wrappers branch on this first. */
export function isRecording(): boolean {
  return getAgent().recording;
}

/** true when the request path matches transaction_ignore_urls (check before starting a request transaction). */
export function isIgnoredUrl(path: string): boolean {
  const a = getAgent();
  if (!a.recording || a.ignoreUrlRes.length === 0) return false;
  const p = path.split('?')[0]!;
  for (const re of a.ignoreUrlRes) if (re.test(p)) return true;
  return false;
}

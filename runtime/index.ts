// The public API of the "spanforge" package: start the agent, record transactions, spans and errors, filter events.
import { getAgent, type CaptureErrorOptions, type EventFilter, type EventKind } from './agent.js';
import type { AgentOptions } from './config.js';
import type { LabelValue, Span, StartSpanOptions, StartTransactionOptions, TraceIds, Transaction } from './types.js';

export { Traced, traced } from './traced.js';
export type { TracedOptions } from './traced.js';
export type { AgentOptions } from './config.js';
export type { CaptureErrorOptions, EventFilter, EventKind } from './agent.js';
export type {
  CodeLocation,
  IncomingRequestInfo,
  LabelValue,
  Outcome,
  Span,
  StartSpanOptions,
  StartTransactionOptions,
  TraceIds,
  Transaction,
} from './types.js';

/**
 * Starts the agent once per process; options are overridden by ELASTIC_APM_* environment variables.
 * Never throws: bad values are reported as warnings and replaced by defaults.
 * @example start({ serviceName: 'checkout', serverUrl: 'http://localhost:8200' })
 */
export function start(options?: AgentOptions): void {
  getAgent().start(options);
}

/** true once start() was called (even with active=false). */
export function isStarted(): boolean {
  return getAgent().started;
}

/**
 * Starts a transaction and makes it current for the rest of this call and everything it schedules.
 * @example const tx = startTransaction('GET /users/:id', 'request', { childOf: req.headers.traceparent })
 */
export function startTransaction(name?: string, type?: string, options?: StartTransactionOptions): Transaction {
  return getAgent().startTransaction(name, type, options);
}

/**
 * Starts a span under the current span or transaction (or options.childOf). It does not become current:
 * use traced() for that. Returns a shared no-op span when nothing is recorded (no transaction, unsampled,
 * inactive, span limit reached, or the parent is an exit span).
 * @example const span = startSpan('SELECT users', 'db', { subtype: 'postgresql', action: 'query', exitSpan: true })
 */
export function startSpan(name?: string, type?: string, options?: StartSpanOptions): Span {
  return getAgent().startSpan(name, type, options);
}

/** The transaction of the current context, if one is running. */
export function currentTransaction(): Transaction | undefined {
  return getAgent().currentTransaction();
}

/** The innermost running span of the current context, if any. */
export function currentSpan(): Span | undefined {
  return getAgent().currentSpan();
}

/** Ids of the current trace for log correlation: { 'trace.id', 'transaction.id', 'span.id' } as available. */
export function currentTraceIds(): TraceIds {
  return getAgent().currentTraceIds();
}

/**
 * Reports an error (an Error, or a message string) linked to the current transaction/span.
 * Stack frames are parsed and source-mapped off the caller's path.
 * @example captureError(err, { labels: { orderId } })
 */
export function captureError(error: unknown, options?: CaptureErrorOptions): void {
  void getAgent().captureError(error, options);
}

/** Sets a label on the current transaction; false when there is none. */
export function setLabel(key: string, value: LabelValue): boolean {
  const tx = getAgent().currentTransaction();
  if (!tx) return false;
  tx.setLabel(key, value);
  return true;
}

/** Sets several labels on the current transaction; false when there is none. */
export function addLabels(labels: Record<string, LabelValue>): boolean {
  const tx = getAgent().currentTransaction();
  if (!tx) return false;
  tx.addLabels(labels);
  return true;
}

/** Sets the user of the current transaction (also attached to errors captured in it). */
export function setUserContext(user: { id?: string | number; username?: string; email?: string }): boolean {
  const tx = getAgent().currentTransaction();
  if (!tx) return false;
  tx.setUserContext(user);
  return true;
}

/** Merges arbitrary, non-indexed data into the current transaction's context.custom. */
export function setCustomContext(custom: Record<string, unknown>): boolean {
  const tx = getAgent().currentTransaction();
  if (!tx) return false;
  tx.setCustomContext(custom);
  return true;
}

/**
 * Adds a filter run on every event before it is sent: return null or false to drop it, or return/modify the
 * payload to redact it. A filter that throws drops the event.
 * @example addFilter((e, kind) => (kind === 'span' && e.name === 'healthcheck' ? null : e))
 */
export function addFilter(filter: EventFilter): void {
  getAgent().addFilter(filter);
}

/** Resolves (never rejects) once every event so far was sent or dropped, or after timeoutMs (default 10 s). */
export function flush(timeoutMs?: number): Promise<void> {
  return getAgent().flush(timeoutMs);
}

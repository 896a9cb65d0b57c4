// The contracts between runtime parts: public span/transaction shapes, the transport, the metrics
// hooks and the logger. Implementations live in their own files; this file holds types only.

/** Outcome of a transaction or span, as the intake v2 schema names it. */
export type Outcome = 'success' | 'failure' | 'unknown';

export type LabelValue = string | number | boolean | null;

/** The W3C trace ids of the active transaction/span, for log correlation. */
export interface TraceIds {
  'trace.id'?: string;
  'transaction.id'?: string;
  'span.id'?: string;
}

/** What a transaction and a span have in common. Every method is safe to call after end(). */
export interface SpanBase {
  readonly id: string;
  readonly traceId: string;
  readonly sampled: boolean;
  name: string;
  type: string;
  /** true once end() was called. */
  readonly ended: boolean;
  setLabel(key: string, value: LabelValue): void;
  addLabels(labels: Record<string, LabelValue>): void;
  setOutcome(outcome: Outcome): void;
  /** The `traceparent` value to send on outgoing requests made under this span. */
  traceparent(): string;
  /** The `tracestate` value to send on outgoing requests (carries es=s:<rate>). */
  tracestate(): string | undefined;
  /** Adds a span link to the span or transaction a `traceparent` names (batch and polled messages); invalid values are ignored. */
  addLink(traceparent: string): void;
  /** `context.message`: queue/topic name, routing key, age; on transactions also headers and body, as capture_headers/capture_body allow. */
  setMessageContext(message: MessageInfo): void;
  /** Ends it; later calls do nothing. endTime is epoch milliseconds (default: now, monotonic). */
  end(endTime?: number): void;
}

export interface Transaction extends SpanBase {
  readonly kind: 'transaction';
  result: string | undefined;
  setResult(result: string): void;
  setUserContext(user: { id?: string | number; username?: string; email?: string }): void;
  setCustomContext(custom: Record<string, unknown>): void;
  /** Request/response context (already subject to capture_headers/capture_body/sanitizing). */
  setRequestContext(req: IncomingRequestInfo): void;
  setResponseContext(res: { statusCode: number; headers?: Record<string, string | string[] | undefined> }): void;
}

export interface Span extends SpanBase {
  readonly kind: 'span';
  subtype: string | undefined;
  action: string | undefined;
  readonly parentId: string;
  readonly transactionId: string;
  setDbContext(db: { type?: string; instance?: string; statement?: string; user?: string; rowsAffected?: number }): void;
  setHttpContext(http: { url?: string; method?: string; statusCode?: number }): void;
  /** destination.address/port and service.target; for exit spans. */
  setDestination(dest: { address?: string; port?: number; serviceTargetType?: string; serviceTargetName?: string }): void;
  /** Code location computed at build time (no stack captured at run time). */
  setCodeLocation(loc: CodeLocation): void;
}

/** What a messaging span or transaction knows about its message (Elastic's messaging spec, `context.message`). */
export interface MessageInfo {
  /** Queue, topic, subject or exchange name. */
  queue?: string;
  /** RabbitMQ's routing key. */
  routingKey?: string;
  /** Age of the message when it was received, in ms (negative values are reported as 0). */
  ageMs?: number;
  /** Transactions only: the message's headers (kept when capture_headers is on, sanitized like request headers). */
  headers?: Record<string, unknown>;
  /** Transactions only: the body (kept when capture_body is `all` or `transactions`; Buffers are read as UTF-8). */
  body?: unknown;
  /** Transactions only: `context.service.framework.name` (`RabbitMQ`, `NATS`, `MQTT`, `BullMQ`). */
  framework?: string;
}

export interface CodeLocation {
  file: string;
  line: number;
  column?: number;
  function?: string;
}

export interface IncomingRequestInfo {
  method: string;
  url: string; // path + query as received
  httpVersion?: string;
  headers?: Record<string, string | string[] | undefined>;
  socket?: { remoteAddress?: string; encrypted?: boolean };
  body?: unknown;
}

export interface StartTransactionOptions {
  /** An incoming `traceparent` header value; invalid values are ignored. */
  childOf?: string;
  tracestate?: string;
  /** Epoch milliseconds. */
  startTime?: number;
  /** `traceparent` values of spans this one links to (a batch of messages); invalid values are ignored. */
  links?: readonly string[];
}

export interface StartSpanOptions {
  subtype?: string;
  action?: string;
  /** Exit spans (db, external) get no children and carry destination/service target. */
  exitSpan?: boolean;
  /** Parent; default: the current span or transaction. */
  childOf?: Transaction | Span;
  startTime?: number;
}

// ---------------------------------------------------------------------------------------------
// Logger: the agent's own log, level from log_level. Never throws.
export interface Logger {
  error(msg: string, ...args: unknown[]): void;
  warn(msg: string, ...args: unknown[]): void;
  info(msg: string, ...args: unknown[]): void;
  debug(msg: string, ...args: unknown[]): void;
  trace(msg: string, ...args: unknown[]): void;
}

// ---------------------------------------------------------------------------------------------
// Transport (runtime/transport/). Events are intake-v2 objects with one root key; the transport
// serialises them off the hot path.
export type IntakeEvent =
  | { transaction: Record<string, unknown> }
  | { span: Record<string, unknown> }
  | { error: Record<string, unknown> }
  | { metricset: Record<string, unknown> };

export interface TransportOptions {
  serverUrl: string;
  secretToken?: string;
  apiKey?: string;
  /** ms; 0 = no timeout. */
  serverTimeout: number;
  /** ms a request stays open before it is ended and a new one started. */
  apiRequestTime: number;
  /** bytes (uncompressed) after which a request is ended. */
  apiRequestSize: number;
  verifyServerCert: boolean;
  serverCaCertFile?: string;
  userAgent: string;
  /** Max events held in memory; beyond this, new events are dropped and counted. */
  maxQueueSize: number;
  /** The metadata object (the value of the "metadata" line), computed once per request. */
  metadata: () => Record<string, unknown>;
  logger: Logger;
}

export interface TransportStats {
  queued: number;
  sent: number;
  dropped: number;
  /** Dropped by reason: 'queue_full' | 'server_error' | 'network' | 'too_large' | ... */
  droppedByReason: Record<string, number>;
  requests: number;
  failedRequests: number;
}

export interface Transport {
  /** O(1), never throws, never blocks; drops and counts when the queue is full. */
  send(event: IntakeEvent): void;
  /** Resolves (never rejects) when everything sent so far is acknowledged or dropped, or after timeoutMs. */
  flush(timeoutMs?: number): Promise<void>;
  /** Flushes (bounded), then releases sockets and timers. */
  close(timeoutMs?: number): Promise<void>;
  stats(): TransportStats;
  /** From GET / on the server, once known. */
  serverVersion(): string | undefined;
}

// ---------------------------------------------------------------------------------------------
// Metrics hooks (runtime/metrics/ subscribes; the tracer calls). Times are µs since epoch.
export interface EndedSpanTiming {
  type: string;
  subtype: string | undefined;
  startUs: number;
  endUs: number;
  /** Direct children's intervals as flat pairs [start0, end0, start1, end1, ...]; an end of NaN
   * means the child was still running when this one ended. Only recorded when breakdown metrics are on. */
  childIntervals: number[];
  transactionType: string;
  transactionName: string;
}

export interface EndedTransactionTiming {
  type: string;
  name: string;
  sampled: boolean;
  startUs: number;
  endUs: number;
  childIntervals: number[];
}

export interface TracerHooks {
  onSpanEnd?(span: EndedSpanTiming): void;
  onTransactionEnd?(tx: EndedTransactionTiming): void;
}

// Metrics entry point: the background collector (system, process, Node.js runtime, GC) and breakdown metrics, sent as intake-v2 metricsets.
import type { EndedSpanTiming, EndedTransactionTiming, IntakeEvent, LabelValue, Logger, TracerHooks } from '../types.js';
import { BreakdownAggregator } from './breakdown.js';
import type { BreakdownRow } from './breakdown.js';
import { GC_KINDS, RuntimeCollector } from './node-runtime.js';
import { SystemCollector } from './system.js';
import type { Samples } from './system.js';
import { compileWildcards } from './wildcard.js';

export interface MetricsOptions {
  /** ms; 0 disables metrics. */
  metricsInterval: number;
  breakdownMetrics: boolean;
  /** Metric-name wildcard patterns to leave out (disable_metrics). */
  disableMetrics: string[];
  globalLabels: Record<string, LabelValue>;
  send: (event: IntakeEvent) => void;
  logger: Logger;
  /** Registers hooks the tracer calls when spans and transactions end. */
  addHooks: (hooks: TracerHooks) => void;
  /** Most breakdown metricsets kept per interval (Elastic's metricsLimit); default 1000. */
  metricsLimit?: number;
}

export interface MetricsHandle {
  /** Stops the timers; idempotent. */
  stop(): void;
  /** Collects and sends one round now (used by flush on exit and by tests). */
  collectNow(): void;
}

const DEFAULT_METRICS_LIMIT = 1000;
// The intake schema caps tag values and transaction/span keywords at 1024 characters.
const MAX_KEYWORD = 1024;

const NOOP_HANDLE: MetricsHandle = { stop() {}, collectNow() {} };

/**
 * Starts the collector on an unref'd timer and subscribes breakdown metrics to the tracer.
 * Example: const m = startMetrics({ metricsInterval: 30000, breakdownMetrics: true, disableMetrics: [], globalLabels: {}, send, logger, addHooks });
 * Never throws: a bad option is logged and turns metrics off.
 */
export function startMetrics(opts: MetricsOptions): MetricsHandle {
  const problem = checkOptions(opts);
  if (problem !== undefined) {
    try {
      opts.logger.error(`spanforge metrics: ${problem}; metrics are off`);
    } catch {
      // the logger itself is broken: nothing left to tell
    }
    return NOOP_HANDLE;
  }
  if (opts.metricsInterval === 0) return NOOP_HANDLE;
  try {
    return new MetricsCollector(opts).handle();
  } catch (err) {
    safeLog(opts.logger, 'error', 'spanforge metrics: could not start, metrics are off', err);
    return NOOP_HANDLE;
  }
}

function checkOptions(opts: MetricsOptions): string | undefined {
  if (opts === null || typeof opts !== 'object') return 'options must be an object';
  if (typeof opts.metricsInterval !== 'number' || !Number.isFinite(opts.metricsInterval) || opts.metricsInterval < 0) {
    return `metricsInterval must be a finite number of milliseconds >= 0 (0 = off), got ${String(opts.metricsInterval)}`;
  }
  if (opts.metricsInterval > 0x7fffffff) {
    return `metricsInterval ${opts.metricsInterval} ms is longer than a timer allows (2147483647 ms)`;
  }
  if (!Array.isArray(opts.disableMetrics)) return 'disableMetrics must be an array of wildcard patterns';
  if (opts.metricsLimit !== undefined && !(Number.isInteger(opts.metricsLimit) && opts.metricsLimit >= 0)) {
    return `metricsLimit must be an integer >= 0, got ${String(opts.metricsLimit)}`;
  }
  if (typeof opts.send !== 'function') return 'send must be a function';
  if (typeof opts.addHooks !== 'function') return 'addHooks must be a function';
  return undefined;
}

function safeLog(logger: Logger, level: 'error' | 'warn' | 'debug', msg: string, err?: unknown): void {
  try {
    if (err === undefined) logger[level](msg);
    else logger[level](msg, err);
  } catch {
    // never let logging break the app
  }
}

class MetricsCollector {
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private readonly system = new SystemCollector();
  private readonly runtime: RuntimeCollector;
  private readonly breakdown: BreakdownAggregator | undefined;
  /** disable_metrics decided once per name: the names are our own small fixed set. */
  private readonly enabledCache = new Map<string, boolean>();
  private readonly isDisabled: (name: string) => boolean;
  private readonly wantHandles: boolean;
  private readonly wantGc: boolean;
  private readonly samples: Samples = new Map();
  private collectFailed = false;
  private hookFailed = false;
  private droppedLogged = false;

  constructor(private readonly opts: MetricsOptions) {
    this.isDisabled = compileWildcards(opts.disableMetrics);
    // Skip work whose every output is disabled (getActiveResourcesInfo is O(handles)).
    this.wantHandles = this.enabled('nodejs.handles.active') || this.enabled('nodejs.requests.active');
    this.wantGc = this.enabled('nodejs.gc.count') || this.enabled('nodejs.gc.time.ms');
    this.runtime = new RuntimeCollector(this.wantGc);
    const limit = opts.metricsLimit ?? DEFAULT_METRICS_LIMIT;
    if (opts.breakdownMetrics) {
      const agg = new BreakdownAggregator(limit);
      try {
        opts.addHooks({
          onSpanEnd: (span: EndedSpanTiming) => {
            if (this.stopped) return;
            try {
              agg.onSpanEnd(span);
            } catch (err) {
              this.hookError(err);
            }
          },
          onTransactionEnd: (tx: EndedTransactionTiming) => {
            if (this.stopped) return;
            try {
              agg.onTransactionEnd(tx);
            } catch (err) {
              this.hookError(err);
            }
          },
        });
        this.breakdown = agg;
      } catch (err) {
        // The other metrics still run; without hooks there is nothing to break down.
        safeLog(opts.logger, 'error', 'spanforge metrics: could not register the breakdown hooks; breakdown metrics are off', err);
      }
    }
    this.timer = setInterval(() => this.collect(), opts.metricsInterval);
    // A metrics timer must never be the reason a process stays alive.
    this.timer.unref();
  }

  handle(): MetricsHandle {
    return {
      stop: () => this.stop(),
      collectNow: () => this.collect(),
    };
  }

  private enabled(name: string): boolean {
    let on = this.enabledCache.get(name);
    if (on === undefined) {
      on = !this.isDisabled(name);
      this.enabledCache.set(name, on);
    }
    return on;
  }

  private hookError(err: unknown): void {
    if (this.hookFailed) return;
    this.hookFailed = true;
    safeLog(this.opts.logger, 'error', 'spanforge metrics: breakdown metrics failed (logged once)', err);
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.runtime.stop();
    this.system.stop();
  }

  /** One round: read everything, send the metricsets. Never throws. */
  private collect(): void {
    if (this.stopped) return;
    // Each part on its own: a source that fails (say EMFILE while reading /proc) costs its own
    // samples, not the whole round.
    const timestamp = Date.now() * 1000;
    let tags: Record<string, LabelValue> | undefined;
    this.guard(() => (tags = sanitizeLabels(this.opts.globalLabels)));
    const samples = this.samples;
    samples.clear();
    let mem: NodeJS.MemoryUsage | undefined;
    this.guard(() => (mem = process.memoryUsage()));
    this.guard(() => this.system.collect(samples, mem));
    this.guard(() => this.runtime.collect(samples, mem, this.wantHandles));
    this.guard(() => this.emit(timestamp, tags, samples, undefined));
    this.guard(() => this.sendGc(timestamp, tags));
    this.guard(() => this.sendBreakdown(timestamp, tags));
  }

  private guard(part: () => void): void {
    try {
      part();
    } catch (err) {
      if (!this.collectFailed) {
        this.collectFailed = true;
        safeLog(this.opts.logger, 'error', 'spanforge metrics: collecting failed (logged once)', err);
      }
    }
  }

  private sendGc(timestamp: number, tags: Record<string, LabelValue> | undefined): void {
    const gc = this.runtime.takeGc();
    if (gc === undefined) return;
    const samples = this.samples;
    for (const kind of GC_KINDS) {
      samples.clear();
      samples.set('nodejs.gc.count', gc[kind].count);
      samples.set('nodejs.gc.time.ms', gc[kind].timeMs);
      // The kind is a tag (like Elastic Java's jvm.gc.* by labels.name) so one chart splits by it.
      this.emit(timestamp, { ...tags, v8js_gc_type: kind }, samples, undefined);
    }
  }

  private sendBreakdown(timestamp: number, tags: Record<string, LabelValue> | undefined): void {
    if (this.breakdown === undefined) return;
    const dropped = this.breakdown.dropped;
    const rows = this.breakdown.drain();
    if (dropped > 0 && !this.droppedLogged) {
      this.droppedLogged = true;
      safeLog(
        this.opts.logger,
        'warn',
        `spanforge metrics: more than ${this.opts.metricsLimit ?? DEFAULT_METRICS_LIMIT} breakdown metricsets in one interval; ${dropped} dropped (metricsLimit; logged once)`,
      );
    }
    const samples = this.samples;
    for (const row of rows) {
      samples.clear();
      for (const name in row.samples) samples.set(name, row.samples[name]!);
      this.emit(timestamp, tags, samples, row);
    }
  }

  /** Filters names and non-finite values, and sends one metricset when anything is left. */
  private emit(
    timestamp: number,
    tags: Record<string, LabelValue> | undefined,
    samples: Samples,
    row: BreakdownRow | undefined,
  ): void {
    const out: Record<string, { value: number }> = {};
    let any = false;
    for (const [name, value] of samples) {
      if (!Number.isFinite(value) || !this.enabled(name)) continue;
      out[name] = { value };
      any = true;
    }
    if (!any) return;
    const metricset: Record<string, unknown> = { timestamp };
    if (tags !== undefined) metricset.tags = tags;
    if (row !== undefined) {
      metricset.transaction = { type: keyword(row.transaction.type), name: keyword(row.transaction.name) };
      if (row.span !== undefined) {
        metricset.span =
          row.span.subtype === undefined
            ? { type: keyword(row.span.type) }
            : { type: keyword(row.span.type), subtype: keyword(row.span.subtype) };
      }
    }
    metricset.samples = out;
    this.opts.send({ metricset });
  }
}

function keyword(s: string): string {
  return s.length > MAX_KEYWORD ? s.slice(0, MAX_KEYWORD) : s;
}

/**
 * Global labels as metricset tags: keys without '.', '*' or '"' (the server rejects or de-dots
 * them), string values capped at 1024, non-finite numbers and other types left out.
 */
function sanitizeLabels(labels: Record<string, LabelValue> | undefined): Record<string, LabelValue> | undefined {
  if (labels === null || typeof labels !== 'object') return undefined;
  let out: Record<string, LabelValue> | undefined;
  for (const key of Object.keys(labels)) {
    const v = labels[key];
    let value: LabelValue;
    if (typeof v === 'string') value = keyword(v);
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) continue;
      value = v;
    } else if (typeof v === 'boolean' || v === null) value = v;
    else continue;
    (out ??= {})[key.replace(/[.*"]/g, '_')] = value;
  }
  return out;
}

// Node.js runtime metrics: active handles/requests, event-loop delay, heap and external memory, GC per kind.
import { constants, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import type { EventLoopUtilization, IntervalHistogram, PerformanceEntry } from 'node:perf_hooks';
import type { Samples } from './system.js';

// Elastic samples the loop at 10 ms and reports mean minus the resolution: the histogram's timer
// itself is late by about one resolution step, which is not delay the application caused.
const LOOP_RESOLUTION_MS = 10;

/** GC kinds, named as OpenTelemetry's v8js.gc.type attribute values. */
export const GC_KINDS = ['minor', 'major', 'incremental', 'weakcb'] as const;
export type GcKind = (typeof GC_KINDS)[number];

function gcKindOf(kind: number | undefined): GcKind | undefined {
  switch (kind) {
    case constants.NODE_PERFORMANCE_GC_MINOR:
      return 'minor';
    case constants.NODE_PERFORMANCE_GC_MAJOR:
      return 'major';
    case constants.NODE_PERFORMANCE_GC_INCREMENTAL:
      return 'incremental';
    case constants.NODE_PERFORMANCE_GC_WEAKCB:
      return 'weakcb';
    default:
      return undefined;
  }
}

export interface GcTotals {
  count: number;
  timeMs: number;
}

type ProcessWithPrivates = NodeJS.Process & { _getActiveRequests?: () => unknown[] };

// Request wraps as getActiveResourcesInfo() names them (FSReqCallback, GetAddrInfoReqWrap,
// WriteWrap, ...); only used when process._getActiveRequests is gone.
const REQUEST_NAME = /Req|^(?:Write|Shutdown|Connect|Send)Wrap$/;

/**
 * Counts active handles and requests like Elastic's _getActiveHandles/_getActiveRequests lengths
 * (timers and immediates are not handles there). getActiveResourcesInfo() is the public API and
 * costs less (bench/metrics.mjs); it mixes requests into the list, so the requests are counted with
 * _getActiveRequests() while it exists — both walk the same request queue in the same tick.
 */
export function activeHandlesAndRequests(): { handles: number; requests: number } {
  const info = process.getActiveResourcesInfo();
  let timers = 0;
  let named = 0;
  for (let i = 0; i < info.length; i++) {
    const n = info[i]!;
    if (n === 'Timeout' || n === 'Immediate') timers++;
    else if (REQUEST_NAME.test(n)) named++;
  }
  const getReqs = (process as ProcessWithPrivates)._getActiveRequests;
  const requests = typeof getReqs === 'function' ? getReqs.call(process).length : named;
  return { handles: Math.max(0, info.length - timers - requests), requests };
}

/** Event-loop delay monitor and GC observer; both are released by stop(). */
export class RuntimeCollector {
  private loop: IntervalHistogram | undefined;
  private lastElu: EventLoopUtilization = performance.eventLoopUtilization();
  private gcObserver: PerformanceObserver | undefined;
  /** GC since the last collect(), by kind. */
  private gc: Record<GcKind, GcTotals> = freshGc();

  constructor(withGc: boolean) {
    try {
      this.loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
      this.loop.enable();
    } catch {
      this.loop = undefined;
    }
    if (withGc) {
      try {
        const obs = new PerformanceObserver((list) => {
          for (const e of list.getEntries()) this.onGc(e);
        });
        obs.observe({ entryTypes: ['gc'] });
        this.gcObserver = obs;
      } catch {
        this.gcObserver = undefined;
      }
    }
  }

  private onGc(e: PerformanceEntry): void {
    const kind = gcKindOf(((e as { detail?: { kind?: number } }).detail)?.kind);
    if (kind === undefined) return;
    const t = this.gc[kind];
    t.count++;
    t.timeMs += e.duration;
  }

  collect(out: Samples, mem: NodeJS.MemoryUsage | undefined, withHandles: boolean): void {
    if (withHandles) {
      const { handles, requests } = activeHandlesAndRequests();
      out.set('nodejs.handles.active', handles);
      out.set('nodejs.requests.active', requests);
    }
    if (this.loop !== undefined) {
      // Each sample is the time between two ticks of the monitor's 10 ms timer, so the resolution
      // is subtracted from the mean (Elastic's formula) and from the tail figures alike. Before the
      // first sample (a round shorter than the resolution) there is no delay to report: 0.
      const h = this.loop;
      const has = h.count > 0;
      const ms = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
      out.set('nodejs.eventloop.delay.avg.ms', has ? ms(h.mean) : 0);
      out.set('nodejs.eventloop.delay.p99.ms', has ? ms(h.percentile(99)) : 0);
      out.set('nodejs.eventloop.delay.max.ms', has ? ms(h.max) : 0);
      h.reset();
    }
    // Share of the round's wall time the loop spent running callbacks rather than waiting for I/O.
    const now = performance.eventLoopUtilization();
    out.set('nodejs.eventloop.utilization', performance.eventLoopUtilization(now, this.lastElu).utilization);
    this.lastElu = now;
    if (mem === undefined) return;
    out.set('nodejs.memory.heap.allocated.bytes', mem.heapTotal);
    out.set('nodejs.memory.heap.used.bytes', mem.heapUsed);
    out.set('nodejs.memory.external.bytes', mem.external);
    out.set('nodejs.memory.arrayBuffers.bytes', mem.arrayBuffers);
  }

  /** GC counts and time per kind since the last call, or undefined when GC is not observed. */
  takeGc(): Record<GcKind, GcTotals> | undefined {
    if (this.gcObserver === undefined) return undefined;
    // Entries the observer has buffered but not yet delivered belong to this interval too.
    for (const e of this.gcObserver.takeRecords()) this.onGc(e);
    const gc = this.gc;
    this.gc = freshGc();
    return gc;
  }

  stop(): void {
    this.loop?.disable();
    this.loop = undefined;
    this.gcObserver?.disconnect();
    this.gcObserver = undefined;
  }
}

function freshGc(): Record<GcKind, GcTotals> {
  return {
    minor: { count: 0, timeMs: 0 },
    major: { count: 0, timeMs: 0 },
    incremental: { count: 0, timeMs: 0 },
    weakcb: { count: 0, timeMs: 0 },
  };
}

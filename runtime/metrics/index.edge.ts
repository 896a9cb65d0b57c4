// Metrics entry point of the edge build (dist/edge, the `workerd`/`worker` export conditions): a worker
// has no process to measure (process.cpuUsage, memoryUsage, /proc are not there) and may not keep an
// interval timer between requests, so no metricsets are collected; the build puts this file where
// ./index.js is.
import type { MetricsHandle, MetricsOptions } from './index.js';

const NOOP_HANDLE: MetricsHandle = { stop() {}, collectNow() {} };

/** No metrics in a worker: logged once at debug level. */
export function startMetrics(opts: MetricsOptions): MetricsHandle {
  try {
    if (opts.metricsInterval !== 0) opts.logger.debug('spanforge metrics: not collected on this runtime (no process metrics, no interval timer between requests)');
  } catch {
    // ignore
  }
  return NOOP_HANDLE;
}

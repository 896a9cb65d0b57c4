// System and process metrics: CPU (system and process, normalised by core count), memory, cgroup memory.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import * as os from 'node:os';

/** Reads a small /proc or /sys file; undefined when it is missing or unreadable (not Linux, sandboxed). */
function readSmall(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

// One buffer for every /proc read: the values we need sit in the first few hundred bytes of each file.
const buf = Buffer.allocUnsafe(8192);

/**
 * A /proc or /sys file kept open and re-read from offset 0 each round: the kernel regenerates the
 * content on every read, and skipping open/close takes a round's file reads from ~70 µs to ~20 µs
 * of CPU (measured with bench/metrics.mjs's machine, five files).
 */
class KernelFile {
  private fd: number | undefined;
  constructor(readonly path: string) {}

  /** undefined when unreadable; the next round tries again (an EMFILE passes, a missing file costs one syscall). */
  read(): string | undefined {
    try {
      this.fd ??= openSync(this.path, 'r');
      return buf.toString('latin1', 0, readSync(this.fd, buf, 0, buf.length, 0));
    } catch {
      this.close();
      return undefined;
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // already closed: nothing to release
    }
    this.fd = undefined;
  }
}

interface CpuTimes {
  total: number;
  idle: number;
}

/** Summed system CPU times (any unit: only ratios of deltas are used). */
function systemCpuTimes(procStat: KernelFile | undefined): CpuTimes | undefined {
  if (procStat !== undefined) {
    // First line: "cpu  user nice system idle iowait irq softirq steal guest guest_nice" (USER_HZ ticks).
    // guest and guest_nice are already included in user and nice, so only the first 8 are summed.
    const stat = procStat.read();
    if (stat !== undefined && stat.startsWith('cpu ')) {
      const nl = stat.indexOf('\n');
      const f = stat.slice(4, nl < 0 ? undefined : nl).trim().split(/\s+/);
      let total = 0;
      for (let i = 0; i < 8 && i < f.length; i++) total += Number(f[i]);
      const idle = Number(f[3]) + (f.length > 4 ? Number(f[4]) : 0);
      if (Number.isFinite(total) && Number.isFinite(idle)) return { total, idle };
    }
  }
  let total = 0;
  let idle = 0;
  for (const c of os.cpus()) {
    total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
    idle += c.times.idle;
  }
  return total > 0 ? { total, idle } : undefined;
}

/** cgroup memory files, found once; undefined members when not in a cgroup with a memory controller. */
interface CgroupMemory {
  usage: KernelFile;
  limit: KernelFile;
}

/** Where the memory usage and limit files of this process's cgroup are. */
export interface CgroupMemoryPaths {
  usagePath: string;
  limitPath: string;
}

/**
 * Finds the memory cgroup files from the text of /proc/self/cgroup: v2 "0::/path" → memory.current
 * and memory.max; v1 "N:…memory…:/path" → memory.usage_in_bytes and memory.limit_in_bytes. Inside a
 * container the listed path is often the host's and not mounted, so the mount root is tried next
 * (the Elastic spec's default). undefined when no memory controller is found.
 */
export function findCgroupMemory(procSelfCgroup: string | undefined, root = '/sys/fs/cgroup'): CgroupMemoryPaths | undefined {
  if (procSelfCgroup === undefined) return undefined;
  for (const line of procSelfCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m === null) continue;
    const controllers = m[1]!;
    const path = m[2]!;
    const sub = path === '/' ? '' : path;
    if (controllers === '') {
      for (const dir of [`${root}${sub}`, root]) {
        if (readSmall(`${dir}/memory.current`) !== undefined) {
          return { usagePath: `${dir}/memory.current`, limitPath: `${dir}/memory.max` };
        }
      }
    } else if (controllers.split(',').includes('memory')) {
      for (const dir of [`${root}/memory${sub}`, `${root}/memory`]) {
        if (readSmall(`${dir}/memory.usage_in_bytes`) !== undefined) {
          return { usagePath: `${dir}/memory.usage_in_bytes`, limitPath: `${dir}/memory.limit_in_bytes` };
        }
      }
    }
  }
  return undefined;
}

// cgroup v1 "no limit" is a huge page-aligned number (0x7ffffffffffff000 on x86-64); anything at or
// above this is treated as unlimited, as the Elastic spec asks ("do not send the limit").
const CGROUP_V1_UNLIMITED = 0x7ffffffffffff000 - 1;

/**
 * The cgroup samples from the two files' text. The limit is left out when unlimited: v2 writes "max"
 * (not a number), v1 a huge page-aligned number.
 */
export function cgroupMemorySamples(out: Samples, usageText: string | undefined, limitText: string | undefined): void {
  const usage = parseCount(usageText);
  if (usage >= 0) out.set('system.process.cgroup.memory.mem.usage.bytes', usage);
  const limit = parseCount(limitText);
  if (limit > 0 && limit < CGROUP_V1_UNLIMITED) out.set('system.process.cgroup.memory.mem.limit.bytes', limit);
}

/** A file holding one decimal count; NaN for anything else ("max", empty, missing). */
function parseCount(text: string | undefined): number {
  const t = text?.trim();
  return t !== undefined && /^\d+$/.test(t) ? Number(t) : NaN;
}

/** Samples by metric name; the caller filters names and non-finite values. */
export type Samples = Map<string, number>;

/**
 * Keeps the previous CPU readings so each collect() reports the usage since the last one, like the
 * Elastic agents ("CPU usage since the last report").
 */
export class SystemCollector {
  private readonly linux = process.platform === 'linux';
  private readonly procStat = this.linux ? new KernelFile('/proc/stat') : undefined;
  private readonly meminfo = this.linux ? new KernelFile('/proc/meminfo') : undefined;
  private readonly selfStat = this.linux ? new KernelFile('/proc/self/stat') : undefined;
  private readonly cores = Math.max(1, os.cpus().length);
  private lastSys: CpuTimes | undefined;
  private lastProc: NodeJS.CpuUsage;
  private lastWallUs: number;
  private readonly cgroup: CgroupMemory | undefined;

  constructor() {
    this.lastSys = systemCpuTimes(this.procStat);
    this.lastProc = process.cpuUsage();
    this.lastWallUs = nowUs();
    const cg = this.linux ? findCgroupMemory(readSmall('/proc/self/cgroup')) : undefined;
    this.cgroup = cg && { usage: new KernelFile(cg.usagePath), limit: new KernelFile(cg.limitPath) };
  }

  collect(out: Samples, mem: NodeJS.MemoryUsage | undefined): void {
    const sys = systemCpuTimes(this.procStat);
    if (sys !== undefined && this.lastSys !== undefined) {
      const dTotal = sys.total - this.lastSys.total;
      const dIdle = sys.idle - this.lastSys.idle;
      if (dTotal > 0) out.set('system.cpu.total.norm.pct', clamp01(1 - dIdle / dTotal));
    }
    this.lastSys = sys;

    const proc = process.cpuUsage();
    const wall = nowUs();
    const dWall = (wall - this.lastWallUs) * this.cores;
    if (dWall > 0) {
      const user = (proc.user - this.lastProc.user) / dWall;
      const system = (proc.system - this.lastProc.system) / dWall;
      out.set('system.process.cpu.total.norm.pct', clamp01(user + system));
      out.set('system.process.cpu.user.norm.pct', clamp01(user));
      out.set('system.process.cpu.system.norm.pct', clamp01(system));
    }
    this.lastProc = proc;
    this.lastWallUs = wall;

    out.set('system.memory.total', os.totalmem());
    let available: number | undefined;
    if (this.meminfo !== undefined) {
      const meminfo = this.meminfo.read();
      const m = meminfo === undefined ? null : /^MemAvailable:\s+(\d+) kB/m.exec(meminfo);
      if (m !== null) available = Number(m[1]) * 1024;
    }
    out.set('system.memory.actual.free', available ?? os.freemem());

    if (this.selfStat !== undefined) {
      // /proc/self/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses, so
      // fields are counted after the last ')'. vsize is field 23 (bytes), the 21st after comm.
      const stat = this.selfStat.read();
      if (stat !== undefined) {
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const vsize = Number(f[20]);
        if (vsize > 0) out.set('system.process.memory.size', vsize);
      }
    }
    if (mem !== undefined) out.set('system.process.memory.rss.bytes', mem.rss);

    if (this.cgroup !== undefined) cgroupMemorySamples(out, this.cgroup.usage.read(), this.cgroup.limit.read());
  }

  /** Closes the kept-open files. */
  stop(): void {
    this.procStat?.close();
    this.meminfo?.close();
    this.selfStat?.close();
    this.cgroup?.usage.close();
    this.cgroup?.limit.close();
  }
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Monotonic wall clock in µs (CPU deltas must not jump with the system clock). */
function nowUs(): number {
  return performance.now() * 1000;
}

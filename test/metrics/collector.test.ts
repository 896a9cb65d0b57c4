// The collector in a real process: 100 ms intervals through idle, busy and allocating phases; values in
// plausible ranges, every metricset valid, and the process exits on its own with the timer running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import { join } from 'node:path';
import { assertValidMetricset } from './_schema.js';

interface Metricset {
  timestamp: number;
  tags?: Record<string, unknown>;
  samples: Record<string, { value: number }>;
  transaction?: unknown;
}

const root = join(__dirname, '..', '..');

function runFixture(): Promise<{ lines: Record<string, unknown>[]; code: number | null; exitAfterDoneMs: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(__dirname, 'fixtures', 'busy-app.ts')], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    let stderr = '';
    let doneAt = 0;
    const lines: Record<string, unknown>[] = [];
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (line.phase === 'done') doneAt = performance.now();
      }
    });
    child.stderr.on('data', (d) => (stderr += String(d)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ lines, code, exitAfterDoneMs: doneAt === 0 ? Infinity : performance.now() - doneAt, stderr });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

test('collector in a busy process: plausible CPU, memory, handles, loop delay and GC values', async () => {
  const { lines, code, exitAfterDoneMs, stderr } = await runFixture();
  assert.equal(code, 0, `fixture failed: ${stderr}`);
  assert.equal(lines.filter((l) => 'log' in l).length, 0, `collector logged: ${JSON.stringify(lines.filter((l) => 'log' in l))}`);
  // Exits on its own although the metrics timer was never stopped: the timer is unref'd.
  assert.ok(exitAfterDoneMs < 2000, `process took ${exitAfterDoneMs} ms to exit after its work`);

  const byPhase = new Map<string, Metricset[]>();
  let phase = '';
  for (const l of lines) {
    if (typeof l.phase === 'string') phase = l.phase;
    else if ('metricset' in l) {
      const ms = l.metricset as Metricset;
      assertValidMetricset(ms);
      assert.deepEqual(ms.tags?.fixture, 'busy-app');
      if (!byPhase.has(phase)) byPhase.set(phase, []);
      byPhase.get(phase)!.push(ms);
    }
  }
  const system = (p: string) => (byPhase.get(p) ?? []).filter((m) => 'system.memory.total' in m.samples);
  const v = (m: Metricset, name: string) => {
    const s = m.samples[name];
    assert.ok(s !== undefined, `${name} missing in ${JSON.stringify(m.samples)}`);
    return s.value;
  };
  const cores = os.cpus().length;

  // ~450 ms idle and ~650 ms busy at 100 ms: several rounds each (timers may run late on a loaded host).
  assert.ok(system('idle').length >= 2, `idle rounds: ${system('idle').length}`);
  assert.ok(system('busy').length >= 3, `busy rounds: ${system('busy').length}`);

  for (const m of [...system('idle'), ...system('busy'), ...system('resources')]) {
    for (const [name, s] of Object.entries(m.samples)) assert.ok(Number.isFinite(s.value), `${name} = ${s.value}`);
    for (const name of ['system.cpu.total.norm.pct', 'system.process.cpu.total.norm.pct', 'system.process.cpu.user.norm.pct', 'system.process.cpu.system.norm.pct']) {
      const x = v(m, name);
      assert.ok(x >= 0 && x <= 1, `${name} = ${x}`);
    }
    const userSys = v(m, 'system.process.cpu.user.norm.pct') + v(m, 'system.process.cpu.system.norm.pct');
    assert.ok(Math.abs(v(m, 'system.process.cpu.total.norm.pct') - userSys) < 1e-9);
    assert.equal(v(m, 'system.memory.total'), os.totalmem());
    const free = v(m, 'system.memory.actual.free');
    assert.ok(free > 0 && free <= os.totalmem(), `actual.free ${free}`);
    const rss = v(m, 'system.process.memory.rss.bytes');
    assert.ok(rss > 10e6 && rss < os.totalmem(), `rss ${rss}`);
    if (process.platform === 'linux') assert.ok(v(m, 'system.process.memory.size') >= rss, 'virtual size below rss');
    assert.ok(v(m, 'nodejs.memory.heap.used.bytes') <= v(m, 'nodejs.memory.heap.allocated.bytes'));
    assert.ok(v(m, 'nodejs.memory.heap.used.bytes') > 1e6);
    assert.ok(v(m, 'nodejs.eventloop.delay.avg.ms') >= 0);
    assert.ok(v(m, 'nodejs.eventloop.delay.p99.ms') >= v(m, 'nodejs.eventloop.delay.avg.ms') - 1e-9);
    assert.ok(v(m, 'nodejs.eventloop.delay.max.ms') >= v(m, 'nodejs.eventloop.delay.p99.ms') - 1e-9);
    const elu = v(m, 'nodejs.eventloop.utilization');
    assert.ok(elu >= 0 && elu <= 1, `utilization ${elu}`);
    assert.ok(Number.isInteger(v(m, 'nodejs.handles.active')) && Number.isInteger(v(m, 'nodejs.requests.active')));
  }

  // The rounds' process CPU, weighted by the time each covers, adds up to the CPU time the process
  // itself measured over the same span. This holds on a loaded machine, where a busy loop may get
  // far less than a core.
  const start = lines.find((l) => l.phase === 'start') as { cpu: NodeJS.CpuUsage; wallUs: number };
  const done = lines.find((l) => l.phase === 'done') as { cpu: NodeJS.CpuUsage; wallUs: number };
  const rounds = ['idle', 'busy', 'resources'].flatMap(system);
  let prevTs = start.wallUs;
  let reportedCpuUs = 0;
  for (const m of rounds) {
    reportedCpuUs += v(m, 'system.process.cpu.total.norm.pct') * (m.timestamp - prevTs) * cores;
    prevTs = m.timestamp;
  }
  const actualCpuUs = done.cpu.user + done.cpu.system - start.cpu.user - start.cpu.system;
  assert.ok(
    Math.abs(reportedCpuUs - actualCpuUs) < 0.15 * actualCpuUs + 30_000,
    `rounds add up to ${Math.round(reportedCpuUs)} µs of CPU, the process used ${actualCpuUs} µs`,
  );
  // Busy rounds show the process working, idle rounds not; a single thread can use at most one core.
  const busyCpu = median(system('busy').map((m) => v(m, 'system.process.cpu.total.norm.pct')));
  const idleCpu = median(system('idle').map((m) => v(m, 'system.process.cpu.total.norm.pct')));
  assert.ok(busyCpu > 0 && busyCpu <= 1.1 / cores, `busy process cpu ${busyCpu} with ${cores} cores`);
  assert.ok(idleCpu < busyCpu / 2, `idle process cpu ${idleCpu} vs busy ${busyCpu}`);
  // The machine is at least as busy as this process (both from kernel counters with tick granularity).
  const busySys = median(system('busy').map((m) => v(m, 'system.cpu.total.norm.pct')));
  assert.ok(busySys >= 0.8 * busyCpu, `busy system cpu ${busySys} below process cpu ${busyCpu}`);
  // 20 ms slices block a 10 ms loop monitor: delay clearly above zero while busy.
  const busyDelay = median(system('busy').map((m) => v(m, 'nodejs.eventloop.delay.avg.ms')));
  assert.ok(busyDelay > 1 && busyDelay < 2000, `busy loop delay ${busyDelay} ms`);

  // The loop ran callbacks nearly all the time while busy, and hardly at all while idle; wall-time
  // shares, so they hold however little CPU the machine gives the process.
  const busyElu = median(system('busy').map((m) => v(m, 'nodejs.eventloop.utilization')));
  const idleElu = median(system('idle').map((m) => v(m, 'nodejs.eventloop.utilization')));
  assert.ok(busyElu > 0.8, `busy utilization ${busyElu}`);
  assert.ok(idleElu < 0.3, `idle utilization ${idleElu}`);

  // Resources phase: 3 listening servers and a 64 MiB buffer.
  const res = system('resources').at(-1)!;
  assert.ok(v(res, 'nodejs.handles.active') >= 3, `handles ${v(res, 'nodejs.handles.active')}`);
  assert.ok(v(res, 'nodejs.memory.arrayBuffers.bytes') >= 64 * 1024 * 1024);
  assert.ok(v(res, 'nodejs.memory.external.bytes') >= 64 * 1024 * 1024);
  assert.ok(v(res, 'system.process.memory.rss.bytes') >= 64 * 1024 * 1024);

  // GC: one metricset per kind per round; the forced gc() shows up as a major collection.
  const gc = [...byPhase.values()].flat().filter((m) => 'nodejs.gc.count' in m.samples);
  assert.deepEqual([...new Set(gc.map((m) => m.tags?.v8js_gc_type))].sort(), ['incremental', 'major', 'minor', 'weakcb']);
  const majors = (byPhase.get('resources') ?? []).filter((m) => m.tags?.v8js_gc_type === 'major');
  assert.ok(majors.reduce((n, m) => n + m.samples['nodejs.gc.count']!.value, 0) >= 1, 'forced gc() not counted as major');
  assert.ok(majors.reduce((n, m) => n + m.samples['nodejs.gc.time.ms']!.value, 0) > 0);
  // No breakdown rows: nothing was traced.
  assert.equal([...byPhase.values()].flat().filter((m) => m.transaction !== undefined).length, 0);
});

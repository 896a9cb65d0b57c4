// cgroup memory discovery and parsing against fake /sys/fs/cgroup trees (v1, v2, container, unlimited).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupMemorySamples, findCgroupMemory } from '../../runtime/metrics/system.js';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'spanforge-cgroup-'));
  for (const [rel, text] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
  }
  return root;
}

test('cgroup v2: the process path under the unified root', (t) => {
  const root = tree({ 'system.slice/app.service/memory.current': '1048576\n', 'system.slice/app.service/memory.max': 'max\n' });
  t.after(() => rmSync(root, { recursive: true }));
  assert.deepEqual(findCgroupMemory('0::/system.slice/app.service\n', root), {
    usagePath: `${root}/system.slice/app.service/memory.current`,
    limitPath: `${root}/system.slice/app.service/memory.max`,
  });
});

test('cgroup v2 in a container: the host path is not mounted, the root is used', (t) => {
  const root = tree({ 'memory.current': '1', 'memory.max': '2' });
  t.after(() => rmSync(root, { recursive: true }));
  assert.deepEqual(findCgroupMemory('0::/kubepods/pod1/abc\n', root), { usagePath: `${root}/memory.current`, limitPath: `${root}/memory.max` });
});

test('cgroup v1 (hybrid host): the memory controller line wins over an empty unified hierarchy', (t) => {
  const root = tree({ 'memory/memory.usage_in_bytes': '5', 'memory/memory.limit_in_bytes': '9223372036854771712', 'unified/cgroup.procs': '' });
  t.after(() => rmSync(root, { recursive: true }));
  const self = '9:name=systemd:/\n4:memory:/docker/5042cfbb\n3:cpu,cpuacct:/\n0::/\n';
  assert.deepEqual(findCgroupMemory(self, root), {
    usagePath: `${root}/memory/memory.usage_in_bytes`,
    limitPath: `${root}/memory/memory.limit_in_bytes`,
  });
  // a controller list naming memory among others
  assert.deepEqual(findCgroupMemory('5:cpuset,memory:/\n', root)?.usagePath, `${root}/memory/memory.usage_in_bytes`);
});

test('no memory controller, or no /proc/self/cgroup: nothing', (t) => {
  const root = tree({ 'cpu/cpu.shares': '1024' });
  t.after(() => rmSync(root, { recursive: true }));
  assert.equal(findCgroupMemory('3:cpu:/\n0::/\n', root), undefined);
  assert.equal(findCgroupMemory(undefined, root), undefined);
  assert.equal(findCgroupMemory('garbage', root), undefined);
});

test('samples: usage always, limit only when there is one', () => {
  const out = new Map<string, number>();
  cgroupMemorySamples(out, '1048576\n', '2147483648\n');
  assert.deepEqual([...out], [
    ['system.process.cgroup.memory.mem.usage.bytes', 1048576],
    ['system.process.cgroup.memory.mem.limit.bytes', 2147483648],
  ]);
  for (const unlimited of ['max\n', '9223372036854771712\n', '', undefined]) {
    const o = new Map<string, number>();
    cgroupMemorySamples(o, '7\n', unlimited);
    assert.deepEqual([...o], [['system.process.cgroup.memory.mem.usage.bytes', 7]], String(unlimited));
  }
  const none = new Map<string, number>();
  cgroupMemorySamples(none, 'oops', undefined);
  assert.equal(none.size, 0);
});

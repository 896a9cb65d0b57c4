#!/usr/bin/env node
// Long fuzz run of the local receiver (issue 12): `node scripts/fuzz-receiver.mjs [--cases N]
// [--seed S] [--concurrency C] [--time-limit MS]`. Starts `spanforge serve` in a child process, sends
// the seeded hostile requests of test/receiver/fuzz-core.ts, and prints the figures docs/receiver.md
// quotes (cases, statuses, latency, RSS). Exit 1 when a case broke a rule.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
// The fuzz test does the work (child receiver, baseline, checks); this sets its size and seed.
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', join('test', 'receiver', 'fuzz.test.ts')], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, SPANFORGE_FUZZ_CASES: opt('cases', '50000'), SPANFORGE_FUZZ_SEED: opt('seed', String(Date.now() % 100000)), SPANFORGE_FUZZ_CONCURRENCY: opt('concurrency', '4'), SPANFORGE_FUZZ_TIME_LIMIT_MS: opt('time-limit', '10000') },
});
process.exit(r.status ?? 1);

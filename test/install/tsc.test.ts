// Getting started, the tsc path, from the packed tarball into fresh projects: the TypeScript + ts-patch
// pairs the README names (TypeScript 6 + ts-patch 3.3 on Node 20, where npm picks 3.3 by itself;
// TypeScript 6 + ts-patch 4 on Node 22.15+ and 24, where npm picks 4), and what a user who installs TypeScript 7 gets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { agentEnv, appSource, assertTrace, bin, freshProject, packSpanforge, startIntake, type Intake } from './_project.js';

let tarball: string;
let intake: Intake;
before(async () => {
  tarball = packSpanforge();
  intake = await startIntake();
});
after(() => intake.close());

const TSCONFIG = JSON.stringify(
  {
    compilerOptions: {
      target: 'es2022',
      module: 'nodenext',
      rootDir: 'src',
      outDir: 'dist',
      strict: true,
      types: ['node'],
      plugins: [{ transform: 'spanforge/transformer' }],
    },
    include: ['src'],
  },
  null,
  2,
);

/** `npx -y node@<major>`'s binary (fetched from the npm registry like CI's Node 24 run), or undefined. */
function nodeBinary(major: number): string | undefined {
  if (Number(process.versions.node.split('.')[0]) === major) return process.execPath;
  const r = spawnSync('npx', ['-y', `node@${major}`, '-p', 'process.execPath'], { encoding: 'utf8', timeout: 120_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

// Side by side (installs wait on npm's cache and disk, not on the CPU): the file's time is about its slowest test.
describe('tsc', { concurrency: 4 }, () => {
  for (const { node, tsPatch } of [
    { node: 20, tsPatch: /^3\.3\./ },
    { node: 22, tsPatch: /^4\./ },
    { node: 24, tsPatch: /^4\./ },
  ]) {
    test(`tsc: npm i -D typescript@6 ts-patch on Node ${node} picks ts-patch ${tsPatch.source.slice(1, 2)}, tspc instruments, the trace arrives`, { timeout: 300_000 }, async (t) => {
      const nodeBin = nodeBinary(node);
      if (!nodeBin) {
        if (process.env.CI) assert.fail(`CI: node@${node} is not available through npx`);
        return t.skip(`node@${node} not available through npx`);
      }
      const p = freshProject(`tsc${node}`, 'commonjs');
      t.after(() => p.remove());
      // npm run by that node, so that its engine check (ts-patch 4 wants node >=22.15) sees that version.
      await p.install([tarball], { node: nodeBin });
      await p.install(['-D', 'typescript@6', 'ts-patch', '@types/node@20'], { node: nodeBin });
      assert.match(p.version('typescript'), /^6\./);
      assert.match(p.version('ts-patch'), tsPatch);
      p.write('tsconfig.json', TSCONFIG);
      p.write('src/app.ts', appSource());
      const build = await p.run(nodeBin, [bin(p, 'tspc'), '-p', '.']);
      assert.equal(build.status, 0, build.output);
      assert.match(build.output, /spanforge: instrumented 3 sites in 1 of 1 files \(http\.server 1, fetch 2\)/);
      const service = `gs-tsc-${node}`;
      const run = await p.run(nodeBin, ['dist/app.js'], { env: agentEnv(intake, service) });
      assert.equal(run.status, 0, run.output);
      assert.match(run.output, /app said: hello pong/);
      await assertTrace(intake, service, run.output);
    });
  }

  test('TypeScript 7 (what `npm i -D typescript` installs): `npm install spanforge` succeeds; tspc crashes inside ts-patch, which `spanforge init --check` names', { timeout: 300_000 }, async (t) => {
    const p = freshProject('ts7', 'commonjs');
    t.after(() => p.remove());
    await p.install(['-D', 'typescript', 'ts-patch']);
    assert.match(p.version('typescript'), /^7\./);
    // The peer range admits TypeScript 7 (the Babel and bundler paths work with it): no ERESOLVE.
    const r = await p.install([tarball]);
    assert.doesNotMatch(r.output, /ERESOLVE|peer/i, r.output);
    p.write('tsconfig.json', TSCONFIG);
    p.write('src/app.ts', appSource());
    const build = await p.run(process.execPath, [bin(p, 'tspc'), '-p', '.']);
    // ts-patch (3.3 and 4 alike) reads ts.NewLineKind at load time, before any transformer is loaded.
    assert.notEqual(build.status, 0);
    assert.match(build.output, /reading 'LineFeed'/);
    const check = await p.run(process.execPath, [bin(p, 'spanforge'), 'init', '--check']);
    assert.equal(check.status, 1, check.output);
    assert.match(check.output, /TypeScript 7\.\d+\.\d+ has no compiler API for transformers/);
    assert.match(check.output, /npm i -D typescript@6/);
  });
});

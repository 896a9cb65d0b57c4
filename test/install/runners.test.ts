// Getting started, the paths without a build step and the test runners, from the packed tarball into
// fresh projects: tsx and ts-node through spanforge/register, jest through babel-jest with the Babel
// plugin, vitest through the Vite plugin. The trace of the same small app must arrive at a test intake.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { agentEnv, appSource, assertTrace, bin, freshProject, packSpanforge, startIntake, type Intake, type Project } from './_project.js';

let tarball: string;
let intake: Intake;
before(async () => {
  tarball = packSpanforge();
  intake = await startIntake();
});
after(() => intake.close());

/** A test (jest's and vitest's syntax alike) that serves /hello once and flushes the agent. */
function appTest(imports: string): string {
  return `${imports}
import { flush } from 'spanforge';
import { server } from './app';

test('GET /hello', async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  const r = await fetch(\`http://127.0.0.1:\${port}/hello\`);
  expect(await r.text()).toBe('hello pong');
  await new Promise((r) => server.close(r));
  await flush();
}, 60_000); // the runners' 5 s default is too short for a first request and flush on a loaded CI machine
`;
}

interface Path {
  name: string;
  type: 'module' | 'commonjs';
  deps: string[];
  files: Record<string, string>;
  run: (p: Project) => [string, string[]];
  env?: NodeJS.ProcessEnv;
  expect: RegExp;
}

const TSCONFIG_NODE = JSON.stringify({ compilerOptions: { target: 'es2022', module: 'nodenext', rootDir: 'src', strict: true, esModuleInterop: true, types: ['node'] } }, null, 2);

const PATHS: Path[] = [
  {
    name: 'tsx',
    type: 'module',
    deps: ['tsx'],
    files: { 'src/app.ts': appSource() },
    run: (p) => [bin(p, 'tsx'), ['--import', 'spanforge/register', 'src/app.ts']],
    expect: /app said: hello pong/,
  },
  {
    name: 'ts-node',
    type: 'commonjs',
    deps: ['ts-node', 'typescript@6', '@types/node@20'],
    files: { 'src/app.ts': appSource(), 'tsconfig.json': TSCONFIG_NODE },
    // spanforge/register before ts-node's hook, so that it sees the TypeScript source.
    // Type-checking ts-node (not transpile-only): it checks the source spanforge/register rewrote.
    run: () => [process.execPath, ['-r', 'spanforge/register', '-r', 'ts-node/register', 'src/app.ts']],
    expect: /app said: hello pong/,
  },
  {
    name: 'jest',
    type: 'commonjs',
    deps: ['jest', 'babel-jest', '@babel/core', '@babel/preset-env', '@babel/preset-typescript'],
    files: {
      'babel.config.cjs': `module.exports = {
  presets: [['@babel/preset-env', { targets: { node: 'current' } }], '@babel/preset-typescript'],
  plugins: ['spanforge/babel'],
};
`,
      'src/app.ts': appSource({ exportOnly: true }),
      'src/app.test.ts': appTest(''),
    },
    // No --experimental-vm-modules: the CommonJS runtime loads its HTTP client with require(), which
    // jest's module sandbox allows (import() from CommonJS it refuses, and the events were dropped).
    run: (p) => [bin(p, 'jest'), ['--ci']],
    expect: /Tests:\s+1 passed/,
  },
  {
    name: 'vitest',
    type: 'module',
    deps: ['vitest'],
    files: {
      'vitest.config.ts': `import { defineConfig } from 'vitest/config';
import { vitePlugin } from 'spanforge/bundler';

export default defineConfig({ plugins: [vitePlugin()] });
`,
      'src/app.ts': appSource({ exportOnly: true }),
      'src/app.test.ts': appTest(`import { test, expect } from 'vitest';`),
    },
    run: (p) => [bin(p, 'vitest'), ['run']],
    expect: /1 passed/,
  },
];

// Side by side (installs wait on npm's cache and disk, not on the CPU): the file's time is about its slowest test.
describe('runners', { concurrency: 3 }, () => {
  for (const path of PATHS) {
    test(`${path.name}: npm install spanforge ${path.deps.join(' ')}, the README's wiring, run: the trace arrives`, { timeout: 300_000 }, async (t) => {
      const p = freshProject(path.name, path.type);
      t.after(() => p.remove());
      await p.install([tarball, ...path.deps]);
      for (const [f, text] of Object.entries(path.files)) p.write(f, text);
      const service = `gs-${path.name}`;
      const [cmd, args] = path.run(p);
      const run = await p.run(cmd, args, { env: { ...agentEnv(intake, service), CI: '1', ...path.env } });
      assert.equal(run.status, 0, run.output);
      assert.match(run.output, path.expect);
      await assertTrace(intake, service, run.output);
    });
  }
});

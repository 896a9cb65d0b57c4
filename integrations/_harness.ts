// Test harness every integration's real-service test uses: builds one TypeScript source with each
// front-end (tsc + transformer, Babel + plugin) into CommonJS next to the test, runs scenarios under the
// real agent shipping to a test intake over HTTP, and hands back the intake events of each scenario's
// trace, schema-checked. Not part of the package (scripts/check-deps.mjs: `_` files are test helpers).
import { transformSync } from '@babel/core';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import babelPlugin from '../babel-plugin/index.js';
import { getAgent, resetAgentForTests } from '../runtime/agent.js';
import type { AgentOptions } from '../runtime/config.js';
import { storage } from '../runtime/context.js';
import { assertValid, startIntake, type Intake } from '../test/runtime/helpers.js';
import { compileFile } from '../test/transformer/compile.js';

export const root = join(__dirname, '..');
export const FRONT_ENDS = ['tsc', 'babel'] as const;
export type FrontEnd = (typeof FRONT_ENDS)[number];
const abiPath = join(root, 'runtime', 'abi.ts');

export interface Built {
  /** the loaded CommonJS module */
  mod: any;
  /** `rule line:column` of every instrumented site */
  sites: string[];
}

/**
 * Compiles `source` (a TypeScript module) with one front-end into `<dir>/.tmp-<pid>/<name>.<fe>.js`
 * and requires it. `dir` is the integration's folder, so its imports resolve through the
 * repository's node_modules (or `nodePath`, a side-by-side install's node_modules folder).
 */
export function build(frontEnd: FrontEnd, dir: string, name: string, source: string, nodePath?: string): Built {
  const tmp = join(dir, `.tmp-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  const file = join(tmp, `${name}.ts`);
  writeFileSync(file, source);
  let js: string;
  let sites: string[];
  if (frontEnd === 'tsc') {
    const r = compileTsc(file, nodePath);
    assert.deepEqual(r.diagnostics, [], 'the source type-checks');
    js = r.js;
    const table = /__spanforge\.sites\(1, "[^"]*", \[([\s\S]*?)\n\]\);/.exec(js);
    sites = table ? [...table[1]!.matchAll(/rule: "([^"]+)".*?line: (\d+), column: (\d+)/g)].map((m) => `${m[1]} ${m[2]}:${m[3]}`) : [];
  } else {
    const report = join(tmp, `${name}.babel-report.json`);
    const out = transformSync(source, {
      filename: file,
      cwd: root,
      root,
      configFile: false,
      babelrc: false,
      presets: ['@babel/preset-typescript'],
      plugins: [[babelPlugin, { report, summary: false, runtimeModule: abiPath }], '@babel/plugin-transform-modules-commonjs'],
    })!;
    js = out.code!;
    const files = existsSync(report) ? (JSON.parse(readFileSync(report, 'utf8')) as { files: { sites: { rule: string; line: number; column: number }[]; skipped: unknown[] }[] }).files : [];
    assert.deepEqual(files.flatMap((f) => f.skipped), [], 'Babel skipped no candidate');
    sites = files.flatMap((f) => f.sites.map((s) => `${s.rule} ${s.line}:${s.column}`));
  }
  const outFile = join(tmp, `${name}.${frontEnd}.js`);
  writeFileSync(outFile, withNodePath(js, nodePath));
  return { mod: require(outFile), sites };
}

/**
 * tsc + transformer on one file; with `nodePath` (a side-by-side install's node_modules) the file is
 * type-checked against the libraries and types installed there instead of the repository's.
 */
export function compileTsc(file: string, nodePath?: string): ReturnType<typeof compileFile> {
  return compileFile(file, { runtimeModule: abiPath }, nodePath ? { baseUrl: dirname(file), paths: { '*': [join(nodePath, '@types', '*'), join(nodePath, '*')], 'spanforge/runtime': [abiPath] }, typeRoots: [join(nodePath, '@types')] } : {});
}

/** Emitted CommonJS that resolves its libraries from a side-by-side install (`nodePath`) first. */
export function withNodePath(js: string, nodePath?: string): string {
  return nodePath ? `module.paths.unshift(${JSON.stringify(nodePath)});\n${js}` : js;
}

/** Removes the build folder of `dir` (call from `after`). */
export function cleanBuilds(dir: string): void {
  rmSync(join(dir, `.tmp-${process.pid}`), { recursive: true, force: true });
}

export type Ev = Record<string, any>;

export interface Harness {
  intake: Intake;
  /**
   * Runs `body` inside a `request` transaction named `name`, ends it, flushes, and returns the
   * transaction and its spans (start order) and errors as received by the intake, each schema-valid.
   */
  run(name: string, body: () => Promise<unknown>): Promise<{ tx: Ev; spans: Ev[]; errors: Ev[] }>;
  /**
   * Flushes the agent and returns the intake events of the transaction named `name` (see run); `path`
   * picks the request of that URL path (the test intake runs in the same process, and every HTTP server
   * of a process is traced, so the intake's own requests are `GET unknown route` transactions too).
   */
  transaction(name: string, path?: string): Promise<{ tx: Ev; spans: Ev[]; errors: Ev[] }>;
  close(): Promise<void>;
}

/**
 * Starts the agent (100% sampled, no metrics) against a fresh test intake; `options` are more start() options
 * (e.g. `{ spanCompressionEnabled: false }` for a test that asserts consecutive identical exit spans one by one).
 */
export async function startHarness(serviceName: string, options: AgentOptions = {}): Promise<Harness> {
  const intake = await startIntake();
  await resetAgentForTests();
  const agent = getAgent().start({ serverUrl: intake.url, serviceName, metricsInterval: 0, ...options }, { noProcessHandlers: true, env: {} });
  const seen = new Set<string>();
  return {
    intake,
    async run(name, body) {
      let txId = '';
      await storage.run(undefined as never, async () => {
        const tx = agent.startTransaction(name, 'request');
        txId = tx.id;
        try {
          await storage.run(tx as never, body);
          // A failed call's error is reported once the app has had a turn to catch it (runtime/abi-kit.ts reportLater).
          await new Promise((r) => setTimeout(r, 5));
        } finally {
          tx.end();
        }
      });
      await agent.flush(5000);
      await intake.waitFor((i) => i.of('transaction').some((t) => t.id === txId));
      const tx = intake.of('transaction').find((t) => t.id === txId)!;
      const spans = intake.of('span').filter((s) => s.transaction_id === txId).sort((a, b) => a.timestamp - b.timestamp);
      const errors = intake.of('error').filter((e) => e.transaction_id === txId);
      for (const [kind, list] of [['transaction', [tx]], ['span', spans], ['error', errors]] as const) for (const e of list) assertValid({ [kind]: e });
      return { tx, spans, errors };
    },
    async transaction(name, path) {
      await agent.flush(5000);
      // The first not yet returned transaction of that name (and path), once all the spans it started have arrived.
      const fresh = (i: Intake) =>
        i.of('transaction').find((t) => t.name === name && !seen.has(t.id) && (path === undefined || t.context?.request?.url?.pathname === path));
      await intake.waitFor((i) => {
        const t = fresh(i);
        return t !== undefined && i.of('span').filter((s) => s.transaction_id === t.id).length >= (t.span_count?.started ?? 0);
      });
      const tx = fresh(intake)!;
      seen.add(tx.id);
      const spans = intake.of('span').filter((s) => s.transaction_id === tx.id).sort((a, b) => a.timestamp - b.timestamp);
      const errors = intake.of('error').filter((e) => e.transaction_id === tx.id);
      for (const [kind, list] of [['transaction', [tx]], ['span', spans], ['error', errors]] as const) for (const e of list) assertValid({ [kind]: e });
      return { tx, spans, errors };
    },
    async close() {
      await agent.flush(2000).catch(() => undefined);
      await resetAgentForTests();
      await intake.close();
    },
  };
}

/** The facts of a db span a test compares exactly (ids and timings left out). */
export function dbFacts(s: Ev): Ev {
  return {
    name: s.name,
    type: s.type,
    subtype: s.subtype,
    action: s.action,
    outcome: s.outcome,
    db: s.context?.db,
    destination: s.context?.destination,
    target: s.context?.service?.target,
  };
}

/** `<file>:<line>` of a span's code location as the intake received it (relative to the repository). */
export function siteOf(s: Ev): string {
  const f = s.stacktrace?.[0];
  return f ? `${relative(root, String(f.abs_path ?? f.filename))}:${f.lineno}` : '';
}

/**
 * Fails under CI when a service is unreachable, else returns the reason (the test then skips).
 * `probe` must reject when the service is down.
 */
export async function reachable(what: string, probe: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await probe();
    return undefined;
  } catch (err) {
    const msg = `${what} is unreachable: ${(err as Error).message}`;
    if (process.env.CI) throw new Error(msg);
    return msg;
  }
}

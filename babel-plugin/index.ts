// spanforge/babel: the Babel front-end. A Babel 7 plugin (API-compatible with Babel 8) that instruments
// route handlers, outgoing calls and @Traced() methods by following bindings within each module.
import type { ConfigAPI, PluginObj, PluginPass, types as BabelTypes } from '@babel/core';
import { resolveOptions, type ResolvedOptions } from '../rules/index.js';
import { analyzeFile, projectPath } from './file.js';
import { emitBabel, looksCommonJs } from './emit.js';
import { ReportCollector } from './report.js';

export type { SpanforgeOptions } from '../rules/index.js';

// One collector per report path (or per process for the summary): Babel has no "build end" hook, so
// the JSON is rewritten after each instrumented file and the summary printed when the process exits.
const collectors = new Map<string, ReportCollector>();
let exitHookInstalled = false;

function collectorFor(opts: ResolvedOptions): ReportCollector {
  const key = opts.report ?? '';
  let c = collectors.get(key);
  if (!c) {
    c = new ReportCollector('babel');
    collectors.set(key, c);
  }
  if (opts.summary && !exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const col of collectors.values()) process.stderr.write(col.summary() + '\n');
    });
  }
  return c;
}

/**
 * The Babel plugin: `plugins: [["spanforge/babel", { exclude: ["test/**"] }]]`.
 * Options are those of the TypeScript transformer; unknown options are a build error naming them.
 */
export default function spanforgeBabelPlugin(api: ConfigAPI & { types: typeof BabelTypes }, rawOptions: unknown): PluginObj<PluginPass> {
  api.assertVersion('^7.0.0-0 || ^8.0.0');
  const opts = resolveOptions(rawOptions, 'the spanforge Babel plugin options');
  const t = api.types;
  return {
    name: 'spanforge',
    visitor: {
      Program: {
        enter(program, state) {
          const filename = state.filename ?? state.file.opts.filename ?? undefined;
          if (!filename) return;
          const root = (state.file.opts.root as string | undefined) ?? state.cwd ?? process.cwd();
          const rel = projectPath(root, filename);
          const analysis = analyzeFile(program, opts, rel, state.file.code, filename);
          if (!analysis) return;
          emitBabel(t, program, analysis.sites, rel, opts.runtimeModule, looksCommonJs(program, filename));
          const c = collectorFor(opts);
          c.add({ file: rel, sites: analysis.sites.map((s) => s.d), skipped: analysis.skipped });
          if (opts.report) c.write(opts.report);
        },
      },
    },
  };
}

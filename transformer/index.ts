// The ts-patch program transformer ("transform": "spanforge/transformer"): options, TS version gate,
// per-file rewrite (transform.ts), the build report and the one-line summary on stderr.
import type * as TS from 'typescript';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { isIncluded, resolveOptions, SpanforgeOptionsError, type ResolvedOptions } from '../rules/index.js';
import { isInstrumented, transformFile, type FileResult, type ReportedSite, type SkippedSite } from './transform.js';

/** What ts-patch passes as the third argument of a program transformer. */
export interface TransformerExtras {
  ts: typeof TS;
  addDiagnostic?: (diag: TS.Diagnostic) => number;
}

/** Thrown when the compiler cannot run this transformer (TypeScript 7, no `ts` from the host). */
export class SpanforgeTransformerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'SpanforgeTransformerError';
    this.code = code;
  }
}

/** The report written with the `report` option. */
export interface BuildReport {
  spanforge: string;
  sites: ReportedSite[];
  skipped: SkippedSite[];
  files: { instrumented: number; total: number };
}

/** Fails on compilers without the JS transformer API, with what to do instead. */
export function assertSupportedTypeScript(ts: typeof TS | undefined): asserts ts is typeof TS {
  if (!ts || typeof ts !== 'object') {
    throw new SpanforgeTransformerError(
      'SPANFORGE_ERR_NO_TS',
      'spanforge/transformer: the host did not pass the TypeScript instance (extras.ts). Load it through ts-patch ' +
        '(`tspc`, or `ts-patch install`) with { "transform": "spanforge/transformer" } in compilerOptions.plugins.',
    );
  }
  const major = Number(String(ts.version ?? '0').split('.')[0]);
  if (major >= 7 || typeof ts.createProgram !== 'function' || typeof ts.visitEachChild !== 'function') {
    throw new SpanforgeTransformerError(
      'SPANFORGE_ERR_TS7',
      `spanforge/transformer: TypeScript ${ts.version} has no JavaScript compiler API, so no transformer can run in it. ` +
        'Either build with TypeScript 6 side by side ("typescript": "npm:@typescript/typescript6@^6.0.2" for tspc, keeping ' +
        'TypeScript 7 for type-checking), or instrument the emitted JavaScript with the Babel plugin ("spanforge/babel") ' +
        'or the bundler plugin ("spanforge/bundler").',
    );
  }
}

let pending: { options: ResolvedOptions; base: string; results: Map<string, FileResult>; total: number; start: number } | undefined;
let exitHooked = false;

/** Writes the report and prints the summary of the previous build (at exit, or when a new build starts). */
function flushReport(): void {
  const p = pending;
  pending = undefined;
  if (!p) return;
  const sites: ReportedSite[] = [];
  const skipped: SkippedSite[] = [];
  let instrumented = 0;
  for (const r of p.results.values()) {
    sites.push(...r.sites);
    skipped.push(...r.skipped);
    if (r.sites.length) instrumented++;
  }
  if (p.options.report) {
    const report: BuildReport = { spanforge: '1', sites, skipped, files: { instrumented, total: p.total } };
    const file = isAbsolute(p.options.report) ? p.options.report : resolve(p.base, p.options.report);
    try {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
    } catch (err) {
      process.stderr.write(`spanforge: could not write the build report to ${file}: ${(err as Error).message}\n`);
    }
  }
  if (p.options.summary) {
    const byRule = new Map<string, number>();
    for (const s of sites) byRule.set(s.rule, (byRule.get(s.rule) ?? 0) + 1);
    const detail = [...byRule].map(([k, v]) => `${k} ${v}`).join(', ');
    process.stderr.write(
      `spanforge: instrumented ${sites.length} site${sites.length === 1 ? '' : 's'} in ${instrumented} of ${p.total} files` +
        (detail ? ` (${detail})` : '') + (skipped.length ? `, ${skipped.length} skipped` : '') +
        (p.options.report ? `; report: ${p.options.report}` : '') + '\n',
    );
  }
}

/**
 * The ts-patch program transformer.
 * @example { "compilerOptions": { "plugins": [{ "transform": "spanforge/transformer", "exclude": ["test/**"] }] } }
 */
export default function spanforgeTransformer(
  program: TS.Program,
  config: Record<string, unknown> | undefined,
  extras: TransformerExtras | undefined,
): TS.TransformerFactory<TS.SourceFile> {
  const ts = extras?.ts;
  assertSupportedTypeScript(ts);
  let options: ResolvedOptions;
  try {
    options = resolveOptions(config ?? {}, 'the spanforge/transformer plugin entry of compilerOptions.plugins');
  } catch (err) {
    if (err instanceof SpanforgeOptionsError && extras?.addDiagnostic) {
      // A compiler error (`error TS99001: spanforge: unknown option ...`, non-zero exit) instead of a crash;
      // nothing is instrumented by this build.
      extras.addDiagnostic({
        file: undefined,
        start: undefined,
        length: undefined,
        messageText: err.message,
        category: ts.DiagnosticCategory.Error,
        code: 99001,
      });
      return () => (sf) => sf;
    }
    throw err;
  }
  const compilerOptions = program.getCompilerOptions();
  const configFile = typeof compilerOptions.configFilePath === 'string' ? compilerOptions.configFilePath : undefined;
  const base = configFile ? dirname(configFile) : compilerOptions.rootDir ?? program.getCurrentDirectory();
  const mk = ts.ModuleKind;
  const nodeModule = compilerOptions.module !== undefined && compilerOptions.module >= mk.Node16 && compilerOptions.module <= mk.NodeNext;
  const cjsDefault = compilerOptions.module === undefined || compilerOptions.module === mk.CommonJS;
  /** Whether TS emits this file as an ES module (decides import vs require for the ABI). */
  const emitsEsm = (sf: TS.SourceFile): boolean =>
    nodeModule ? sf.impliedNodeFormat === mk.ESNext : !cjsDefault && compilerOptions.module !== mk.AMD && compilerOptions.module !== mk.UMD && compilerOptions.module !== mk.System;
  flushReport();
  const state = { options, base, results: new Map<string, FileResult>(), total: 0, start: Date.now() };
  state.total = program.getSourceFiles().filter((s) => !s.isDeclarationFile && !program.isSourceFileFromExternalLibrary(s)).length;
  pending = state;
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', flushReport);
  }
  const checker = program.getTypeChecker();

  return (context) => (sf) => {
    if (sf.isDeclarationFile) return sf;
    const rel = relative(base, sf.fileName).split('\\').join('/');
    if (!isIncluded(options, rel) || isInstrumented(ts, sf)) return sf;
    // The checker answers questions about the parse-tree nodes of the program's own source file.
    const original = program.getSourceFile(sf.fileName) ?? sf;
    if (original !== sf) return sf;
    const result: FileResult = { sites: [], skipped: [] };
    state.results.set(rel, result);
    return transformFile(ts, context, checker, options, sf, rel, result, emitsEsm(sf));
  };
}

// spanforge/bundler: one unplugin-based plugin (Vite, Rollup, esbuild, webpack) that instruments the
// app's own modules during the build with minimal text edits and chained source maps.
import { parseSync, traverse, type NodePath } from '@babel/core';
import type * as BT from '@babel/types';
import MagicString from 'magic-string';
import { createUnplugin, type UnpluginInstance } from 'unplugin';
import { SITES_BINDING, isIncluded, resolveOptions, type ResolvedOptions, type Rule, type SpanforgeOptions } from '../rules/index.js';
import { analyzeFile, projectPath } from '../babel-plugin/file.js';
import { ReportCollector } from '../babel-plugin/report.js';
import type { SkippedSite } from '../babel-plugin/analyze.js';
import type { SiteDescriptor } from '../rules/index.js';
import { emitText } from './edit.js';
import { looksCommonJs } from '../babel-plugin/emit.js';
import { isConventionFile } from '../babel-plugin/nextjs.js';
import { dependencyMatcher, instrumentDependency } from './deps.js';

export type { SpanforgeOptions } from '../rules/index.js';
export { dependencyMatcher, instrumentDependency, type DependencyResult } from './deps.js';

/** Bundler plugin options: the transformer's options plus the project root (default: cwd, Vite's root). */
export interface SpanforgeBundlerOptions extends SpanforgeOptions {
  root?: string;
}

export interface InstrumentResult {
  code: string;
  map: ReturnType<MagicString['generateMap']>;
  sites: SiteDescriptor[];
  skipped: SkippedSite[];
}

const SCRIPT_RE = /\.(?:[cm]?[jt]s|[jt]sx)$/;

/**
 * The cheap pre-check: a file can only hold a site if it names one of the catalogue's modules in a
 * string literal, calls `fetch(`, or names a user rule's function/method. One regex scan, no parse.
 */
export function precheck(rules: readonly Rule[]): RegExp {
  const modules = new Set<string>();
  const words = new Set<string>();
  for (const r of rules) {
    for (const m of r.target.module) modules.add(m);
    if (r.target.global) for (const n of r.target.names) words.add(`${n}\\s*\\(`);
    if (r.kind === 'call' && r.handler === 'app') for (const n of r.target.names) words.add(`\\b${n}\\b`);
    // A generated client (Prisma) is imported by a relative path no list can name: its method calls.
    if (r.kind === 'call' && r.target.generatedBy) for (const n of r.target.names) words.add(`\\.\\s*${n.replace(/\$/g, '\\$')}\\s*[(\`]`);
  }
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const parts: string[] = [];
  if (modules.size) parts.push(`['"\`](?:node:)?(?:${[...modules].map(esc).join('|')})['"\`]`);
  for (const w of words) parts.push(w);
  // File conventions (Next.js): 'use server' modules and functions, and the exports of route/proxy files
  // (decided by the path: instrumentCode skips this check for those).
  if (rules.some((r) => r.kind === 'file')) parts.push(`['"]use server['"]`);
  return new RegExp(parts.join('|') || '(?!)');
}

/**
 * Instruments one file's text; null when it has nothing to instrument (most files stop at the
 * pre-check). `relPath` is what the site table and the report name the file.
 */
export function instrumentCode(code: string, id: string, relPath: string, opts: ResolvedOptions, check: RegExp = precheck(opts.rules)): InstrumentResult | null {
  if ((!check.test(code) && !(opts.rules.some((r) => r.kind === 'file') && isConventionFile(relPath))) || code.includes(SITES_BINDING)) return null;
  const isTs = /\.[cm]?tsx?$/.test(id);
  const plugins: NonNullable<NonNullable<Parameters<typeof parseSync>[1]>['parserOpts']>['plugins'] = isTs
    ? ['typescript', 'decorators', 'decoratorAutoAccessors', 'explicitResourceManagement']
    : ['jsx', 'decorators', 'explicitResourceManagement'];
  if (isTs && /x$/.test(id)) plugins.push('jsx');
  const parse = (p: typeof plugins) =>
    parseSync(code, {
      filename: id,
      configFile: false,
      babelrc: false,
      browserslistConfigFile: false,
      sourceType: 'unambiguous',
      parserOpts: { plugins: p, allowReturnOutsideFunction: true, errorRecovery: false },
    });
  let ast: ReturnType<typeof parse>;
  try {
    ast = parse(plugins);
  } catch (err) {
    // TypeScript's experimentalDecorators (NestJS, TypeORM, Angular) decorate parameters too, which only
    // Babel's legacy decorators syntax parses: that file is read again with it.
    if (!isTs || !/decorate parameters/.test(String((err as Error | undefined)?.message))) throw err;
    ast = parse(plugins.map((p) => (p === 'decorators' ? 'decorators-legacy' : p)).filter((p) => p !== 'decoratorAutoAccessors'));
  }
  if (!ast) return null;
  let programPath: NodePath<BT.Program> | undefined;
  traverse(ast, {
    Program(p) {
      programPath = p;
      p.stop();
    },
  });
  if (!programPath) return null;
  const analysis = analyzeFile(programPath, opts, relPath, code, id.split('?')[0]);
  if (!analysis || (analysis.sites.length === 0 && analysis.skipped.length === 0)) return null;
  const ms = new MagicString(code);
  const interpreterEnd = ast.program.interpreter ? ast.program.interpreter.end ?? 0 : 0;
  emitText(ms, ast.program, code, analysis.sites, relPath, opts.runtimeModule, interpreterEnd, looksCommonJs(programPath, id));
  return {
    code: ms.toString(),
    map: ms.generateMap({ source: id, file: id, includeContent: true, hires: 'boundary' }),
    sites: analysis.sites.map((s) => s.d),
    skipped: analysis.skipped,
  };
}

/** The unplugin instance; use the bundler-specific exports below. */
export const spanforge: UnpluginInstance<SpanforgeBundlerOptions | undefined, false> = createUnplugin((raw) => {
  const { root: rootOption, ...rest } = (raw ?? {}) as SpanforgeBundlerOptions;
  const opts = resolveOptions(rest, 'the spanforge bundler plugin options');
  const check = precheck(opts.rules);
  // Dependency rules (driver functions under node_modules): a path check per file, nothing parsed
  // unless package and file name fit; the version is read once per package folder.
  const deps = dependencyMatcher(opts.deps);
  let root = rootOption ?? process.cwd();
  const collector = new ReportCollector('bundler');
  return {
    name: 'spanforge',
    // Before the bundler's own TS/JSX transform, so decorators and type annotations are still visible.
    enforce: 'pre',
    transformInclude(id) {
      const file = id.split('?')[0]!;
      if (!SCRIPT_RE.test(file) || file.startsWith('\0')) return false;
      return isIncluded(opts, projectPath(root, file)) || deps.candidates(file) !== undefined;
    },
    transform(code, id) {
      const file = id.split('?')[0]!;
      const rel = projectPath(root, file);
      if (deps.candidates(file) !== undefined) {
        let d: ReturnType<typeof instrumentDependency>;
        try {
          d = instrumentDependency(code, file, deps, opts.runtimeModule);
        } catch (err) {
          this.warn(`spanforge: ${rel}: dependency file not instrumented: ${String((err as Error).message ?? err).split('\n')[0]}`);
          return null;
        }
        if (!d) return null;
        collector.add({ file: d.name, package: d.name.slice(0, d.name.indexOf('/', d.name.startsWith('@') ? d.name.indexOf('/') + 1 : 0)), sites: d.sites, skipped: d.skipped.map((k) => ({ rules: [k.rule], line: k.line, column: k.column, code: '', reason: `not instrumented: ${k.reason}` })) });
        if (d.sites.length === 0) return null;
        return { code: d.code, map: d.map };
      }
      let result: InstrumentResult | null;
      try {
        result = instrumentCode(code, file, rel, opts, check);
      } catch (err) {
        // Babel's parser can be stricter than the bundler's; such a file is left as it is, and the
        // report says so, rather than failing a build that would otherwise succeed.
        const e = err as { message?: string; loc?: { line?: number; column?: number } };
        const reason = `not instrumented: Babel could not parse the file (${String(e.message ?? err).split('\n')[0]!.replace(`${file}: `, '')})`;
        collector.add({ file: rel, sites: [], skipped: [{ rules: [], line: e.loc?.line ?? 0, column: (e.loc?.column ?? -1) + 1, code: '', reason }] });
        this.warn(`spanforge: ${rel}: ${reason}`);
        return null;
      }
      if (!result) return null;
      collector.add({ file: rel, sites: result.sites, skipped: result.skipped });
      if (result.sites.length === 0) return null;
      return { code: result.code, map: result.map };
    },
    buildEnd() {
      if (opts.report) collector.write(opts.report);
      if (opts.summary) process.stderr.write(collector.summary() + '\n');
    },
    vite: {
      configResolved(config: { root: string }) {
        if (!rootOption) root = config.root;
      },
    },
  };
});

/** `plugins: [spanforgeVite()]` in vite.config. */
export const vitePlugin = spanforge.vite;
/** `plugins: [spanforgeRollup()]` in rollup.config. */
export const rollupPlugin = spanforge.rollup;
/** `plugins: [spanforgeEsbuild()]` in esbuild.build(). */
export const esbuildPlugin = spanforge.esbuild;
/** `plugins: [spanforgeWebpack()]` in webpack.config. */
export const webpackPlugin = spanforge.webpack;

// `spanforge/loader`: the bundler step as a webpack-style loader, for bundlers that run loaders but not
// webpack plugins — Turbopack (`turbopack.rules` in next.config), and webpack's `module.rules`. Same
// analysis and edits as the plugins (instrumentCode), with a source map chained onto the input's.
// Options are plain JSON (Turbopack passes nothing else): the bundler plugin options, `root` included.
import { isIncluded, resolveOptions, type ResolvedOptions } from '../rules/index.js';
import { projectPath } from '../babel-plugin/file.js';
import { instrumentCode, precheck, type SpanforgeBundlerOptions } from './index.js';

interface LoaderContext {
  resourcePath: string;
  rootContext?: string;
  async(): (err: Error | null, code?: string, map?: unknown) => void;
  getOptions?(): unknown;
  query?: unknown;
  emitWarning?(w: Error): void;
}

const SCRIPT_RE = /\.(?:[cm]?[jt]s|[jt]sx)$/;
const cache = new Map<string, { opts: ResolvedOptions; check: RegExp; root: string }>();

function setup(ctx: LoaderContext): { opts: ResolvedOptions; check: RegExp; root: string } {
  let raw: SpanforgeBundlerOptions = {};
  try {
    const o = typeof ctx.getOptions === 'function' ? ctx.getOptions() : ctx.query;
    if (o && typeof o === 'object') raw = o as SpanforgeBundlerOptions;
  } catch {
    // no options
  }
  const key = JSON.stringify(raw);
  let s = cache.get(key);
  if (!s) {
    const { root, ...rest } = raw;
    const opts = resolveOptions(rest, 'the spanforge/loader options');
    s = { opts, check: precheck(opts.rules), root: root ?? '' };
    cache.set(key, s);
  }
  return s;
}

/** The loader: instruments the app's own modules (never node_modules), passes everything else through. */
export default function spanforgeLoader(this: LoaderContext, source: string, inputMap?: unknown): void {
  const callback = this.async();
  const file = this.resourcePath;
  try {
    if (!SCRIPT_RE.test(file) || /[\\/]node_modules[\\/]/.test(file)) return callback(null, source, inputMap);
    const { opts, check, root } = setup(this);
    const rel = projectPath(root || this.rootContext || process.cwd(), file);
    if (!isIncluded(opts, rel)) return callback(null, source, inputMap);
    const result = instrumentCode(source, file, rel, opts, check);
    if (!result || result.sites.length === 0) return callback(null, source, inputMap);
    if (opts.summary) process.stderr.write(`spanforge: ${rel}: ${result.sites.length} site${result.sites.length === 1 ? '' : 's'}\n`);
    // The input is the file as written (the loader runs first): the edit map is the whole map.
    return callback(null, result.code, { ...result.map, sources: [file] });
  } catch (err) {
    // Never fail the build: a file Babel cannot parse is left as it is.
    try {
      this.emitWarning?.(new Error(`spanforge: ${file}: not instrumented (${String((err as Error)?.message ?? err).split('\n')[0]})`));
    } catch {
      // ignore
    }
    return callback(null, source, inputMap);
  }
}

// The per-file step of spanforge/register: decides whether a loaded file is the app's own code and,
// if so, instruments its text with the bundler step's matcher, adding an inline source map.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { instrumentCode, precheck } from '../bundler/index.js';
import { dependencyMatcher, instrumentDependency } from '../bundler/deps.js';
import { depSummary } from '../babel-plugin/report.js';
import { projectPath } from '../babel-plugin/file.js';
import { isIncluded, resolveOptions, type SpanforgeOptions } from '../rules/index.js';

/** The plugin options (include/exclude/disable/rules/runtimeModule) and the project root (default: cwd). */
export interface RegisterOptions extends Omit<SpanforgeOptions, 'report' | 'summary'> {
  root?: string;
}

export const SCRIPT_RE = /\.(?:[cm]?[jt]s|[jt]sx)$/;

/**
 * Options from `$SPANFORGE_OPTIONS` (a JSON object, the plugin options), under the given ones.
 * A malformed value is an error naming the variable, thrown at start-up, never while loading a module.
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): RegisterOptions {
  const raw = env.SPANFORGE_OPTIONS;
  if (!raw) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    throw new Error(`spanforge/register: $SPANFORGE_OPTIONS is not JSON (${(err as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('spanforge/register: $SPANFORGE_OPTIONS must be a JSON object of plugin options');
  return v as RegisterOptions;
}

/** The BroadcastChannel the module.register loader thread posts its counts on. */
export const COUNTS_CHANNEL = 'spanforge.register.counts';

/** What the hook did in one thread: the app's files and sites, the dependency files and sites. */
export interface RegisterCounts {
  /** The app's own files seen (instrumented or not): the summary waits for the first one. */
  seen: number;
  files: number;
  sites: number;
  depSites: number;
  packages: string[];
}

export type Instrument = ((code: string, file: string | URL) => string | null) & { counts: RegisterCounts; onChange?: () => void };

/**
 * The module dependency files import the ABI from at load time: this package's own runtime by absolute
 * path (a driver's folder cannot always resolve `spanforge`, e.g. under pnpm), CommonJS build (an ES
 * module dependency imports it as a file URL; both copies share the agent through its global slot).
 */
function ownRuntime(esm: boolean): string {
  let path: string;
  try {
    path = require.resolve('../runtime/abi.js');
  } catch {
    return 'spanforge/runtime';
  }
  return esm ? pathToFileURL(path).href : path;
}

/** Returns `(code, file) => instrumented text | null` (null: leave the file as it is), counting what it did. */
export function instrumentSource(options: RegisterOptions): Instrument {
  const { root: rootOption, ...rest } = { ...optionsFromEnv(), ...options };
  const opts = resolveOptions({ ...rest, summary: false }, 'the spanforge/register options');
  const check = precheck(opts.rules);
  const deps = dependencyMatcher(opts.deps);
  const userRuntime = rest.runtimeModule !== undefined;
  const root = rootOption ?? process.cwd();
  const counts: RegisterCounts = { seen: 0, files: 0, sites: 0, depSites: 0, packages: [] };
  // On Node 24, registerHooks also sees require()d files: under tsx in a CommonJS package the app's
  // file comes once as TypeScript (the load hook; tsx then compiles the original, so that output is
  // not what runs) and again as tsx's output (Module._compile). Both are instrumented; the summary
  // counts the file once, with the sites of its latest pass.
  const sitesOf = new Map<string, number>();
  const fn = ((code: string, where: string | URL) => {
    const file = typeof where === 'string' ? where : fileURLToPath(where);
    if (!SCRIPT_RE.test(file)) return null;
    if (/[\\/]node_modules[\\/]/.test(file)) {
      if (deps.candidates(file) === undefined) return null; // the cheap check: package and file name
      const esm = /\.mjs$/.test(file) || /^\s*(?:import|export)\s/m.test(code);
      const d = instrumentDependency(code, file, deps, userRuntime ? opts.runtimeModule : ownRuntime(esm));
      if (!d || d.sites.length === 0) return null;
      counts.depSites += d.sites.length;
      const pkg = d.name.slice(0, d.name.indexOf('/', d.name.startsWith('@') ? d.name.indexOf('/') + 1 : 0));
      if (!counts.packages.includes(pkg)) counts.packages.push(pkg);
      fn.onChange?.();
      return withMap(d.code, d.map);
    }
    const rel = projectPath(root, file);
    if (rel === file || !isIncluded(opts, rel)) return null; // outside the project root
    counts.seen++;
    const r = instrumentCode(code, file, rel, opts, check);
    if (!r || r.sites.length === 0) return null;
    const before = sitesOf.get(file);
    if (before === undefined) counts.files++;
    counts.sites += r.sites.length - (before ?? 0);
    sitesOf.set(file, r.sites.length);
    fn.onChange?.();
    return withMap(r.code, r.map);
  }) as Instrument;
  fn.counts = counts;
  return fn;
}

function withMap(code: string, map: { toString(): string }): string {
  return `${code}\n//# sourceMappingURL=data:application/json;charset=utf-8;base64,${Buffer.from(map.toString()).toString('base64')}\n`;
}

/** `spanforge (register): 4 sites instrumented in 2 files, 2 driver functions in dependencies (pg@8.23.1); ES modules: registerHooks, CommonJS: Module._compile` */
export function registerSummary(c: RegisterCounts, esm: string): string {
  return `spanforge (register): ${c.sites} site${c.sites === 1 ? '' : 's'} instrumented in ${c.files} file${c.files === 1 ? '' : 's'}${depSummary(c.depSites, new Set(c.packages)) || ', no driver function in dependencies'}; ES modules: ${esm}, CommonJS: Module._compile`;
}

/** A load hook's `source` as text. */
export function toText(source: string | ArrayBuffer | ArrayBufferView): string {
  if (typeof source === 'string') return source;
  if (ArrayBuffer.isView(source)) return Buffer.from(source.buffer, source.byteOffset, source.byteLength).toString('utf8');
  return Buffer.from(source).toString('utf8');
}

// spanforge/register (install.ts: the hooks; index.ts installs them on import): instruments the app's own modules as Node loads them, for apps run without a
// build step (tsx, ts-node, plain `node`): `node --import spanforge/register app.js`, or
// `node -r spanforge/register -r ts-node/register app.ts`. The front-end is the bundler step's
// (the Babel matcher with text edits), so what is instrumented is what `spanforge/bundler` instruments.
//
// Two hooks, installed once per process:
// - CommonJS: a `require.extensions` wrapper (the pirates pattern) for .js and the TypeScript
//   extensions Node or a loader already registered (.ts/.cts/.tsx; .cjs files use the .js one): it
//   replaces the module's `_compile` for one call, so it sees the text the loaders *inside* it
//   produce. Installed before a TypeScript loader that reads files through the previous handler
//   (ts-node), it sees the TypeScript source; installed after one, the JavaScript it emitted.
// - ES modules: a `load` hook through `module.registerHooks` (in-thread, Node 22.15+/23.5+) or
//   `module.register` (a loader thread, Node 20.6+); it instruments what the rest of the chain
//   returns for `format: 'module'` sources.
// Files under node_modules, outside the project root (default: the working directory), or excluded by
// the options are left alone. This is build-time code (it loads Babel); it is never part of runtime/.
import Module from 'node:module';
import { pathToFileURL } from 'node:url';
import { COUNTS_CHANNEL, instrumentSource, optionsFromEnv, registerSummary, toText, type RegisterCounts, type RegisterOptions } from './instrument.js';
import { isModuleFormat } from './hooks.js';

export type { RegisterOptions } from './instrument.js';

const INSTALLED = Symbol.for('spanforge.register.installed');

type Handler = (m: Module & { _compile(code: string, filename: string): unknown }, filename: string) => void;
type ModuleWithHooks = typeof Module & {
  _extensions: Record<string, Handler>;
  registerHooks?: (hooks: { load?: (url: string, context: LoadContext, next: NextLoad) => LoadResult }) => unknown;
  register?: (specifier: string | URL, parentURL?: string | URL, options?: { data?: unknown }) => void;
};
interface LoadContext { format?: string | null; conditions?: string[]; importAttributes?: Record<string, string> }
interface LoadResult { format?: string | null; source?: string | ArrayBuffer | ArrayBufferView | null; shortCircuit?: boolean }
type NextLoad = (url: string, context?: LoadContext) => LoadResult;

const CJS_EXTENSIONS = ['.js', '.cjs', '.ts', '.cts', '.tsx'];
/** Modules whose text the `_extensions` wrapper already passed through (the `_compile` patch then skips them). */
const SEEN = new WeakSet<object>();

/**
 * Installs the CommonJS and ES module hooks (once per process; later calls change nothing).
 * Returns which ES module mechanism was used.
 */
export function register(options: RegisterOptions = {}): 'registerHooks' | 'register' | 'none' {
  const g = globalThis as Record<symbol, unknown>;
  if (g[INSTALLED]) return g[INSTALLED] as 'registerHooks' | 'register' | 'none';
  const M = Module as ModuleWithHooks;
  const instrument = instrumentSource(options);
  const remote: RegisterCounts = { seen: 0, files: 0, sites: 0, depSites: 0, packages: [] };
  let esmMode = 'none';
  const summary = summaryLine(() => {
    const c = instrument.counts;
    const packages = [...c.packages];
    for (const p of remote.packages) if (!packages.includes(p)) packages.push(p);
    return registerSummary({ seen: 0, files: c.files + remote.files, sites: c.sites + remote.sites, depSites: c.depSites + remote.depSites, packages }, esmMode);
  }, instrumentOptionsSummary(options), () => instrument.counts.seen + remote.seen > 0);
  const apply = (code: string, file: string): string => {
    try {
      return instrument(code, file) ?? code;
    } catch {
      return code; // never break loading: the module runs uninstrumented
    } finally {
      summary.touch();
    }
  };

  for (const ext of CJS_EXTENSIONS) {
    // Only extensions Node (or a loader) already handles: adding one would change what require('./x')
    // resolves to. A TypeScript loader registered after us wraps this handler (ts-node falls back to the
    // '.js' one), so we see the source it reads; one registered before us is wrapped by us.
    const inner = M._extensions[ext];
    if (!inner) continue;
    M._extensions[ext] = function spanforgeRegister(mod, filename) {
      const compile = mod._compile;
      mod._compile = function (this: typeof mod, code: string, file: string) {
        mod._compile = compile;
        SEEN.add(mod);
        return compile.call(this, apply(code, file), file);
      };
      inner(mod, filename);
    };
  }
  // Every CommonJS module is compiled by Module.prototype._compile, whichever loader produced its text:
  // a loader that does not go through require.extensions (tsx in a CommonJS package), a CommonJS
  // dependency imported from an ES module, a require() under module.registerHooks. Files the wrapper
  // above already saw are skipped; instrumented text is never instrumented twice (its site table marks it).
  const proto = (Module as unknown as { prototype: { _compile(code: string, filename: string, ...rest: unknown[]): unknown } }).prototype;
  const compileProto = proto._compile;
  proto._compile = function spanforgeCompile(this: object, code: string, filename: string, ...rest: unknown[]) {
    if (typeof code === 'string' && typeof filename === 'string' && !SEEN.has(this)) code = apply(code, filename);
    return compileProto.call(this, code, filename, ...rest);
  };

  let mode: 'registerHooks' | 'register' | 'none' = 'none';
  if (typeof M.registerHooks === 'function') {
    M.registerHooks({
      load(url, context, next) {
        const r = next(url, context);
        if (!isModuleFormat(r.format) || !url.startsWith('file:') || r.source == null) {
          summary.touch();
          return r;
        }
        let out: string | null = null;
        try {
          out = instrument(toText(r.source), new URL(url));
        } catch {
          out = null;
        }
        summary.touch();
        return out === null ? r : { ...r, source: out };
      },
    });
    mode = 'registerHooks';
  } else if (typeof M.register === 'function') {
    // The loader thread counts what it instruments and posts it here for the summary line, on a
    // BroadcastChannel: a MessagePort in `transferList` makes Node 20 exit with status 1 when
    // module.register runs from `-r`.
    const channel = new BroadcastChannel(COUNTS_CHANNEL);
    channel.onmessage = (e: unknown) => {
      const m = (e as { data: RegisterCounts }).data;
      remote.seen += m.seen;
      remote.files += m.files;
      remote.sites += m.sites;
      remote.depSites += m.depSites;
      for (const p of m.packages) if (!remote.packages.includes(p)) remote.packages.push(p);
      summary.touch();
    };
    (channel as unknown as { unref(): void }).unref();
    M.register(pathToFileURL(require.resolve('./hooks.js')), pathToFileURL(__filename), { data: { options, cwd: process.cwd() } });
    mode = 'register';
  }
  esmMode = mode === 'registerHooks' ? 'module.registerHooks' : mode === 'register' ? 'module.register (loader thread)' : 'none';
  g[INSTALLED] = mode;
  return mode;
}

/** `summary: false` in the options (or $SPANFORGE_OPTIONS) turns the line off. */
function instrumentOptionsSummary(options: RegisterOptions): boolean {
  try {
    return ({ ...optionsFromEnv(), ...options } as { summary?: unknown }).summary !== false;
  } catch {
    return true;
  }
}

/**
 * The one summary line on stderr: written once module loading has been quiet for 500 ms after the
 * app's first own file was loaded (every file Node loads restarts the wait; a runner's own start-up,
 * tsx's, comes before and does not count), which is the end of start-up for most apps, or at exit if
 * that comes first. Files loaded after it are not counted in it.
 */
function summaryLine(text: () => string, enabled: boolean, started: () => boolean): { touch(): void } {
  let written = !enabled;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const write = () => {
    if (written) return;
    written = true;
    try {
      process.stderr.write(text() + '\n');
    } catch {
      // never into the app
    }
  };
  const touch = () => {
    if (written || !started()) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(write, 500);
    timer.unref?.();
  };
  if (enabled) process.once('exit', write);
  return { touch };
}

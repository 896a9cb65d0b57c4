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
import { instrumentSource, toText, type RegisterOptions } from './instrument.js';
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

/**
 * Installs the CommonJS and ES module hooks (once per process; later calls change nothing).
 * Returns which ES module mechanism was used.
 */
export function register(options: RegisterOptions = {}): 'registerHooks' | 'register' | 'none' {
  const g = globalThis as Record<symbol, unknown>;
  if (g[INSTALLED]) return g[INSTALLED] as 'registerHooks' | 'register' | 'none';
  const M = Module as ModuleWithHooks;
  const instrument = instrumentSource(options);

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
        let out = code;
        try {
          out = instrument(code, file) ?? code;
        } catch {
          out = code; // never break loading: the module runs uninstrumented
        }
        return compile.call(this, out, file);
      };
      inner(mod, filename);
    };
  }

  let mode: 'registerHooks' | 'register' | 'none' = 'none';
  if (typeof M.registerHooks === 'function') {
    M.registerHooks({
      load(url, context, next) {
        const r = next(url, context);
        if (!isModuleFormat(r.format) || !url.startsWith('file:') || r.source == null) return r;
        let out: string | null = null;
        try {
          out = instrument(toText(r.source), new URL(url));
        } catch {
          out = null;
        }
        return out === null ? r : { ...r, source: out };
      },
    });
    mode = 'registerHooks';
  } else if (typeof M.register === 'function') {
    M.register(pathToFileURL(require.resolve('./hooks.js')), pathToFileURL(__filename), { data: { options, cwd: process.cwd() } });
    mode = 'register';
  }
  g[INSTALLED] = mode;
  return mode;
}

// The per-file step of spanforge/register: decides whether a loaded file is the app's own code and,
// if so, instruments its text with the bundler step's matcher, adding an inline source map.
import { fileURLToPath } from 'node:url';
import { instrumentCode, precheck } from '../bundler/index.js';
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

/** Returns `(code, file) => instrumented text | null` (null: leave the file as it is). */
export function instrumentSource(options: RegisterOptions): (code: string, file: string | URL) => string | null {
  const { root: rootOption, ...rest } = { ...optionsFromEnv(), ...options };
  const opts = resolveOptions({ ...rest, summary: false }, 'the spanforge/register options');
  const check = precheck(opts.rules);
  const root = rootOption ?? process.cwd();
  return (code, where) => {
    const file = typeof where === 'string' ? where : fileURLToPath(where);
    if (!SCRIPT_RE.test(file) || /[\\/]node_modules[\\/]/.test(file)) return null;
    const rel = projectPath(root, file);
    if (rel === file || !isIncluded(opts, rel)) return null; // outside the project root
    const r = instrumentCode(code, file, rel, opts, check);
    if (!r || r.sites.length === 0) return null;
    return `${r.code}\n//# sourceMappingURL=data:application/json;charset=utf-8;base64,${Buffer.from(r.map.toString()).toString('base64')}\n`;
  };
}

/** A load hook's `source` as text. */
export function toText(source: string | ArrayBuffer | ArrayBufferView): string {
  if (typeof source === 'string') return source;
  if (ArrayBuffer.isView(source)) return Buffer.from(source.buffer, source.byteOffset, source.byteLength).toString('utf8');
  return Buffer.from(source).toString('utf8');
}

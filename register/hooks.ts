// The ES module `load` hook of spanforge/register for `module.register` (Node 20.6 to 22.14, where
// `module.registerHooks` does not exist): it runs on the loader thread, with the options passed as `data`.
import { instrumentSource, toText, type RegisterOptions } from './instrument.js';

type Instrument = (code: string, file: string | URL) => string | null;
let instrument: Instrument | undefined;

interface LoadResult { format?: string | null; source?: string | ArrayBuffer | ArrayBufferView | null; shortCircuit?: boolean }
type NextLoad = (url: string, context?: object) => Promise<LoadResult>;

export function initialize(data: { options?: RegisterOptions; cwd?: string } | undefined): void {
  instrument = instrumentSource({ root: data?.cwd, ...data?.options });
}

export async function load(url: string, context: object, next: NextLoad): Promise<LoadResult> {
  const r = await next(url, context);
  if (!instrument || !isModuleFormat(r.format) || !url.startsWith('file:') || r.source == null) return r;
  let out: string | null = null;
  try {
    out = instrument(toText(r.source), new URL(url));
  } catch {
    out = null; // never break loading: the module runs uninstrumented
  }
  return out === null ? r : { ...r, source: out };
}

export function isModuleFormat(format: string | null | undefined): boolean {
  return format === 'module' || format === 'module-typescript';
}

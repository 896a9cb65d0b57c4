// The ES module `load` hook of spanforge/register for `module.register` (Node 20.6 to 22.14, where
// `module.registerHooks` does not exist): it runs on the loader thread, with the options passed as `data`.
import { COUNTS_CHANNEL, instrumentSource, toText, type Instrument, type RegisterOptions } from './instrument.js';

let instrument: Instrument | undefined;
let post: (() => void) | undefined;

interface LoadResult { format?: string | null; source?: string | ArrayBuffer | ArrayBufferView | null; shortCircuit?: boolean }
type NextLoad = (url: string, context?: object) => Promise<LoadResult>;

export function initialize(data: { options?: RegisterOptions; cwd?: string } | undefined): void {
  instrument = instrumentSource({ root: data?.cwd, ...data?.options });
  const port = new BroadcastChannel(COUNTS_CHANNEL);
  {
    // What this thread instrumented, for the main thread's summary line (a delta per file).
    let sent = { seen: 0, files: 0, sites: 0, depSites: 0, packages: 0 };
    const c = instrument.counts;
    // Every load is posted (mostly zeros): the main thread's summary waits for loading to go quiet.
    post = () => {
      try {
        port.postMessage({ seen: c.seen - sent.seen, files: c.files - sent.files, sites: c.sites - sent.sites, depSites: c.depSites - sent.depSites, packages: c.packages.slice(sent.packages) });
        sent = { seen: c.seen, files: c.files, sites: c.sites, depSites: c.depSites, packages: c.packages.length };
      } catch {
        // the summary is best effort
      }
    };
    (port as unknown as { unref(): void }).unref();
  }
}

export async function load(url: string, context: object, next: NextLoad): Promise<LoadResult> {
  const r = await next(url, context);
  if (!instrument || !isModuleFormat(r.format) || !url.startsWith('file:') || r.source == null) {
    post?.();
    return r;
  }
  let out: string | null = null;
  try {
    out = instrument(toText(r.source), new URL(url));
  } catch {
    out = null; // never break loading: the module runs uninstrumented
  }
  post?.();
  return out === null ? r : { ...r, source: out };
}

/**
 * The formats the load hooks instrument when the chain returned a source: ES modules, and CommonJS
 * whose text a loader (tsx in a CommonJS package) produced in the hook chain — Node then evaluates that
 * text itself, without Module.prototype._compile. CommonJS without a source (Node 20's default) is left
 * to the CommonJS hooks; text instrumented here is not instrumented again there.
 */
export function isModuleFormat(format: string | null | undefined): boolean {
  return format === 'module' || format === 'module-typescript' || format === 'commonjs' || format === 'commonjs-typescript';
}

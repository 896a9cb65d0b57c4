// Stack traces: parses V8 `err.stack` text into frames, maps them through source maps, adds context lines; never throws.
import { readFile } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSourceMap } from './sourcemap.js';

export interface ParsedFrame {
  function: string | undefined;
  /** Path or URL as V8 printed it (file:// URLs converted to paths). */
  file: string | undefined;
  line: number | undefined;
  column: number | undefined;
  native: boolean;
}

// "    at fn (file:1:2)", "    at file:1:2", "    at async fn (file:1:2)", "    at new C (file:1:2)",
// "    at fn (node:internal/x:1:2)", "    at fn (native)", "    at eval (eval at f (file:1:2), <anonymous>:1:1)".
const FRAME_RE = /^\s*at (?:(.+?) \((.*)\)|(.*))$/;
const LOC_RE = /^(.*?):(\d+):(\d+)$/;

/** Parses the frame lines of a V8 stack (the message lines before them are skipped). */
export function parseStack(stack: unknown, limit = 50): ParsedFrame[] {
  if (typeof stack !== 'string') return [];
  const out: ParsedFrame[] = [];
  for (const line of stack.split('\n')) {
    if (out.length >= limit) break;
    const m = FRAME_RE.exec(line);
    if (!m || !/^\s+at /.test(line)) continue;
    let fn = m[1];
    let loc = m[2] ?? m[3] ?? '';
    if (fn && fn.startsWith('async ')) fn = fn.slice(6);
    // "at async file:1:2" (an anonymous async function awaited): `async ` is V8's marker, not part of the path.
    if (fn === undefined && loc.startsWith('async ')) loc = loc.slice(6);
    // "at async Promise.all (index 0)": a built-in, no file.
    if (/^index \d+$/.test(loc)) loc = 'native';
    // eval frames: use the outermost real location "eval at f (file:1:2)".
    const evalAt = /^eval at .*? \((.*?:\d+:\d+)\)/.exec(loc);
    if (evalAt) loc = evalAt[1]!;
    if (loc === 'native' || loc === '<anonymous>') {
      out.push({ function: fn, file: undefined, line: undefined, column: undefined, native: true });
      continue;
    }
    const lm = LOC_RE.exec(loc);
    let file = lm ? lm[1]! : loc;
    if (file.startsWith('file://')) {
      try {
        file = fileURLToPath(file);
      } catch {
        // keep the URL
      }
    }
    out.push({
      function: fn,
      file: file || undefined,
      line: lm ? Number(lm[2]) : undefined,
      column: lm ? Number(lm[3]) : undefined,
      native: false,
    });
  }
  return out;
}

/** The intake-v2 stack frame. */
export interface IntakeFrame {
  filename: string;
  abs_path?: string;
  function?: string;
  lineno?: number;
  colno?: number;
  library_frame: boolean;
  context_line?: string;
  pre_context?: string[];
  post_context?: string[];
}

/**
 * spanforge's own run-time directory (where this module is loaded from: dist/cjs/runtime/,
 * dist/esm/runtime/ or the sources), and the package's runtime/ sources its source maps point at.
 * Frames there (runWith, runHandler, withSpan, …) are library frames, never mapped and never the culprit.
 */
const OWN_DIRS: string[] = ownDirs();

function ownDirs(): string[] {
  try {
    const line = new Error().stack?.split('\n').find((l) => /^\s+at /.test(l));
    const file = line ? parseStack(line, 1)[0]?.file : undefined;
    // Only when loaded as its own file: bundled into an app, this code shares the app's file (and its
    // frames map to node_modules/spanforge/…, library frames anyway).
    if (!file || !/[\\/]runtime[\\/]stacktrace\.[cm]?[jt]s$/.test(file)) return [];
    const dir = file.slice(0, Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
    const out = [dir];
    // <pkg>/dist/cjs/runtime/ → <pkg>/runtime/ (what the source maps name)
    const m = /^(.*[\\/])dist[\\/](?:cjs|esm)[\\/]runtime[\\/]$/.exec(dir);
    if (m) out.push(`${m[1]}runtime${dir[dir.length - 1]}`);
    return out;
  } catch {
    return [];
  }
}

/** true for a frame in spanforge's own run-time files. */
export function isOwnFile(file: string | undefined): boolean {
  if (!file) return false;
  for (const d of OWN_DIRS) if (file.startsWith(d)) return true;
  return false;
}

export function isLibraryPath(file: string | undefined): boolean {
  if (!file) return true;
  return file.startsWith('node:') || file.includes(`${sep}node_modules${sep}`) || file.includes('/node_modules/') || !/[\\/]/.test(file);
}

const fileCache = new Map<string, Promise<string[] | undefined>>();
function readLines(file: string, content?: string): Promise<string[] | undefined> {
  if (content !== undefined) return Promise.resolve(content.split(/\r?\n/));
  let p = fileCache.get(file);
  if (!p) {
    if (fileCache.size >= 500) fileCache.delete(fileCache.keys().next().value as string);
    p = readFile(file, 'utf8').then(
      (t) => t.split(/\r?\n/),
      () => undefined,
    );
    fileCache.set(file, p);
  }
  return p;
}

export interface FrameOptions {
  /** Total context lines around app frames (Elastic's sourceLinesErrorAppFrames, default 5 = 2 + 1 + 2). */
  appLines: number;
  libraryLines: number;
  cwd: string;
}

/**
 * Turns parsed frames into intake frames: each file frame is mapped through its source map when there is one
 * (to the original .ts file, line and column), gets library_frame, and context lines when the source is readable.
 */
export async function toIntakeFrames(frames: ParsedFrame[], opts: FrameOptions): Promise<IntakeFrame[]> {
  return Promise.all(frames.map((f) => toIntakeFrame(f, opts)));
}

async function toIntakeFrame(f: ParsedFrame, opts: FrameOptions): Promise<IntakeFrame> {
  if (f.native || !f.file) {
    return { filename: f.file ?? '<anonymous>', function: f.function, library_frame: true };
  }
  let file = f.file;
  let line = f.line;
  let column = f.column;
  let content: string | undefined;
  const isPath = !file.startsWith('node:') && /[\\/]/.test(file);
  const own = isOwnFile(file);
  if (isPath && !own && line !== undefined && column !== undefined) {
    try {
      const map = await loadSourceMap(file);
      const pos = map?.lookup(line, column);
      if (pos) {
        file = pos.source;
        line = pos.line;
        column = pos.column;
        content = pos.content;
      }
    } catch {
      // unmapped
    }
  }
  const library = own || isOwnFile(file) || isLibraryPath(file);
  const out: IntakeFrame = {
    filename: isPath && (file.startsWith('/') || /^[a-z]:[\\/]/i.test(file)) ? relative(opts.cwd, file) || file : file,
    library_frame: library,
  };
  if (isPath) out.abs_path = file;
  if (own || isOwnFile(file)) ownFrames.add(out);
  if (f.function) out.function = f.function;
  if (line !== undefined) out.lineno = line;
  if (column !== undefined) out.colno = column;
  const n = library ? opts.libraryLines : opts.appLines;
  if (n > 0 && isPath && line !== undefined) {
    const lines = await readLines(file, content);
    if (lines && line - 1 < lines.length) {
      const before = Math.floor((n - 1) / 2);
      const after = n - 1 - before;
      const i = line - 1;
      out.pre_context = lines.slice(Math.max(0, i - before), i).map(clip);
      out.context_line = clip(lines[i]!);
      out.post_context = lines.slice(i + 1, i + 1 + after).map(clip);
    }
  }
  return out;
}

function clip(s: string): string {
  return s.length > 1000 ? s.slice(0, 999) + '\u2026' : s;
}

/** The intake frames made from spanforge's own files (kept out of the culprit). */
const ownFrames = new WeakSet<IntakeFrame>();

/** Elastic's culprit: "function (file)" of the first app frame, else of the first frame that is not spanforge's own. */
export function culpritOf(frames: IntakeFrame[]): string | undefined {
  const f = frames.find((x) => !x.library_frame) ?? frames.find((x) => !ownFrames.has(x));
  if (!f) return undefined;
  return f.function ? `${f.function} (${f.filename})` : f.filename;
}

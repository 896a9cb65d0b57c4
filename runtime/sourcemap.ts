// Source maps: reads a file's `//# sourceMappingURL` (inline data: URL or file), decodes the VLQ mappings, and maps generated positions back; cached per file.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface OriginalPosition {
  /** Absolute path (or the source as written, for non-file URLs). */
  source: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** The source text when the map embeds it (sourcesContent). */
  content: string | undefined;
}

export interface SourceMap {
  /** Maps a 1-based line and 1-based column of the generated file; undefined when unmapped. */
  lookup(line: number, column: number): OriginalPosition | undefined;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_VALUE[B64.charCodeAt(i)] = i;

/**
 * Decodes a v3 `mappings` string into, per generated line, a flat Int32Array of
 * [genColumn, sourceIndex, origLine, origColumn] quadruples (0-based), sorted by genColumn.
 * Segments with only a generated column (no source) are skipped.
 */
export function decodeMappings(mappings: string): Int32Array[] {
  const lines: Int32Array[] = [];
  let seg: number[] = [];
  let genCol = 0;
  let src = 0;
  let origLine = 0;
  let origCol = 0;
  let fields: number[] = [];
  let value = 0;
  let shift = 0;
  const flushSegment = () => {
    if (fields.length === 0) return;
    genCol += fields[0]!;
    if (fields.length >= 4) {
      src += fields[1]!;
      origLine += fields[2]!;
      origCol += fields[3]!;
      seg.push(genCol, src, origLine, origCol);
    }
    fields = [];
  };
  const flushLine = () => {
    // Segments are normally sorted already; sort defensively by generated column.
    const n = seg.length / 4;
    let sorted = true;
    for (let i = 1; i < n; i++) if (seg[i * 4]! < seg[(i - 1) * 4]!) sorted = false;
    if (!sorted) {
      const quads: number[][] = [];
      for (let i = 0; i < n; i++) quads.push(seg.slice(i * 4, i * 4 + 4));
      quads.sort((a, b) => a[0]! - b[0]!);
      seg = quads.flat();
    }
    lines.push(Int32Array.from(seg));
    seg = [];
    genCol = 0;
  };
  for (let i = 0; i < mappings.length; i++) {
    const ch = mappings.charCodeAt(i);
    if (ch === 59 /* ; */) {
      flushSegment();
      flushLine();
      continue;
    }
    if (ch === 44 /* , */) {
      flushSegment();
      continue;
    }
    const digit = ch < 128 ? B64_VALUE[ch]! : -1;
    if (digit < 0) throw new Error(`invalid base64 VLQ character ${JSON.stringify(mappings[i])} at ${i}`);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
      continue;
    }
    fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
    value = 0;
    shift = 0;
  }
  flushSegment();
  flushLine();
  return lines;
}

/** A v3 index map: `sections` sorted by `offset` ({ line, column }, 0-based), each with an embedded `map`. */
function createIndexMap(sections: unknown[], mapDir: string): SourceMap {
  const parts: { line: number; column: number; map: SourceMap }[] = [];
  for (const sec of sections) {
    const s = sec as { offset?: { line?: unknown; column?: unknown }; map?: RawMap };
    if (!s || typeof s.offset?.line !== 'number' || typeof s.offset.column !== 'number' || !s.map) continue;
    parts.push({ line: s.offset.line, column: s.offset.column, map: createSourceMap(s.map, mapDir) });
  }
  return {
    lookup(line, column) {
      const l0 = line - 1;
      const c0 = column - 1;
      let found: (typeof parts)[number] | undefined;
      for (const p of parts) {
        if (p.line < l0 || (p.line === l0 && p.column <= c0)) found = p;
        else break;
      }
      if (!found) return undefined;
      const inLine = l0 - found.line;
      return found.map.lookup(inLine + 1, (inLine === 0 ? c0 - found.column : c0) + 1);
    },
  };
}

interface RawMap {
  version?: number;
  sources?: (string | null)[];
  sourceRoot?: string;
  sourcesContent?: (string | null)[];
  mappings?: string;
  sections?: unknown;
}

/** Builds a SourceMap from parsed JSON; mapDir resolves relative sources. Throws on malformed maps. */
export function createSourceMap(raw: RawMap, mapDir: string): SourceMap {
  // An index map (Turbopack's chunks): sections at generated offsets, each a map of its own.
  if (raw.version === 3 && Array.isArray(raw.sections)) return createIndexMap(raw.sections as unknown[], mapDir);
  if (raw.version !== 3 || typeof raw.mappings !== 'string' || !Array.isArray(raw.sources)) {
    throw new Error('not a version 3 source map with mappings and sources');
  }
  const lines = decodeMappings(raw.mappings);
  const root = raw.sourceRoot ?? '';
  const sources = raw.sources.map((s) => resolveSource(String(s ?? ''), root, mapDir));
  const contents = raw.sourcesContent ?? [];
  return {
    lookup(line, column) {
      const seg = lines[line - 1];
      if (!seg || seg.length === 0) return undefined;
      const col = column - 1;
      // Binary search: the last segment whose generated column is <= col.
      let lo = 0;
      let hi = seg.length / 4 - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (seg[mid * 4]! <= col) {
          found = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      if (found < 0) found = 0;
      const si = seg[found * 4 + 1]!;
      const source = sources[si];
      if (source === undefined) return undefined;
      const content = contents[si];
      return { source, line: seg[found * 4 + 2]! + 1, column: seg[found * 4 + 3]! + 1, content: typeof content === 'string' ? content : undefined };
    },
  };
}

function resolveSource(source: string, root: string, mapDir: string): string {
  let s = root ? (root.endsWith('/') ? root + source : `${root}/${source}`) : source;
  if (s.startsWith('file://')) {
    try {
      return fileURLToPath(s);
    } catch {
      return s;
    }
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(s) && !/^[a-z]:[\\/]/i.test(s)) return s; // webpack://, http:// ...: keep as written
  if (s.startsWith('/') || isAbsolute(s)) return s;
  s = resolve(mapDir, s);
  return s;
}

/** Finds the last sourceMappingURL comment (line or block form) in a generated file's text. */
export function findSourceMappingUrl(code: string): string | undefined {
  let idx = code.length;
  for (;;) {
    idx = code.lastIndexOf('sourceMappingURL=', idx - 1);
    if (idx < 4) return undefined;
    const prefix = code.slice(Math.max(0, idx - 8), idx);
    if (/(?:\/\/|\/\*)[#@]\s*$/.test(prefix)) {
      const m = /^sourceMappingURL=([^\s'"*]+)/.exec(code.slice(idx, idx + 17 + 8 * 1024 * 1024));
      return m ? m[1] : undefined;
    }
  }
}

const cache = new Map<string, Promise<SourceMap | undefined>>();
const CACHE_MAX = 500;

/** Loads (once, cached) the source map of a generated file; resolves undefined when there is none or it is unreadable. */
export function loadSourceMap(file: string): Promise<SourceMap | undefined> {
  let p = cache.get(file);
  if (!p) {
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
    p = load(file).catch(() => undefined);
    cache.set(file, p);
  }
  return p;
}

async function load(file: string): Promise<SourceMap | undefined> {
  const code = await readFile(file, 'utf8');
  const url = findSourceMappingUrl(code);
  if (!url) return undefined;
  let json: string;
  let mapDir = dirname(file);
  if (url.startsWith('data:')) {
    const comma = url.indexOf(',');
    if (comma < 0) return undefined;
    const meta = url.slice(5, comma);
    const data = url.slice(comma + 1);
    json = meta.endsWith(';base64') ? Buffer.from(data, 'base64').toString('utf8') : decodeURIComponent(data);
  } else {
    const mapPath = url.startsWith('file://') ? fileURLToPath(url) : resolve(dirname(file), decodeURIComponent(url));
    json = await readFile(mapPath, 'utf8');
    mapDir = dirname(mapPath);
  }
  return createSourceMap(JSON.parse(json) as RawMap, mapDir);
}

/** For tests: forget cached maps. */
export function clearSourceMapCache(): void {
  cache.clear();
}

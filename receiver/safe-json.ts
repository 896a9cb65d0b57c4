// JSON that no stored event can break: a serialiser that falls back to an explicit stack when V8's
// recursive JSON.stringify overflows (it does from about 5,000 levels on Node 20), and the nesting
// limit APM Server's decoder enforces at intake (jsoniter: 10,000 levels).

/** APM Server's decoder (jsoniter's maxDepth) refuses a document nested deeper than this. */
export const MAX_NESTING_DEPTH = 10_000;

/**
 * Finds the first `{`/`[` of a JSON text that opens level `limit + 1` (strings are skipped);
 * -1 when the text stays within the limit. A text shorter than the limit cannot exceed it, so
 * ordinary lines cost one length check.
 */
export function depthExceededAt(text: string, limit = MAX_NESTING_DEPTH): number {
  if (text.length <= limit) return -1;
  let depth = 0;
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inStr) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inStr = false;
    } else if (c === 34) inStr = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > limit) return i;
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return -1;
}

/**
 * jsoniter's error for a too deeply nested document, with its byte position and context windows:
 * `incrementDepth: exceeded max depth, error found in #10 byte of ...|…|..., bigger context ...|…|...`.
 */
export function depthErrorText(text: string, at: number): string {
  const head = at + 1; // jsoniter has consumed the bracket
  const peekStart = Math.max(0, head - 10);
  const parsing = text.slice(peekStart, Math.min(text.length, head + 10));
  const context = text.slice(Math.max(0, head - 50), Math.min(text.length, head + 50));
  return `incrementDepth: exceeded max depth, error found in #${head - peekStart} byte of ...|${parsing}|..., bigger context ...|${context}|...`;
}

type Frame = { arr: unknown[]; i: number } | { obj: Record<string, unknown>; keys: string[]; i: number; n: number };

const omitted = (v: unknown): boolean => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/** JSON.stringify's output for JSON-shaped data (no toJSON, no cycles), without recursion. */
function stringifyIteratively(root: unknown): string {
  const parts: string[] = [];
  const stack: Frame[] = [];
  const emit = (v: unknown): void => {
    if (v === null || typeof v !== 'object') parts.push(omitted(v) ? 'null' : JSON.stringify(v));
    else if (Array.isArray(v)) {
      parts.push('[');
      stack.push({ arr: v, i: 0 });
    } else {
      parts.push('{');
      stack.push({ obj: v as Record<string, unknown>, keys: Object.keys(v), i: 0, n: 0 });
    }
  };
  emit(root);
  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    if ('arr' in f) {
      if (f.i >= f.arr.length) {
        parts.push(']');
        stack.pop();
        continue;
      }
      if (f.i > 0) parts.push(',');
      emit(f.arr[f.i++]);
      continue;
    }
    let key: string | undefined;
    while (f.i < f.keys.length) {
      const k = f.keys[f.i++]!;
      if (!omitted(f.obj[k])) {
        key = k;
        break;
      }
    }
    if (key === undefined) {
      parts.push('}');
      stack.pop();
      continue;
    }
    if (f.n++ > 0) parts.push(',');
    parts.push(JSON.stringify(key), ':');
    emit(f.obj[key]);
  }
  return parts.join('');
}

/**
 * JSON.stringify that works at any nesting depth: the native one first (fast), and on its stack
 * overflow the iterative one, which gives the same text.
 */
export function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return stringifyIteratively(value);
  }
}

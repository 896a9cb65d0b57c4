// Field sanitizing and truncation: sanitize_field_names wildcards → "[REDACTED]", keyword (1024) and long-field limits.

export const REDACTED = '[REDACTED]';

/**
 * Compiles Elastic wildcard patterns: `*` matches any run of characters, the match is case-insensitive unless
 * the pattern starts with "(?-i)", and it covers the whole name ("*key" matches "x-api-key" but not "keys").
 */
export function compileWildcards(patterns: readonly string[]): RegExp[] {
  return patterns.map((p) => {
    let flags = 'i';
    if (p.startsWith('(?-i)')) {
      flags = '';
      p = p.slice(5);
    }
    const body = p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*');
    return new RegExp(`^${body}$`, flags);
  });
}

export function matchesAny(name: string, res: readonly RegExp[]): boolean {
  for (let i = 0; i < res.length; i++) if (res[i]!.test(name)) return true;
  return false;
}

type Headers = Record<string, string | string[] | undefined>;

/** Copies headers keeping string/array values, redacting names that match; cookies are redacted per cookie. */
export function sanitizeHeaders(headers: Headers | undefined, res: readonly RegExp[]): Record<string, string | string[]> | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  const out: Record<string, string | string[]> = {};
  for (const key of Object.keys(headers)) {
    const v = headers[key];
    if (v === undefined) continue;
    const value = Array.isArray(v) ? v.map(String) : String(v);
    if (matchesAny(key, res)) out[key] = REDACTED;
    else if (key.toLowerCase() === 'cookie' && typeof value === 'string') out[key] = sanitizeCookieHeader(value, res);
    else out[key] = value;
  }
  return out;
}

/** Parses a Cookie header into name → value with matching names redacted. */
export function parseCookies(header: string | string[] | undefined, res: readonly RegExp[]): Record<string, string> | undefined {
  if (typeof header !== 'string' || !header) return undefined;
  const out: Record<string, string> = {};
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // keep the raw value
    }
    out[name] = matchesAny(name, res) ? REDACTED : value;
  }
  return out;
}

function sanitizeCookieHeader(header: string, res: readonly RegExp[]): string {
  return header
    .split(';')
    .map((part) => {
      const eq = part.indexOf('=');
      if (eq <= 0) return part.trim();
      const name = part.slice(0, eq).trim();
      return matchesAny(name, res) ? `${name}=${REDACTED}` : part.trim();
    })
    .join('; ');
}

/**
 * Sanitizes a request body: objects (parsed JSON or form) are copied with matching keys redacted at any depth;
 * a form-urlencoded string is redacted per field; other strings are kept. Long results are truncated.
 */
export function sanitizeBody(body: unknown, contentType: string | undefined, res: readonly RegExp[], maxLen: number): string | Record<string, unknown> | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') {
    if (contentType && contentType.includes('application/x-www-form-urlencoded')) {
      const params = new URLSearchParams(body);
      for (const k of new Set(params.keys())) if (matchesAny(k, res)) params.set(k, REDACTED);
      return truncate(params.toString().replace(/%5BREDACTED%5D/g, REDACTED), maxLen);
    }
    return truncate(body, maxLen);
  }
  if (Buffer.isBuffer(body)) return truncate(body.toString('utf8'), maxLen);
  if (typeof body === 'object') return redactObject(body as Record<string, unknown>, res, 0) as Record<string, unknown>;
  return truncate(String(body), maxLen);
}

function redactObject(v: unknown, res: readonly RegExp[], depth: number): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (depth > 10) return '[Object]';
  if (Array.isArray(v)) return v.map((x) => redactObject(x, res, depth + 1));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    out[k] = matchesAny(k, res) ? REDACTED : redactObject((v as Record<string, unknown>)[k], res, depth + 1);
  }
  return out;
}

/** Keyword limit of the intake schemas. */
export const KEYWORD_MAX = 1024;

/** Truncates to max characters, the last one replaced by "…" (the field-limits spec). */
export function truncate(s: string, max: number = KEYWORD_MAX): string {
  return s.length > max ? s.slice(0, max - 1) + '\u2026' : s;
}

/** Label keys may not contain ".", "*" or '"' (the server rejects them); values are keywords. */
export function sanitizeLabelKey(key: string): string {
  return truncate(key.replace(/[.*"]/g, '_'));
}

export function labelValue(v: unknown): string | number | boolean | null {
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return typeof v === 'number' && !Number.isFinite(v) ? String(v) : v;
  return truncate(String(v));
}

/**
 * Redacts the values of query parameters whose names match sanitize_field_names, keeping everything
 * else byte for byte: `?password=x&page=2` → `?password=[REDACTED]&page=2`. Accepts a query with or
 * without its leading `?`; the name is compared decoded (`pass%77ord` is `password`).
 */
export function sanitizeQuery(query: string, res: readonly RegExp[]): string {
  if (!query || res.length === 0) return query;
  const lead = query.startsWith('?') ? '?' : '';
  const body = lead ? query.slice(1) : query;
  let changed = false;
  const parts = body.split('&').map((part) => {
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    if (!rawName) return part;
    let name = rawName;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      // keep the raw name
    }
    if (!matchesAny(name, res)) return part;
    changed = true;
    return `${rawName}=${REDACTED}`;
  });
  return changed ? lead + parts.join('&') : query;
}

/** A request target or URL (`/p?q`, `http://h/p?q#f`) with its query sanitized (sanitizeQuery); the fragment is kept. */
export function sanitizeUrlQuery(url: string, res: readonly RegExp[]): string {
  const q = url.indexOf('?');
  if (q < 0 || res.length === 0) return url;
  const hash = url.indexOf('#', q);
  const query = hash < 0 ? url.slice(q) : url.slice(q, hash);
  return url.slice(0, q) + sanitizeQuery(query, res) + (hash < 0 ? '' : url.slice(hash));
}

/**
 * An outgoing request's URL for a span: userinfo removed (`http://u:p@h/` → `http://h/`, as Elastic's
 * agents strip credentials) and the query sanitized. Unparseable input is returned with its query sanitized.
 */
export function sanitizeOutgoingUrl(url: string, res: readonly RegExp[]): string {
  let out = url;
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
      out = u.href;
    }
  } catch {
    // not absolute: nothing to strip
  }
  return sanitizeUrlQuery(out, res);
}

// Small pure functions every front-end uses to name things: the package a declaration file belongs
// to, route-template transaction names, span names for user rules and traced functions.

/**
 * The package a declaration file belongs to, from its path: `…/node_modules/@types/pg/index.d.ts`
 * → `pg`, `…/node_modules/@types/scope__x/…` → `@scope/x`, `…/node_modules/@scope/x/…` → `@scope/x`;
 * undefined for files outside node_modules (the project's own code).
 */
export function packageOfFile(fileName: string): string | undefined {
  const p = fileName.replace(/\\/g, '/');
  const i = p.lastIndexOf('/node_modules/');
  if (i < 0) return undefined;
  const parts = p.slice(i + '/node_modules/'.length).split('/');
  let name = parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  if (name.startsWith('@types/')) {
    name = name.slice('@types/'.length);
    if (name.includes('__')) name = '@' + name.replace('__', '/');
  }
  return name;
}

/** `node:http` → `http`; other names unchanged. */
export function normalizeModuleName(spec: string): string {
  return spec.startsWith('node:') ? spec.slice(5) : spec;
}

/**
 * The transaction name of a route: `GET /users/:id`. `method` is the registration member
 * (`get`, `all`, ...) or a literal HTTP method; `*` (from `all`) is replaced at run time by the
 * request's method, so build time leaves it out.
 */
export function routeTemplateName(method: string, template: string): string {
  return method === '*' ? template : `${method.toUpperCase()} ${template}`;
}

/** Span name of a method/function site: `OrderService.place`, `place`. */
export function memberSpanName(owner: string | undefined, name: string): string {
  return owner ? `${owner}.${name}` : name;
}

/**
 * `SELECT users` from a SQL text: the verb and the first table it touches, as Elastic's agents name
 * db spans. Unknown shapes give the verb alone, or `SQL` when even that is missing.
 */
export function sqlSummary(sql: string): string {
  const s = sql.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, ' ').trim();
  const verbMatch = /^([A-Za-z]+)/.exec(s);
  if (!verbMatch) return 'SQL';
  const verb = verbMatch[1]!.toUpperCase();
  const ident = '((?:"[^"]+"|`[^`]+`|[\\w$]+)(?:\\.(?:"[^"]+"|`[^`]+`|[\\w$]+))*)';
  let re: RegExp | undefined;
  switch (verb) {
    case 'SELECT':
    case 'DELETE':
      re = new RegExp(`\\bFROM\\s+(?:ONLY\\s+)?${ident}`, 'i');
      break;
    case 'INSERT':
      re = new RegExp(`^INSERT\\s+INTO\\s+${ident}`, 'i');
      break;
    case 'UPDATE':
      re = new RegExp(`^UPDATE\\s+(?:ONLY\\s+)?${ident}`, 'i');
      break;
    case 'CREATE':
    case 'DROP':
    case 'ALTER':
    case 'TRUNCATE':
      re = new RegExp(`^${verb}\\s+(?:TEMP(?:ORARY)?\\s+|UNLOGGED\\s+)?(?:TABLE\\s+|INDEX\\s+|VIEW\\s+)?(?:IF\\s+(?:NOT\\s+)?EXISTS\\s+)?${ident}`, 'i');
      break;
    default:
      return verb;
  }
  const m = re.exec(s);
  if (!m) return verb;
  return `${verb} ${m[1]!.replace(/["`]/g, '')}`;
}

// The front-end options (tsconfig plugin entry, Babel plugin options): validation with errors that
// name the option, include/exclude globs, rules off by id, and user-declared rules.
import { RULES, type CallRule, type Rule } from './catalogue.js';
import { DEPENDENCY_RULES, type DependencyRule } from './deps.js';

/** A user-declared rule: "calls to OrderService.place are spans of type app". */
export interface UserRuleOption {
  /** `Class.method` or a function name: what to match (by declaration, not by text). */
  match: string;
  /** Restrict to declarations from this package (default: any, including the project's own code). */
  module?: string;
  type?: string;
  subtype?: string;
  action?: string;
  /** Span name (default: `Class.method`). */
  name?: string;
  /** Rule id for reports and `disable` (default: `user:<match>`). */
  id?: string;
}

export interface SpanforgeOptions {
  /** Globs (relative to the project root) of files to instrument; default: every file. */
  include?: string[];
  /** Globs of files to leave alone; node_modules is always excluded. */
  exclude?: string[];
  /** Rule ids to turn off. */
  disable?: string[];
  rules?: UserRuleOption[];
  /** Path of the JSON build report (list of instrumented sites); none when absent. */
  report?: string;
  /** false: no one-line summary on stderr. */
  summary?: boolean;
  /** Module the emitted code imports the ABI from. */
  runtimeModule?: string;
  /**
   * false: leave node_modules alone (the bundler step and spanforge/register otherwise instrument the
   * driver functions of the integrations' dependency rules, for calls made by ORMs and query builders).
   */
  dependencies?: boolean;
}

export interface ResolvedOptions {
  include: RegExp[];
  exclude: RegExp[];
  rules: Rule[];
  report: string | undefined;
  summary: boolean;
  runtimeModule: string;
  /** The dependency rules in force (none when `dependencies: false`), after `disable`. */
  deps: DependencyRule[];
}

/** Thrown for bad options; `code` is stable, the message names the option and what to do. */
export class SpanforgeOptionsError extends Error {
  readonly code = 'SPANFORGE_ERR_OPTIONS';
  constructor(message: string) {
    super(message);
    this.name = 'SpanforgeOptionsError';
  }
}

/** Keys a front-end host adds to the options object itself (ts-patch's plugin entry fields). */
const HOST_KEYS = new Set(['transform', 'type', 'import', 'after', 'afterDeclarations', 'transformProgram', 'resolvePathAliases', 'tsConfig', 'isEsm', 'name']);
const KNOWN: Record<keyof SpanforgeOptions, string> = {
  include: 'string[]',
  exclude: 'string[]',
  disable: 'string[]',
  rules: 'array of { match, type, subtype?, action?, name?, module?, id? }',
  report: 'string',
  summary: 'boolean',
  runtimeModule: 'string',
  dependencies: 'boolean',
};
const USER_RULE_KEYS = new Set(['match', 'module', 'type', 'subtype', 'action', 'name', 'id']);

function stringArray(where: string, v: unknown): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw new SpanforgeOptionsError(`spanforge: option "${where}" must be an array of strings, got ${JSON.stringify(v)}`);
  }
  return v as string[];
}

/**
 * Validates raw options and resolves them against the catalogue.
 * @example resolveOptions({ disable: ['fetch'], rules: [{ match: 'OrderService.place', type: 'app' }] })
 */
export function resolveOptions(raw: unknown, source = 'spanforge options'): ResolvedOptions {
  const o = (raw ?? {}) as Record<string, unknown>;
  if (typeof o !== 'object' || Array.isArray(o)) throw new SpanforgeOptionsError(`spanforge: ${source} must be an object`);
  for (const key of Object.keys(o)) {
    if (HOST_KEYS.has(key)) continue;
    if (!(key in KNOWN)) {
      throw new SpanforgeOptionsError(
        `spanforge: unknown option "${key}" in ${source}; known options: ${Object.keys(KNOWN).join(', ')}`,
      );
    }
  }
  const include = o.include === undefined ? [] : stringArray('include', o.include);
  const exclude = o.exclude === undefined ? [] : stringArray('exclude', o.exclude);
  const disable = o.disable === undefined ? [] : stringArray('disable', o.disable);
  for (const id of disable) {
    if (!RULES.some((r) => r.id === id) && !DEPENDENCY_RULES.some((r) => r.id === id) && !(Array.isArray(o.rules) && o.rules.some((u) => userRuleId(u) === id))) {
      throw new SpanforgeOptionsError(
        `spanforge: option "disable" names unknown rule "${id}"; rule ids: ${[...RULES, ...DEPENDENCY_RULES].map((r) => r.id).join(', ')}`,
      );
    }
  }
  if (o.report !== undefined && typeof o.report !== 'string') throw new SpanforgeOptionsError(`spanforge: option "report" must be a file path string`);
  if (o.summary !== undefined && typeof o.summary !== 'boolean') throw new SpanforgeOptionsError(`spanforge: option "summary" must be true or false`);
  if (o.runtimeModule !== undefined && (typeof o.runtimeModule !== 'string' || !o.runtimeModule)) {
    throw new SpanforgeOptionsError(`spanforge: option "runtimeModule" must be a non-empty module specifier`);
  }
  if (o.dependencies !== undefined && typeof o.dependencies !== 'boolean') throw new SpanforgeOptionsError(`spanforge: option "dependencies" must be true or false`);
  const userRules: Rule[] = [];
  if (o.rules !== undefined) {
    if (!Array.isArray(o.rules)) throw new SpanforgeOptionsError(`spanforge: option "rules" must be an array of { match, type }`);
    o.rules.forEach((u: unknown, i: number) => userRules.push(userRule(u, i)));
  }
  const rules = [...RULES, ...userRules].filter((r) => !disable.includes(r.id));
  return {
    include: include.map(globToRegExp),
    exclude: exclude.map(globToRegExp),
    rules,
    report: o.report as string | undefined,
    summary: o.summary !== false,
    runtimeModule: (o.runtimeModule as string | undefined) ?? 'spanforge/runtime',
    deps: o.dependencies === false ? [] : DEPENDENCY_RULES.filter((r) => !disable.includes(r.id)),
  };
}

function userRuleId(u: unknown): string | undefined {
  if (!u || typeof u !== 'object') return undefined;
  const r = u as UserRuleOption;
  return r.id ?? (typeof r.match === 'string' ? `user:${r.match}` : undefined);
}

function userRule(u: unknown, i: number): CallRule {
  const where = `rules[${i}]`;
  if (!u || typeof u !== 'object' || Array.isArray(u)) throw new SpanforgeOptionsError(`spanforge: option "${where}" must be an object like { "match": "OrderService.place", "type": "app" }`);
  const r = u as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!USER_RULE_KEYS.has(k)) throw new SpanforgeOptionsError(`spanforge: unknown option "${where}.${k}"; known: ${[...USER_RULE_KEYS].join(', ')}`);
  }
  for (const k of ['module', 'type', 'subtype', 'action', 'name', 'id']) {
    if (r[k] !== undefined && (typeof r[k] !== 'string' || !r[k])) throw new SpanforgeOptionsError(`spanforge: option "${where}.${k}" must be a non-empty string`);
  }
  const match = r.match;
  if (typeof match !== 'string' || !/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)?$/.test(match)) {
    throw new SpanforgeOptionsError(`spanforge: option "${where}.match" must be "Class.method" or "functionName", got ${JSON.stringify(match)}`);
  }
  const dot = match.indexOf('.');
  const owner = dot < 0 ? undefined : match.slice(0, dot);
  const name = dot < 0 ? match : match.slice(dot + 1);
  return {
    id: (r.id as string | undefined) ?? `user:${match}`,
    kind: 'call',
    target: { module: r.module ? [r.module as string] : [], names: [name], ...(owner ? { owner: [owner] } : {}) },
    handler: 'app',
    span: {
      type: (r.type as string | undefined) ?? 'app',
      ...(r.subtype ? { subtype: r.subtype as string } : {}),
      ...(r.action ? { action: r.action as string } : {}),
    },
    description: (r.name as string | undefined) ?? match,
  };
}

/**
 * Turns a glob into an anchored RegExp over '/'-separated relative paths: `**` any depth,
 * `*` within a segment, `?` one character, `{a,b}` alternatives.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) re += '\\{';
      else {
        re += '(?:' + glob.slice(i + 1, end).split(',').map(escapeRe).join('|') + ')';
        i = end;
      }
    } else re += escapeRe(c);
  }
  return new RegExp('^' + re.replace(/^\.\//, '') + '$');
}

function escapeRe(s: string): string {
  return s.replace(/[.+^${}()|[\]\\]/g, '\\$&');
}

/** Whether a file (path relative to the project root, '/' separators) is to be instrumented. */
export function isIncluded(opts: Pick<ResolvedOptions, 'include' | 'exclude'>, relPath: string): boolean {
  if (/(^|\/)node_modules\//.test(relPath)) return false;
  if (opts.include.length && !opts.include.some((r) => r.test(relPath))) return false;
  return !opts.exclude.some((r) => r.test(relPath));
}

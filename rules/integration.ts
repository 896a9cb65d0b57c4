// The shape of one integration's build-time rules (integrations/<name>/rules.ts): which library and
// versions it covers, the call rules (what to match in user code: declarations for tsc, bindings for
// Babel; how to name the span) and what the Babel front-end must be told about how the library's
// objects come to exist. Plain data: no compiler is imported here or in any rules.ts.
import type { CallRule, FileRule, LoopRule, RouteRule, SpanFacts } from './catalogue.js';

export interface Integration {
  /** The folder name under integrations/ and the key in rules/integrations.ts. */
  name: string;
  /** The npm packages (or node builtins) covered, each with the version range supported and tested. */
  packages: Readonly<Record<string, string>>;
  /** Call rules, and route rules for handlers given to a library's constructor (`new Worker(name, processor)`). */
  rules: readonly (CallRule | RouteRule | FileRule | LoopRule)[];
  /** How values of the library's classes are produced, for the Babel front-end (tsc reads the types). */
  babel?: Partial<Producers>;
  /**
   * Rules for the library's own code under node_modules (driver functions that ORMs and query builders
   * call), applied by the bundler step and spanforge/register: matched by package, version and file.
   */
  deps?: readonly DependencyRule[];
}

/**
 * A function of a dependency's own JavaScript, matched by package name, version range and file (there
 * are no types in node_modules), rewritten so that each call goes through `call(site, this, body, ...)`
 * with the same handler (and so the same span) as the user-code rule. The function must have plain
 * identifier parameters and no `super` in its body (the body becomes an inner function); a match that
 * does not is reported and left alone.
 */
export interface DependencyRule {
  /** Stable id (`pg.client-query`): options disable it, reports name it. */
  id: string;
  /** npm package name as in its package.json. */
  package: string;
  /** Versions the rule applies to: comparators `>=3.2 <4`, alternatives joined by `||`. */
  versions: string;
  /** The file, relative to the package root, '/'-separated (`lib/client.js`). */
  file: string;
  /** The function: a method of a class (`class Client { query() {} }`), or `Owner.prototype.name = function` when `prototype`. */
  function: { readonly className: string; readonly methodName: string; readonly prototype?: boolean };
  /** Handler the emitted call names (the user-code rule's). */
  handler: string;
  span: SpanFacts;
  description: string;
}

/** A library class as the catalogue names it: module specifier plus class (or interface) name. */
export interface ClassRef {
  readonly module: string;
  readonly cls: string;
}

/**
 * How values of library classes come to exist, as Babel must be told (tsc reads it from the types):
 * constructors, factory functions, methods returning instances or promises of them, and callbacks
 * that receive them. Keys of `constructs`/`calls` are `module` + export path joined by '.'.
 */
export interface Producers {
  /** Module specifiers that denote the same module (`node:http` → `http`). */
  readonly aliases: Readonly<Record<string, string>>;
  /** Export paths that denote the module's main export (`default`, `fastify` for fastify). */
  readonly selfExports: Readonly<Record<string, readonly string[]>>;
  /** `new <key>(...)` yields an instance of the class. Key: "pg.Pool". */
  readonly constructs: Readonly<Record<string, ClassRef>>;
  /** `<key>(...)` yields an instance (or a promise of one). Key: "express" (the module itself), "express.Router". */
  readonly calls: Readonly<Record<string, ClassRef | { readonly promiseOf: ClassRef }>>;
  /** `instance.<method>(...)` results. Key: "pg.Pool#connect". */
  readonly methods: Readonly<Record<string, MethodResult>>;
  /** Type names that denote a catalogue class in annotations (`app: Application`). Key: "express.Application". */
  readonly types: Readonly<Record<string, ClassRef>>;
  /**
   * Function types whose parameter at `index` is an instance, for a function written where such a type
   * is declared (`const plugin: FastifyPluginAsync = async (fastify) => …`). Key: "fastify.FastifyPluginAsync".
   */
  readonly functionTypes: Readonly<Record<string, ParamRef>>;
  /** `<key>(fn)`: the function argument receives an instance (`fp(async (fastify) => …)`). Key: "fastify-plugin". */
  readonly callbackCalls: Readonly<Record<string, ParamRef>>;
  /**
   * A framework's file convention: in a file under one of `dirs` (a folder of that name anywhere in its
   * path), the module's default export, when it is a function of the plugin shape (async with at most
   * two parameters, or three with a `done` callback) whose first parameter is named `paramName` or the
   * module imports one of `modules`, receives an instance there (Fastify's autoload `routes/`, `plugins/`).
   */
  readonly pluginFiles: readonly PluginFileConvention[];
}

export interface ParamRef {
  readonly index: number;
  readonly value: ClassRef;
}

export interface PluginFileConvention {
  readonly dirs: readonly string[];
  readonly paramName: string;
  readonly modules: readonly string[];
  readonly value: ClassRef;
}

export interface MethodResult {
  /** What the call returns: `self` (chaining), an instance, or a promise of an instance. */
  readonly returns: 'self' | ClassRef | { readonly promiseOf: ClassRef };
  /** Only when the call has no function argument (callback forms return nothing useful). */
  readonly unlessCallback?: boolean;
  /** The callback (last function argument) receives an instance at this parameter index. */
  readonly callbackParam?: { readonly index: number; readonly value: ClassRef };
}

// Finds the instrumentable sites of one module on a Babel AST: matches calls, route registrations,
// @Traced() methods and traced(fn) against the catalogue using the binding analysis, and lists the
// candidate sites it had to skip (with the reason) for the build report.
import type { NodePath } from '@babel/core';
import type * as BT from '@babel/types';
import type { CallRule, DecoratorRule, FileRule, LoopRule, Rule, RouteRule, SiteDescriptor, WrapRule } from '../rules/index.js';
import { fileConventionSites } from './nextjs.js';
import { memberSpanName, ROUTE_METHODS } from '../rules/index.js';
import { BindingAnalysis, memberName, type Producers, type Value } from './bindings.js';

/** Identifiers, `this` and `super` may be written twice: nothing runs between the two reads. */
export function isPlainReceiver(node: BT.Node): boolean {
  return node.type === 'Identifier' || node.type === 'ThisExpression' || node.type === 'Super';
}

export type Site =
  /** `recv.m(args)` → call(site, recv, recv.m, ...args); `f(args)` → call(site, undefined, f, ...args) */
  | { kind: 'call'; path: NodePath<BT.CallExpression | BT.OptionalCallExpression>; rule: CallRule; d: SiteDescriptor }
  /** Handler arguments (or a route object's handler value) wrapped with route(site, handler). */
  | { kind: 'route'; path: NodePath<BT.CallExpression>; handlers: NodePath<BT.Expression>[]; rule: RouteRule | FileRule; d: SiteDescriptor }
  /**
   * A function whose body runs inside trace(site, () => body, args): file-convention handlers (Next.js
   * route handlers, server actions, proxy). `args`: what is passed as the call's arguments (`arguments`,
   * the first parameter's name, or nothing).
   */
  | { kind: 'body'; path: NodePath<BT.FunctionDeclaration | BT.FunctionExpression | BT.ArrowFunctionExpression>; rule: FileRule; d: SiteDescriptor; args: string | null }
  /** A @Traced() method: its body runs inside trace(site, this, () => body). */
  | { kind: 'trace'; path: NodePath<BT.ClassMethod | BT.ClassPrivateMethod>; decorator: NodePath<BT.Decorator>; rule: DecoratorRule; d: SiteDescriptor }
  /** recv.m`…` (a tagged template: Prisma's $queryRaw) → call(site, recv, recv.m, ...((s, ...v) => [s, ...v])`…`). */
  | { kind: 'tagged'; path: NodePath<BT.TaggedTemplateExpression>; rule: CallRule; d: SiteDescriptor }
  /** traced(fn[, opts]) → wrap(site, fn). */
  | { kind: 'wrap'; path: NodePath<BT.CallExpression>; fn: NodePath<BT.Expression>; rule: WrapRule; d: SiteDescriptor }
  /**
   * `for await (const m of sub)` over a library iterable: the body becomes `const it = loop(site, m);
   * try { body } catch (e) { throw it.fail(e); } finally { it.end(); }` (a destructuring head binds a temp).
   */
  | { kind: 'loop'; path: NodePath<BT.ForOfStatement>; rule: LoopRule; d: SiteDescriptor };

export interface SkippedSite {
  rules: string[];
  line: number;
  column: number;
  code: string;
  reason: string;
}

export interface Analysis {
  sites: Site[];
  skipped: SkippedSite[];
}

/** Marks nodes spanforge emitted, so a second pass (or the other front-end's output) is left alone. */
export const EMITTED = new WeakSet<object>();

/**
 * `file`: the project-relative path (for file conventions such as Fastify's `routes/`); `absFile`: the
 * absolute one (to read the modules a relative import names, for generated clients: generated.ts).
 */
export function analyzeProgram(program: NodePath<BT.Program>, rules: readonly Rule[], producers: Producers, source: string, file?: string, absFile?: string): Analysis {
  const b = new BindingAnalysis(producers, file, absFile);
  const sites: Site[] = [];
  const skipped: SkippedSite[] = [];
  const callRules = rules.filter((r): r is CallRule => r.kind === 'call');
  const routeRules = rules.filter((r): r is RouteRule => r.kind === 'route');
  const decoratorRules = rules.filter((r): r is DecoratorRule => r.kind === 'decorator');
  const wrapRules = rules.filter((r): r is WrapRule => r.kind === 'wrap');
  const loopRules = rules.filter((r): r is LoopRule => r.kind === 'loop');
  const memberNames = new Set<string>();
  for (const r of [...callRules, ...routeRules]) for (const n of r.target.names) memberNames.add(n);

  const skip = (path: NodePath, ruleIds: string[], reason: string) => {
    const loc = path.node.loc?.start;
    const start = path.node.start ?? 0;
    const code = source.slice(start, Math.min(path.node.end ?? start, start + 60)).split('\n')[0]!;
    skipped.push({ rules: ruleIds, line: loc?.line ?? 0, column: (loc?.column ?? 0) + 1, code, reason });
  };

  program.traverse({
    CallExpression(p) {
      visitCall(p);
    },
    OptionalCallExpression(p) {
      visitCall(p);
    },
    NewExpression(p) {
      visitNew(p);
    },
    TaggedTemplateExpression(p) {
      visitTagged(p);
    },
    ForOfStatement(p) {
      if (p.node.await && loopRules.length) loopSite(p);
    },
    ClassMethod(p) {
      traceSite(p);
    },
    ClassPrivateMethod(p) {
      traceSite(p);
    },
  });

  function visitCall(p: NodePath<BT.CallExpression | BT.OptionalCallExpression>): void {
    {
      if (EMITTED.has(p.node) || !p.node.loc) return;
      const callee = p.get('callee') as NodePath;
      const isMember = callee.isMemberExpression() || callee.isOptionalMemberExpression();
      let name = isMember ? memberName(callee.node) : callee.isIdentifier() ? callee.node.name : undefined;
      if (name === undefined) return;
      if (isMember && !memberNames.has(name) && !callRules.some((r) => r.target.names.includes(name!))) {
        return;
      }
      const calleeValue = b.valueOf(callee);
      // `import { request as nodeRequest } from 'http'`: the export's name is what rules list.
      if (!isMember && calleeValue.k === 'module' && calleeValue.path.length === 1) name = calleeValue.path[0]!;
      // The module itself called (`pino()`, whatever the local name): the rule's own name, as tsc resolves it.
      if (!isMember && calleeValue.k === 'module' && calleeValue.path.length === 0) {
        const selfRule = callRules.find((r) => r.target.self && r.target.module.includes((calleeValue as { module: string }).module));
        if (selfRule) name = selfRule.target.names[0]!;
      }
      const recvValue = isMember ? b.valueOf(callee.get('object') as NodePath) : undefined;

      // traced(fn[, opts])
      for (const rule of wrapRules) {
        if (!isModuleMember(calleeValue, rule.target.module, rule.target.names)) continue;
        const fn = p.get('arguments')[0];
        if (!fn || !(fn.isFunctionExpression() || fn.isArrowFunctionExpression() || fn.isIdentifier())) {
          skip(p, [rule.id], 'traced() needs a function as its first argument');
          return;
        }
        const opts = staticObject(p.node.arguments[1]);
        if (p.node.arguments[1] && !opts) {
          skip(p, [rule.id], 'the options of traced() are not an object literal of string values');
          return;
        }
        const fnName = fn.isIdentifier() ? fn.node.name : fn.isFunctionExpression() && fn.node.id ? fn.node.id.name : declaredName(p);
        sites.push({
          kind: 'wrap',
          path: p as NodePath<BT.CallExpression>,
          fn: fn as NodePath<BT.Expression>,
          rule,
          d: descriptor(p, rule.id, 'traced', opts?.name ?? fnName ?? null, { type: opts?.type ?? rule.span.type, subtype: opts?.subtype ?? rule.span.subtype, action: opts?.action ?? rule.span.action }),
        });
        return;
      }

      // Route registrations.
      for (const rule of routeRules) {
        if (!rule.target.names.includes(name)) continue;
        const matched = matchTarget(rule.target, isMember, calleeValue, recvValue);
        if (matched === 'no') continue;
        if (matched !== 'yes') {
          if (!rule.quiet && looksLikeRoute(rule, p)) skip(p, [rule.id], matched);
          continue;
        }
        const site = routeSite(p as NodePath<BT.CallExpression>, rule, name, b);
        if (typeof site === 'string') {
          if (site) skip(p, [rule.id], site);
        } else sites.push(site);
        return;
      }

      // Calls: library calls and user-declared rules.
      for (const rule of callRules) {
        if (!rule.target.names.includes(name)) continue;
        const matched = rule.id.startsWith('user:') || rule.handler === 'app'
          ? matchUserRule(rule, p, isMember, b)
          : matchTarget(rule.target, isMember, calleeValue, recvValue);
        // A generated client's rule (Prisma) is quiet except in a module that shows Prisma is in play.
        if (matched === 'no' || (matched !== 'yes' && rule.quiet && !(rule.target.generatedBy && b.usesGeneratedClient(program)))) continue;
        if (matched !== 'yes') {
          skip(p, [rule.id], matched);
          return;
        }
        if (p.node.optional && !(isMember && isPlainReceiver((callee.node as BT.MemberExpression).object))) {
          skip(p, [rule.id], 'optional call `?.()` is only wrapped on a method of a plain receiver (`pool?.query?.()`)');
          return;
        }
        const calleeNode = callee.node as BT.Node;
        if (calleeNode.type === 'OptionalMemberExpression' && !calleeNode.optional) {
          skip(p, [rule.id], 'the receiver is itself an optional chain (`a?.b.query()`)');
          return;
        }
        const parent = p.parentPath;
        if ((parent.isOptionalMemberExpression() && parent.node.object === p.node) || (parent.isOptionalCallExpression() && parent.node.callee === p.node)) {
          skip(p, [rule.id], 'the call continues an optional chain (`a?.query().x`)');
          return;
        }
        sites.push({ kind: 'call', path: p, rule, d: descriptor(p, rule.id, rule.handler, callName(rule, p, name), rule.span) });
        return;
      }
    }
  }

  /** A library method used as a template tag (`prisma.$queryRaw\`SELECT …\``): a call with the template's strings and values. */
  function visitTagged(p: NodePath<BT.TaggedTemplateExpression>): void {
    if (EMITTED.has(p.node) || !p.node.loc) return;
    const tag = p.get('tag') as NodePath;
    if (!tag.isMemberExpression()) return;
    const name = memberName(tag.node);
    if (name === undefined) return;
    const candidates = callRules.filter((r) => r.target.names.includes(name) && !r.id.startsWith('user:') && r.handler !== 'app');
    if (candidates.length === 0) return;
    const recvValue = b.valueOf(tag.get('object') as NodePath);
    const tagValue = b.valueOf(tag);
    for (const rule of candidates) {
      const matched = matchTarget(rule.target, true, tagValue, recvValue);
      if (matched === 'no' || (matched !== 'yes' && rule.quiet && !(rule.target.generatedBy && b.usesGeneratedClient(program)))) continue;
      if (matched !== 'yes') {
        skip(p, [rule.id], matched);
        return;
      }
      const recv = tag.node.object;
      if (recv.type !== 'Identifier' && recv.type !== 'ThisExpression') {
        skip(p, [rule.id], 'a tagged template is only wrapped on a plain receiver (`prisma.$queryRaw`…``)');
        return;
      }
      sites.push({ kind: 'tagged', path: p, rule, d: descriptor(tag.get('property') as NodePath, rule.id, rule.handler, rule.nameFromMember ? name : null, rule.span) });
      return;
    }
  }

  /** `new Worker(name, processor, opts)`: a constructor-handler route rule wraps the function arguments. */
  function visitNew(p: NodePath<BT.NewExpression>): void {
    if (EMITTED.has(p.node) || !p.node.loc) return;
    const callee = p.get('callee') as NodePath;
    const rules = routeRules.filter((r) => r.shape === 'constructor-handler');
    if (rules.length === 0) return;
    const v = b.valueOf(callee);
    for (const rule of rules) {
      if (!isModuleMember(v, rule.target.module, rule.target.names)) continue;
      // The processor position (the second argument): without types, a name there is taken for the function
      // (route() returns a string path or null unchanged at run time).
      const handlers = (p.get('arguments') as NodePath[]).slice(1, 2).filter((a) => isFunctionArg(a) || a.isCallExpression());
      if (handlers.length === 0) return;
      sites.push({ kind: 'route', path: p as unknown as NodePath<BT.CallExpression>, handlers: handlers as NodePath<BT.Expression>[], rule, d: descriptor(callee, rule.id, rule.framework, null, { type: 'messaging' }) });
      return;
    }
  }

  /** `for await (… of <iterable>)` whose iterable is an instance of a loop rule's type (nc.subscribe(), await consumer.consume()). */
  function loopSite(p: NodePath<BT.ForOfStatement>): void {
    if (EMITTED.has(p.node) || !p.node.loc) return;
    const v = b.valueOf(p.get('right') as NodePath);
    if (v.k !== 'instance') return;
    for (const rule of loopRules) {
      if (!rule.target.module.includes(v.module) || !rule.target.names.includes(v.cls)) continue;
      const left = p.node.left;
      if (left.type !== 'VariableDeclaration' || left.declarations.length !== 1) {
        skip(p, [rule.id], 'the loop assigns to an existing variable (for await (x of …)): declare it in the loop head');
        return;
      }
      sites.push({ kind: 'loop', path: p, rule, d: descriptor(p, rule.id, rule.handler, null, rule.span) });
      return;
    }
  }

  function traceSite(p: NodePath<BT.ClassMethod | BT.ClassPrivateMethod>) {
    const decorators = (p.get('decorators') as NodePath<BT.Decorator>[] | NodePath<null | undefined>) ?? [];
    if (!Array.isArray(decorators)) return;
    for (const dec of decorators) {
      const expr = dec.get('expression') as NodePath;
      const callee = expr.isCallExpression() ? (expr.get('callee') as NodePath) : expr;
      const v = b.valueOf(callee);
      for (const rule of decoratorRules) {
        if (!isModuleMember(v, rule.target.module, rule.target.names)) continue;
        const opts = expr.isCallExpression() ? staticObject(expr.node.arguments[0]) : undefined;
        if (expr.isCallExpression() && expr.node.arguments[0] && !opts) {
          skip(dec, [rule.id], 'the options of @Traced() are not an object literal of string values');
          return;
        }
        if (p.node.kind !== 'method' || p.node.generator) {
          skip(dec, [rule.id], p.node.generator ? '@Traced() on a generator method is not supported' : `@Traced() on a ${p.node.kind} is not supported`);
          return;
        }
        const cls = p.parentPath.parentPath as NodePath<BT.Class>;
        const className = cls.node.id?.name ?? declaredName(cls) ?? '<anonymous>';
        const methodName = methodKeyName(p.node) ?? '<computed>';
        sites.push({
          kind: 'trace',
          path: p,
          decorator: dec,
          rule,
          d: {
            ...descriptor(p.get('key') as NodePath, rule.id, 'traced', opts?.name ?? memberSpanName(className, methodName), {
              type: opts?.type ?? rule.span.type,
              subtype: opts?.subtype ?? rule.span.subtype,
              action: opts?.action ?? rule.span.action,
            }),
            function: memberSpanName(className, methodName),
          },
        });
        return;
      }
    }
  }

  // File conventions (Next.js): whole exported functions, merged in source order (outer sites first).
  const fileRules = rules.filter((r): r is FileRule => r.kind === 'file');
  if (fileRules.length && file !== undefined) {
    const extra = fileConventionSites(program, fileRules, file, skip, descriptor);
    if (extra.length) {
      const pos = (x: Site) => x.path.node.start ?? 0;
      for (const e of extra) {
        let i = 0;
        while (i < sites.length && pos(sites[i]!) <= pos(e)) i++;
        sites.splice(i, 0, e);
      }
    }
  }

  return { sites, skipped };
}

/** 'yes', 'no' (certainly not this target), or the reason it cannot be known. */
function matchTarget(target: Rule['target'], isMember: boolean, callee: Value, recv: Value | undefined): string {
  // Generated code (Prisma's client): a value of a module named by the specifier the generated file imports.
  if (target.generatedBy) {
    if (!isMember || !recv) return 'no';
    if (recv.k === 'instance' && target.generatedBy.includes(recv.module)) {
      if (target.owner) return target.owner.includes(recv.cls) ? 'yes' : 'no';
      return target.ownerSuffix && recv.cls.endsWith(target.ownerSuffix) && recv.cls !== target.ownerSuffix ? 'yes' : 'no';
    }
    if (recv.k === 'unknown') return `receiver unknown: ${recv.why}`;
    return 'no';
  }
  // Exported functions / namespace members: http.get, undici.request, createServer, fetch.
  if (!target.owner) {
    if (callee.k === 'module') {
      if (target.self && callee.path.length === 0 && target.module.includes(callee.module)) return 'yes';
      return isModuleMember(callee, target.module, target.names) ? 'yes' : 'no';
    }
    if (callee.k === 'global') return target.global && target.names.includes(callee.name) ? 'yes' : 'no';
    // An unknown namespace (`h.get(url)`) is not reported: member names like get/request are too common.
    return 'no';
  }
  if (!isMember || !recv) return 'no';
  if (recv.k === 'instance') {
    return target.module.includes(recv.module) && target.owner.includes(recv.cls) ? 'yes' : 'no';
  }
  if (recv.k === 'unknown') return `receiver unknown: ${recv.why}`;
  return 'no';
}

function isModuleMember(v: Value, modules: readonly string[], names: readonly string[]): boolean {
  return v.k === 'module' && modules.includes(v.module) && v.path.length === 1 && names.includes(v.path[0]!);
}

/** User rules (`OrderService.place`, `placeOrder`): by the class/function binding, never the name alone. */
function matchUserRule(rule: CallRule, p: NodePath<BT.CallExpression | BT.OptionalCallExpression>, isMember: boolean, b: BindingAnalysis): string {
  const mods = rule.target.module;
  const callee = p.get('callee') as NodePath;
  const moduleOk = (m: string | undefined) => (mods.length === 0 ? true : m !== undefined && mods.includes(m));
  if (rule.target.owner) {
    if (!isMember) return 'no';
    const obj = callee.get('object') as NodePath;
    const v = b.valueOf(obj);
    if (v.k === 'user') return rule.target.owner.includes(v.cls) && moduleOk(v.module) ? 'yes' : 'no';
    // Static call on the class itself: OrderService.place()
    if (obj.isIdentifier()) {
      const binding = obj.scope.getBinding(obj.node.name);
      if (binding && (binding.path.isClassDeclaration() || binding.path.isImportSpecifier()) && rule.target.owner.includes(obj.node.name)) {
        return moduleOk(importSource(binding.path)) ? 'yes' : 'no';
      }
    }
    if (v.k === 'unknown') return `receiver unknown: ${v.why}`;
    return 'no';
  }
  if (!callee.isIdentifier()) return 'no';
  const binding = callee.scope.getBinding(callee.node.name);
  if (!binding) return 'no';
  if (binding.path.isFunctionDeclaration() && mods.length === 0) return 'yes';
  if (binding.path.isVariableDeclarator() && mods.length === 0) {
    const init = binding.path.node.init;
    if (binding.constant && init && (init.type === 'ArrowFunctionExpression' || init.type === 'FunctionExpression')) return 'yes';
  }
  if (binding.path.isImportSpecifier()) return moduleOk(importSource(binding.path)) ? 'yes' : 'no';
  return 'no';
}

function importSource(p: NodePath): string | undefined {
  const decl = p.parentPath?.node;
  if (!decl || decl.type !== 'ImportDeclaration') return undefined;
  const s = decl.source.value;
  return s.startsWith('.') ? undefined : s;
}

/** A call on an unknown receiver worth reporting as a skipped route candidate. */
function looksLikeRoute(rule: RouteRule, p: NodePath<BT.CallExpression | BT.OptionalCallExpression>): boolean {
  const a = p.node.arguments;
  const first = a[0];
  const hasFn = a.some((x) => x.type === 'ArrowFunctionExpression' || x.type === 'FunctionExpression');
  switch (rule.shape) {
    case 'path-handlers':
    case 'chained-route':
      return !!first && first.type === 'StringLiteral' && first.value.startsWith('/') && hasFn;
    case 'server-event':
      return !!first && first.type === 'StringLiteral' && first.value === 'request';
    case 'route-object':
      return !!first && first.type === 'ObjectExpression';
    case 'error-middleware':
      return a.some((x) => (x.type === 'ArrowFunctionExpression' || x.type === 'FunctionExpression') && x.params.length === 4);
    default:
      return false;
  }
}

function isFunctionArg(p: NodePath): boolean {
  return p.isFunctionExpression() || p.isArrowFunctionExpression() || p.isIdentifier() || p.isMemberExpression();
}

/**
 * A handler argument of a route registration (after the path): anything but a spread or a literal that
 * cannot be a function. Express takes only handlers and arrays of them there, so a call
 * (`express.json()`), a conditional or an array literal is wrapped too — tsc wraps those because their
 * type is callable or an array; route() returns a non-function unchanged and wraps array elements.
 */
function isHandlerArg(p: NodePath): boolean {
  return !(
    p.isSpreadElement() ||
    p.isObjectExpression() ||
    p.isStringLiteral() ||
    p.isTemplateLiteral() ||
    p.isNumericLiteral() ||
    p.isBooleanLiteral() ||
    p.isNullLiteral() ||
    p.isRegExpLiteral() ||
    p.isBigIntLiteral() ||
    (p.isIdentifier() && p.node.name === 'undefined')
  );
}

/** The text of a string literal or of a template literal without expressions (as tsc's literalText). */
function staticString(node: BT.Node | null | undefined): string | undefined {
  if (!node) return undefined;
  if (node.type === 'StringLiteral') return node.value;
  if (node.type === 'TemplateLiteral' && node.expressions.length === 0 && node.quasis.length === 1) {
    const cooked = node.quasis[0]!.value.cooked;
    return cooked ?? undefined;
  }
  return undefined;
}

function routeSite(p: NodePath<BT.CallExpression>, rule: RouteRule, name: string, b: BindingAnalysis): Site | string {
  const args = p.get('arguments') as NodePath[];
  const base = (routeName: string | null, method: string | undefined, handlers: NodePath[]): Site => ({
    kind: 'route',
    path: p,
    handlers: handlers as NodePath<BT.Expression>[],
    rule,
    d: { ...descriptor(p, rule.id, rule.framework, routeName, { type: 'request' }), ...(method ? { method } : {}) },
  });
  switch (rule.shape) {
    case 'path-handlers':
    case 'chained-route': {
      const method = ROUTE_METHODS[name]!;
      let pathArg: BT.Node | undefined;
      let handlers: NodePath[];
      if (rule.shape === 'path-handlers') {
        pathArg = args[0]?.node;
        handlers = args.slice(1).filter(isHandlerArg);
        // @koa/router's named routes: router.get('user', '/users/:id', ...middleware).
        if (rule.framework === 'koa' && args.length >= 3 && staticString(args[1]!.node) !== undefined) pathArg = args[1]!.node;
        // Fastify's (path, options, handler): only the handler function is wrapped.
        if (rule.framework === 'fastify') handlers = handlers.filter((h) => !h.isObjectExpression()).slice(-1);
      } else {
        pathArg = chainedRoutePath(p, b);
        handlers = args.filter(isHandlerArg);
      }
      if (handlers.length === 0) return ''; // app.get('setting') and other non-route uses of the same member names
      // `/p` and `` `/p` `` name the route; any other path (a variable, a RegExp, an array) gives null,
      // so the transaction is "<METHOD> unknown route", as in the TS front-end.
      const template = staticString(pathArg);
      // The name is the template alone; the runtime prefixes the request's method (docs/abi.md).
      return base(template ?? null, method, handlers);
    }
    case 'route-object': {
      const obj = args[0];
      if (!obj || !obj.isObjectExpression()) return 'route() without an object literal';
      let method: string | undefined;
      let url: string | undefined;
      let handler: NodePath | undefined;
      for (const prop of obj.get('properties')) {
        if (!prop.isObjectProperty()) continue;
        const k = prop.node.key.type === 'Identifier' ? prop.node.key.name : prop.node.key.type === 'StringLiteral' ? prop.node.key.value : undefined;
        const v = prop.node.value;
        // Fastify takes `url` or its alias `path` (tsc reads both).
        if (k === 'method' && staticString(v) !== undefined) method = staticString(v)!.toUpperCase();
        if ((k === 'url' || k === 'path') && staticString(v) !== undefined) url = staticString(v);
        if (k === 'handler') handler = prop.get('value') as NodePath;
      }
      // Any handler value is wrapped, like tsc (route() returns a non-function unchanged); a method
      // `handler() {}` is not an ObjectProperty and stays unwrapped.
      if (!handler) return 'route() object without a handler property (handler() {} methods are not wrapped)';
      return base(url ?? null, method, [handler]);
    }
    case 'error-middleware': {
      // use([path,] ...middleware): every argument that can be a function or an array of them is wrapped
      // (as tsc does: factories' results, variables, arrays); route() decides at run time by length. A
      // string path names the requests the middleware answers (the mount path of a router).
      const hasPath = args.length >= 2 && isPathArg(args[0]!);
      const mount = hasPath ? staticString(args[0]!.node) ?? null : null;
      const handlers = args.filter((a, i) => !(i === 0 && hasPath) && isHandlerArg(a) && !a.isIdentifier({ name: 'undefined' }));
      if (args.some((a) => a.isSpreadElement())) {
        return "a spread argument (...list) to use() is not wrapped: its error middleware is reported only when next(err) reaches Express's final handler";
      }
      if (handlers.length === 0) return '';
      return base(mount, undefined, handlers);
    }
    case 'server-handler': {
      const fn = [...args].reverse().find(isFunctionArg);
      if (!fn || fn.isObjectExpression()) return '';
      return base(null, undefined, [fn]);
    }
    case 'constructor-handler':
      return ''; // constructor calls are visited by visitNew
    case 'server-event': {
      const ev = args[0]?.node;
      if (!ev || ev.type !== 'StringLiteral' || ev.value !== 'request') return '';
      const fn = args[1];
      if (!fn || !isFunctionArg(fn)) return '';
      return base(null, undefined, [fn]);
    }
  }
}

/** The path argument of use(path, ...): a string or template literal, a RegExp, or an array of them. */
function isPathArg(a: NodePath): boolean {
  if (a.isStringLiteral() || a.isTemplateLiteral() || a.isRegExpLiteral()) return true;
  if (a.isArrayExpression()) return a.node.elements.length > 0 && a.node.elements.every((e) => !!e && (e.type === 'StringLiteral' || e.type === 'RegExpLiteral' || e.type === 'TemplateLiteral'));
  return false;
}

/** The path literal of `x.route('/p')` at the base of a `.get(h).post(h)` chain. */
function chainedRoutePath(p: NodePath<BT.CallExpression>, b: BindingAnalysis): BT.Node | undefined {
  let cur: NodePath = p.get('callee').get('object') as NodePath;
  for (let i = 0; i < 32; i++) {
    if (!cur.isCallExpression()) {
      // const r = app.route('/p'); r.get(h)
      if (cur.isIdentifier()) {
        const binding = cur.scope.getBinding(cur.node.name);
        if (binding?.constant && binding.path.isVariableDeclarator()) {
          cur = binding.path.get('init') as NodePath;
          continue;
        }
      }
      return undefined;
    }
    const callee = cur.get('callee') as NodePath;
    if (!callee.isMemberExpression()) return undefined;
    if (memberName(callee.node) === 'route') {
      const v = b.valueOf(callee.get('object') as NodePath);
      if (v.k !== 'instance') return undefined;
      return cur.node.arguments[0];
    }
    cur = callee.get('object') as NodePath;
  }
  return undefined;
}

function callName(rule: CallRule, p: NodePath<BT.CallExpression | BT.OptionalCallExpression>, name: string): string | null {
  if (rule.nameFromMember) return name;
  if (rule.handler === 'app') {
    const owner = rule.target.owner?.[0];
    return rule.description || memberSpanName(owner, name);
  }
  return null;
}

export function descriptor(p: NodePath, rule: string, handler: string, name: string | null, span: { type: string; subtype?: string | undefined; action?: string | undefined }): SiteDescriptor {
  // Like the TS front-end: a member call is located at the member name (`pool.query` → `query`), so
  // chained registrations on one line get distinct locations.
  const callee = (p.node.type === 'CallExpression' || p.node.type === 'OptionalCallExpression') ? p.node.callee : undefined;
  const at = callee && (callee.type === 'MemberExpression' || callee.type === 'OptionalMemberExpression') ? callee.property : p.node;
  const loc = (at.loc ?? p.node.loc)!.start;
  return {
    rule,
    handler,
    name,
    type: span.type,
    ...(span.subtype !== undefined ? { subtype: span.subtype } : {}),
    ...(span.action !== undefined ? { action: span.action } : {}),
    line: loc.line,
    column: loc.column + 1,
    function: enclosingFunction(p),
  };
}

/** `UserService.find`, `handler`, `<anonymous>` or `<module>`: the function a site sits in. */
export function enclosingFunction(p: NodePath): string {
  const fn = p.getFunctionParent();
  if (!fn) return '<module>';
  const node = fn.node;
  if (node.type === 'ClassMethod' || node.type === 'ClassPrivateMethod') {
    const cls = fn.parentPath?.parentPath as NodePath<BT.Class> | undefined;
    const clsName = cls?.node.id?.name ?? (cls ? declaredName(cls) : undefined);
    return memberSpanName(clsName, methodKeyName(node) ?? '<computed>');
  }
  if (node.type === 'ObjectMethod') return methodKeyName(node) ?? '<anonymous>';
  if ((node.type === 'FunctionDeclaration' || node.type === 'FunctionExpression') && node.id) return node.id.name;
  return declaredName(fn) ?? '<anonymous>';
}

function methodKeyName(node: BT.ClassMethod | BT.ClassPrivateMethod | BT.ObjectMethod): string | undefined {
  const k = node.key;
  if (k.type === 'Identifier' && !node.computed) return k.name;
  if (k.type === 'PrivateName') return `#${k.id.name}`;
  if (k.type === 'StringLiteral') return k.value;
  return undefined;
}

/** Name given by `const x = <expr>`, `x = <expr>` or `{ x: <expr> }` / class property. */
function declaredName(p: NodePath): string | undefined {
  const parent = p.parentPath;
  if (!parent) return undefined;
  if (parent.isVariableDeclarator() && parent.node.id.type === 'Identifier') return parent.node.id.name;
  if (parent.isAssignmentExpression() && parent.node.left.type === 'Identifier') return parent.node.left.name;
  if ((parent.isObjectProperty() || parent.isClassProperty()) && parent.node.key.type === 'Identifier') return parent.node.key.name;
  return undefined;
}

/** `{ name: 'x', type: 'y' }` with string literal values only; undefined otherwise. */
function staticObject(node: BT.Node | undefined): Record<string, string> | undefined {
  if (!node || node.type !== 'ObjectExpression') return undefined;
  const out: Record<string, string> = {};
  for (const prop of node.properties) {
    if (prop.type !== 'ObjectProperty' || prop.computed) return undefined;
    const k = prop.key.type === 'Identifier' ? prop.key.name : prop.key.type === 'StringLiteral' ? prop.key.value : undefined;
    if (k === undefined || prop.value.type !== 'StringLiteral') return undefined;
    out[k] = prop.value.value;
  }
  return out;
}

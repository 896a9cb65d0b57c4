// The per-file rewrite: finds sites with the Matcher, emits the ABI import, the module's site table
// and the wrapped calls/handlers/bodies, keeping text ranges so source maps point at the original code.
import type * as TS from 'typescript';
import {
  ABI_BINDING,
  ABI_VERSION,
  ROUTE_METHODS,
  SITES_BINDING,
  type CallRule,
  type ResolvedOptions,
  type Rule,
  type RouteRule,
  type SiteDescriptor,
} from '../rules/index.js';
import { Matcher } from './match.js';

/** One instrumented site, as listed in the build report. */
export interface ReportedSite {
  rule: string;
  file: string;
  line: number;
  column: number;
  name: string | null;
}

/** A candidate left alone, with the reason (listed in the report). */
export interface SkippedSite {
  rule: string;
  file: string;
  line: number;
  reason: string;
}

export interface FileResult {
  sites: ReportedSite[];
  skipped: SkippedSite[];
}

const CALL_KINDS: ReadonlyArray<Rule['kind']> = ['call', 'route', 'wrap'];
const DECORATOR_KINDS: ReadonlyArray<Rule['kind']> = ['decorator'];
const ROUTE_KINDS: ReadonlyArray<Rule['kind']> = ['route'];

/** Whether a module already went through a spanforge front-end (marker bindings present). */
export function isInstrumented(ts: typeof TS, sf: TS.SourceFile): boolean {
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && st.importClause?.namedBindings && ts.isNamespaceImport(st.importClause.namedBindings) && st.importClause.namedBindings.name.text === ABI_BINDING) return true;
    if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name) && (d.name.text === ABI_BINDING || d.name.text === SITES_BINDING)) return true;
    }
  }
  return false;
}

/**
 * Rewrites one source file. Returns the same node when nothing matched.
 */
export function transformFile(
  ts: typeof TS,
  context: TS.TransformationContext,
  checker: TS.TypeChecker,
  options: ResolvedOptions,
  sf: TS.SourceFile,
  relFile: string,
  result: FileResult,
  esm: boolean,
): TS.SourceFile {
  const f = context.factory;
  const matcher = new Matcher(ts, checker, options.rules);
  const descriptors: SiteDescriptor[] = [];
  const abi = f.createUniqueName(ABI_BINDING, ts.GeneratedIdentifierFlags.Optimistic | ts.GeneratedIdentifierFlags.FileLevel);
  const table = f.createUniqueName(SITES_BINDING, ts.GeneratedIdentifierFlags.Optimistic | ts.GeneratedIdentifierFlags.FileLevel);

  function position(node: TS.Node): { line: number; column: number } {
    const lc = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    return { line: lc.line + 1, column: lc.character + 1 };
  }

  function addSite(node: TS.Node, rule: Rule, handler: string, name: string | null, type: string, extra: Partial<SiteDescriptor> = {}): TS.Expression {
    const { line, column } = position(node);
    const d: SiteDescriptor = { rule: rule.id, handler, name, type, ...extra, line, column, function: enclosingFunctionName(ts, node) };
    descriptors.push(d);
    result.sites.push({ rule: rule.id, file: relFile, line, column, name });
    return f.createElementAccessExpression(table, f.createNumericLiteral(descriptors.length - 1));
  }

  function skip(node: TS.Node, rule: Rule, reason: string): void {
    result.skipped.push({ rule: rule.id, file: relFile, line: position(node).line, reason });
  }

  /** Where a site is: the called member's name (`query` in `pool.query(...)`), as V8 reports call positions. */
  function calleeNameNode(node: TS.CallExpression): TS.Node {
    return ts.isPropertyAccessExpression(node.expression) ? node.expression.name : node;
  }

  function isNullish(e: TS.Expression): TS.Expression {
    return f.createBinaryExpression(e, ts.SyntaxKind.EqualsEqualsToken, f.createNull());
  }

  function helper(name: string, args: TS.Expression[]): TS.CallExpression {
    return f.createCallExpression(f.createPropertyAccessExpression(abi, name), undefined, args);
  }

  // ------------------------------------------------------------------------------------------
  function visitCall(node: TS.CallExpression): TS.Expression | undefined {
    const m = matcher.matchCallee(node.expression, CALL_KINDS);
    if (!m) return undefined;
    const rule = m.rule;
    if (rule.kind === 'call') return rewriteCall(node, rule);
    if (rule.kind === 'route') return rewriteRoute(node, rule, m.name);
    if (rule.kind === 'wrap') return rewriteWrap(node, rule);
    return undefined;
  }

  /** `recv.m(args)` → `__spanforge.call(site, recv, recv.m, args)`, order and `this` kept. */
  function rewriteCall(node: TS.CallExpression, rule: CallRule): TS.Expression | undefined {
    const callee = node.expression;
    // Part of a longer optional chain (`a?.b.query()`, `a?.query().then()`): rewriting would change
    // where the chain short-circuits, so leave it.
    const chainContinues = node.parent && ts.isOptionalChain(node.parent as TS.Node) && (node.parent as TS.PropertyAccessExpression).expression === node;
    const calleeOptional = ts.isPropertyAccessExpression(callee) && callee.questionDotToken !== undefined;
    const innerChain = ts.isPropertyAccessExpression(callee) && ts.isOptionalChain(callee.expression);
    if (chainContinues || innerChain) {
      skip(node, rule, 'inside a longer optional chain');
      return undefined;
    }
    const at = calleeNameNode(node);
    const name = rule.handler === 'app' ? rule.description : rule.nameFromMember && ts.isIdentifier(at) ? at.text : null;
    const site = addSite(at, rule, rule.handler, name, rule.span.type, spanExtra(rule));
    const args = node.arguments.map((a) => ts.visitNode(a, visitor) as TS.Expression);
    let out: TS.Expression;
    if (ts.isIdentifier(callee)) {
      const fn = ts.visitNode(callee, visitor) as TS.Expression;
      if (node.questionDotToken) {
        const tmp = f.createTempVariable(context.hoistVariableDeclaration);
        out = f.createConditionalExpression(
          f.createBinaryExpression(f.createAssignment(tmp, fn), ts.SyntaxKind.EqualsEqualsToken, f.createNull()),
          undefined,
          f.createVoidZero(),
          undefined,
          helper('call', [site, f.createVoidZero(), tmp, ...args]),
        );
      } else out = helper('call', [site, f.createVoidZero(), fn, ...args]);
    } else {
      const pa = callee as TS.PropertyAccessExpression;
      const recvNode = ts.visitNode(pa.expression, visitor) as TS.Expression;
      const simple = !calleeOptional && (ts.isIdentifier(pa.expression) || pa.expression.kind === ts.SyntaxKind.ThisKeyword || pa.expression.kind === ts.SyntaxKind.SuperKeyword);
      let recvFirst: TS.Expression;
      let recvRef: TS.Expression;
      if (simple) {
        recvFirst = pa.expression.kind === ts.SyntaxKind.SuperKeyword ? f.createThis() : recvNode;
        recvRef = recvNode;
      } else {
        const tmp = f.createTempVariable(context.hoistVariableDeclaration);
        recvFirst = f.createAssignment(tmp, recvNode);
        recvRef = tmp;
      }
      const isSuper = pa.expression.kind === ts.SyntaxKind.SuperKeyword;
      const member = isSuper ? f.createPropertyAccessExpression(f.createSuper(), pa.name.text) : f.createPropertyAccessExpression(recvRef, pa.name.text);
      if (!calleeOptional && !node.questionDotToken) {
        // R.m(x) → call(site, R, R.m, x)
        out = helper('call', [site, recvFirst, member, ...args]);
      } else if (calleeOptional && !node.questionDotToken) {
        // R?.m(x) → (t = R) == null ? void 0 : call(site, t, t.m, x)
        out = f.createConditionalExpression(isNullish(recvFirst), undefined, f.createVoidZero(), undefined, helper('call', [site, recvRef, member, ...args]));
      } else {
        // R.m?.(x) → (g = (t = R).m) == null ? void 0 : call(site, t, g, x);  R?.m?.(x) adds (t = R) == null ||
        const fnTmp = f.createTempVariable(context.hoistVariableDeclaration);
        const read = calleeOptional ? member : isSuper ? member : f.createPropertyAccessExpression(simple ? recvFirst : f.createParenthesizedExpression(recvFirst), pa.name.text);
        const fnTest = isNullish(f.createAssignment(fnTmp, read));
        const test = calleeOptional ? f.createLogicalOr(isNullish(recvFirst), fnTest) : fnTest;
        out = f.createConditionalExpression(test, undefined, f.createVoidZero(), undefined, helper('call', [site, isSuper ? f.createThis() : recvRef, fnTmp, ...args]));
      }
    }
    return ts.setTextRange(out, node);
  }

  /**
   * `recv.m\`…\`` where `m` is a call rule's method (Prisma's `$queryRaw`): `call(site, recv, recv.m,
   * ...((s, ...v) => [s, ...v])\`…\`)`, the method called with the template's own strings and values.
   */
  function visitTagged(node: TS.TaggedTemplateExpression): TS.Expression | undefined {
    const tag = node.tag;
    if (!ts.isPropertyAccessExpression(tag) || tag.questionDotToken || !ts.isIdentifier(tag.name)) return undefined;
    const m = matcher.matchCallee(tag, ['call']);
    if (!m || m.rule.kind !== 'call') return undefined;
    const rule = m.rule;
    if (!ts.isIdentifier(tag.expression) && tag.expression.kind !== ts.SyntaxKind.ThisKeyword) {
      skip(node, rule, 'a tagged template is only wrapped on a plain receiver (`prisma.$queryRaw`…``)');
      return undefined;
    }
    const site = addSite(tag.name, rule, rule.handler, rule.nameFromMember ? tag.name.text : null, rule.span.type, spanExtra(rule));
    const recv = ts.visitNode(tag.expression, visitor) as TS.Expression;
    const template = ts.visitNode(node.template, visitor) as TS.TemplateLiteral;
    const s = f.createUniqueName('s');
    const v = f.createUniqueName('v');
    const identity = f.createArrowFunction(
      undefined,
      undefined,
      [f.createParameterDeclaration(undefined, undefined, s), f.createParameterDeclaration(undefined, f.createToken(ts.SyntaxKind.DotDotDotToken), v)],
      undefined,
      f.createToken(ts.SyntaxKind.EqualsGreaterThanToken),
      f.createArrayLiteralExpression([s, f.createSpreadElement(v)]),
    );
    const strings = f.createTaggedTemplateExpression(f.createParenthesizedExpression(identity), undefined, template);
    const out = helper('call', [site, recv, f.createPropertyAccessExpression(recv, tag.name.text), f.createSpreadElement(strings)]);
    return ts.setTextRange(out, node);
  }

  /** Route registrations: handlers wrapped with `__spanforge.route(site, h)`. */
  function rewriteRoute(node: TS.CallExpression, rule: RouteRule, member: string): TS.Expression | undefined {
    const args = node.arguments;
    const handlerKind = rule.framework;
    // The callee first: in `app.route(p).get(h).post(h2)` the inner registrations get the lower site numbers.
    const callee = ts.visitNode(node.expression, visitor) as TS.LeftHandSideExpression;
    const at = calleeNameNode(node);
    const wrapAt = (indexes: number[], site: TS.Expression): TS.Expression => {
      const newArgs = args.map((a, i) => {
        const v = ts.visitNode(a, visitor) as TS.Expression;
        return indexes.includes(i) ? ts.setTextRange(helper('route', [site, v]), a) : v;
      });
      return ts.setTextRange(f.updateCallExpression(node, callee, node.typeArguments, newArgs), node);
    };
    switch (rule.shape) {
      case 'path-handlers':
      case 'chained-route': {
        let template: string | null;
        let from: number;
        if (rule.shape === 'path-handlers') {
          if (args.length < 2) return undefined;
          template = literalText(ts, args[0]!);
          from = 1;
          // @koa/router's named routes: router.get('user', '/users/:id', ...middleware).
          if (rule.framework === 'koa' && args.length >= 3 && literalText(ts, args[1]!) !== null) {
            template = literalText(ts, args[1]!);
            from = 2;
          }
        } else {
          template = chainedRoutePath(ts, node);
          from = 0;
        }
        const idx: number[] = [];
        for (let i = from; i < args.length; i++) if (isHandlerArg(args[i]!)) idx.push(i);
        if (idx.length === 0) return undefined;
        const method = ROUTE_METHODS[member] ?? '*';
        const site = addSite(at, rule, handlerKind, template, 'request', { method });
        if (template === null) skip(node, rule, 'route path is not a string literal: transactions are named "<METHOD> unknown route"');
        return wrapAt(idx, site);
      }
      case 'error-middleware': {
        // use([path,] ...middleware): every argument that can be a function or an array of them is
        // wrapped (factories' results, variables, arrays included); route() decides at run time by
        // length — error middleware reports, other middleware runs in the request's transaction, routers
        // used without a path and sub-apps come back untouched. The path names requests it answers.
        const hasPath = args.length >= 2 && isPathArg(args[0]!);
        const mount = hasPath ? literalText(ts, args[0]!) : null;
        const idx: number[] = [];
        const unresolved: string[] = [];
        args.forEach((a, i) => {
          if (i === 0 && hasPath) return;
          if (ts.isSpreadElement(a)) unresolved.push('a spread argument (...list)');
          else if (mayBeMiddleware(a)) idx.push(i);
        });
        for (const why of unresolved) skip(node, rule, `${why} is not wrapped: its error middleware is reported only when next(err) reaches Express's final handler`);
        if (idx.length === 0) return undefined;
        const site = addSite(at, rule, handlerKind, mount, 'request');
        return wrapAt(idx, site);
      }
      case 'server-handler': {
        const idx: number[] = [];
        args.forEach((a, i) => {
          if (isHandlerArg(a)) idx.push(i);
        });
        if (idx.length === 0) return undefined;
        return wrapAt(idx, addSite(at, rule, handlerKind, null, 'request'));
      }
      case 'server-event': {
        if (args.length < 2 || literalText(ts, args[0]!) !== 'request' || !isHandlerArg(args[1]!)) return undefined;
        return wrapAt([1], addSite(at, rule, handlerKind, null, 'request'));
      }
      case 'route-object': {
        const obj = args[0];
        if (!obj || !ts.isObjectLiteralExpression(obj)) {
          if (obj) skip(node, rule, 'route options are not an object literal');
          return undefined;
        }
        let url: string | null = null;
        let method = '*';
        let handlerProp: TS.PropertyAssignment | TS.ShorthandPropertyAssignment | undefined;
        for (const p of obj.properties) {
          const key = p.name && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) ? p.name.text : undefined;
          if (!key) continue;
          if (ts.isPropertyAssignment(p)) {
            if (key === 'url' || key === 'path') url = literalText(ts, p.initializer);
            if (key === 'method') {
              const lit = literalText(ts, p.initializer);
              method = lit ? lit.toUpperCase() : '*';
            }
            if (key === 'handler') handlerProp = p;
          } else if (ts.isShorthandPropertyAssignment(p) && key === 'handler') handlerProp = p;
          else if (ts.isMethodDeclaration(p) && key === 'handler') {
            skip(node, rule, 'handler written as a method (handler() {}); write handler: function () {} or an arrow');
          }
        }
        if (!handlerProp) return undefined;
        const site = addSite(at, rule, handlerKind, url, 'request', { method });
        const props = obj.properties.map((p) => {
          if (p !== handlerProp) return ts.visitNode(p, visitor) as TS.ObjectLiteralElementLike;
          const init = ts.isPropertyAssignment(p) ? (ts.visitNode(p.initializer, visitor) as TS.Expression) : f.createIdentifier((p as TS.ShorthandPropertyAssignment).name.text);
          const orig = ts.isPropertyAssignment(p) ? p.initializer : p;
          return ts.setTextRange(f.createPropertyAssignment(p.name!, ts.setTextRange(helper('route', [site, init]), orig)), p);
        });
        const newObj = ts.setTextRange(f.updateObjectLiteralExpression(obj, props), obj);
        return ts.setTextRange(f.updateCallExpression(node, callee, node.typeArguments, [newObj, ...args.slice(1).map((a) => ts.visitNode(a, visitor) as TS.Expression)]), node);
      }
    }
    return undefined;
  }

  /**
   * `new Worker(name, processor, opts)` (a route rule of shape constructor-handler): the function
   * arguments become `__spanforge.route(site, processor)`; the construction itself is unchanged.
   */
  function visitNew(node: TS.NewExpression): TS.Expression | undefined {
    const args = node.arguments;
    if (!args || args.length === 0) return undefined;
    const m = matcher.matchCallee(node.expression, ROUTE_KINDS);
    if (!m || m.rule.kind !== 'route' || m.rule.shape !== 'constructor-handler') return undefined;
    const idx: number[] = [];
    args.forEach((a, i) => {
      if (isHandlerArg(a) && !ts.isArrayLiteralExpression(a)) idx.push(i);
    });
    if (idx.length === 0) return undefined;
    const site = addSite(node.expression, m.rule, m.rule.framework, null, 'messaging');
    const newArgs = args.map((a, i) => {
      const v = ts.visitNode(a, visitor) as TS.Expression;
      return idx.includes(i) ? ts.setTextRange(helper('route', [site, v]), a) : v;
    });
    return ts.setTextRange(f.updateNewExpression(node, ts.visitNode(node.expression, visitor) as TS.Expression, node.typeArguments, newArgs), node);
  }

  /** `traced(fn[, { name, type }])` → `__spanforge.wrap(site, fn)`. */
  function rewriteWrap(node: TS.CallExpression, rule: Rule): TS.Expression | undefined {
    const fn = node.arguments[0];
    if (!fn || ts.isSpreadElement(fn)) return undefined;
    const opts = node.arguments[1];
    const lit = opts ? literalOptions(ts, opts) : {};
    if (lit === undefined) {
      skip(node, rule, 'options are not an object literal of string values; left to the run-time traced()');
      return undefined;
    }
    const name = lit.name ?? functionExpressionName(ts, fn) ?? declaratorName(ts, node) ?? null;
    const site = addSite(node, rule, 'traced', name, lit.type ?? 'app');
    return ts.setTextRange(helper('wrap', [site, ts.visitNode(fn, visitor) as TS.Expression]), node);
  }

  // ------------------------------------------------------------------------------------------
  function isHandlerArg(a: TS.Expression): boolean {
    if (ts.isSpreadElement(a)) return false;
    if (ts.isArrowFunction(a) || ts.isFunctionExpression(a) || ts.isArrayLiteralExpression(a)) return true;
    if (ts.isObjectLiteralExpression(a) || ts.isStringLiteralLike(a)) return false;
    const t = checker.getTypeAtLocation(a);
    return t.getCallSignatures().length > 0 || checker.isArrayType(t);
  }

  /** A use() argument that may be a middleware function or an array of them (any/unknown included). */
  function mayBeMiddleware(a: TS.Expression): boolean {
    if (isHandlerArg(a)) return true;
    if (ts.isObjectLiteralExpression(a) || ts.isStringLiteralLike(a) || ts.isRegularExpressionLiteral(a)) return false;
    const t = checker.getTypeAtLocation(a);
    if (t.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return true;
    if (checker.isTupleType(t)) return true;
    return t.isUnion() && t.types.some((u) => u.getCallSignatures().length > 0 || checker.isArrayType(u) || checker.isTupleType(u));
  }

  /** The mount path of use(path, ...): a string, a RegExp, or an array of them. */
  function isPathArg(a: TS.Expression): boolean {
    if (ts.isStringLiteralLike(a) || ts.isRegularExpressionLiteral(a) || ts.isTemplateExpression(a)) return true;
    if (ts.isArrayLiteralExpression(a)) return a.elements.length > 0 && a.elements.every((e) => ts.isStringLiteralLike(e) || ts.isRegularExpressionLiteral(e));
    const t = checker.getTypeAtLocation(a);
    const isPathType = (u: TS.Type): boolean => !!(u.flags & ts.TypeFlags.StringLike) || u.getSymbol()?.getName() === 'RegExp';
    if (isPathType(t)) return true;
    if (checker.isArrayType(t)) {
      const el = checker.getTypeArguments(t as TS.TypeReference)[0];
      return !!el && (isPathType(el) || (el.isUnion() && el.types.every(isPathType)));
    }
    return false;
  }

  // ------------------------------------------------------------------------------------------
  /** `@Traced()` methods: decorator removed, body run through `__spanforge.trace(site, () => body)`. */
  function visitMethod(node: TS.MethodDeclaration): TS.Node | undefined {
    if (!node.body || !node.modifiers) return undefined;
    let decorator: TS.Decorator | undefined;
    let rule: Rule | undefined;
    for (const mod of node.modifiers) {
      if (!ts.isDecorator(mod) || !ts.isCallExpression(mod.expression)) continue;
      const m = matcher.matchCallee(mod.expression.expression, DECORATOR_KINDS);
      if (m) {
        decorator = mod;
        rule = m.rule;
        break;
      }
    }
    if (!decorator || !rule) return undefined;
    if (node.asteriskToken) {
      skip(node, rule, 'generator method: left to the run-time @Traced() decorator');
      return undefined;
    }
    const call = decorator.expression as TS.CallExpression;
    const lit = call.arguments[0] ? literalOptions(ts, call.arguments[0]) : {};
    if (lit === undefined) {
      skip(node, rule, 'decorator options are not an object literal of string values; left to the run-time decorator');
      return undefined;
    }
    const cls = node.parent;
    const className = (ts.isClassDeclaration(cls) || ts.isClassExpression(cls)) && cls.name ? cls.name.text : '<anonymous class>';
    const methodName = ts.isIdentifier(node.name) || ts.isStringLiteral(node.name) || ts.isPrivateIdentifier(node.name) ? node.name.text : '<computed>';
    const site = addSite(node.name, rule, 'traced', lit.name ?? `${className}.${methodName}`, lit.type ?? (rule.kind === 'decorator' ? rule.span.type : 'app'));
    const isAsync = node.modifiers.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword);
    const body = ts.visitNode(node.body, visitor) as TS.Block;
    const arrow = f.createArrowFunction(isAsync ? [f.createModifier(ts.SyntaxKind.AsyncKeyword)] : undefined, undefined, [], undefined, f.createToken(ts.SyntaxKind.EqualsGreaterThanToken), body);
    const ret = ts.setTextRange(f.createReturnStatement(helper('trace', [site, arrow])), node.body);
    const newBody = ts.setTextRange(f.createBlock([ret], true), node.body);
    const modifiers = node.modifiers.filter((m) => m !== decorator).map((m) => (ts.isDecorator(m) ? (ts.visitNode(m, visitor) as TS.Decorator) : m));
    return f.updateMethodDeclaration(
      node,
      modifiers,
      node.asteriskToken,
      node.name,
      node.questionToken,
      node.typeParameters,
      ts.visitNodes(node.parameters, visitor) as TS.NodeArray<TS.ParameterDeclaration>,
      node.type,
      newBody,
    );
  }

  // ------------------------------------------------------------------------------------------
  /**
   * `for await (const m of sub)` over a library iterable (a loop rule): each iteration's body becomes
   * `const it = loop(site, m); try { body } catch (e) { throw it.fail(e); } finally { it.end(); }`, so
   * break/continue/return/labels/await inside it keep their meaning; a destructuring head binds a temp
   * and destructures it first thing in the body, as the loop did before the body.
   */
  function visitForAwait(node: TS.ForOfStatement): TS.Statement | undefined {
    const rule = matcher.matchIterable(node.expression);
    if (!rule || rule.kind !== 'loop') return undefined;
    const init = node.initializer;
    if (!ts.isVariableDeclarationList(init) || init.declarations.length !== 1) {
      skip(node, rule, 'the loop assigns to an existing variable (for await (x of …)): declare it in the loop head');
      return undefined;
    }
    const decl = init.declarations[0]!;
    const site = addSite(node, rule, rule.handler, null, rule.span.type, {
      ...(rule.span.subtype !== undefined ? { subtype: rule.span.subtype } : {}),
      ...(rule.span.action !== undefined ? { action: rule.span.action } : {}),
    });
    const head: TS.Statement[] = [];
    let newInit: TS.VariableDeclarationList = init;
    let value: TS.Expression;
    if (ts.isIdentifier(decl.name)) value = f.createIdentifier(decl.name.text);
    else {
      const tmp = f.createUniqueName('__spanforge_v');
      const flags = init.flags & (ts.NodeFlags.Let | ts.NodeFlags.Const);
      newInit = ts.setTextRange(f.createVariableDeclarationList([f.createVariableDeclaration(tmp)], flags), init);
      head.push(f.createVariableStatement(undefined, f.createVariableDeclarationList([f.createVariableDeclaration(ts.visitNode(decl.name, visitor) as TS.BindingName, undefined, undefined, tmp)], flags)));
      value = tmp;
    }
    const it = f.createUniqueName('__spanforge_it');
    const err = f.createUniqueName('__spanforge_e');
    const body = ts.visitNode(node.statement, visitor) as TS.Statement;
    const tryBlock = ts.isBlock(body) ? body : f.createBlock([body], true);
    head.push(f.createVariableStatement(undefined, f.createVariableDeclarationList([f.createVariableDeclaration(it, undefined, undefined, helper('loop', [site, value]))], ts.NodeFlags.Const)));
    head.push(f.createTryStatement(
      tryBlock,
      f.createCatchClause(f.createVariableDeclaration(err), f.createBlock([f.createThrowStatement(f.createCallExpression(f.createPropertyAccessExpression(it, 'fail'), undefined, [err]))], true)),
      f.createBlock([f.createExpressionStatement(f.createCallExpression(f.createPropertyAccessExpression(it, 'end'), undefined, []))], true),
    ));
    return ts.setTextRange(
      f.updateForOfStatement(node, node.awaitModifier, newInit, ts.visitNode(node.expression, visitor) as TS.Expression, ts.setTextRange(f.createBlock(head, true), node.statement)),
      node,
    );
  }

  const visitor = (node: TS.Node): TS.VisitResult<TS.Node> => {
    if (ts.isForOfStatement(node) && node.awaitModifier) {
      const r = visitForAwait(node);
      if (r) return r;
    } else if (ts.isCallExpression(node)) {
      const r = visitCall(node);
      if (r) return r;
    } else if (ts.isNewExpression(node)) {
      const r = visitNew(node);
      if (r) return r;
    } else if (ts.isTaggedTemplateExpression(node)) {
      const r = visitTagged(node);
      if (r) return r;
    } else if (ts.isMethodDeclaration(node)) {
      const r = visitMethod(node);
      if (r) return r;
    }
    return ts.visitEachChild(node, visitor, context);
  };

  const visited = ts.visitEachChild(sf, visitor, context);
  if (descriptors.length === 0) return sf;

  // ESM output: a namespace import; CommonJS output: a plain require (no __importStar helper needed:
  // the runtime entry is a CommonJS module with __esModule set).
  const importDecl = esm
    ? f.createImportDeclaration(undefined, f.createImportClause(false, undefined, f.createNamespaceImport(abi)), f.createStringLiteral(options.runtimeModule))
    : f.createVariableStatement(
        undefined,
        f.createVariableDeclarationList(
          [f.createVariableDeclaration(abi, undefined, undefined, f.createCallExpression(f.createIdentifier('require'), undefined, [f.createStringLiteral(options.runtimeModule)]))],
          ts.NodeFlags.Const,
        ),
      );
  const tableDecl = f.createVariableStatement(
    undefined,
    f.createVariableDeclarationList(
      [f.createVariableDeclaration(table, undefined, undefined, helper('sites', [
        f.createNumericLiteral(ABI_VERSION),
        f.createStringLiteral(relFile),
        f.createArrayLiteralExpression(descriptors.map((d) => siteLiteral(f, d)), true),
      ]))],
      ts.NodeFlags.Const,
    ),
  );
  // Prologue directives ("use strict") stay first.
  const stmts = [...visited.statements];
  let at = 0;
  while (at < stmts.length && ts.isExpressionStatement(stmts[at]!) && ts.isStringLiteral((stmts[at] as TS.ExpressionStatement).expression)) at++;
  stmts.splice(at, 0, importDecl, tableDecl);
  return f.updateSourceFile(visited, stmts);
}

function spanExtra(rule: CallRule): Partial<SiteDescriptor> {
  return {
    ...(rule.span.subtype !== undefined ? { subtype: rule.span.subtype } : {}),
    ...(rule.span.action !== undefined ? { action: rule.span.action } : {}),
  };
}

function siteLiteral(f: TS.NodeFactory, d: SiteDescriptor): TS.ObjectLiteralExpression {
  const props: TS.PropertyAssignment[] = [];
  const str = (k: string, v: string) => props.push(f.createPropertyAssignment(k, f.createStringLiteral(v)));
  str('rule', d.rule);
  str('handler', d.handler);
  props.push(f.createPropertyAssignment('name', d.name === null ? f.createNull() : f.createStringLiteral(d.name)));
  str('type', d.type);
  if (d.subtype !== undefined) str('subtype', d.subtype);
  if (d.action !== undefined) str('action', d.action);
  if (d.method !== undefined) str('method', d.method);
  props.push(f.createPropertyAssignment('line', f.createNumericLiteral(d.line)));
  props.push(f.createPropertyAssignment('column', f.createNumericLiteral(d.column)));
  str('function', d.function);
  return f.createObjectLiteralExpression(props, false);
}

function literalText(ts: typeof TS, e: TS.Expression): string | null {
  return ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e) ? e.text : null;
}

/** `{ name: 'x', type: 'y' }` → its string values; undefined when not a literal of strings. */
function literalOptions(ts: typeof TS, e: TS.Expression): { name?: string; type?: string } | undefined {
  if (!ts.isObjectLiteralExpression(e)) return undefined;
  const out: { name?: string; type?: string } = {};
  for (const p of e.properties) {
    if (!ts.isPropertyAssignment(p) || !(ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) return undefined;
    const v = literalText(ts, p.initializer);
    if (v === null) return undefined;
    if (p.name.text === 'name') out.name = v;
    else if (p.name.text === 'type') out.type = v;
    else return undefined;
  }
  return out;
}

/** The path of `app.route('/x')` at the root of `app.route('/x').get(h).post(h2)`. */
function chainedRoutePath(ts: typeof TS, node: TS.CallExpression): string | null {
  let e: TS.Expression = node.expression;
  while (ts.isPropertyAccessExpression(e) && ts.isCallExpression(e.expression)) {
    const inner = e.expression;
    if (ts.isPropertyAccessExpression(inner.expression) && inner.expression.name.text === 'route') {
      const a = inner.arguments[0];
      return a ? literalText(ts, a) : null;
    }
    e = inner.expression;
  }
  return null;
}

function functionExpressionName(ts: typeof TS, e: TS.Expression): string | undefined {
  if (ts.isFunctionExpression(e) && e.name) return e.name.text;
  if (ts.isIdentifier(e)) return e.text;
  return undefined;
}

function declaratorName(ts: typeof TS, node: TS.Node): string | undefined {
  const p = node.parent;
  if (p && ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (p && ts.isPropertyAssignment(p) && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) return p.name.text;
  return undefined;
}

/** `Class.method`, `functionName`, `<anonymous>`, or `<module>` for top-level code. */
export function enclosingFunctionName(ts: typeof TS, node: TS.Node): string {
  for (let n: TS.Node | undefined = node.parent; n; n = n.parent) {
    if (ts.isFunctionDeclaration(n)) return n.name?.text ?? '<anonymous>';
    if (ts.isMethodDeclaration(n) || ts.isGetAccessorDeclaration(n) || ts.isSetAccessorDeclaration(n) || ts.isConstructorDeclaration(n)) {
      const cls = n.parent;
      const cname = (ts.isClassDeclaration(cls) || ts.isClassExpression(cls)) && cls.name ? cls.name.text : undefined;
      const mname = ts.isConstructorDeclaration(n) ? 'constructor' : n.name && (ts.isIdentifier(n.name) || ts.isStringLiteral(n.name) || ts.isPrivateIdentifier(n.name)) ? n.name.text : '<computed>';
      return cname ? `${cname}.${mname}` : mname;
    }
    if (ts.isFunctionExpression(n) || ts.isArrowFunction(n)) {
      if (ts.isFunctionExpression(n) && n.name) return n.name.text;
      const d = declaratorName(ts, n);
      if (d) return d;
      return '<anonymous>';
    }
  }
  return '<module>';
}

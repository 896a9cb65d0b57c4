// Next.js (App Router) file conventions on a Babel AST: route handlers (`app/**/route.ts` exports named
// by HTTP method; the transaction name comes from the file's path), server actions (`'use server'`
// modules and functions) and `proxy.ts`. Each handler found is a `body` site (a function declaration or
// expression: its body runs inside trace(site, () => body, arguments), so the function keeps its
// identity, name, length and `this`) or, for a `const` whose value is not such a function, a `route`
// site (the value wrapped with route(site, value)). Rules: integrations/nextjs/rules.ts.
import type { NodePath } from '@babel/core';
import type * as BT from '@babel/types';
import type { FileRule, SiteDescriptor } from '../rules/index.js';
import type { Site } from './analyze.js';

type Skip = (path: NodePath, ruleIds: string[], reason: string) => void;
type Describe = (p: NodePath, rule: string, handler: string, name: string | null, span: { type: string; subtype?: string | undefined; action?: string | undefined }) => SiteDescriptor;
type Fn = BT.FunctionDeclaration | BT.FunctionExpression | BT.ArrowFunctionExpression;

/** The HTTP methods a route handler module may export (Next.js `HTTP_METHODS`). */
export const NEXT_ROUTE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

const ROUTE_FILE = /(?:^|\/)app\/((?:[^/]+\/)*)route\.[cm]?[jt]sx?$/;
const PROXY_FILE = /^(?:src\/)?(proxy|middleware)\.[cm]?[jt]sx?$/;

/**
 * The route of an `app/` route file (`app/api/users/[id]/route.ts` → `/api/users/[id]`): route groups
 * `(name)` and parallel-route slots `@name` are not part of the URL; undefined for files that are not
 * route handlers or sit in a private folder (`_name`), which Next does not route.
 */
export function nextRouteOf(file: string): string | undefined {
  const m = ROUTE_FILE.exec(file);
  if (!m) return undefined;
  const segs = m[1]!.split('/').filter(Boolean);
  if (segs.some((s) => s.startsWith('_'))) return undefined;
  const kept = segs.filter((s) => !(s.startsWith('(') && s.endsWith(')')) && !s.startsWith('@'));
  return '/' + kept.join('/');
}

/** Whether a file's path alone may make its exports handlers (route handlers, proxy): the bundler's pre-check lets these through. */
export function isConventionFile(file: string): boolean {
  return ROUTE_FILE.test(file) || PROXY_FILE.test(file);
}

function hasDirective(node: { directives?: BT.Directive[] } | undefined, value: string): boolean {
  return !!node?.directives?.some((d) => d.value.value === value);
}

/** `export const runtime = 'edge'`: the module runs on the Edge runtime, where the Node.js agent does not. */
function edgeRuntime(program: BT.Program): boolean {
  for (const s of program.body) {
    if (s.type !== 'ExportNamedDeclaration' || s.declaration?.type !== 'VariableDeclaration') continue;
    for (const d of s.declaration.declarations) {
      if (d.id.type === 'Identifier' && d.id.name === 'runtime' && d.init?.type === 'StringLiteral' && d.init.value === 'edge') return true;
    }
  }
  return false;
}

/** What a module exports under a name: the declaration's function, or the const's value. */
interface Exported {
  name: string;
  /** The function declaration or the const's initializer. */
  value: NodePath;
  /** The node the site is located at (the function's or the const's name). */
  at: NodePath;
}

function exportsOf(program: NodePath<BT.Program>, skip: Skip, ruleId: string, wanted: (name: string) => boolean): Exported[] {
  const out: Exported[] = [];
  for (const st of program.get('body')) {
    if (st.isExportNamedDeclaration()) {
      const decl = st.get('declaration');
      if (decl.isFunctionDeclaration() && decl.node.id && wanted(decl.node.id.name)) {
        out.push({ name: decl.node.id.name, value: decl, at: decl.get('id') as NodePath });
      } else if (decl.isVariableDeclaration()) {
        for (const d of decl.get('declarations')) {
          const id = d.node.id;
          if (id.type !== 'Identifier' || !wanted(id.name) || !d.node.init) continue;
          if (decl.node.kind !== 'const') {
            skip(d, [ruleId], `\`export ${decl.node.kind} ${id.name}\` may be reassigned: only function declarations and \`export const\` are instrumented`);
            continue;
          }
          out.push({ name: id.name, value: d.get('init') as NodePath, at: d.get('id') as NodePath });
        }
      }
      for (const sp of st.get('specifiers')) {
        if (!sp.isExportSpecifier()) continue;
        const ex = sp.node.exported;
        const name = ex.type === 'Identifier' ? ex.name : ex.value;
        if (wanted(name)) skip(sp, [ruleId], `\`export { … as ${name} }\` is not instrumented: export the function where it is declared (\`export async function ${name}(…)\` or \`export const ${name} = …\`)`);
      }
    } else if (st.isExportDefaultDeclaration() && wanted('default')) {
      const decl = st.get('declaration');
      if (decl.isFunctionDeclaration() || decl.isArrowFunctionExpression() || decl.isFunctionExpression()) {
        out.push({ name: decl.node.type === 'FunctionDeclaration' && decl.node.id ? decl.node.id.name : 'default', value: decl as NodePath, at: decl as NodePath });
      }
    }
  }
  return out;
}

/**
 * The sites of one module under the file rules, given its project-relative path. Skipped candidates
 * (edge runtime, `middleware.ts`, re-exports, generators) are listed through `skip` for the report.
 */
export function fileConventionSites(program: NodePath<BT.Program>, rules: readonly FileRule[], file: string, skip: Skip, describe: Describe): Site[] {
  const sites: Site[] = [];
  const rule = (c: FileRule['convention']) => rules.find((r) => r.convention === c);

  const add = (r: FileRule, ex: Exported, name: string | null, fnName: string, opts: { args: boolean; requireBlock?: boolean; method?: string }): void => {
    const v = ex.value;
    const d: SiteDescriptor = { ...describe(ex.at, r.id, r.handler, name, r.span), function: fnName, ...(opts.method ? { method: opts.method } : {}) };
    if (v.isFunctionDeclaration() || v.isFunctionExpression() || v.isArrowFunctionExpression()) {
      const fn = v as NodePath<Fn>;
      if (fn.node.generator) {
        skip(v, [r.id], `${fnName} is a generator function: not instrumented`);
        return;
      }
      if (fn.node.body.type === 'BlockStatement' && !fn.isArrowFunctionExpression()) {
        sites.push({ kind: 'body', path: fn, rule: r, d, args: opts.args ? 'arguments' : null });
        return;
      }
      if (fn.node.body.type === 'BlockStatement' && (!opts.args || simpleFirstParam(fn.node) !== undefined)) {
        // An arrow has no `arguments`: its first parameter (or nothing) is what the wrapper sees.
        const p = simpleFirstParam(fn.node);
        sites.push({ kind: 'body', path: fn, rule: r, d, args: opts.args && p !== undefined ? `[${p}]` : null });
        return;
      }
      if (opts.requireBlock) {
        skip(v, [r.id], `${fnName} is an arrow function without a block body: write it as \`async function ${fnName}(…) { … }\` to have it traced`);
        return;
      }
    } else if (opts.requireBlock) {
      skip(v, [r.id], `${fnName} is not a function written in this module: not instrumented`);
      return;
    }
    // Any other value (an arrow with an expression body, `withAuth(handler)`): wrapped where it is exported.
    sites.push({ kind: 'route', path: v as unknown as NodePath<BT.CallExpression>, handlers: [v as NodePath<BT.Expression>], rule: r as FileRule, d });
  };

  const routeRule = rule('route-handler');
  const route = nextRouteOf(file);
  const methods = new Set<string>(NEXT_ROUTE_METHODS);
  if (routeRule && route !== undefined) {
    if (edgeRuntime(program.node)) {
      skip(program, [routeRule.id], "`export const runtime = 'edge'`: the Edge runtime has no Node.js agent; this route is not instrumented");
      return sites;
    }
    for (const ex of exportsOf(program, skip, routeRule.id, (n) => methods.has(n))) {
      add(routeRule, ex, route, ex.name, { args: true, method: ex.name });
    }
  }

  const proxyRule = rule('proxy');
  const pm = PROXY_FILE.exec(file);
  if (proxyRule && pm) {
    if (pm[1] === 'middleware' || edgeRuntime(program.node)) {
      skip(program, [proxyRule.id], 'middleware.ts runs on the Edge runtime, where the Node.js agent does not: rename it to proxy.ts (Next 16, Node.js runtime) to have it traced');
    } else {
      for (const ex of exportsOf(program, skip, proxyRule.id, (n) => n === 'proxy' || n === 'default')) {
        add(proxyRule, ex, 'proxy', ex.name === 'default' ? 'proxy' : ex.name, { args: true });
      }
    }
  }

  const actionRule = rule('server-action');
  if (actionRule) {
    if (hasDirective(program.node, 'use server')) {
      for (const ex of exportsOf(program, skip, actionRule.id, () => true)) {
        add(actionRule, ex, ex.name, ex.name, { args: false, requireBlock: true });
      }
    } else {
      // Inline actions: `async function create(data) { 'use server'; … }` anywhere in the module.
      program.traverse({
        Function(p) {
          const n = p.node;
          if (n.body.type !== 'BlockStatement' || !hasDirective(n.body, 'use server')) return;
          if (!(p.isFunctionDeclaration() || p.isFunctionExpression() || p.isArrowFunctionExpression())) return;
          const name = (n.type === 'FunctionDeclaration' || n.type === 'FunctionExpression') && n.id ? n.id.name : declaredName(p) ?? '<anonymous>';
          if (n.generator) {
            skip(p, [actionRule.id], `${name} is a generator function: not instrumented`);
            return;
          }
          const at = ((n.type === 'FunctionDeclaration' || n.type === 'FunctionExpression') && n.id ? p.get('id') : p) as NodePath;
          sites.push({ kind: 'body', path: p as NodePath<Fn>, rule: actionRule, d: { ...describe(at, actionRule.id, actionRule.handler, name, actionRule.span), function: name }, args: null });
        },
      });
    }
  }
  return sites;
}

function simpleFirstParam(fn: Fn): string | undefined {
  const p = fn.params[0];
  return p && p.type === 'Identifier' ? p.name : undefined;
}

function declaredName(p: NodePath): string | undefined {
  const parent = p.parentPath;
  if (parent?.isVariableDeclarator() && parent.node.id.type === 'Identifier') return parent.node.id.name;
  return undefined;
}

// Turns analysed sites into Babel AST edits (the Babel plugin's emitter). The bundler emits the same
// shapes as text with magic-string (bundler/edit.ts); both call the runtime ABI of rules/abi.ts.
import type { NodePath, types as BabelTypes } from '@babel/core';
import type * as BT from '@babel/types';
import { ABI_BINDING, ABI_HELPERS, ABI_VERSION, SITES_BINDING, type SiteDescriptor } from '../rules/index.js';
import { EMITTED, isPlainReceiver, type Site } from './analyze.js';

/** Temp that holds a non-trivial receiver so it is evaluated exactly once. */
export const RECV_BINDING = '__spanforge_r';
/** The loop-body rewrite's names (each loop body is its own block, so nested loops shadow them safely). */
export const LOOP_ITERATION = '__spanforge_it';
export const LOOP_ERROR = '__spanforge_e';
export const LOOP_VALUE = '__spanforge_v';

export { isPlainReceiver };

/**
 * Whether the runtime is to be required (CommonJS) rather than imported: `.cjs`, a script, or a module
 * without import/export that uses require/module/exports. Everything else gets an import declaration.
 */
export function looksCommonJs(program: NodePath<BT.Program>, filename: string): boolean {
  if (/\.c[jt]s$/.test(filename) || program.node.sourceType === 'script') return true;
  if (/\.m[jt]s$/.test(filename)) return false;
  for (const s of program.node.body) {
    if (s.type === 'ImportDeclaration' || s.type.startsWith('Export')) return false;
  }
  return program.scope.hasGlobal('require') || program.scope.hasGlobal('module') || program.scope.hasGlobal('exports');
}

/** The site table entries in emission order (index = position in the table). */
export function descriptors(sites: readonly Site[]): SiteDescriptor[] {
  return sites.map((s) => s.d);
}

/** Applies the edits to the AST. `sites` must be in traversal (pre-)order; they are applied inner first. */
export function emitBabel(t: typeof BabelTypes, program: NodePath<BT.Program>, sites: readonly Site[], file: string, runtimeModule: string, cjs: boolean): void {
  if (sites.length === 0) return;
  const abi = (helper: string) => t.memberExpression(t.identifier(ABI_BINDING), t.identifier(helper));
  const siteRef = (i: number) => t.memberExpression(t.identifier(SITES_BINDING), t.numericLiteral(i), true);
  const mark = <N extends BT.Node>(n: N): N => {
    EMITTED.add(n);
    return n;
  };
  let needsTemp = false;
  for (let i = sites.length - 1; i >= 0; i--) {
    const site = sites[i]!;
    switch (site.kind) {
      case 'call': {
        const p = site.path;
        const node = p.node;
        const callee = node.callee as BT.Expression;
        const args = node.arguments as BT.CallExpression['arguments'];
        let out: BT.Expression;
        if (callee.type === 'MemberExpression' || callee.type === 'OptionalMemberExpression') {
          const recv = callee.object as BT.Expression;
          const prop = callee.property as BT.Expression;
          const plain = isPlainReceiver(recv);
          if (!plain) needsTemp = true;
          const r = () => (plain ? t.cloneNode(recv) : t.identifier(RECV_BINDING));
          const fn = t.memberExpression(r(), prop, callee.computed);
          // super.query(...): the method of the super class, called on this
          const thisArg = recv.type === 'Super' ? t.thisExpression() : r();
          const call = mark(t.callExpression(abi(ABI_HELPERS.call), [siteRef(i), thisArg, fn, ...args]));
          if (node.optional) {
            // recv?.m?.(args) / recv.m?.(args): a nullish receiver or method short-circuits before the
            // arguments are evaluated; the method is read once, into the temp.
            needsTemp = true;
            const inner = t.conditionalExpression(
              t.binaryExpression('==', t.assignmentExpression('=', t.identifier(RECV_BINDING), t.memberExpression(t.cloneNode(recv), prop, callee.computed)), t.nullLiteral()),
              t.unaryExpression('void', t.numericLiteral(0)),
              mark(t.callExpression(abi(ABI_HELPERS.call), [siteRef(i), thisArg, t.identifier(RECV_BINDING), ...args])),
            );
            out = callee.optional && recv.type !== 'Super'
              ? t.conditionalExpression(t.binaryExpression('==', t.cloneNode(recv as BT.Expression), t.nullLiteral()), t.unaryExpression('void', t.numericLiteral(0)), inner)
              : inner;
          } else if (callee.optional) {
            // recv?.m(args): nullish receiver short-circuits before the arguments are evaluated.
            needsTemp = true;
            out = t.conditionalExpression(
              t.binaryExpression('==', t.assignmentExpression('=', t.identifier(RECV_BINDING), recv), t.nullLiteral()),
              t.unaryExpression('void', t.numericLiteral(0)),
              t.callExpression(abi(ABI_HELPERS.call), [siteRef(i), t.identifier(RECV_BINDING), t.memberExpression(t.identifier(RECV_BINDING), prop, callee.computed), ...args]),
            );
          } else {
            out = plain ? call : t.sequenceExpression([t.assignmentExpression('=', t.identifier(RECV_BINDING), recv), call]);
          }
        } else {
          out = mark(t.callExpression(abi(ABI_HELPERS.call), [siteRef(i), t.identifier('undefined'), callee, ...args]));
        }
        p.replaceWith(out);
        break;
      }
      case 'tagged': {
        // recv.m`…` → call(site, recv, recv.m, ...((s, ...v) => [s, ...v])`…`): the same strings object and values.
        const node = site.path.node;
        const tag = node.tag as BT.MemberExpression;
        const recv = tag.object as BT.Expression;
        const strings = t.taggedTemplateExpression(
          t.arrowFunctionExpression([t.identifier('s'), t.restElement(t.identifier('v'))], t.arrayExpression([t.identifier('s'), t.spreadElement(t.identifier('v'))])),
          node.quasi,
        );
        site.path.replaceWith(mark(t.callExpression(abi(ABI_HELPERS.call), [siteRef(i), t.cloneNode(recv), t.memberExpression(t.cloneNode(recv), tag.property, tag.computed), t.spreadElement(strings)])));
        break;
      }
      case 'route':
        for (const h of site.handlers) h.replaceWith(mark(t.callExpression(abi(ABI_HELPERS.route), [siteRef(i), h.node])));
        break;
      case 'trace': {
        const m = site.path.node;
        const inner = t.arrowFunctionExpression([], m.body, m.async);
        // runtime/abi.ts trace(site, body): the arrow keeps the method's own this/arguments/super.
        m.body = t.blockStatement([t.returnStatement(mark(t.callExpression(abi(ABI_HELPERS.trace), [siteRef(i), inner])))]);
        site.decorator.remove();
        break;
      }
      case 'body': {
        // File-convention handlers (Next.js): trace(site, () => body, arguments); directives stay first.
        const fn = site.path.node;
        const body = fn.body as BT.BlockStatement;
        const inner = t.arrowFunctionExpression([], t.blockStatement(body.body), fn.async);
        const args: BT.Expression[] = [siteRef(i), inner];
        if (site.args === 'arguments') args.push(t.identifier('arguments'));
        else if (site.args) args.push(t.arrayExpression([t.identifier(site.args.slice(1, -1))]));
        fn.body = t.blockStatement([t.returnStatement(mark(t.callExpression(abi(ABI_HELPERS.trace), args)))], body.directives);
        break;
      }
      case 'wrap':
        site.path.replaceWith(mark(t.callExpression(abi(ABI_HELPERS.wrap), [siteRef(i), site.fn.node])));
        break;
      case 'loop': {
        // for await (const m of it) body → for await (const m of it) { const __spanforge_it = loop(site, m);
        // try body catch (__spanforge_e) { throw __spanforge_it.fail(__spanforge_e); } finally { __spanforge_it.end(); } }
        const loop = site.path.node;
        const decl = loop.left as BT.VariableDeclaration;
        const d0 = decl.declarations[0]!;
        const head: BT.Statement[] = [];
        let value: BT.Expression;
        if (d0.id.type === 'Identifier') value = t.identifier(d0.id.name);
        else {
          // a destructuring head: a temp, destructured first thing in the body (as the loop did)
          head.push(t.variableDeclaration(decl.kind, [t.variableDeclarator(d0.id, t.identifier(LOOP_VALUE))]));
          loop.left = t.variableDeclaration(decl.kind, [t.variableDeclarator(t.identifier(LOOP_VALUE))]);
          value = t.identifier(LOOP_VALUE);
        }
        const body = loop.body.type === 'BlockStatement' ? loop.body : t.blockStatement([loop.body]);
        head.push(t.variableDeclaration('const', [t.variableDeclarator(t.identifier(LOOP_ITERATION), mark(t.callExpression(abi(ABI_HELPERS.loop), [siteRef(i), value])))]));
        head.push(t.tryStatement(
          body,
          t.catchClause(t.identifier(LOOP_ERROR), t.blockStatement([t.throwStatement(t.callExpression(t.memberExpression(t.identifier(LOOP_ITERATION), t.identifier('fail')), [t.identifier(LOOP_ERROR)]))])),
          t.blockStatement([t.expressionStatement(t.callExpression(t.memberExpression(t.identifier(LOOP_ITERATION), t.identifier('end')), []))]),
        ));
        loop.body = t.blockStatement(head);
        mark(loop);
        break;
      }
    }
  }
  const table = t.callExpression(abi(ABI_HELPERS.sites), [
    t.numericLiteral(ABI_VERSION),
    t.stringLiteral(file),
    t.valueToNode(descriptors(sites)),
  ]);
  const header: BT.Statement[] = [];
  if (cjs) {
    header.push(t.variableDeclaration('const', [t.variableDeclarator(t.identifier(ABI_BINDING), t.callExpression(t.identifier('require'), [t.stringLiteral(runtimeModule)]))]));
  } else {
    header.push(t.importDeclaration([t.importNamespaceSpecifier(t.identifier(ABI_BINDING))], t.stringLiteral(runtimeModule)));
  }
  header.push(t.variableDeclaration('const', [t.variableDeclarator(t.identifier(SITES_BINDING), table)]));
  if (needsTemp) header.push(t.variableDeclaration('let', [t.variableDeclarator(t.identifier(RECV_BINDING))]));
  program.unshiftContainer('body', header);
  program.scope.crawl();
}

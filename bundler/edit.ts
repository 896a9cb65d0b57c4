// The bundler step's emitter: the same call/route/trace/wrap shapes as babel-plugin/emit.ts, applied
// as minimal magic-string edits on the original text so the source map stays exact.
import MagicString from 'magic-string';
import type * as BT from '@babel/types';
import { ABI_BINDING, ABI_HELPERS, ABI_VERSION, SITES_BINDING } from '../rules/index.js';
import type { Site } from '../babel-plugin/analyze.js';
import { descriptors, isPlainReceiver, LOOP_ERROR, LOOP_ITERATION, LOOP_VALUE, RECV_BINDING } from '../babel-plugin/emit.js';

const start = (n: BT.Node): number => n.start!;
const end = (n: BT.Node): number => n.end!;

/**
 * Edits `ms` for every site. Inserted text attaches inward (prefixes to the right of their position,
 * suffixes to the left), so an outer site's overwritten gaps never swallow an inner site's edits;
 * sites are applied inner first so that at a shared position the outer text ends up outside.
 */
export function emitText(ms: MagicString, program: BT.Program, source: string, sites: readonly Site[], file: string, runtimeModule: string, interpreterEnd: number, cjs: boolean): void {
  if (sites.length === 0) return;
  const abi = (h: string) => `${ABI_BINDING}.${h}`;
  const site = (i: number) => `${SITES_BINDING}[${i}]`;
  let needsTemp = false;
  for (let i = sites.length - 1; i >= 0; i--) {
    const s = sites[i]!;
    switch (s.kind) {
      case 'call': {
        const node = s.path.node;
        const callee = node.callee as BT.Expression;
        const args = node.arguments;
        const argsOpen = args.length ? start(args[0]!) : end(node) - 1; // position after "(": first arg or ")"
        const open = (text: string) => {
          // replaces "(" (plus type arguments/whitespace) between the callee and the first argument
          ms.overwrite(end(callee), argsOpen, args.length ? `${text}, ` : text);
        };
        if (callee.type === 'MemberExpression' || callee.type === 'OptionalMemberExpression') {
          const recv = callee.object as BT.Expression;
          const propText = callee.computed ? `[${source.slice(start(callee.property), end(callee.property))}]` : `.${source.slice(start(callee.property), end(callee.property))}`;
          if (node.optional) {
            needsTemp = true;
            const r = recv.type === 'Super' ? 'this' : source.slice(start(recv), end(recv));
            ms.prependRight(start(node), `(${callee.optional && recv.type !== 'Super' ? `${r} == null ? void 0 : ` : ''}(${RECV_BINDING} = `);
            ms.overwrite(end(callee), argsOpen, `) == null ? void 0 : ${abi(ABI_HELPERS.call)}(${site(i)}, ${r}, ${RECV_BINDING}${args.length ? ', ' : ''}`);
            ms.appendLeft(end(node), ')');
          } else if (callee.optional) {
            needsTemp = true;
            ms.prependRight(start(node), `((${RECV_BINDING} = `);
            ms.overwrite(end(recv), argsOpen, `) == null ? void 0 : ${abi(ABI_HELPERS.call)}(${site(i)}, ${RECV_BINDING}, ${RECV_BINDING}${propText}${args.length ? ', ' : ''}`);
            ms.appendLeft(end(node), ')');
          } else if (isPlainReceiver(recv)) {
            const r = recv.type === 'Super' ? 'this' : source.slice(start(recv), end(recv));
            ms.prependRight(start(node), `${abi(ABI_HELPERS.call)}(${site(i)}, ${r}, `);
            open('');
          } else {
            needsTemp = true;
            ms.prependRight(start(node), `(${RECV_BINDING} = `);
            // ".query(" → ", __spanforge.call(site, r, r.query, "
            ms.overwrite(end(recv), argsOpen, `, ${abi(ABI_HELPERS.call)}(${site(i)}, ${RECV_BINDING}, ${RECV_BINDING}${propText}${args.length ? ', ' : ''}`);
            ms.appendLeft(end(node), ')');
          }
        } else {
          ms.prependRight(start(node), `${abi(ABI_HELPERS.call)}(${site(i)}, undefined, `);
          open('');
        }
        break;
      }
      case 'tagged': {
        // recv.m`…` → call(site, recv, recv.m, ...((s, ...v) => [s, ...v])`…`)
        const node = s.path.node;
        const tag = node.tag as BT.MemberExpression;
        const r = source.slice(start(tag.object), end(tag.object));
        ms.prependRight(start(node), `${abi(ABI_HELPERS.call)}(${site(i)}, ${r}, `);
        const text = ', ...((s, ...v) => [s, ...v])';
        if (end(tag) < start(node.quasi)) ms.overwrite(end(tag), start(node.quasi), text);
        else ms.appendLeft(end(tag), text);
        ms.appendLeft(end(node), ')');
        break;
      }
      case 'route':
        for (const h of s.handlers) {
          ms.prependRight(start(h.node), `${abi(ABI_HELPERS.route)}(${site(i)}, `);
          ms.appendLeft(end(h.node), ')');
        }
        break;
      case 'trace': {
        const m = s.path.node;
        const body = m.body;
        ms.appendLeft(start(body) + 1, ` return ${abi(ABI_HELPERS.trace)}(${site(i)}, ${m.async ? 'async ' : ''}() => {`);
        ms.prependRight(end(body) - 1, '}); ');
        const dec = s.decorator.node;
        let decEnd = end(dec);
        while (decEnd < source.length && (source[decEnd] === ' ' || source[decEnd] === '\t')) decEnd++;
        ms.remove(start(dec), decEnd);
        break;
      }
      case 'body': {
        // File-convention handlers (Next.js): trace(site, () => body, arguments), after the directives.
        const fn = s.path.node;
        const body = fn.body as BT.BlockStatement;
        let at = start(body) + 1;
        for (const d of body.directives) at = Math.max(at, end(d));
        ms.appendLeft(at, ` return ${abi(ABI_HELPERS.trace)}(${site(i)}, ${fn.async ? 'async ' : ''}() => {`);
        ms.prependRight(end(body) - 1, `}${s.args ? `, ${s.args}` : ''}); `);
        break;
      }
      case 'loop': {
        // the loop-body rewrite (babel-plugin/emit.ts), as insertions around the body's text
        const loop = s.path.node;
        const decl = loop.left as BT.VariableDeclaration;
        const d0 = decl.declarations[0]!;
        let value = LOOP_VALUE;
        let pre = '';
        if (d0.id.type === 'Identifier') value = d0.id.name;
        else {
          pre = `${decl.kind} ${source.slice(start(d0.id), end(d0.id))} = ${LOOP_VALUE}; `;
          ms.overwrite(start(d0.id), end(d0.id), LOOP_VALUE);
        }
        const body = loop.body;
        const open = `${pre}const ${LOOP_ITERATION} = ${abi(ABI_HELPERS.loop)}(${site(i)}, ${value}); try `;
        const close = ` catch (${LOOP_ERROR}) { throw ${LOOP_ITERATION}.fail(${LOOP_ERROR}); } finally { ${LOOP_ITERATION}.end(); }`;
        if (body.type === 'BlockStatement') {
          ms.prependRight(start(body), `{ ${open}`);
          ms.appendLeft(end(body), `${close} }`);
        } else {
          ms.prependRight(start(body), `{ ${open}{ `);
          ms.appendLeft(end(body), ` }${close} }`);
        }
        break;
      }
      case 'wrap': {
        const node = s.path.node;
        const fn = s.fn.node;
        ms.overwrite(start(node), start(fn), `${abi(ABI_HELPERS.wrap)}(${site(i)}, `);
        if (end(fn) < end(node)) ms.overwrite(end(fn), end(node), ')');
        else ms.appendLeft(end(fn), ')');
        break;
      }
    }
  }
  const table = `${abi(ABI_HELPERS.sites)}(${ABI_VERSION}, ${JSON.stringify(file)}, ${JSON.stringify(descriptors(sites))});`;
  const importLine = cjs
    ? `const ${ABI_BINDING} = require(${JSON.stringify(runtimeModule)});`
    : `import * as ${ABI_BINDING} from ${JSON.stringify(runtimeModule)};`;
  // One line, after any hashbang and directive prologue, so user line numbers do not move.
  let at = interpreterEnd;
  for (const d of program.directives) at = Math.max(at, end(d));
  const header = `${importLine} const ${SITES_BINDING} = ${table}${needsTemp ? ` let ${RECV_BINDING};` : ''}`;
  ms.appendLeft(at, at === 0 ? header + ' ' : ' ' + header);
}

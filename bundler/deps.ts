// The dependency-code step (rules/deps.ts says which files): in a driver file under node_modules,
// each function a dependency rule names gets its body moved into an inner function that the method
// calls through the ABI, `call(site, this, function (params) { body }, ...arguments)`, so every call
// of the driver function (from the app, an ORM or the driver itself) goes through the same handler as
// a user-code site. Minimal magic-string edits on the original text: lines and columns stay, and the
// source map is exact. Used by the bundler plugins and by spanforge/register.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSync, traverse, type NodePath } from '@babel/core';
import type * as BT from '@babel/types';
import MagicString from 'magic-string';
import { ABI_BINDING, ABI_HELPERS, ABI_VERSION, SITES_BINDING, DependencyMatcher, type DependencyRule, type SiteDescriptor } from '../rules/index.js';

export interface DependencyResult {
  code: string;
  map: ReturnType<MagicString['generateMap']>;
  sites: SiteDescriptor[];
  /** Functions a rule named that were found but not rewritten, with why. */
  skipped: { rule: string; line: number; column: number; reason: string }[];
  /** `pg@8.23.1/lib/client.js`: the name site tables and reports give the file. */
  name: string;
}

/** A matcher over the given rules that reads versions from each package folder's package.json. */
export function dependencyMatcher(rules: readonly DependencyRule[]): DependencyMatcher {
  return new DependencyMatcher(rules, (root) => {
    const v = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : undefined;
  });
}

type Fn = BT.ClassMethod | BT.FunctionExpression | BT.ObjectMethod;

/**
 * Instruments one dependency file; null when no rule applies (the path check, then the version) or no
 * named function was found. `esm`: how to import the runtime (default: from the file's own syntax).
 */
export function instrumentDependency(code: string, file: string, matcher: DependencyMatcher, runtimeModule: string): DependencyResult | null {
  const m = matcher.rulesFor(file);
  if (!m || code.includes(SITES_BINDING)) return null;
  const name = `${m.pkg.name}@${m.version}/${m.pkg.file}`;
  const ast = parseSync(code, {
    filename: file,
    configFile: false,
    babelrc: false,
    browserslistConfigFile: false,
    sourceType: 'unambiguous',
    parserOpts: { allowReturnOutsideFunction: true, errorRecovery: false, plugins: ['jsx'] },
  });
  if (!ast) return null;
  const found: { rule: DependencyRule; fn: Fn; label: string }[] = [];
  let esm = false;
  traverse(ast, {
    ImportDeclaration() {
      esm = true;
    },
    ExportNamedDeclaration() {
      esm = true;
    },
    ExportDefaultDeclaration() {
      esm = true;
    },
    ClassMethod(p) {
      const key = p.node.key;
      if (p.node.computed || key.type !== 'Identifier' || p.node.kind !== 'method' || p.node.static) return;
      const cls = p.parentPath.parentPath as NodePath<BT.ClassDeclaration | BT.ClassExpression>;
      const clsName = cls.node.id?.name ?? (cls.parentPath?.isVariableDeclarator() && cls.parentPath.node.id.type === 'Identifier' ? cls.parentPath.node.id.name : undefined);
      for (const rule of m.rules) {
        if (!rule.function.prototype && rule.function.className === clsName && rule.function.methodName === key.name) found.push({ rule, fn: p.node, label: `${clsName}.${key.name}` });
      }
    },
    AssignmentExpression(p) {
      // Owner.prototype.name = function (...) { ... }
      const l = p.node.left;
      const r = p.node.right;
      if (r.type !== 'FunctionExpression' || l.type !== 'MemberExpression' || l.computed || l.property.type !== 'Identifier') return;
      const o = l.object;
      if (o.type !== 'MemberExpression' || o.computed || o.property.type !== 'Identifier' || o.property.name !== 'prototype' || o.object.type !== 'Identifier') return;
      for (const rule of m.rules) {
        if (rule.function.prototype && rule.function.className === o.object.name && rule.function.methodName === l.property.name) found.push({ rule, fn: r, label: `${o.object.name}.${l.property.name}` });
      }
    },
  });
  if (found.length === 0) return null;
  const ms = new MagicString(code);
  const sites: SiteDescriptor[] = [];
  const skipped: DependencyResult['skipped'] = [];
  for (const { rule, fn, label } of found) {
    const loc = fn.loc!.start;
    const why = unsupported(fn, code);
    if (why) {
      skipped.push({ rule: rule.id, line: loc.line, column: loc.column + 1, reason: why });
      continue;
    }
    const i = sites.length;
    sites.push({ rule: rule.id, handler: rule.handler, name: null, type: rule.span.type, ...(rule.span.subtype ? { subtype: rule.span.subtype } : {}), ...(rule.span.action ? { action: rule.span.action } : {}), line: loc.line, column: loc.column + 1, function: label });
    const params = fn.params.map((p) => code.slice(p.start!, p.end!)).join(', ');
    const body = fn.body;
    // `{ BODY }` → `{ return call(site, this, function (params) { BODY }, ...arguments); }`: `this` and
    // `arguments` inside are the call's (Reflect.apply with the same receiver and arguments), the
    // parameters keep `.length`, async stays async, and nothing moves to another line.
    ms.appendLeft(body.start! + 1, ` return ${ABI_BINDING}.${ABI_HELPERS.call}(${SITES_BINDING}[${i}], this, ${fn.async ? 'async ' : ''}function (${params}) {`);
    ms.prependRight(body.end! - 1, `}, ...arguments); `);
  }
  if (sites.length === 0) return skipped.length ? { code, map: new MagicString(code).generateMap({ source: file, file, includeContent: false, hires: 'boundary' }), sites, skipped, name } : null;
  const table = `${ABI_BINDING}.${ABI_HELPERS.sites}(${ABI_VERSION}, ${JSON.stringify(name)}, ${JSON.stringify(sites)});`;
  const importLine = esm
    ? `import * as ${ABI_BINDING} from ${JSON.stringify(runtimeModule)};`
    : `const ${ABI_BINDING} = require(${JSON.stringify(runtimeModule)});`;
  let at = ast.program.interpreter ? ast.program.interpreter.end ?? 0 : 0;
  for (const d of ast.program.directives) at = Math.max(at, d.end!);
  const header = `${importLine} const ${SITES_BINDING} = ${table}`;
  ms.appendLeft(at, at === 0 ? header + ' ' : ' ' + header);
  return { code: ms.toString(), map: ms.generateMap({ source: file, file, includeContent: true, hires: 'boundary' }), sites, skipped, name };
}

/** Why a matched function cannot be rewritten (the inner function would change what it does), or undefined. */
function unsupported(fn: Fn, code: string): string | undefined {
  if (fn.generator) return 'a generator function';
  if (fn.params.some((p) => p.type !== 'Identifier')) return 'its parameters are not plain names (defaults or patterns would be evaluated twice)';
  const body = code.slice(fn.body.start!, fn.body.end!);
  // `super` would not be valid in the inner function; `new.target` would differ.
  if (/\bsuper\b|\bnew\.target\b/.test(body)) return 'its body uses super or new.target';
  return undefined;
}

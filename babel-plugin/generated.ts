// Code a library generates into the user's project (Prisma 7's client, `prisma generate` → e.g.
// generated/prisma/client.ts): no package owns it, so the catalogue matches it by what the generated
// file imports (TargetMatch.generatedBy, `@prisma/client/runtime/client`) — the evidence the tsc
// front-end reads from the declaring file. Without a type checker, the Babel front-end reads the file a
// relative import resolves to: a file that imports one of those specifiers is a generated client, and
// its exports are values of that "module" (named by the specifier). A file that does not (the usual
// `lib/prisma.ts` singleton) is parsed and its export followed, one module deep per hop, at most
// MAX_HOPS hops. Files are read once per build (cached by path and mtime).
import { parseSync, traverse, type NodePath } from '@babel/core';
import type * as BT from '@babel/types';
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { INTEGRATIONS, type TargetMatch } from '../rules/index.js';

/** The `generatedBy` targets of the catalogue (Prisma's): specifiers and the delegate owner suffix. */
const TARGETS: readonly TargetMatch[] = INTEGRATIONS.flatMap((i) => i.rules).flatMap((r) => ('target' in r && r.target.generatedBy ? [r.target as TargetMatch] : []));
export const GENERATED_BY: readonly string[] = [...new Set(TARGETS.flatMap((t) => t.generatedBy ?? []))];
/** `prisma.user` on a generated client → `UserDelegate` (the suffix the catalogue's ownerSuffix names). */
export const DELEGATE_SUFFIX: Readonly<Record<string, string>> = Object.fromEntries(TARGETS.flatMap((t) => (t.ownerSuffix ? (t.generatedBy ?? []).map((g) => [g, t.ownerSuffix!]) : [])));

export const MAX_HOPS = 3;
const EXTS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs', '.jsx'];

/** The file a relative specifier names from `fromFile`, as TypeScript/bundlers resolve it (`./x.js` → x.ts too). */
export function resolveRelative(fromFile: string, spec: string): string | undefined {
  if (!(spec.startsWith('.') || spec.startsWith('/'))) return undefined;
  const base = resolve(dirname(fromFile), spec);
  const tries = [base, ...EXTS.map((e) => base + e), ...EXTS.map((e) => resolve(base, 'index' + e))];
  const m = /\.([cm]?)js$/.exec(base);
  if (m) tries.splice(1, 0, base.slice(0, -m[0].length) + `.${m[1]}ts`, base.slice(0, -m[0].length) + '.tsx');
  for (const f of tries) {
    try {
      if (statSync(f).isFile()) return f;
    } catch {
      // next candidate
    }
  }
  return undefined;
}

interface Cached {
  mtime: number;
  text: string;
  generatedBy: string | undefined;
  program?: NodePath<BT.Program> | null;
}
const cache = new Map<string, Cached>();

function entry(file: string): Cached | undefined {
  let mtime: number;
  try {
    mtime = statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
  const hit = cache.get(file);
  if (hit && hit.mtime === mtime) return hit;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const generatedBy = GENERATED_BY.find((s) => new RegExp(`(?:from|import|require\\()\\s*['"]${s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}['"]`).test(text));
  const e: Cached = { mtime, text, generatedBy };
  cache.set(file, e);
  return e;
}

/** The generatedBy specifier a file imports (it is a generated client), or undefined. */
export function generatedClientOf(file: string): string | undefined {
  return entry(file)?.generatedBy;
}

/** Whether a file's text imports a relative module that is a generated client (one level, no parse). */
export function importsGeneratedClient(file: string): boolean {
  const e = entry(file);
  if (!e) return false;
  if (e.generatedBy) return true;
  for (const m of e.text.matchAll(/(?:from|import|require\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const f = resolveRelative(file, m[1]!);
    if (f && generatedClientOf(f)) return true;
  }
  return false;
}

/** The parsed program of a (non-generated) project file, for following one of its exports; null when it does not parse. */
export function programOf(file: string): NodePath<BT.Program> | undefined {
  const e = entry(file);
  if (!e) return undefined;
  if (e.program !== undefined) return e.program ?? undefined;
  e.program = null;
  try {
    const isTs = /\.[cm]?tsx?$/.test(file);
    const plugins: NonNullable<NonNullable<Parameters<typeof parseSync>[1]>['parserOpts']>['plugins'] = isTs ? ['typescript', 'decorators'] : ['jsx', 'decorators'];
    if (/\.tsx$/.test(file)) plugins.push('jsx');
    const ast = parseSync(e.text, { filename: file, configFile: false, babelrc: false, browserslistConfigFile: false, sourceType: 'unambiguous', parserOpts: { plugins } });
    if (ast) {
      traverse(ast, {
        Program(p) {
          e.program = p;
          p.stop();
        },
      });
    }
  } catch {
    e.program = null;
  }
  return e.program ?? undefined;
}

/**
 * The expression (or binding identifier) a module exports under `name`: `export const name = …`,
 * `export { local as name }`, `export default …`, `module.exports.name = …` is not followed.
 */
export function exportedPath(program: NodePath<BT.Program>, name: string): NodePath | undefined {
  for (const st of program.get('body')) {
    if (st.isExportNamedDeclaration()) {
      const decl = st.get('declaration');
      if (decl.isVariableDeclaration()) {
        for (const d of decl.get('declarations')) {
          const id = d.get('id');
          if (id.isIdentifier() && id.node.name === name) return id;
        }
      }
      if (!st.node.source) {
        for (const s of st.get('specifiers')) {
          if (!s.isExportSpecifier()) continue;
          const exported = s.node.exported.type === 'Identifier' ? s.node.exported.name : s.node.exported.value;
          if (exported !== name) continue;
          const binding = program.scope.getBinding(s.node.local.name);
          if (binding?.path.isVariableDeclarator()) {
            const id = binding.path.get('id');
            if (id.isIdentifier()) return id;
          }
          if (binding?.path.isImportSpecifier() || binding?.path.isImportDefaultSpecifier() || binding?.path.isImportNamespaceSpecifier()) return s.get('local') as NodePath;
        }
      }
    }
    if (name === 'default' && st.isExportDefaultDeclaration()) {
      const d = st.get('declaration');
      if (d.isExpression()) return d;
    }
  }
  return undefined;
}

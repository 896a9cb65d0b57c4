// Type-directed matching: resolves what a callee really is with the checker and finds the rule of
// the catalogue (rules/) it belongs to. Takes `ts` from the host; never imports its own.
import type * as TS from 'typescript';
import { normalizeModuleName, packageOfFile, type Rule, type TargetMatch } from '../rules/index.js';

/** Where a resolved declaration lives. */
interface DeclInfo {
  /** module names it belongs to: package, ambient module name, import specifier */
  modules: Set<string>;
  /** declaring class/interface name */
  owner: string | undefined;
  /** declared in the global scope of a declaration file (lib.*.d.ts, `declare global`) */
  global: boolean;
  /** declared in the project's own (non-declaration, non node_modules) source */
  local: boolean;
  /** module specifiers the declaring file imports (for generated code: TargetMatch.generatedBy) */
  imports: ReadonlySet<string>;
}

export class Matcher {
  constructor(
    private readonly ts: typeof TS,
    private readonly checker: TS.TypeChecker,
    private readonly rules: readonly Rule[],
  ) {}

  private readonly importsOf = new WeakMap<TS.SourceFile, ReadonlySet<string>>();

  private fileImports(sf: TS.SourceFile): ReadonlySet<string> {
    let set = this.importsOf.get(sf);
    if (!set) {
      const found = new Set<string>();
      for (const st of sf.statements) {
        if ((this.ts.isImportDeclaration(st) || this.ts.isExportDeclaration(st)) && st.moduleSpecifier && this.ts.isStringLiteral(st.moduleSpecifier)) found.add(st.moduleSpecifier.text);
      }
      set = found;
      this.importsOf.set(sf, set);
    }
    return set;
  }

  /**
   * The rule a callee expression matches (`pool.query`, `fetch`, `app.get`, `Traced`), by resolving the
   * called name's declaration: user code with the same name never matches a library rule.
   */
  matchCallee(callee: TS.Expression, kinds: ReadonlyArray<Rule['kind']>): { rule: Rule; name: string } | undefined {
    const ts = this.ts;
    let nameNode: TS.Identifier | undefined;
    let rootIdent: TS.Identifier | undefined;
    if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.name)) {
      nameNode = callee.name;
      if (ts.isIdentifier(callee.expression)) rootIdent = callee.expression;
    } else if (ts.isIdentifier(callee)) {
      nameNode = callee;
      rootIdent = callee;
    } else return undefined;
    let symbol = this.checker.getSymbolAtLocation(nameNode);
    if (!symbol) return undefined;
    const specifiers = new Set<string>();
    // The import specifier a name came through (`import { Traced } from 'spanforge'`, `import http from 'node:http'`).
    if (rootIdent) {
      const rootSym = this.checker.getSymbolAtLocation(rootIdent);
      const spec = rootSym ? this.importSpecifierOf(rootSym) : undefined;
      if (spec) specifiers.add(spec);
    }
    if (symbol.flags & ts.SymbolFlags.Alias) symbol = this.checker.getAliasedSymbol(symbol);
    const name = symbol.name === 'default' ? nameNode.text : symbol.name;
    const decls = symbol.declarations ?? [];
    if (decls.length === 0) return undefined;
    const infos = decls.map((d) => this.declInfo(d, specifiers));
    for (const rule of this.rules) {
      if (!kinds.includes(rule.kind)) continue;
      if (!rule.target.names.includes(name)) continue;
      if (infos.some((info) => targetMatches(rule.target, info))) return { rule, name };
    }
    return undefined;
  }

  /**
   * The loop rule an iterated expression matches (`for await (const m of sub)`): by the declaration of
   * its type (`Subscription`, `ConsumerMessages` in nats' types), never by the variable's name.
   */
  matchIterable(expr: TS.Expression): Rule | undefined {
    const loops = this.rules.filter((r) => r.kind === 'loop');
    if (loops.length === 0) return undefined;
    const type = this.checker.getTypeAtLocation(expr);
    const candidates = type.isUnion() ? type.types : [type];
    for (const t of candidates) {
      for (const sym of [t.aliasSymbol, t.getSymbol()]) {
        if (!sym) continue;
        const decls = sym.declarations ?? [];
        if (decls.length === 0) continue;
        const infos = decls.map((d) => this.declInfo(d, new Set()));
        for (const rule of loops) {
          if (!rule.target.names.includes(sym.name)) continue;
          if (infos.some((info) => !info.local && rule.target.module.some((m) => info.modules.has(m)))) return rule;
        }
      }
    }
    return undefined;
  }

  private importSpecifierOf(sym: TS.Symbol): string | undefined {
    const ts = this.ts;
    if (!(sym.flags & ts.SymbolFlags.Alias)) return undefined;
    for (const d of sym.declarations ?? []) {
      let n: TS.Node | undefined = d;
      while (n && !ts.isImportDeclaration(n) && !ts.isImportEqualsDeclaration(n)) n = n.parent;
      if (!n) continue;
      if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) return normalizeModuleName(n.moduleSpecifier.text);
      if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference) && ts.isStringLiteral(n.moduleReference.expression)) {
        return normalizeModuleName(n.moduleReference.expression.text);
      }
    }
    return undefined;
  }

  private declInfo(decl: TS.Declaration, specifiers: Set<string>): DeclInfo {
    const ts = this.ts;
    const sf = decl.getSourceFile();
    const modules = new Set<string>(specifiers);
    const pkg = packageOfFile(sf.fileName);
    if (pkg) modules.add(pkg);
    let owner: string | undefined;
    let global = false;
    let inAmbientModule = false;
    const parent = decl.parent;
    if (parent && (ts.isClassDeclaration(parent) || ts.isInterfaceDeclaration(parent)) && parent.name) owner = parent.name.text;
    else if (parent && (ts.isTypeLiteralNode(parent) || ts.isClassExpression(parent))) {
      // A member of an anonymous type or class: a mixin's (mysql2's `QueryableBase(Base)` returns
      // `{ new (...): { query(...) } }`). Its owner is the nearest named declaration around it.
      let variable: string | undefined;
      for (let n: TS.Node | undefined = parent.parent; n; n = n.parent) {
        if ((ts.isFunctionDeclaration(n) || ts.isClassDeclaration(n) || ts.isInterfaceDeclaration(n) || ts.isTypeAliasDeclaration(n)) && n.name) {
          owner = n.name.text;
          break;
        }
        if (!variable && ts.isVariableDeclaration(n) && ts.isIdentifier(n.name)) variable = n.name.text;
      }
      // Else the variable whose declared type it is: node-redis's command table `declare const
      // _default: { GET: …; get: … }`, which RedisClientType's mapped `WithCommands` type maps over
      // (a mapped member keeps the declarations of the member it was mapped from).
      owner ??= variable;
    }
    for (let n: TS.Node | undefined = parent; n; n = n.parent) {
      if (ts.isModuleDeclaration(n)) {
        if (ts.isStringLiteral(n.name)) {
          modules.add(normalizeModuleName(n.name.text));
          inAmbientModule = true;
        } else if (n.name.text === 'global' && n.flags & ts.NodeFlags.GlobalAugmentation) global = true;
      }
    }
    if (sf.isDeclarationFile && !inAmbientModule && !ts.isExternalModule(sf)) global = true;
    const local = !sf.isDeclarationFile && !pkg;
    return { modules, owner, global, local, imports: this.fileImports(sf) };
  }
}

function targetMatches(t: TargetMatch, info: DeclInfo): boolean {
  if (t.owner && (!info.owner || !t.owner.includes(info.owner))) return false;
  if (t.ownerSuffix && (!info.owner || info.owner === t.ownerSuffix || !info.owner.endsWith(t.ownerSuffix))) return false;
  if (t.generatedBy && !t.generatedBy.some((m) => info.imports.has(m))) return false;
  if (t.global && info.global) return true;
  // A user rule without module matches any declaration, the project's own included.
  if (t.module.length === 0) return true;
  for (const m of t.module) if (info.modules.has(m)) return true;
  return false;
}

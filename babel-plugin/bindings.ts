// Binding analysis for the Babel front-end: without a type checker, decides what an expression is by
// following import/require bindings, `new`/factory results and visible re-assignments within one module.
import type { NodePath } from '@babel/core';
import type * as BT from '@babel/types';

/**
 * What the analysis knows about an expression. `module` is something reachable from a library's
 * exports (`pg`, `pg.Pool`, `express.Router`); `instance` an object of a library class (`new Pool()`);
 * `promise` a promise of such a value (`pool.connect()`); `global` an unshadowed global (`fetch`);
 * `local` the user's own function/class/object (never a library call); `unknown` carries the reason.
 */
export type Value =
  | { readonly k: 'module'; readonly module: string; readonly path: readonly string[] }
  | { readonly k: 'instance'; readonly module: string; readonly cls: string }
  | { readonly k: 'promise'; readonly of: Value }
  | { readonly k: 'global'; readonly name: string }
  | { readonly k: 'local'; readonly what: string }
  | { readonly k: 'user'; readonly cls: string; readonly module: string | undefined }
  /** From annotations: `pools: Pool[]` (array of), `getPool: () => Pool` (function returning). */
  | { readonly k: 'array'; readonly of: Value }
  | { readonly k: 'fn'; readonly returns: Value }
  | { readonly k: 'unknown'; readonly why: string };

export type { ClassRef, MethodResult, ParamRef, PluginFileConvention, Producers } from '../rules/integration.js';
import type { ClassRef, ParamRef, Producers } from '../rules/integration.js';
import { DELEGATE_SUFFIX, MAX_HOPS, exportedPath, generatedClientOf, importsGeneratedClient, programOf, resolveRelative } from './generated.js';

const MAX_DEPTH = 24;

/** Resolves expressions of one program to Values; memoised per node. */
export class BindingAnalysis {
  private readonly memo = new WeakMap<object, Value>();
  private readonly inProgress = new WeakSet<object>();

  /** `file`: the project-relative path, for file conventions (Fastify's `routes/`); none → not applied. */
  /**
   * `absFile`: the file's absolute path, to resolve relative imports to a generated client (see
   * generated.ts); `hops`: how many modules were followed to get here.
   */
  constructor(
    private readonly producers: Producers,
    private readonly file?: string,
    private readonly absFile?: string,
    private readonly hops = 0,
  ) {}

  private evidence: boolean | undefined;

  /**
   * Whether this module shows Prisma is in play (it imports a generated client, a module that does, or
   * an `@prisma/` package): there, a model operation on a receiver that cannot be known is reported.
   */
  usesGeneratedClient(program: NodePath<BT.Program>): boolean {
    if (this.evidence !== undefined) return this.evidence;
    this.evidence = false;
    for (const st of program.node.body) {
      const spec = st.type === 'ImportDeclaration' || ((st.type === 'ExportNamedDeclaration' || st.type === 'ExportAllDeclaration') && st.source) ? st.source!.value : undefined;
      if (!spec) continue;
      if (spec.startsWith('@prisma/')) this.evidence = true;
      const f = this.absFile ? resolveRelative(this.absFile, spec) : undefined;
      if (f && importsGeneratedClient(f)) this.evidence = true;
    }
    return this.evidence;
  }

  /** A relative module's export when it is (or is a value of) a generated client; undefined otherwise. */
  private generatedValue(spec: string, path: readonly string[]): Value | undefined {
    if (!this.absFile) return undefined;
    const f = resolveRelative(this.absFile, spec);
    if (!f) return undefined;
    const gen = generatedClientOf(f);
    if (gen) return { k: 'module', module: gen, path: path[0] === 'default' ? path.slice(1) : path };
    // A module of the project (`lib/prisma.ts`): its export, followed when it is a generated client's value.
    if (this.hops >= MAX_HOPS || path.length === 0 || !importsGeneratedClient(f)) return undefined;
    const program = programOf(f);
    const at = program && exportedPath(program, path[0]!);
    if (!at) return undefined;
    let v = new BindingAnalysis(this.producers, undefined, f, this.hops + 1).valueOf(at);
    for (const name of path.slice(1)) v = this.member(v, name);
    return (v.k === 'instance' || v.k === 'module') && DELEGATE_SUFFIX[v.module] !== undefined ? v : undefined;
  }

  /** The canonical module name of a specifier, or undefined when it is not a bare module we know. */
  canonicalModule(spec: string): string {
    return this.producers.aliases[spec] ?? spec;
  }

  valueOf(path: NodePath, depth = 0): Value {
    const node = path.node as object;
    const cached = this.memo.get(node);
    if (cached) return cached;
    if (depth > MAX_DEPTH) return unknown('expression too deep to follow');
    if (this.inProgress.has(node)) return unknown('circular assignment');
    this.inProgress.add(node);
    let v: Value;
    try {
      v = this.compute(path, depth + 1);
    } finally {
      this.inProgress.delete(node);
    }
    this.memo.set(node, v);
    return v;
  }

  private compute(path: NodePath, depth: number): Value {
    const node = path.node as BT.Node;
    switch (node.type) {
      case 'ParenthesizedExpression':
      case 'TSAsExpression':
      case 'TSSatisfiesExpression':
      case 'TSNonNullExpression':
      case 'TSTypeAssertion':
      case 'TypeCastExpression':
        return this.valueOf(path.get('expression') as NodePath, depth);
      case 'Identifier':
        return this.identifier(path as NodePath<BT.Identifier>, depth);
      case 'MemberExpression':
      case 'OptionalMemberExpression': {
        const objPath = path.get('object') as NodePath;
        const name = memberName(node);
        if (objPath.isThisExpression() && name !== undefined) return this.thisMember(objPath, name);
        const obj = this.valueOf(objPath, depth);
        if (obj.k === 'array' && (node as BT.MemberExpression).computed) return obj.of;
        if (name === undefined) return unknown('computed member name');
        if (obj.k !== 'module' && obj.k !== 'instance') {
          const cast = this.castMember(objPath, name);
          if (cast) return cast;
        }
        return this.member(obj, name);
      }
      case 'CallExpression':
      case 'OptionalCallExpression':
        return this.call(path as NodePath<BT.CallExpression | BT.OptionalCallExpression>, depth);
      case 'NewExpression': {
        const userClass = this.userClass(path.get('callee') as NodePath);
        if (userClass) return userClass;
        const callee = this.valueOf(path.get('callee') as NodePath, depth);
        if (callee.k === 'module') {
          const cls = this.producers.constructs[key(callee)];
          if (cls) return instance(cls);
          return unknown(`new ${key(callee)}() is not a class the catalogue knows`);
        }
        if (callee.k === 'local') return { k: 'local', what: `instance of ${callee.what}` };
        // new Map(), new URL(): built-ins are never catalogue classes.
        if (callee.k === 'global') return { k: 'local', what: `instance of global ${callee.name}` };
        return passUnknown(callee, 'constructor');
      }
      case 'AwaitExpression': {
        const arg = this.valueOf(path.get('argument') as NodePath, depth);
        if (arg.k === 'promise') return arg.of;
        if (arg.k === 'instance' || arg.k === 'module' || arg.k === 'local') return arg; // await of a non-promise is the value
        return arg;
      }
      case 'SequenceExpression': {
        const exprs = path.get('expressions') as NodePath[];
        return this.valueOf(exprs[exprs.length - 1]!, depth);
      }
      case 'AssignmentExpression':
        if ((node as BT.AssignmentExpression).operator === '=') return this.valueOf(path.get('right') as NodePath, depth);
        return unknown('compound assignment');
      case 'ConditionalExpression':
        return this.join(
          [this.valueOf(path.get('consequent') as NodePath, depth), this.valueOf(path.get('alternate') as NodePath, depth)],
          'the two branches of a conditional differ',
        );
      case 'LogicalExpression':
        return this.join(
          [this.valueOf(path.get('left') as NodePath, depth), this.valueOf(path.get('right') as NodePath, depth)],
          'the two sides of a logical expression differ',
        );
      case 'ThisExpression': {
        // `this` in an instance method of a named class: an instance of that class (user rules).
        const fn = path.findParent((q) => q.isFunction() && !q.isArrowFunctionExpression());
        if (fn && (fn.isClassMethod() || fn.isClassPrivateMethod()) && !fn.node.static) {
          const cls = fn.parentPath?.parentPath?.node;
          if (cls && (cls.type === 'ClassDeclaration' || cls.type === 'ClassExpression') && cls.id) return { k: 'user', cls: cls.id.name, module: undefined };
        }
        return unknown('`this` has no known type without a type checker');
      }
      case 'Super': {
        // super.query() in a class that extends a library class (class MyPool extends Pool).
        const cls = path.findParent((q) => q.isClass()) as NodePath<BT.Class> | null;
        const superClass = cls?.get('superClass') as NodePath | undefined;
        if (!superClass?.node) return unknown('super outside a derived class');
        const v = this.valueOf(superClass, depth);
        if (v.k === 'module') {
          const ref = this.producers.constructs[key(v)];
          if (ref) return instance(ref);
        }
        return unknown('the super class is not a library class the catalogue knows');
      }
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        return { k: 'local', what: 'function' };
      case 'ClassExpression':
        return { k: 'local', what: 'class' };
      case 'ObjectExpression':
        return { k: 'local', what: 'object literal' };
      case 'StringLiteral':
      case 'NumericLiteral':
      case 'TemplateLiteral':
      case 'ArrayExpression':
        return { k: 'local', what: 'literal' };
      default:
        return unknown(`a ${node.type} is not followed`);
    }
  }

  private identifier(path: NodePath<BT.Identifier>, depth: number): Value {
    const name = path.node.name;
    if (name === 'undefined') return { k: 'local', what: 'undefined' };
    const binding = path.scope.getBinding(name);
    if (!binding) return { k: 'global', name };
    const decl = binding.path;
    switch (binding.kind) {
      case 'module': {
        const importDecl = decl.parentPath?.node as BT.ImportDeclaration | undefined;
        if (!importDecl || importDecl.type !== 'ImportDeclaration') return unknown('unusual import');
        const mod = this.canonicalModule(importDecl.source.value);
        const spec = decl.node as BT.Node;
        if (spec.type === 'ImportNamespaceSpecifier' || spec.type === 'ImportDefaultSpecifier') {
          return this.moduleValue(mod, []);
        }
        if (spec.type === 'ImportSpecifier') {
          const imported = spec.imported.type === 'Identifier' ? spec.imported.name : spec.imported.value;
          return this.moduleValue(mod, [imported]);
        }
        return unknown('unusual import');
      }
      case 'hoisted':
        return { k: 'local', what: `function ${name}` };
      case 'param':
        return this.param(binding.path, name, depth);
      default:
        break;
    }
    // var/let/const/local (class declarations are 'let'/'local')
    if (decl.isClassDeclaration()) return { k: 'local', what: `class ${name}` };
    if (decl.isFunctionDeclaration()) return { k: 'local', what: `function ${name}` };
    if (decl.isClassExpression() || decl.isFunctionExpression()) return { k: 'local', what: name };
    if (decl.isCatchClause()) return unknown(`${name} is a caught value`);
    const candidates: Value[] = [];
    if (decl.isVariableDeclarator()) {
      const idPath = decl.get('id') as NodePath;
      const init = decl.get('init') as NodePath;
      const parentDecl = decl.parentPath;
      const inForOf =
        parentDecl?.parentPath?.isForOfStatement() || parentDecl?.parentPath?.isForInStatement();
      if (inForOf) return unknown(`${name} is a loop variable`);
      if (init.node) {
        const initVal = this.valueOf(init, depth);
        candidates.push(idPath.isIdentifier() ? initVal : this.destructure(initVal, idPath, name));
      } else if (binding.constantViolations.length === 0) {
        return unknown(`${name} is declared without a value`);
      }
    } else {
      return unknown(`${name} is bound by a ${decl.node.type}`);
    }
    for (const violation of binding.constantViolations) {
      if (violation.isAssignmentExpression() && violation.node.operator === '=' && violation.get('left').isIdentifier()) {
        candidates.push(this.valueOf(violation.get('right') as NodePath, depth));
      } else {
        return unknown(`${name} is re-assigned in a way that is not followed (line ${line(violation)})`);
      }
    }
    return this.join(candidates, `${name} is assigned values of different kinds`);
  }

  /**
   * `new OrderService()` where OrderService is a class of this module or a named import that is
   * not a library class the catalogue knows: an instance of a user class (for user-declared rules).
   */
  userClass(callee: NodePath): Value | undefined {
    if (!callee.isIdentifier()) return undefined;
    const binding = callee.scope.getBinding(callee.node.name);
    if (!binding) return undefined;
    if (binding.path.isClassDeclaration() || binding.path.isClassExpression()) return { k: 'user', cls: callee.node.name, module: undefined };
    if (binding.kind === 'module' && binding.path.isImportSpecifier()) {
      const decl = binding.path.parentPath?.node as BT.ImportDeclaration;
      const imported = binding.path.node.imported;
      const name = imported.type === 'Identifier' ? imported.name : imported.value;
      const gen = this.generatedValue(decl.source.value, [name]);
      const module = gen && gen.k === 'module' ? gen.module : this.canonicalModule(decl.source.value);
      if (this.producers.constructs[`${module}.${name}`]) return undefined;
      return { k: 'user', cls: name, module: module.startsWith('.') ? undefined : module };
    }
    return undefined;
  }

  /**
   * Parameters: a TS annotation naming an imported library class; the function's own declared type
   * (`const plugin: FastifyPluginAsync = async (fastify) => …`); a known callback parameter
   * (`app.register(async (f) => …)`, `fp(async (fastify) => …)`); or a file convention (Fastify's
   * `export default async function (fastify, opts)` in `routes/`).
   */
  private param(paramPath: NodePath, name: string, depth: number): Value {
    const node = paramPath.node as BT.Node;
    const ann = node.type === 'Identifier' ? node.typeAnnotation : undefined;
    if (ann && ann.type === 'TSTypeAnnotation') {
      const fromType = this.typeAnnotation(paramPath, ann.typeAnnotation);
      if (fromType) return fromType;
    }
    const fn = paramPath.parentPath;
    if (fn && (fn.isFunctionExpression() || fn.isArrowFunctionExpression() || fn.isFunctionDeclaration())) {
      const index = (fn.node.params as BT.Node[]).indexOf(node);
      const declared = this.declaredFunctionType(fn, index);
      if (declared) return declared;
      const site = outerExpression(fn);
      if (!fn.isFunctionDeclaration() && site.parentPath?.isCallExpression() && (site.parentPath.node.arguments as BT.Node[]).includes(site.node)) {
        const call = site.parentPath as NodePath<BT.CallExpression>;
        const callee = call.get('callee') as NodePath;
        if (callee.isMemberExpression() || callee.isOptionalMemberExpression()) {
          const method = memberName(callee.node);
          const recv = this.valueOf(callee.get('object') as NodePath, depth);
          if (method && recv.k === 'instance') {
            const res = this.producers.methods[`${recv.module}.${recv.cls}#${method}`];
            if (res?.callbackParam && res.callbackParam.index === index) return instance(res.callbackParam.value);
          }
        } else {
          const c = this.valueOf(callee, depth);
          const ref = c.k === 'module' ? this.producers.callbackCalls[key(c)] : undefined;
          if (ref && ref.index === index) return instance(ref.value);
        }
      }
      if (index === 0 && node.type === 'Identifier') {
        const conv = this.pluginFileParam(fn as NodePath<BT.Function>, node.name);
        if (conv) return conv;
      }
    }
    return unknown(`${name} is a parameter; its type is not known without a type checker`);
  }

  /**
   * The type declared for the function as a whole: `const p: FastifyPluginAsync = async (f) => …`,
   * `(async (f) => …) satisfies FastifyPluginCallback`, `… as FastifyPluginAsync`.
   */
  private declaredFunctionType(fn: NodePath, index: number): Value | undefined {
    if (fn.isFunctionDeclaration()) return undefined;
    let at: NodePath = fn;
    for (let i = 0; i < 8 && at.parentPath; i++) {
      const parent = at.parentPath;
      let type: BT.Node | undefined;
      if (parent.isParenthesizedExpression()) {
        at = parent;
        continue;
      }
      if (parent.isTSSatisfiesExpression() || parent.isTSAsExpression()) type = parent.node.typeAnnotation;
      else if (parent.isVariableDeclarator() && parent.node.init === at.node && parent.node.id.type === 'Identifier') {
        const ann = parent.node.id.typeAnnotation;
        type = ann && ann.type === 'TSTypeAnnotation' ? ann.typeAnnotation : undefined;
      }
      if (!type) return undefined;
      const ref = this.typeReference(parent, type);
      const param = ref ? this.producers.functionTypes[`${ref.module}.${ref.path.join('.')}`] : undefined;
      if (param && param.index === index) return instance(param.value);
      // `x as unknown as T` / `(f satisfies A) as B`: the outermost declared type counts as well.
      if (parent.isTSSatisfiesExpression() || parent.isTSAsExpression()) {
        at = parent;
        continue;
      }
      return undefined;
    }
    return undefined;
  }

  /** Fastify's autoload convention (see `Producers.pluginFiles`) for the first parameter of `fn`. */
  private pluginFileParam(fn: NodePath<BT.Function>, paramName: string): Value | undefined {
    if (!this.file || this.producers.pluginFiles.length === 0) return undefined;
    const dirs = this.file.split('/').slice(0, -1);
    const node = fn.node;
    const shape = node.async ? node.params.length <= 2 : node.params.length === 3 && !node.generator;
    if (!shape || !isDefaultExport(fn)) return undefined;
    const program = fn.findParent((q) => q.isProgram()) as NodePath<BT.Program> | null;
    for (const conv of this.producers.pluginFiles) {
      if (!dirs.some((d) => conv.dirs.includes(d))) continue;
      if (paramName === conv.paramName || (program && importsAny(program, conv.modules, (m) => this.canonicalModule(m)))) return instance(conv.value);
    }
    return undefined;
  }

  /**
   * `this.db` inside a class method: the class's own declaration of `db` — a constructor parameter
   * property or class property with a type annotation naming a library class, or initialised with
   * `new Pool()` — as tsc would type it. `this` in a nested non-arrow function is not followed.
   */
  private thisMember(thisPath: NodePath, name: string): Value {
    const fn = thisPath.findParent((q) => q.isFunction() && !q.isArrowFunctionExpression());
    const cls = fn && (fn.isClassMethod() || fn.isClassPrivateMethod()) ? (fn.parentPath?.parentPath as NodePath<BT.Class>) : undefined;
    if (!cls) return unknown('`this` has no known type without a type checker');
    for (const member of cls.get('body').get('body') as NodePath[]) {
      if (member.isClassProperty() && !member.node.computed && member.node.key.type === 'Identifier' && member.node.key.name === name && !member.node.static) {
        const ann = member.node.typeAnnotation;
        if (ann && ann.type === 'TSTypeAnnotation') {
          const v = this.typeAnnotation(member, ann.typeAnnotation);
          if (v) return v;
        }
        const value = member.get('value') as NodePath;
        if (value.node) return this.valueOf(value);
      }
      if (member.isClassMethod({ kind: 'constructor' })) {
        for (const param of member.node.params) {
          if (param.type !== 'TSParameterProperty') continue;
          const id = param.parameter.type === 'AssignmentPattern' ? param.parameter.left : param.parameter;
          if (id.type === 'Identifier' && id.name === name && id.typeAnnotation?.type === 'TSTypeAnnotation') {
            const v = this.typeAnnotation(member, id.typeAnnotation.typeAnnotation);
            if (v) return v;
          }
        }
      }
    }
    return unknown(`this.${name} is not declared with a library type in the class`);
  }

  /**
   * `g.prisma` where `const g = globalThis as unknown as { prisma: PrismaClient | undefined }` (the
   * usual Prisma/Next.js singleton): the property's declared type, as tsc reads it.
   */
  private castMember(objPath: NodePath, name: string): Value | undefined {
    let n: BT.Node | null | undefined = objPath.node as BT.Node;
    if (n.type === 'Identifier') {
      const binding = objPath.scope.getBinding(n.name);
      if (!binding || !binding.constant || !binding.path.isVariableDeclarator()) return undefined;
      n = binding.path.node.init;
    }
    while (n && n.type === 'ParenthesizedExpression') n = n.expression;
    if (!n || (n.type !== 'TSAsExpression' && n.type !== 'TSSatisfiesExpression')) return undefined;
    const lit = n.typeAnnotation;
    if (lit.type !== 'TSTypeLiteral') return undefined;
    for (const m of lit.members) {
      if (m.type === 'TSPropertySignature' && !m.computed && m.key.type === 'Identifier' && m.key.name === name && m.typeAnnotation?.type === 'TSTypeAnnotation') {
        return this.typeAnnotation(objPath, m.typeAnnotation.typeAnnotation);
      }
    }
    return undefined;
  }

  /** `pool: Pool` / `pool: pg.Pool` where Pool/pg come from an import of the library. */
  typeAnnotation(at: NodePath, type: BT.Node): Value | undefined {
    if (type.type === 'TSArrayType') {
      const of = this.typeAnnotation(at, type.elementType);
      return of ? { k: 'array', of } : undefined;
    }
    if (type.type === 'TSFunctionType' && type.typeAnnotation?.type === 'TSTypeAnnotation') {
      const returns = this.typeAnnotation(at, type.typeAnnotation.typeAnnotation);
      return returns ? { k: 'fn', returns } : undefined;
    }
    if (type.type === 'TSTypeReference' && type.typeName.type === 'Identifier' && (type.typeName.name === 'Promise' || type.typeName.name === 'Array')) {
      const arg = type.typeParameters?.params[0];
      const of = arg ? this.typeAnnotation(at, arg) : undefined;
      if (!of) return undefined;
      return type.typeName.name === 'Promise' ? { k: 'promise', of } : { k: 'array', of };
    }
    if (type.type === 'TSUnionType') {
      // `Pool | undefined | null`: the one library class, with the nullish members dropped.
      const rest = type.types.filter((m) => m.type !== 'TSUndefinedKeyword' && m.type !== 'TSNullKeyword');
      return rest.length === 1 ? this.typeAnnotation(at, rest[0]!) : undefined;
    }
    if (type.type !== 'TSTypeReference') return undefined;
    if (type.typeName.type === 'Identifier') {
      const binding = at.scope.getBinding(type.typeName.name);
      // `s: OrderService` naming a class of this module: an instance of a user class (user rules).
      if (binding && binding.path.isClassDeclaration()) return { k: 'user', cls: type.typeName.name, module: undefined };
    }
    const ref = this.typeReference(at, type);
    if (!ref) return undefined;
    const mod = ref.module;
    const full = ref.path;
    const cls = full[full.length - 1];
    if (!cls) return undefined;
    // `app: Application`, `r: IRouter`: interface names that denote a class the catalogue knows.
    const named = this.producers.types[`${mod}.${full.join('.')}`];
    if (named) return instance(named);
    const known = this.classByName(mod, cls);
    if (known) return instance(known);
    // An imported class the catalogue does not know: the user's own (for user-declared rules).
    return full.length === 1 && ref.named ? { k: 'user', cls, module: mod.startsWith('.') ? undefined : mod } : undefined;
  }

  /**
   * The import a type reference names: `Pool` (import { Pool } from 'pg') → pg + [Pool];
   * `pg.Pool` (import * as pg / import pg) → pg + [Pool]. `named`: it came from a named import.
   */
  private typeReference(at: NodePath, type: BT.Node): { module: string; path: string[]; named: boolean } | undefined {
    if (type.type !== 'TSTypeReference') return undefined;
    const parts: string[] = [];
    let n: BT.Node = type.typeName;
    while (n.type === 'TSQualifiedName') {
      parts.unshift(n.right.name);
      n = n.left;
    }
    if (n.type !== 'Identifier') return undefined;
    const binding = at.scope.getBinding(n.name);
    // `import { type PoolClient }` gives a binding of kind 'unknown'; the import declaration is what counts.
    if (!binding || !(binding.path.isImportSpecifier() || binding.path.isImportDefaultSpecifier() || binding.path.isImportNamespaceSpecifier())) return undefined;
    const importDecl = binding.path.parentPath?.node;
    if (!importDecl || importDecl.type !== 'ImportDeclaration') return undefined;
    const spec = binding.path.node as BT.Node;
    const base =
      spec.type === 'ImportSpecifier'
        ? [spec.imported.type === 'Identifier' ? spec.imported.name : spec.imported.value]
        : [];
    const gen = this.generatedValue(importDecl.source.value, []);
    if (gen && gen.k === 'module') return { module: gen.module, path: [...base, ...parts], named: spec.type === 'ImportSpecifier' };
    return { module: this.canonicalModule(importDecl.source.value), path: [...base, ...parts], named: spec.type === 'ImportSpecifier' };
  }

  private classByName(module: string, cls: string): ClassRef | undefined {
    for (const table of [this.producers.constructs, this.producers.calls]) {
      for (const v of Object.values(table)) {
        const ref = 'promiseOf' in v ? v.promiseOf : v;
        if (ref.module === module && ref.cls === cls) return ref;
      }
    }
    for (const res of Object.values(this.producers.methods)) {
      const r = res.returns;
      const ref = r === 'self' ? undefined : 'promiseOf' in r ? r.promiseOf : r;
      if (ref && ref.module === module && ref.cls === cls) return ref;
      if (res.callbackParam?.value.module === module && res.callbackParam.value.cls === cls) return res.callbackParam.value;
    }
    return undefined;
  }

  private destructure(init: Value, idPath: NodePath, name: string): Value {
    // const { Pool } = require('pg') / const { Router: R } = express: find the property leading to `name`.
    if (!idPath.isObjectPattern()) return unknown(`${name} comes from array destructuring`);
    for (const prop of idPath.get('properties')) {
      if (!prop.isObjectProperty()) continue;
      const keyName = propKey(prop.node);
      const value = prop.get('value') as NodePath;
      if (keyName === undefined) continue;
      const target = value.isAssignmentPattern() ? (value.get('left') as NodePath) : value;
      if (target.isIdentifier() && target.node.name === name) return this.member(init, keyName);
      if (target.isObjectPattern()) {
        const inner = this.destructure(this.member(init, keyName), target, name);
        if (inner.k !== 'unknown' || !inner.why.startsWith('not in')) return inner;
      }
    }
    return unknown(`not in the destructuring pattern`);
  }

  member(obj: Value, name: string): Value {
    if (obj.k === 'module') return this.moduleValue(obj.module, [...obj.path, name]);
    if (obj.k === 'instance') {
      // A generated client's model property (`prisma.user`): its `<Model>Delegate` (Prisma's naming).
      const suffix = DELEGATE_SUFFIX[obj.module];
      if (suffix !== undefined && !obj.cls.endsWith(suffix) && /^[a-z]\w*$/i.test(name)) return { k: 'instance', module: obj.module, cls: name[0]!.toUpperCase() + name.slice(1) + suffix };
      return unknown(`${obj.cls}.${name} is a property of a library object`);
    }
    if (obj.k === 'global' && obj.name === 'globalThis') return { k: 'global', name };
    // A property of the user's own object can hold anything (`deps.pool`): not followed.
    if (obj.k === 'local') return unknown(`it is the property ${name} of ${obj.what}; properties are not followed`);
    if (obj.k === 'user') return { k: 'local', what: `${obj.cls}.${name}` };
    return passUnknown(obj, 'object');
  }

  private moduleValue(module: string, path: readonly string[]): Value {
    if (module.startsWith('.') || module.startsWith('/')) {
      const gen = this.generatedValue(module, path);
      if (gen) return gen;
      return unknown(`it is imported from ${module}; values of other modules are not followed`);
    }
    const self = this.producers.selfExports[module] ?? ['default'];
    let p = path;
    while (p.length > 0 && self.includes(p[0]!)) p = p.slice(1);
    return { k: 'module', module, path: p };
  }

  private call(path: NodePath<BT.CallExpression | BT.OptionalCallExpression>, depth: number): Value {
    const calleePath = path.get('callee') as NodePath;
    const args = path.node.arguments;
    // require('x') with an unshadowed require.
    if (calleePath.isIdentifier({ name: 'require' }) && !path.scope.getBinding('require')) {
      const a0 = args[0];
      if (args.length === 1 && a0 && a0.type === 'StringLiteral') return this.moduleValue(this.canonicalModule(a0.value), []);
      return unknown('require() of a computed name');
    }
    // A compiler's interop helper around require('x') (esbuild's `__toESM`, as tsx emits in a CommonJS
    // package; tsc's `__importDefault`/`__importStar`; Babel's `_interopRequireDefault`): the module
    // itself, its `.default` the module's default export.
    if (calleePath.isIdentifier() && INTEROP_HELPERS.has(calleePath.node.name) && args[0]?.type === 'CallExpression') {
      const inner = (path.get('arguments') as NodePath[])[0] as NodePath<BT.CallExpression>;
      const ic = inner.node.callee;
      if (ic.type === 'Identifier' && ic.name === 'require' && !path.scope.getBinding('require')) return this.call(inner, depth);
    }
    if (calleePath.isMemberExpression() || calleePath.isOptionalMemberExpression()) {
      const method = memberName(calleePath.node);
      const recv = this.valueOf(calleePath.get('object') as NodePath, depth);
      if (method !== undefined && recv.k === 'instance') {
        const res = this.producers.methods[`${recv.module}.${recv.cls}#${method}`];
        if (!res) return unknown(`the result of ${recv.cls}.${method}() is not followed`);
        if (res.unlessCallback && args.some((a) => a.type === 'FunctionExpression' || a.type === 'ArrowFunctionExpression' || a.type === 'Identifier')) {
          const last = args[args.length - 1];
          if (last && last.type !== 'StringLiteral' && last.type !== 'ObjectExpression') {
            return unknown(`${recv.cls}.${method}() with a callback returns nothing to follow`);
          }
        }
        if (res.returns === 'self') return recv;
        return 'promiseOf' in res.returns ? { k: 'promise', of: instance(res.returns.promiseOf) } : instance(res.returns);
      }
    }
    const declared = this.declaredReturn(calleePath);
    if (declared) return declared;
    const callee = this.valueOf(calleePath, depth);
    if (callee.k === 'fn') return callee.returns;
    if (callee.k === 'module') {
      const cls = this.producers.calls[key(callee)];
      if (cls) return 'promiseOf' in cls ? { k: 'promise', of: instance(cls.promiseOf) } : instance(cls);
      return unknown(`the result of ${key(callee)}() is not followed`);
    }
    // What a local function returns is its declared/inferred type for tsc; Babel does not follow it.
    if (callee.k === 'local') return unknown(`it is the result of calling ${callee.what}; return values are not followed`);
    return passUnknown(callee, 'callee');
  }

  /** `getPool()` where `function getPool(): Pool` (or `declare function`, or a const arrow) declares its return type. */
  private declaredReturn(calleePath: NodePath): Value | undefined {
    if (!calleePath.isIdentifier()) return undefined;
    const binding = calleePath.scope.getBinding(calleePath.node.name);
    const d = binding?.path;
    if (!d) return undefined;
    let fn: BT.Node | null | undefined = d.node;
    if (d.isVariableDeclarator() && binding.constant) fn = d.node.init;
    if (!fn || !(fn.type === 'FunctionDeclaration' || fn.type === 'TSDeclareFunction' || fn.type === 'ArrowFunctionExpression' || fn.type === 'FunctionExpression')) return undefined;
    const rt = fn.returnType;
    if (!rt || rt.type !== 'TSTypeAnnotation') return undefined;
    return this.typeAnnotation(d, rt.typeAnnotation);
  }

  private join(values: Value[], why: string): Value {
    const first = values[0];
    if (!first) return unknown(why);
    for (const v of values) if (v.k === 'unknown') return v;
    for (const v of values.slice(1)) if (!sameValue(first, v)) return unknown(why);
    return first;
  }
}

export function key(v: { module: string; path: readonly string[] }): string {
  return [v.module, ...v.path].join('.');
}

export function memberName(node: BT.Node): string | undefined {
  if (node.type !== 'MemberExpression' && node.type !== 'OptionalMemberExpression') return undefined;
  const p = node.property;
  if (!node.computed && p.type === 'Identifier') return p.name;
  if (p.type === 'StringLiteral') return p.value;
  return undefined;
}

function propKey(node: BT.ObjectProperty): string | undefined {
  const k = node.key;
  if (!node.computed && k.type === 'Identifier') return k.name;
  if (k.type === 'StringLiteral') return k.value;
  return undefined;
}

function sameValue(a: Value, b: Value): boolean {
  if (a.k !== b.k) return false;
  switch (a.k) {
    case 'module':
      return b.k === 'module' && a.module === b.module && a.path.join('.') === b.path.join('.');
    case 'instance':
      return b.k === 'instance' && a.module === b.module && a.cls === b.cls;
    case 'promise':
      return b.k === 'promise' && sameValue(a.of, b.of);
    case 'global':
      return b.k === 'global' && a.name === b.name;
    case 'local':
      return true;
    case 'user':
      return b.k === 'user' && a.cls === b.cls && a.module === b.module;
    case 'array':
      return b.k === 'array' && sameValue(a.of, b.of);
    case 'fn':
      return b.k === 'fn' && sameValue(a.returns, b.returns);
    default:
      return false;
  }
}

/** The function expression with the parentheses and type assertions around it (`(async (f) => …) as T`). */
function outerExpression(fn: NodePath): NodePath {
  let at = fn;
  while (at.parentPath && (at.parentPath.isParenthesizedExpression() || at.parentPath.isTSAsExpression() || at.parentPath.isTSSatisfiesExpression())) at = at.parentPath;
  return at;
}

/**
 * The module's default export: `export default function (…)`, `export default async (…) => …`,
 * `module.exports = …`, or a top-level function/const that `export default name` / `module.exports = name` exports.
 */
function isDefaultExport(fn: NodePath): boolean {
  const at = outerExpression(fn);
  const parent = at.parentPath;
  if (!parent) return false;
  if (parent.isExportDefaultDeclaration()) return true;
  if (isModuleExportsAssignment(parent, at.node)) return true;
  let name: string | undefined;
  let scopeAt: NodePath = at;
  if (fn.isFunctionDeclaration() && fn.node.id && fn.parentPath?.isProgram()) name = fn.node.id.name;
  else if (parent.isVariableDeclarator() && parent.node.init === at.node && parent.node.id.type === 'Identifier' && parent.parentPath?.parentPath?.isProgram()) {
    name = parent.node.id.name;
    scopeAt = parent;
  }
  if (!name) return false;
  const binding = scopeAt.scope.getBinding(name);
  if (!binding || !binding.constant) return false;
  return binding.referencePaths.some((r) => r.parentPath?.isExportDefaultDeclaration() || (r.parentPath !== null && isModuleExportsAssignment(r.parentPath, r.node)));
}

function isModuleExportsAssignment(p: NodePath, right: BT.Node): boolean {
  if (!p.isAssignmentExpression() || p.node.operator !== '=' || p.node.right !== right) return false;
  const l = p.node.left;
  return (
    l.type === 'MemberExpression' && l.object.type === 'Identifier' && l.object.name === 'module' && !l.computed && l.property.type === 'Identifier' && l.property.name === 'exports' && !p.scope.getBinding('module')
  );
}

const INTEROP_HELPERS = new Set(['__toESM', '__importDefault', '__importStar', '_interopRequireDefault', '_interopRequireWildcard']);

/** Whether the program imports (or requires at top level) one of the modules. */
function importsAny(program: NodePath<BT.Program>, modules: readonly string[], canonical: (m: string) => string): boolean {
  // `@fastify/*` stands for every module of the scope.
  const listed = (spec: string) => {
    const m = canonical(spec);
    return modules.some((x) => (x.endsWith('/*') ? m.startsWith(x.slice(0, -1)) : m === x));
  };
  for (const st of program.node.body) {
    if (st.type === 'ImportDeclaration' && listed(st.source.value)) return true;
    if (st.type === 'VariableDeclaration') {
      for (const d of st.declarations) {
        const init = d.init;
        if (init && init.type === 'CallExpression' && init.callee.type === 'Identifier' && init.callee.name === 'require' && init.arguments[0]?.type === 'StringLiteral' && listed(init.arguments[0].value)) return true;
      }
    }
  }
  return false;
}

function instance(ref: ClassRef): Value {
  return { k: 'instance', module: ref.module, cls: ref.cls };
}

function unknown(why: string): Value {
  return { k: 'unknown', why };
}

function passUnknown(v: Value, role: string): Value {
  if (v.k === 'unknown') return v;
  if (v.k === 'global') return unknown(`the ${role} is the global ${v.name}`);
  return unknown(`the ${role} is not a library value`);
}

function line(p: NodePath): number {
  return p.node.loc?.start.line ?? 0;
}

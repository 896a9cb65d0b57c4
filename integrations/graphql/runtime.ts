// GraphQL run-time handlers. Every server shape ends in the same three things: the request's
// transaction named by the operation (`query GetUser`, the operation's name or else its root fields, as
// elastic-apm-node names GraphQL transactions), one `db`/`graphql`/`execute` span per operation
// (`GraphQL: query GetUser`), and the GraphQL errors of the result reported (handled: the server answered
// them; the resolver's own error when it threw, so the frames are the resolver's). Resolver spans
// (`app`/`graphql`/`resolve`, `Query.user`) only when the graphqlResolverSpans option is on.
//  - `graphql`: graphql-js execute/executeSync/graphql/graphqlSync called by the app: the call runs with the
//    execute span as the current context, so what resolvers do (pg queries, fetch) is its child.
//  - `graphql-apollo`: Apollo Server's start / startStandaloneServer: spanforge's plugin is added with the
//    server's own addPlugin (public API, before start). Apollo has no hook that runs the execution inside a
//    context, so spans of resolvers are children of the transaction, not of the execute span.
//  - `graphql-yoga`: createYoga(opts) is called with a copy of opts whose plugins end with an envelop
//    plugin; its onExecute replaces the execute function (setExecuteFn) by one running in the span.
//  - `graphql-resolvers`: createSchema/makeExecutableSchema({ typeDefs, resolvers }) get a copy of the
//    resolver map with wrapped functions (resolver spans, Yoga and graphql-tools schemas).
import { inExitSpan, report, runCall, settle, startSpan, type AbiCore, type CallHandler, type Site, type Span } from '../../runtime/abi-kit.js';

type Fn = (...a: unknown[]) => unknown;
type Obj = Record<string, unknown>;
type Tx = NonNullable<ReturnType<AbiCore['currentTransaction']>>;

/** The request transaction is bound as current context at arrival (runtime/abi.ts subscribeArrival). */
const BIND_ARRIVAL = Symbol.for('spanforge.request.bindArrival');
const WRAPPED = Symbol.for('spanforge.wrapped');

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object';
}
function isPlain(v: unknown): v is Obj {
  if (!isObj(v)) return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

// ---------------------------------------------------------------------------------------------
// Operation labels: `query GetUser`, `query hello` (anonymous: root fields), `mutation Rename`.

interface Op {
  type: string;
  name: string;
}

interface AstNode {
  kind?: string;
  name?: { value?: string };
  operation?: string;
  selectionSet?: { selections?: AstNode[] };
  typeCondition?: unknown;
}

function rootFields(set: AstNode['selectionSet'], defs: AstNode[], out: string[], depth: number): string[] {
  if (depth > 10 || !set || !Array.isArray(set.selections)) return out;
  for (const s of set.selections) {
    if (s?.kind === 'Field' && typeof s.name?.value === 'string') {
      if (!out.includes(s.name.value)) out.push(s.name.value);
    } else if (s?.kind === 'InlineFragment') rootFields(s.selectionSet, defs, out, depth + 1);
    else if (s?.kind === 'FragmentSpread') {
      const f = defs.find((d) => d?.kind === 'FragmentDefinition' && d.name?.value === s.name?.value);
      if (f) rootFields(f.selectionSet, defs, out, depth + 1);
    }
  }
  return out;
}

/** The operation a parsed document runs (graphql-js picks it the same way: by name, or the only one). */
export function opOfDocument(doc: unknown, operationName: unknown): Op | undefined {
  try {
    const defs = (doc as { definitions?: AstNode[] } | undefined)?.definitions;
    if (!Array.isArray(defs)) return undefined;
    const ops = defs.filter((d) => d?.kind === 'OperationDefinition');
    const op = typeof operationName === 'string' && operationName ? ops.find((d) => d.name?.value === operationName) : ops.length === 1 ? ops[0] : undefined;
    if (!op) return undefined;
    const name = op.name?.value || rootFields(op.selectionSet, defs, [], 0).join(', ');
    return { type: op.operation || 'query', name };
  } catch {
    return undefined;
  }
}

/** Punctuators and names of a GraphQL source (strings, comments, numbers, variables skipped). */
function tokens(src: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = src.length;
  while (i < n && out.length < 100_000) {
    const c = src[i]!;
    if (c === '#') {
      while (i < n && src[i] !== '\n' && src[i] !== '\r') i++;
    } else if (c === '"') {
      if (src.startsWith('"""', i)) {
        i += 3;
        while (i < n && !src.startsWith('"""', i)) i += src[i] === '\\' && src.startsWith('\\"""', i) ? 4 : 1;
        i += 3;
      } else {
        i++;
        while (i < n && src[i] !== '"' && src[i] !== '\n') i += src[i] === '\\' ? 2 : 1;
        i++;
      }
    } else if (c === '$') {
      i++;
      while (i < n && /[_0-9A-Za-z]/.test(src[i]!)) i++;
    } else if (/[_A-Za-z]/.test(c)) {
      const s = i;
      while (i < n && /[_0-9A-Za-z]/.test(src[i]!)) i++;
      out.push(src.slice(s, i));
    } else if (src.startsWith('...', i)) {
      out.push('...');
      i += 3;
    } else if ('{}()[]:@'.includes(c)) {
      out.push(c);
      i++;
    } else if (/[0-9-]/.test(c)) {
      while (i < n && /[0-9.eE+-]/.test(src[i]!)) i++;
    } else i++;
  }
  return out;
}

function skipGroup(t: string[], i: number, open: string, close: string): number {
  let depth = 0;
  for (; i < t.length; i++) {
    if (t[i] === open) depth++;
    else if (t[i] === close && --depth === 0) return i + 1;
  }
  return i;
}

/** Root field names of the selection set starting at t[i] === '{' (fragment spreads not followed). */
function fieldsAt(t: string[], i: number, out: string[]): void {
  const end = skipGroup(t, i, '{', '}') - 1;
  i++;
  while (i < end) {
    const tok = t[i]!;
    if (tok === '{') i = skipGroup(t, i, '{', '}');
    else if (tok === '(') i = skipGroup(t, i, '(', ')');
    else if (tok === '@') i += 2;
    else if (tok === '...') {
      if (t[i + 1] === 'on') i += 3;
      else if (t[i + 1] === '{' || t[i + 1] === '@') i += 1;
      else i += 2;
      while (i < end && t[i] === '@') {
        i += 2;
        if (t[i] === '(') i = skipGroup(t, i, '(', ')');
      }
      if (t[i] === '{') {
        fieldsAt(t, i, out);
        i = skipGroup(t, i, '{', '}');
      }
    } else if (/^[_A-Za-z]/.test(tok)) {
      const field = t[i + 1] === ':' && /^[_A-Za-z]/.test(t[i + 2] ?? '') ? t[i + 2]! : tok;
      if (!out.includes(field)) out.push(field);
      i += t[i + 1] === ':' ? 3 : 1;
    } else i++;
  }
}

/** The operation of a source text (graphql()/graphqlSync(), which parse it themselves). */
export function opOfSource(src: unknown, operationName: unknown): Op | undefined {
  try {
    const text = typeof src === 'string' ? src : isObj(src) && typeof src.body === 'string' ? src.body : undefined;
    if (text === undefined) return undefined;
    const t = tokens(text);
    const ops: Array<{ type: string; name?: string; at: number }> = [];
    let i = 0;
    while (i < t.length) {
      const tok = t[i]!;
      if (tok === '{') {
        ops.push({ type: 'query', at: i });
        i = skipGroup(t, i, '{', '}');
      } else if (tok === 'query' || tok === 'mutation' || tok === 'subscription' || tok === 'fragment' || /^[_A-Za-z]/.test(tok)) {
        const type = tok;
        let j = i + 1;
        const name = /^[_A-Za-z]/.test(t[j] ?? '') ? t[j++] : undefined;
        while (j < t.length && t[j] !== '{') j = t[j] === '(' ? skipGroup(t, j, '(', ')') : j + 1;
        if (type === 'query' || type === 'mutation' || type === 'subscription') ops.push({ type, ...(name !== undefined ? { name } : {}), at: j });
        i = skipGroup(t, j, '{', '}');
      } else i++;
    }
    const op = typeof operationName === 'string' && operationName ? ops.find((o) => o.name === operationName) : ops.length === 1 ? ops[0] : undefined;
    if (!op) return undefined;
    if (op.name !== undefined) return { type: op.type, name: op.name };
    const fields: string[] = [];
    if (t[op.at] === '{') fieldsAt(t, op.at, fields);
    return { type: op.type, name: fields.join(', ') };
  } catch {
    return undefined;
  }
}

function label(op: Op | undefined): string {
  return op ? (op.name ? `${op.type} ${op.name}` : op.type) : 'unknown operation';
}

function nameTransaction(tx: Tx | undefined, op: Op | undefined): void {
  if (!tx || !op) return;
  try {
    tx.name = label(op);
  } catch {
    // ignore
  }
}

// ---------------------------------------------------------------------------------------------
// Errors of a result

interface GqlError {
  message?: unknown;
  originalError?: unknown;
}

/** The errors of an execution result (graphql-js, Apollo, Yoga), reported handled; true when there were any. */
function reportResultErrors(core: AbiCore, result: unknown, parent: Span | Tx | undefined): boolean {
  try {
    const errors = isObj(result) ? (result as { errors?: unknown }).errors : undefined;
    if (!Array.isArray(errors) || errors.length === 0) return false;
    for (const e of errors as GqlError[]) reportOne(core, e, parent);
    return true;
  } catch {
    return false;
  }
}

function reportOne(core: AbiCore, e: GqlError, parent: Span | Tx | undefined): void {
  // A resolver's throw: graphql-js wraps it (locatedError) and keeps it as originalError. Yoga's masked
  // errors keep the original in originalError too.
  let err: unknown = e;
  for (let k = 0; k < 3 && isObj(err) && isObj((err as GqlError).originalError); k++) err = (err as GqlError).originalError;
  report(core, err, parent, true);
}

function execSpan(core: AbiCore, site: Site, op: Op | undefined): Span | undefined {
  return startSpan(core, site, `GraphQL: ${label(op)}`, false);
}

function endExec(span: Span, failed: boolean): void {
  try {
    span.setOutcome(failed ? 'failure' : 'success');
    span.end();
  } catch {
    // ignore
  }
}

// ---------------------------------------------------------------------------------------------
// Resolver spans

const RESOLVE = { subtype: 'graphql', action: 'resolve', exitSpan: false } as const;

interface InfoLike {
  fieldName?: unknown;
  parentType?: { name?: unknown };
}

function resolverName(info: unknown): string {
  const i = info as InfoLike | undefined;
  const parent = typeof i?.parentType?.name === 'string' ? i.parentType.name : '?';
  return `${parent}.${typeof i?.fieldName === 'string' ? i.fieldName : '?'}`;
}

function wantResolverSpans(core: AbiCore): boolean {
  try {
    return core.active() && core.graphqlResolverSpans?.() === true;
  } catch {
    return false;
  }
}

function wrapResolver(core: AbiCore, site: Site, fn: Fn): Fn {
  if ((fn as unknown as Record<symbol, unknown>)[WRAPPED]) return fn;
  const w = function (this: unknown, ...a: unknown[]) {
    if (!wantResolverSpans(core)) return Reflect.apply(fn, this, a);
    let span: Span | undefined;
    try {
      span = core.startSpan(resolverName(a[3]), 'app', RESOLVE);
      span?.setCodeLocation(site.loc);
    } catch {
      span = undefined;
    }
    if (!span) return Reflect.apply(fn, this, a);
    return runCall(core, span, this, inExitSpan(core, span, fn), a);
  };
  try {
    Object.defineProperty(w, 'length', { value: fn.length });
    Object.defineProperty(w, 'name', { value: fn.name });
    Object.defineProperty(w, WRAPPED, { value: fn });
  } catch {
    // ignore
  }
  return w;
}

/** A copy of a resolver map (`{ Query: { user() {} }, User: {...} }`) with its field functions wrapped. */
function wrapResolverMap(core: AbiCore, site: Site, map: unknown): unknown {
  if (Array.isArray(map)) return map.map((m) => wrapResolverMap(core, site, m));
  if (!isPlain(map)) return map;
  const out: Obj = {};
  for (const [typeName, fields] of Object.entries(map)) {
    if (!isPlain(fields)) {
      out[typeName] = fields; // scalars (GraphQLScalarType), enums given as objects of values stay as they are
      continue;
    }
    const copy: Obj = {};
    for (const [field, r] of Object.entries(fields)) {
      if (field.startsWith('__')) copy[field] = r;
      else if (typeof r === 'function') copy[field] = wrapResolver(core, site, r as Fn);
      else if (isPlain(r) && typeof r.resolve === 'function') copy[field] = { ...r, resolve: wrapResolver(core, site, r.resolve as Fn) };
      else copy[field] = r;
    }
    out[typeName] = copy;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Apollo Server plugin (the ApolloServerPlugin interface of @apollo/server 4 and 5)

interface ApolloRequestContext {
  document?: unknown;
  operationName?: string | null;
  errors?: readonly unknown[];
}

const withPlugin = new WeakSet<object>();

function apolloPlugin(core: AbiCore, site: Site): Obj {
  return {
    async requestDidStart() {
      if (!core.active()) return undefined;
      const tx = core.currentTransaction();
      let span: Span | undefined;
      let failed = false;
      return {
        async didResolveOperation(rc: ApolloRequestContext) {
          nameTransaction(tx, opOfDocument(rc.document, rc.operationName));
        },
        async executionDidStart(rc: ApolloRequestContext) {
          span = execSpan(core, site, opOfDocument(rc.document, rc.operationName));
          if (!span) return undefined;
          const execution = span;
          return {
            willResolveField({ info }: { info: unknown }) {
              if (!wantResolverSpans(core)) return (err: unknown) => {
                if (err) failed = true;
              };
              let r: Span | undefined;
              try {
                r = core.startSpan(resolverName(info), 'app', { ...RESOLVE, childOf: execution });
              } catch {
                r = undefined;
              }
              return (err: unknown) => {
                if (err) failed = true;
                if (!r) return;
                try {
                  r.setOutcome(err ? 'failure' : 'success');
                  r.end();
                } catch {
                  // ignore
                }
              };
            },
            async executionDidEnd(err?: unknown) {
              endExec(execution, failed || err !== undefined);
            },
          };
        },
        async didEncounterErrors(rc: ApolloRequestContext) {
          try {
            if (Array.isArray(rc.errors)) for (const e of rc.errors as GqlError[]) reportOne(core, e, span ?? tx);
          } catch {
            // ignore
          }
        },
      };
    },
  };
}

function addApolloPlugin(core: AbiCore, site: Site, server: unknown): void {
  try {
    if (!isObj(server) || withPlugin.has(server) || typeof server.addPlugin !== 'function') return;
    (server.addPlugin as Fn).call(server, apolloPlugin(core, site));
    withPlugin.add(server);
  } catch {
    // started already, or not an ApolloServer: leave it alone
  }
}

// ---------------------------------------------------------------------------------------------
// GraphQL Yoga (envelop) plugin

interface OnExecuteArgs {
  args?: { document?: unknown; operationName?: unknown };
  executeFn?: Fn;
  setExecuteFn?: (fn: Fn) => void;
}

function yogaPlugin(core: AbiCore, site: Site): Obj {
  return {
    onExecute({ args, executeFn, setExecuteFn }: OnExecuteArgs) {
      if (!core.active()) return undefined;
      const op = opOfDocument(args?.document, args?.operationName);
      nameTransaction(core.currentTransaction(), op);
      const span = execSpan(core, site, op);
      if (!span) return undefined;
      if (typeof executeFn === 'function' && typeof setExecuteFn === 'function') {
        try {
          setExecuteFn(inExitSpan(core, span, executeFn));
        } catch {
          // ignore
        }
      }
      return {
        onExecuteDone({ result }: { result?: unknown }) {
          endExec(span, reportResultErrors(core, result, span));
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------

export const handlers: Record<string, CallHandler> = {
  /** graphql-js execute(args) / graphql(args), and the positional forms of graphql 15. */
  graphql(core, site, thisArg, fn, args) {
    const a = args[0];
    let op: Op | undefined;
    if (args.length === 1 && isObj(a)) op = 'document' in a ? opOfDocument(a.document, a.operationName) : opOfSource(a.source, a.operationName);
    else op = typeof args[1] === 'string' || (isObj(args[1]) && 'body' in args[1]) ? opOfSource(args[1], args[5]) : opOfDocument(args[1], args[5]);
    nameTransaction(core.currentTransaction(), op);
    const span = execSpan(core, site, op);
    if (!span) return Reflect.apply(fn, thisArg, args);
    let result: unknown;
    try {
      result = core.runWith(span, fn, thisArg, args);
    } catch (err) {
      // invalid arguments (a missing schema): graphql-js throws before executing
      report(core, err, span, false);
      endExec(span, true);
      throw err;
    }
    return settle(result, (failed, v) => {
      if (failed) report(core, v, span, false);
      endExec(span, failed || reportResultErrors(core, v, span));
    });
  },

  /** server.start() / startStandaloneServer(server, opts): the plugin is added first. */
  'graphql-apollo'(core, site, thisArg, fn, args) {
    const standalone = site.rule === 'graphql.apollo-standalone';
    addApolloPlugin(core, site, standalone ? args[0] : thisArg);
    if (standalone) {
      // startStandaloneServer creates its node:http server inside @apollo/server: the request's
      // transaction (started at arrival) becomes the current context there, as under Next.js.
      try {
        (globalThis as Record<symbol, unknown>)[BIND_ARRIVAL] = true;
      } catch {
        // ignore
      }
    }
    return Reflect.apply(fn, thisArg, args);
  },

  /** createYoga(opts): a copy of opts with the plugin last. */
  'graphql-yoga'(core, site, thisArg, fn, args) {
    const opts = args[0];
    if (opts !== undefined && !isObj(opts)) return Reflect.apply(fn, thisArg, args);
    const plugins = isObj(opts) && Array.isArray(opts.plugins) ? opts.plugins : [];
    const copy = { ...(opts ?? {}), plugins: [...plugins, yogaPlugin(core, site)] };
    return Reflect.apply(fn, thisArg, [copy, ...args.slice(1)]);
  },

  /** createSchema / makeExecutableSchema({ typeDefs, resolvers }): resolver functions wrapped (spans when the option is on). */
  'graphql-resolvers'(core, site, thisArg, fn, args) {
    const opts = args[0];
    if (!isPlain(opts) || opts.resolvers === undefined) return Reflect.apply(fn, thisArg, args);
    const copy = { ...opts, resolvers: wrapResolverMap(core, site, opts.resolvers) };
    return Reflect.apply(fn, thisArg, [copy, ...args.slice(1)]);
  },
};

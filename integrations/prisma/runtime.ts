// Prisma run-time handler: a `db` exit span per model operation, named `User.findMany` (the model's
// name as the generated client knows it, `$name`, and the operation), subtype from the driver
// adapter's provider (`postgres` → `postgresql`), action `query`, destination and service target from
// the adapter's connection settings where it exposes them; no statement (Prisma compiles the query
// itself; arguments and values are never recorded). Raw SQL (`$queryRawUnsafe`, …) is named like
// the pg spans (`SELECT FROM users`) and carries the SQL as db.statement, never its parameters.
// A Prisma query is lazy: `prisma.user.findMany()` returns a PrismaPromise that runs only when it is
// awaited (`then`/`catch`/`finally`) or sent in a `$transaction([...])` (`requestTransaction`). The
// handler returns a proxy of that object which opens the span when the query is started that way and
// ends it when the query settles; a query never started has no span, and everything else (`spec`,
// `Symbol.toStringTag`, keys) reads through to Prisma's object.
import { endSpan, sqlSummary, type AbiCore, type CallHandler, type Site, type Span } from '../../runtime/abi-kit.js';

const SUBTYPES: Readonly<Record<string, string>> = { postgres: 'postgresql', postgresql: 'postgresql', mysql: 'mysql', sqlite: 'sqlite', sqlserver: 'mssql', cockroachdb: 'cockroachdb' };

interface AdapterLike {
  provider?: unknown;
  config?: unknown;
  externalPool?: { options?: { host?: unknown; port?: unknown; database?: unknown } };
}

/** The driver adapter of a client, or of the client a model delegate belongs to (Prisma internals: read defensively). */
function adapterOf(delegateOrClient: unknown): AdapterLike | undefined {
  try {
    type Client = { _engineConfig?: { adapter?: unknown } };
    const d = delegateOrClient as Client & { $parent?: Client };
    const a = (d._engineConfig ?? d.$parent?._engineConfig)?.adapter;
    return a && typeof a === 'object' ? (a as AdapterLike) : undefined;
  } catch {
    return undefined;
  }
}

function connection(a: AdapterLike | undefined): { address?: string; port?: number; database?: string } {
  try {
    const c = a?.config;
    const url = typeof c === 'string' ? c : c && typeof c === 'object' && typeof (c as { connectionString?: unknown }).connectionString === 'string' ? (c as { connectionString: string }).connectionString : undefined;
    if (url) {
      const u = new URL(url);
      const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
      return { address: u.hostname.replace(/^\[|\]$/g, '') || 'localhost', port: u.port ? Number(u.port) : 5432, ...(database ? { database } : {}) };
    }
    const o = (c && typeof c === 'object' ? c : a?.externalPool?.options) as { host?: unknown; port?: unknown; database?: unknown } | undefined;
    if (o && typeof o.host === 'string') return { address: o.host, port: Number(o.port ?? 5432) || 5432, ...(typeof o.database === 'string' ? { database: o.database } : {}) };
  } catch {
    // best effort
  }
  return {};
}

/**
 * The SQL of a raw query's arguments: `$queryRawUnsafe(sql, ...values)`, a tagged template's strings
 * (placeholders as Prisma sends them: `$1`… for PostgreSQL, `?` otherwise), a `Prisma.sql` fragment.
 */
function rawSql(args: readonly unknown[], subtype: string): string | undefined {
  const q = args[0];
  if (typeof q === 'string') return q;
  const pg = subtype === 'postgresql' || subtype === 'cockroachdb';
  if (Array.isArray(q) && Array.isArray((q as { raw?: unknown }).raw)) return q.map((s, i) => (i === 0 ? '' : pg ? `$${i}` : '?') + String(s)).join('');
  if (q && typeof q === 'object') {
    const o = q as { text?: unknown; sql?: unknown };
    const t = pg ? o.text : o.sql;
    if (typeof t === 'string') return t;
  }
  return undefined;
}

/** `raw`: the query's arguments (raw SQL: statement and name from them); else a model operation. */
function open(core: AbiCore, site: Site, delegate: unknown, raw?: readonly unknown[]): Span | undefined {
  try {
    const a = adapterOf(delegate);
    const subtype = SUBTYPES[String(a?.provider ?? '')] ?? site.subtype ?? 'postgresql';
    let name: string;
    let statement: string | undefined;
    if (raw) {
      statement = rawSql(raw, subtype);
      name = statement === undefined ? 'SQL' : sqlSummary(statement);
    } else {
      const model = (delegate as { $name?: unknown }).$name;
      name = `${typeof model === 'string' ? model : 'prisma'}.${site.name ?? 'query'}`;
    }
    const span = core.startSpan(name, site.type, { ...site.exitSpanOptions, subtype });
    if (!span) return undefined;
    span.setCodeLocation(site.loc);
    const c = connection(a);
    span.setDbContext({ type: 'sql', ...(c.database ? { instance: c.database } : {}), ...(statement !== undefined ? { statement } : {}) });
    span.setDestination({ ...(c.address ? { address: c.address } : {}), ...(c.port ? { port: c.port } : {}), serviceTargetType: subtype, ...(c.database ? { serviceTargetName: c.database } : {}) });
    return span;
  } catch {
    return undefined;
  }
}

const isPrismaPromise = (v: unknown): v is { then: Function; requestTransaction?: Function } =>
  !!v && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function' && (v as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === 'PrismaPromise';

/** The call, its PrismaPromise proxied so that the span covers the query once it is started. */
function lazy(core: AbiCore, site: Site, thisArg: unknown, fn: (...a: unknown[]) => unknown, args: unknown[], raw: boolean): unknown {
  {
    const result = Reflect.apply(fn, thisArg, args);
    if (!isPrismaPromise(result)) return result;
    let state: 'idle' | 'open' | 'done' = 'idle';
    let span: Span | undefined;
    const end = (failed: boolean, v: unknown) => {
      if (state === 'done') return;
      state = 'done';
      if (span) endSpan(core, span, failed, failed ? v : undefined);
    };
    /** Opens the span once, and watches `p` (the running query) on a side chain. */
    const started = (p: unknown) => {
      try {
        if (state === 'idle') {
          state = 'open';
          span = open(core, site, thisArg, raw ? args : undefined);
        }
        if (state === 'open' && p && typeof (p as PromiseLike<unknown>).then === 'function') {
          (p as PromiseLike<unknown>).then(
            () => end(false, undefined),
            (e) => end(true, e),
          );
        }
      } catch {
        // never into user code
      }
    };
    try {
      return new Proxy(result, {
        get(target, key, receiver) {
          const v = Reflect.get(target, key, receiver);
          if (typeof v !== 'function') return v;
          if (key === 'then' || key === 'catch' || key === 'finally') {
            return function (this: unknown, ...a: unknown[]) {
              // The query runs once (Prisma keeps its promise): the side chain sees the same settlement.
              if (state === 'idle') started(Reflect.apply(target.then, target, []));
              return Reflect.apply(v, this === receiver ? target : this, a);
            };
          }
          if (key === 'requestTransaction') {
            return function (this: unknown, ...a: unknown[]) {
              const p = Reflect.apply(v, this === receiver ? target : this, a);
              started(p);
              return p;
            };
          }
          return v;
        },
      });
    } catch {
      return result;
    }
  }
}

export const handlers: Record<string, CallHandler> = {
  prisma: (core, site, thisArg, fn, args) => lazy(core, site, thisArg, fn, args, false),
  prismaRaw: (core, site, thisArg, fn, args) => lazy(core, site, thisArg, fn, args, true),
};

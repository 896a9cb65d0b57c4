// The receiver's SQLite connection, over either backend: Node's built-in `node:sqlite` where the Node
// version has it without a flag (22.13+, 23.4+, 24), else the optional dependency better-sqlite3
// (Node 20). The store and the queries use only this small interface, so there is one code path.
import { createRequire } from 'node:module';

/** Neither node:sqlite nor better-sqlite3 can be loaded; the message says how to fix it. */
export class SqliteUnavailableError extends Error {
  override readonly name = 'SqliteUnavailableError';
}

export type SqlValue = string | number | bigint | null | Uint8Array;

export interface RunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

/**
 * A prepared statement: the methods both backends share, with better-sqlite3's semantics. Parameters
 * are typed `unknown` as in better-sqlite3's types; both backends bind only SqlValue (numbers,
 * strings, bigints, buffers, null) and throw for anything else.
 */
export interface SqlStatement {
  run(...params: unknown[]): RunResult;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
}

export type SqliteBackend = 'node:sqlite' | 'better-sqlite3';

export interface SqlDatabase {
  readonly backend: SqliteBackend;
  prepare(sql: string): SqlStatement;
  /** Runs one or more statements that return nothing. */
  exec(sql: string): void;
  /** `PRAGMA <source>`: the rows, or with `simple` the first column of the first row. */
  pragma(source: string, options?: { simple: true }): unknown;
  /**
   * As better-sqlite3: wraps `fn` in a function that runs it in one transaction (BEGIN … COMMIT,
   * ROLLBACK when it throws; a savepoint when nested) and returns its result: `db.transaction(fn)()`.
   */
  transaction<F extends (...args: never[]) => unknown>(fn: F): F;
  /** False once close() ran. */
  readonly open: boolean;
  close(): void;
}

export interface OpenOptions {
  readonly?: boolean;
}

// The parts of each module we use, declared here: @types/node 20 has no node:sqlite types, and
// better-sqlite3's types would make them a compile-time dependency of every consumer.
interface NodeSqliteModule {
  DatabaseSync: new (path: string, options?: { readOnly?: boolean }) => {
    prepare(sql: string): SqlStatement;
    exec(sql: string): void;
    close(): void;
  };
}
interface BetterSqliteStatement extends SqlStatement {}
type BetterSqliteCtor = new (path: string, options?: { readonly?: boolean }) => {
  prepare(sql: string): BetterSqliteStatement;
  exec(sql: string): void;
  pragma(source: string, options?: { simple: boolean }): unknown;
  transaction<F extends (...a: never[]) => unknown>(fn: F): F;
  readonly open: boolean;
  close(): void;
};

const load = createRequire(__filename);
let cached: { backend: SqliteBackend; open: (path: string, options: OpenOptions) => SqlDatabase } | undefined;

/**
 * Which backend this process uses (loads it on first call): node:sqlite when it loads without a
 * flag, else better-sqlite3. `SPANFORGE_SQLITE=better-sqlite3` (or `node:sqlite`) forces one, for
 * comparisons. Throws SqliteUnavailableError when the chosen or only possible backend is missing.
 */
export function sqliteBackend(): SqliteBackend {
  return backend().backend;
}

/** Opens (creating it unless `readonly`) the database file at `path`. */
export function openDatabase(path: string, options: OpenOptions = {}): SqlDatabase {
  return backend().open(path, options);
}

function backend(): NonNullable<typeof cached> {
  if (cached) return cached;
  const forced = process.env.SPANFORGE_SQLITE;
  if (forced !== undefined && forced !== '' && forced !== 'node:sqlite' && forced !== 'better-sqlite3') {
    throw new SqliteUnavailableError(`SPANFORGE_SQLITE must be node:sqlite or better-sqlite3, got ${JSON.stringify(forced)}`);
  }
  if (forced !== 'better-sqlite3') {
    const mod = loadNodeSqlite();
    if (mod) return (cached = { backend: 'node:sqlite', open: (path, o) => nodeSqlite(mod, path, o) });
    if (forced === 'node:sqlite') {
      throw new SqliteUnavailableError(`SPANFORGE_SQLITE=node:sqlite, but Node ${process.version} has no node:sqlite without a flag (it needs Node 22.13+ or 24)`);
    }
  }
  const Ctor = loadBetterSqlite(forced === 'better-sqlite3');
  return (cached = { backend: 'better-sqlite3', open: (path, o) => betterSqlite(Ctor, path, o) });
}

/** node:sqlite, or undefined where this Node has none (20, or 22.5–22.12 without --experimental-sqlite). */
function loadNodeSqlite(): NodeSqliteModule | undefined {
  // Node 22 prints "ExperimentalWarning: SQLite is an experimental feature" when the module loads
  // (Node 24 no longer does): that one warning is not the user's concern, every other one passes.
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : warning?.message;
    if (typeof text === 'string' && text.startsWith('SQLite is an experimental feature')) return;
    return (emitWarning as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    const mod = load('node:sqlite') as NodeSqliteModule;
    // Statement iteration arrived in 22.13 / 23.4, with the unflagged module: require it explicitly.
    const probe = new mod.DatabaseSync(':memory:');
    try {
      if (typeof probe.prepare('SELECT 1').iterate !== 'function') return undefined;
    } finally {
      probe.close();
    }
    return mod;
  } catch {
    return undefined;
  } finally {
    process.emitWarning = emitWarning;
  }
}

function loadBetterSqlite(forced: boolean): BetterSqliteCtor {
  try {
    return load('better-sqlite3') as BetterSqliteCtor;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const missing = e.code === 'MODULE_NOT_FOUND' && /better-sqlite3/.test(e.message);
    const builtIn = forced
      ? ' (SPANFORGE_SQLITE=better-sqlite3 chose it; without that setting Node 22.13+ and 24 use their built-in node:sqlite and need no package)'
      : ` (Node ${process.version} has no built-in node:sqlite without a flag; Node 22.13+ and 24 have it and need no package)`;
    throw new SqliteUnavailableError(
      missing
        ? 'the local receiver needs the optional dependency better-sqlite3 (its SQLite store), which is not installed. ' +
            'Install it next to spanforge with `npm install better-sqlite3` (an optional peer dependency; prebuilt binaries for common platforms, others build it with a C++ toolchain and Python)' +
            builtIn
        : `the local receiver needs better-sqlite3 (its SQLite store), which is installed but does not load (${e.message.split('\n')[0]}). ` +
            'Reinstall it for this Node version and platform: `npm rebuild better-sqlite3` or `npm install better-sqlite3`' +
            builtIn,
      { cause: err },
    );
  }
}

function betterSqlite(Ctor: BetterSqliteCtor, path: string, options: OpenOptions): SqlDatabase {
  const db = new Ctor(path, options.readonly ? { readonly: true } : {});
  return {
    backend: 'better-sqlite3',
    prepare: (sql) => db.prepare(sql),
    exec: (sql) => void db.exec(sql),
    pragma: (source, o) => (o?.simple ? db.pragma(source, { simple: true }) : db.pragma(source)),
    transaction: (fn) => db.transaction(fn),
    get open() {
      return db.open;
    },
    close: () => db.close(),
  };
}

function nodeSqlite(mod: NodeSqliteModule, path: string, options: OpenOptions): SqlDatabase {
  const db = new mod.DatabaseSync(path, options.readonly ? { readOnly: true } : {});
  let depth = 0;
  let open = true;
  return {
    backend: 'node:sqlite',
    prepare: (sql) => db.prepare(sql),
    exec: (sql) => db.exec(sql),
    pragma(source, o) {
      const stmt = db.prepare(`PRAGMA ${source}`);
      if (!o?.simple) return stmt.all();
      const row = stmt.get() as Record<string, unknown> | undefined;
      return row === undefined ? undefined : Object.values(row)[0];
    },
    // better-sqlite3's semantics: the outermost call is a transaction, nested calls savepoints.
    transaction<F extends (...args: never[]) => unknown>(fn: F): F {
      return function (this: unknown, ...args: Parameters<F>) {
        const outer = depth === 0;
        const sp = `sf_tx_${depth}`;
        const rollback = () => {
          try {
            db.exec(outer ? 'ROLLBACK' : `ROLLBACK TO ${sp}; RELEASE ${sp}`);
          } catch {
            // SQLite already rolled the transaction back (e.g. on SQLITE_FULL): nothing left to undo
          }
        };
        db.exec(outer ? 'BEGIN' : `SAVEPOINT ${sp}`);
        depth++;
        let r: unknown;
        try {
          r = fn.apply(this, args);
        } catch (err) {
          depth--;
          rollback();
          throw err;
        }
        depth--;
        try {
          db.exec(outer ? 'COMMIT' : `RELEASE ${sp}`);
        } catch (err) {
          rollback();
          throw err;
        }
        return r;
      } as F;
    },
    get open() {
      return open;
    },
    close: () => {
      db.close();
      open = false;
    },
  };
}

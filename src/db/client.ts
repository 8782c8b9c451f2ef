// The database: PGlite in-process (embedded default) or PostgreSQL through postgres.js.
// Same schema, same migrations, same SQL. Raw SQL results come back as plain row arrays on both.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { NoopLogger, SQL, sql, StringChunk } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import { PgDialect, type PgDatabase, type PgQueryResultHKT } from 'drizzle-orm/pg-core';
import postgres from 'postgres';

/**
 * A drizzle handle: the database itself or an open transaction; both run the same queries. Made
 * without the schema: nothing uses drizzle's relational queries (db.query), whose builders, one
 * per table, drizzle would otherwise construct for every transaction.
 */
export type Db = PgDatabase<PgQueryResultHKT>;

export const migrationsFolder = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../drizzle');

/**
 * Extensions the migrations create (drizzle/0001_sql_functions.sql): PGlite ships contrib
 * extensions as separate bundles that must be given to its constructor; PostgreSQL has them as
 * contrib. pg_trgm: the trigram index that lets explore's name search use an index.
 */
export const pgliteExtensions = { pg_trgm };

/** pg_advisory_lock key held while migrating (any constant unique to this service). */
const MIGRATION_LOCK = 7_240_001;

export interface Database {
  kind: 'pglite' | 'postgres';
  db: Db;
  migrate(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  url: string | null;
  poolSize: number;
  /** PostgreSQL: prepare every statement (false behind a transaction-mode pooler). */
  prepare?: boolean;
  /** PGlite data folder; null keeps the database in memory. */
  pgliteDir: string | null;
  /** An already open PGlite (tests share one migrated instance per worker). */
  pglite?: PGlite;
}

/**
 * postgres.js's URL and socket path for DATABASE_URL. The server's host may be given as libpq
 * writes it, in the `host` query parameter; a directory there is PostgreSQL on the same host, over
 * its Unix socket (`postgres://user@localhost/db?host=/var/run/postgresql`, the port from the URL,
 * else 5432). postgres.js takes the socket as its `path` option, and would send a `host` left in
 * the URL to the server as a session setting, which PostgreSQL refuses. A local socket costs less
 * per round trip than TCP over loopback (bench/RESULTS.md, P6).
 */
export function postgresTarget(url: string): { url: string; path?: string } {
  const parsed = new URL(url);
  const host = parsed.searchParams.get('host');
  if (!host) return { url };
  parsed.searchParams.delete('host');
  if (!host.startsWith('/')) {
    parsed.hostname = host;
    return { url: parsed.toString() };
  }
  return { url: parsed.toString(), path: `${host.replace(/\/+$/, '')}/.s.PGSQL.${parsed.port || '5432'}` };
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.url) {
    const { url, path: socketPath } = postgresTarget(options.url);
    const client = postgres(url, {
      path: socketPath,
      max: options.poolSize,
      onnotice: () => {},
      connection: { TimeZone: 'UTC', application_name: 'chat-service' },
    });
    const db = drizzlePostgres(tunedClient(client, options.prepare !== false)) as unknown as Db;
    return {
      kind: 'postgres',
      db,
      // Nodes that start together on a fresh database would each apply the migrations (and all
      // but one fail on CREATE TABLE): a session advisory lock makes them take turns; the later
      // ones find nothing left to apply.
      // The lock is held by a connection of its own: the pool may have a single connection.
      migrate: async () => {
        const lock = postgres(url, { path: socketPath, max: 1, onnotice: () => {} });
        try {
          await lock`select pg_advisory_lock(${MIGRATION_LOCK})`;
          await migratePostgres(drizzlePostgres(client), { migrationsFolder });
        } finally {
          // Ending the session releases the lock.
          await lock.end({ timeout: 5 });
        }
      },
      ping: async () => {
        await client`select 1`;
      },
      close: () => client.end({ timeout: 5 }),
    };
  }
  let pg = options.pglite;
  const owned = !pg;
  if (!pg) {
    if (options.pgliteDir) mkdirSync(options.pgliteDir, { recursive: true });
    pg = new PGlite({ dataDir: options.pgliteDir ?? undefined, extensions: pgliteExtensions });
    await pg.waitReady;
    await pg.exec(`SET TIME ZONE 'UTC'`);
  }
  const client = pg;
  // PGlite is one connection: it queues queries and runs a transaction exclusively, so a
  // request's statements never land inside another request's open transaction (test/db.test.ts).
  const db = drizzlePglite(client) as unknown as Db;
  return {
    kind: 'pglite',
    db,
    migrate: () => migratePglite(drizzlePglite(client), { migrationsFolder }),
    ping: async () => {
      await client.query('select 1');
    },
    close: async () => {
      if (owned) await client.close();
    },
  };
}

/**
 * The postgres.js client as drizzle gets it:
 * - `prepare`: drizzle sends a statement unnamed (PostgreSQL plans it again on every call) unless
 *   the query was built with .prepare(name); postgres.js names, prepares and caches a statement
 *   per connection when asked to. The service's statements are fixed texts with parameters, so
 *   every one of them is prepared: the GET /chats statement takes ~25% less database time
 *   (bench/RESULTS.md P1). Off behind a pooler in transaction mode (DATABASE_PREPARE=false).
 *   Migrations run on the plain client: a migration file may hold several commands, which a
 *   prepared statement cannot.
 * - transactions send BEGIN with their first statement (pipelinedBegin), prepared or not.
 */
function tunedClient<T extends postgres.Sql | postgres.TransactionSql>(client: T, prepare: boolean): T {
  const rawUnsafe = client.unsafe;
  const preparedUnsafe = (query: string, params?: any[], options?: postgres.UnsafeQueryOptions) =>
    rawUnsafe.call(client, query, params, { ...options, prepare: true });
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'unsafe' && prepare) {
        // A function set on the client later (a test counting statements) wraps what it read here.
        const current = Reflect.get(target, property, receiver);
        return current === rawUnsafe ? preparedUnsafe : current;
      }
      if (property === 'begin') {
        return (...args: any[]) => {
          const work = args.pop() as (tx: postgres.TransactionSql) => unknown;
          return pipelinedBegin(target as postgres.Sql, (args[0] as string | undefined) ?? '', (tx) => work(tunedClient(tx, prepare)));
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

/**
 * postgres.js's begin() waits for BEGIN's answer before the transaction's first statement is sent:
 * one round trip of its own, and on this kind of machine each round trip costs ~50 µs of CPU on
 * both sides (a socket write that wakes the other process; bench/RESULTS.md P3). Here BEGIN is
 * queued on a reserved connection without waiting, so postgres.js writes it together with the
 * first statement (it gathers what is queued in one tick); the statement's answer comes after
 * BEGIN's, and a failed BEGIN fails the statements behind it. Then COMMIT, or ROLLBACK when the
 * work throws, as postgres.js does. savepoint() serves drizzle's nested transactions.
 */
async function pipelinedBegin<T>(client: postgres.Sql, options: string, work: (tx: postgres.TransactionSql) => T | Promise<T>): Promise<T> {
  const connection = await client.reserve();
  try {
    const begun = connection.unsafe(`begin ${options.replace(/[^a-z ]/gi, '')}`).execute();
    begun.catch(() => {}); // awaited below; the work may fail first
    let savepoints = 0;
    const alongCommit: Promise<unknown>[] = [];
    const tx = Object.assign(connection, {
      [ALONG_COMMIT]: (statement: Promise<unknown>) => {
        statement.catch(() => {}); // awaited with the commit below
        alongCommit.push(statement);
      },
      savepoint: async <R>(...args: unknown[]): Promise<R> => {
        const nested = args.pop() as (sql: postgres.TransactionSql) => R | Promise<R>;
        const name = `s${++savepoints}`;
        await connection.unsafe(`savepoint ${name}`);
        try {
          const value = await nested(tx);
          await connection.unsafe(`release savepoint ${name}`);
          return value;
        } catch (error) {
          await connection.unsafe(`rollback to savepoint ${name}`);
          throw error;
        }
      },
    }) as unknown as postgres.TransactionSql;
    let result: T;
    try {
      result = await work(tx);
      await begun;
    } catch (error) {
      // A connection that is gone fails this too; postgres.js drops it from the pool.
      await connection.unsafe('rollback').catch(() => {});
      throw error;
    }
    // COMMIT follows the statements still in flight (sendAlongCommit) in the same write. When one
    // of them failed, PostgreSQL had aborted the transaction and answers the COMMIT with ROLLBACK:
    // the statement's error is the transaction's.
    const committed = connection.unsafe('commit').execute();
    try {
      await Promise.all(alongCommit);
    } catch (error) {
      await committed.catch(() => {});
      throw error;
    }
    await committed;
    return result;
  } finally {
    connection.release();
  }
}

const ALONG_COMMIT = Symbol('alongCommit');

/**
 * Runs `statement`, a last write of the transaction `tx` whose result nobody reads: on PostgreSQL
 * it is sent at once and COMMIT right behind it, without waiting for its answer in between (one
 * round trip less); its failure still fails and rolls back the transaction. Nothing may be sent on
 * `tx` after it. Elsewhere (PGlite) it is awaited here.
 */
export async function sendAlongCommit(tx: Db, statement: () => Promise<unknown>): Promise<void> {
  const along = (sessionOf(tx)?.client as Record<symbol, unknown> | undefined)?.[ALONG_COMMIT];
  if (typeof along === 'function') along(statement());
  else await statement();
}

/**
 * What drizzle holds under a handle: the driver (postgres.js: the pool, or the transaction's
 * connection as tunedClient made it) and its logger. Not part of drizzle's typed API.
 */
function sessionOf(db: Db): { client?: { unsafe?: unknown }; logger?: unknown } | undefined {
  return (db as unknown as { session?: { client?: { unsafe?: unknown }; logger?: unknown } }).session;
}

/** Runs raw SQL and returns its rows, whichever driver is underneath. */
export async function rows<T = Record<string, unknown>>(db: Db, query: SQL): Promise<T[]> {
  // On postgres.js, a statement of text and plain values goes to the driver directly: drizzle's
  // generic rendering and query objects (entity checks per chunk, tracing spans, a prepared-query
  // object per call) were 5-10% of the service's CPU in bench P3 and P6. The driver is the one
  // drizzle holds (db.session.client: the pool, or the transaction's connection), with drizzle's
  // own type parsers on it, so the rows are the same as through db.execute. A handle with a
  // drizzle logger (a test counting statements) keeps drizzle's path, which logs.
  const session = sessionOf(db);
  const client = session?.client;
  if (typeof client?.unsafe === 'function' && session!.logger instanceof NoopLogger) {
    const plain = renderPlain(query);
    if (plain) return (await (client as postgres.Sql).unsafe(plain.text, plain.params as any[])) as unknown as T[];
  }
  const result: any = await db.execute(query);
  return (Array.isArray(result) ? result : result.rows) as T[];
}

/**
 * The text and parameters of a statement made only of SQL text, nested `sql` fragments and plain
 * values (string, number, boolean, bigint, null), numbered $1, $2, … as drizzle numbers them; null
 * for anything else (columns, tables, arrays, dates, inlined params), which drizzle renders.
 */
export function renderPlain(query: SQL): { text: string; params: unknown[] } | null {
  const params: unknown[] = [];
  let text = '';
  const walk = (chunks: unknown[]): boolean => {
    for (const chunk of chunks) {
      if (chunk instanceof StringChunk) {
        text += chunk.value.length === 1 ? chunk.value[0] : chunk.value.join('');
      } else if (chunk instanceof SQL) {
        if ((chunk as unknown as { shouldInlineParams: boolean }).shouldInlineParams || !walk(chunk.queryChunks)) return false;
      } else if (chunk === null || typeof chunk === 'string' || typeof chunk === 'number' || typeof chunk === 'boolean' || typeof chunk === 'bigint') {
        params.push(chunk);
        text += `$${params.length}`;
      } else if (chunk !== undefined) {
        return false;
      }
    }
    return true;
  };
  return walk(query.queryChunks) ? { text, params } : null;
}

export async function one<T = Record<string, unknown>>(db: Db, query: SQL): Promise<T | undefined> {
  return (await rows<T>(db, query))[0];
}

const dialect = new PgDialect();

/**
 * A large SQL fragment rendered to text once, with `holes` parameters filled per call: drizzle
 * walks every chunk of a `sql` tree on every execution (bench/RESULTS.md P6: 13% of the service's
 * CPU went to rendering the chat JSON fragment, hundreds of chunks, on every GET /chats).
 * `build` gets one marker per hole and must use no parameters of its own (throws otherwise).
 */
export function compiledSql<Holes extends unknown[]>(holes: number, build: (...holes: SQL[]) => SQL): (...values: Holes) => SQL {
  const marker = (i: number) => `\u0001hole${i}\u0001`;
  const rendered = dialect.sqlToQuery(build(...Array.from({ length: holes }, (_, i) => sql.raw(marker(i)))));
  if (rendered.params.length > 0) throw new Error('compiledSql: the fragment has parameters of its own');
  // Alternating: text, hole index, text, hole index, …, text.
  const parts = rendered.sql.split(/\u0001hole(\d+)\u0001/);
  return (...values) => {
    const chunks: SQL[] = [];
    for (let i = 0; i < parts.length; i++) {
      chunks.push(i % 2 === 0 ? sql.raw(parts[i]) : sql`${values[Number(parts[i])]}`);
    }
    return sql.join(chunks);
  };
}

/** A text[] parameter that works the same on postgres.js and PGlite (both get one text literal). */
export function textArray(values: readonly string[]): SQL {
  return sql`${'{' + values.map((v) => '"' + v.replace(/(["\\])/g, '\\$1') + '"').join(',') + '}'}::text[]`;
}

export { sql };

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { sql, type SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { openDataDir } from './data-dir-lock.js';
import { driverError, isUnreachable, MigrationFailed, SQLSTATE, sqlState } from './errors.js';
import * as schema from './schema.js';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** The rows of a raw `execute`: postgres.js answers with the rows, PGlite with `{ rows }`. */
export function rowsOf<T>(result: unknown): T[] {
  return Array.isArray(result) ? (result as T[]) : ((result as { rows?: T[] }).rows ?? []);
}

/** A value as one jsonb parameter: how multi-row statements take their rows (`jsonb_to_recordset`). */
export const jsonb = (value: unknown) => sql`${JSON.stringify(value)}::jsonb`;

/** What `db.execute` itself uses, which drizzle's types keep internal. */
interface ExecuteInternals {
  dialect: { sqlToQuery(query: SQL): { sql: string; params: unknown[] } };
  session: { prepareQuery(query: { sql: string; params: unknown[] }, fields: undefined, name: string, arrayMode: boolean): { execute(): Promise<unknown> } };
}

/**
 * `execute` for a statement whose text never changes (every value a parameter): it runs as a
 * prepared statement, which postgres.js parses once per connection and then sends in one round
 * trip, where `execute` sends an unnamed statement that PostgreSQL parses and plans on every call,
 * after a round trip to learn its parameter types. This is what drizzle's own `.prepare(name)`
 * does for a query builder. Only for fixed texts: each distinct text stays prepared on every
 * connection for the connection's life.
 */
export async function executePrepared<T>(db: Db, name: string, query: SQL): Promise<T[]> {
  const { dialect, session } = db as unknown as ExecuteInternals;
  return rowsOf<T>(await session.prepareQuery(dialect.sqlToQuery(query), undefined, name, false).execute());
}

export interface Database {
  kind: 'postgres' | 'pglite';
  db: Db;
  /** For the webhook token lookup: a connection of its own on PostgreSQL (see openPostgres), `db` on PGlite. */
  lookups: Db;
  /** How many transactions can usefully run at once: the pool size, or 1 for PGlite. */
  concurrency: number;
  ping(): Promise<void>;
  /**
   * Opens every connection of the pool now, rather than when a burst first needs them: a
   * connection opened while the thread is busy with that burst could miss its connect timeout, and
   * the deliveries waiting on it were answered 503. For the service's start only.
   */
  warm(): Promise<void>;
  close(): Promise<void>;
}

export type DatabaseOptions =
  | { url: string; poolSize: number }
  /** A directory, or `memory://` for a throw-away database. */
  | { dataDir: string };

const migrationsFolder = fileURLToPath(new URL('../../migrations', import.meta.url));
/**
 * The advisory locks taken with a fixed key (a phone's lock key is a hash, see phone-key.ts): held
 * while migrating, and while creating the `default` account, so that instances starting together
 * do not race.
 */
export const ADVISORY_LOCKS = { migrations: 7_301_842_117n, defaultAccount: 7_301_842_118n } as const;

/** Opens the database and applies the migrations. The only place that knows which driver is used. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return 'url' in options ? openPostgres(options.url, options.poolSize) : openPglite(options.dataDir);
}

const CONNECT_TIMEOUT_SECONDS = 5;

async function openPostgres(url: string, poolSize: number): Promise<Database> {
  await migratePostgresOnce(url);
  const clientOptions = {
    onnotice: () => {},
    // postgres.js would read the array types on every new connection in a query whose failure no
    // one handles: a connection cut at that moment (a failover, pg_terminate_backend) ended the
    // process with an unhandled rejection (porsager/postgres#1192). No query here reads an array.
    fetch_types: false,
    // While the database is unreachable, fail within seconds (and answer 503) rather than hang.
    connect_timeout: CONNECT_TIMEOUT_SECONDS,
    // Reconnect quickly once the database is back; the default delay grows towards 20 s.
    backoff: () => 0.2,
    connection: {
      application_name: 'contact-sync',
      // A phone's advisory lock held by a stuck transaction must not hold every sender for ever.
      lock_timeout: 10_000,
      idle_in_transaction_session_timeout: 30_000,
      statement_timeout: 30_000,
    },
  } satisfies postgres.Options<Record<string, never>>;
  const client = postgres(url, { ...clientOptions, max: poolSize });
  const db = drizzlePostgres(client, { schema });
  // One connection of its own for the lookup every delivery starts with: concurrent lookups are
  // pipelined on it, so those sent in one turn of the event loop go out in one write and come back
  // in one read, instead of waking a connection each.
  const lookupClient = postgres(url, { ...clientOptions, max: 1 });
  return {
    kind: 'postgres',
    db,
    lookups: drizzlePostgres(lookupClient, { schema }),
    concurrency: poolSize,
    ping: async () => void (await Promise.all([client`select 1`, lookupClient`select 1`])),
    // The lookups' first: where the database allows fewer connections, every delivery needs that
    // one. postgres.js gives each query a connection not yet open while it has one, so these
    // queries open every connection of the pool. Every attempt is waited for: a query sent while
    // some were still opening could be given one the database then refuses.
    warm: async () => {
      await lookupClient`select 1`;
      const refused = (await Promise.allSettled(Array.from({ length: poolSize }, () => client`select 1`))).find((attempt) => attempt.status === 'rejected');
      if (refused) throw refused.reason;
    },
    close: async () => void (await Promise.all([client.end({ timeout: 5 }), lookupClient.end({ timeout: 5 })])),
  };
}

async function migratePostgresOnce(url: string): Promise<void> {
  // No statement timeout (an index may take long to build), but a host that never answers stops
  // the start within seconds, as the pool's connections do.
  const client = postgres(url, { max: 1, onnotice: () => {}, fetch_types: false, connect_timeout: CONNECT_TIMEOUT_SECONDS });
  try {
    await answersAsPostgres(client);
    await client`select pg_advisory_lock(${ADVISORY_LOCKS.migrations.toString()}::bigint)`;
    if (await allApplied(client)) return;
    await migratePostgres(drizzlePostgres(client), { migrationsFolder }).catch(migrationFailed);
  } finally {
    await client.end({ timeout: 5 });
  }
}

/**
 * A first answer within twice the connect timeout. A server that is not PostgreSQL (an HTTP port
 * given by mistake) answers bytes postgres.js waits on for ever, past its connect timeout; the
 * lock that follows may rightly wait long, for another instance's migrations.
 */
async function answersAsPostgres(client: postgres.Sql): Promise<void> {
  const seconds = 2 * CONNECT_TIMEOUT_SECONDS;
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer as PostgreSQL within ${seconds} s`), { code: 'CONNECT_TIMEOUT' })), seconds * 1000);
  });
  try {
    await Promise.race([client`select 1`, silence]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether the database has every migration: drizzle applies those newer than its newest row, and
 * runs `CREATE SCHEMA IF NOT EXISTS` first even when there are none, which a role without CREATE on
 * the database may not. Skipped when nothing is pending, so the service can run as such a role
 * (with SELECT on drizzle.__drizzle_migrations) once its owner has migrated. Any doubt (no such
 * table, no right to read it): let drizzle decide.
 */
async function allApplied(client: postgres.Sql): Promise<boolean> {
  const journal = JSON.parse(await readFile(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as { entries: { when: number }[] };
  const newest = Math.max(...journal.entries.map((entry) => entry.when));
  try {
    const [row] = await client<{ at: string | null }[]>`select max(created_at)::text as at from drizzle.__drizzle_migrations`;
    return row?.at != null && Number(row.at) >= newest;
  } catch {
    return false;
  }
}

/**
 * A statement of the migrations PostgreSQL refused, told with its reason (SQLSTATE and message: at
 * start they quote no one's data) and the migration it is in. The pending migrations run in one
 * transaction, so none of them was applied. A database that cannot be reached is told as such
 * (startFailure).
 */
async function migrationFailed(error: unknown): Promise<never> {
  const code = sqlState(error);
  if (!(error instanceof Error) || code === undefined || !SQLSTATE.test(code) || isUnreachable(code)) throw error;
  const query = (error as { query?: unknown }).query;
  const statement = typeof query === 'string' ? query.trim() : '';
  const tag = statement ? await migrationHolding(statement) : undefined;
  // Its first line of SQL: a migration's statement may start with comments.
  const shown = statement.split('\n').find((line) => line.trim() !== '' && !line.trimStart().startsWith('--'));
  const where = tag ? `migration ${tag}` : 'preparing the migrations table (drizzle.__drizzle_migrations)';
  throw new MigrationFailed(
    `${where} failed: ${driverError(error)!.message} (SQLSTATE ${code}); none of the pending migrations was applied. ` +
      `Fix what PostgreSQL names (a table or index made by hand under the same name, a role without CREATE), then start again.` +
      (shown ? `\nThe statement: ${shown.trim().slice(0, 300)}` : ''),
    { cause: error },
  );
}

/** The migration (its file's name without .sql) whose SQL holds the statement. */
async function migrationHolding(statement: string): Promise<string | undefined> {
  const files = (await readdir(migrationsFolder)).filter((name) => name.endsWith('.sql')).sort();
  for (const name of files) {
    if ((await readFile(join(migrationsFolder, name), 'utf8')).includes(statement)) return name.slice(0, -'.sql'.length);
  }
  return undefined;
}

async function openPglite(dataDir: string): Promise<Database> {
  let unlock = async () => {};
  if (!dataDir.includes('://')) unlock = await openDataDir(dataDir);
  let client: PGlite | undefined;
  try {
    // pg_trgm: contact search's indexes (migration 0008).
    client = new PGlite(dataDir, { extensions: { pg_trgm } });
    const opened = client;
    const db = drizzlePglite(client, { schema });
    await migratePglite(db, { migrationsFolder }).catch(migrationFailed);
    return {
      kind: 'pglite',
      db,
      lookups: db,
      concurrency: 1,
      ping: async () => void (await db.execute(sql`select 1`)),
      // One connection, open since the migrations.
      warm: async () => {},
      close: async () => {
        try {
          await opened.close();
        } finally {
          await unlock();
        }
      },
    };
  } catch (error) {
    // Closed, so that PGlite's postmaster.pid goes with the lock: left behind, it would make the
    // next start refuse the directory as held by another program, hiding this error.
    await client?.close().catch(() => {});
    await unlock();
    throw error;
  }
}


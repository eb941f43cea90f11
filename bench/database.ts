import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface BenchDatabase {
  name: string;
  url: string;
  /** Runs one statement on this database (a short-lived connection). */
  sql<T extends Record<string, unknown>>(text: string): Promise<T[]>;
  drop(): Promise<void>;
}

/** `postgres://…/test` with another database name: the bench never writes to the database it is given. */
export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/** Creates `cs_bench_<random><suffix>` on the server behind `serverUrl`; `drop()` removes it, connections and all. */
export async function createBenchDatabase(serverUrl: string, suffix = ''): Promise<BenchDatabase> {
  const name = `cs_bench_${randomBytes(4).toString('hex')}${suffix}`;
  await once(serverUrl, (sql) => sql.unsafe(`create database "${name}"`));
  const url = withDatabase(serverUrl, name);
  return {
    name,
    url,
    sql: <T extends Record<string, unknown>>(text: string) => once(url, async (sql) => [...(await sql.unsafe(text))] as unknown as T[]),
    drop: () => once(serverUrl, (sql) => sql.unsafe(`drop database if exists "${name}" with (force)`)).then(() => undefined),
  };
}

/** The project's migrations, as the service applies them at start: the baselines write to the real tables. */
export async function migrateBenchDatabase(db: BenchDatabase): Promise<void> {
  await once(db.url, (sql) => migrate(drizzle(sql), { migrationsFolder: fileURLToPath(new URL('../migrations', import.meta.url)) }));
}

/** The server's version string and the settings that decide commit throughput. */
export async function serverFacts(serverUrl: string): Promise<{ version: string; settings: Record<string, string> }> {
  return once(serverUrl, async (sql) => {
    const [row] = await sql<{ v: string }[]>`select current_setting('server_version') as v`;
    const names = ['max_connections', 'shared_buffers', 'synchronous_commit', 'fsync'];
    // current_setting() answers with units ('128MB'), unlike pg_settings.setting.
    const rows = await sql<{ name: string; value: string }[]>`select name, current_setting(name) as value from unnest(${names}::text[]) as name`;
    return { version: row!.v, settings: Object.fromEntries(rows.map((r) => [r.name, r.value])) };
  });
}

async function once<T>(url: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    return await run(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseOptions } from '../../src/db/client.js';
import { MigrationFailed } from '../../src/db/errors.js';
import { startFailure } from '../../src/log.js';
import { createScratchDatabase, postgresUrl } from '../helpers/app.js';

/** Why opening the database failed, or undefined if it opened. */
const openingError = (options: DatabaseOptions): Promise<unknown> =>
  openDatabase(options).then(
    () => undefined,
    (e: unknown) => e,
  );

/**
 * A start against a local server that treats each connection as `serve` does: what the start is
 * told, and how long it took to be told.
 */
async function startAgainst(serve: (socket: Socket) => void): Promise<{ told: string; ms: number }> {
  const server = createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const started = performance.now();
  try {
    const told = startFailure(await openingError({ url: `postgres://postgres@127.0.0.1:${port}/x`, poolSize: 2 }));
    return { told, ms: performance.now() - started };
  } finally {
    server.close();
  }
}

/**
 * A migration PostgreSQL refuses stops the start with its reason and the migration's name, not a
 * bare "Failed query" and a stack: here a table an operator made by hand under a name the first
 * migration creates.
 */
describe('a migration PostgreSQL refuses', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  /** What a start on the database is told, once the hand-made table has made the first migration fail. */
  const expectToldWhy = async (options: DatabaseOptions) => {
    const error = await openingError(options);
    expect(error).toBeInstanceOf(MigrationFailed);
    const told = startFailure(error);
    expect(told).toMatch(/^migration 0000_init failed: relation "contacts" already exists \(SQLSTATE 42P07\); none of the pending migrations was applied\./);
    expect(told).toContain('The statement: CREATE TABLE "contacts"');
    expect(told).not.toMatch(/\n\s+at /);
  };

  it('on PGlite, at every start until it is fixed', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'contact-sync-migration-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const made = new PGlite(dataDir);
    await made.exec('create table contacts (id int)');
    await made.close();
    await expectToldWhy({ dataDir });
    // Told again: the failed start left nothing behind that makes the directory look held.
    await expectToldWhy({ dataDir });
    const db = new PGlite(dataDir);
    try {
      expect((await db.query<{ n: number }>('select count(*)::int as n from drizzle.__drizzle_migrations')).rows[0]!.n).toBe(0);
    } finally {
      await db.close();
    }
  });

  it.skipIf(!postgresUrl)('on PostgreSQL', async () => {
    const scratch = await createScratchDatabase();
    cleanups.push(() => scratch.drop());
    const sql = postgres(scratch.url, { max: 1, onnotice: () => {} });
    cleanups.push(() => sql.end({ timeout: 5 }));
    await sql`create table contacts (id int)`;
    await expectToldWhy({ url: scratch.url, poolSize: 2 });
    expect((await sql`select count(*)::int as n from drizzle.__drizzle_migrations`)[0]!.n).toBe(0);
  });
});

/**
 * Once its owner has migrated the database, the service may run as a role that can read and write
 * the tables but not create anything: with nothing pending, no migration statement is sent.
 */
describe.skipIf(!postgresUrl)('a database with every migration applied', () => {
  it('opens for a role without CREATE on it, and a migration still pending is refused to that role', async () => {
    const scratch = await createScratchDatabase();
    const role = `cs_app_${randomBytes(4).toString('hex')}`;
    const owner = postgres(scratch.url, { max: 1, onnotice: () => {} });
    try {
      await (await openDatabase({ url: scratch.url, poolSize: 2 })).close();
      await owner.unsafe(`create role ${role} login`);
      await owner.unsafe(`grant usage on schema public, drizzle to ${role}`);
      await owner.unsafe(`grant select, insert, update, delete on all tables in schema public to ${role}`);
      await owner.unsafe(`grant usage, select on all sequences in schema public to ${role}`);
      await owner.unsafe(`grant select on drizzle.__drizzle_migrations to ${role}`);
      const asApp = new URL(scratch.url);
      asApp.username = role;
      const app = await openDatabase({ url: asApp.toString(), poolSize: 2 });
      await app.ping();
      await app.close();

      // The newest migration's row gone: it is pending again, and only the owner may apply it.
      await owner`delete from drizzle.__drizzle_migrations where created_at = (select max(created_at) from drizzle.__drizzle_migrations)`;
      await expect(openDatabase({ url: asApp.toString(), poolSize: 2 })).rejects.toThrow(MigrationFailed);
    } finally {
      await owner.end({ timeout: 5 });
      await scratch.drop();
      const admin = postgres(postgresUrl!, { max: 1, onnotice: () => {} });
      await admin.unsafe(`drop role if exists ${role}`);
      await admin.end({ timeout: 5 });
    }
  });
});

describe('a PostgreSQL server that never answers', () => {
  it('stops the start within seconds, as the pool would, not after 30', { timeout: 60_000 }, async () => {
    const { told, ms } = await startAgainst(() => {});
    expect(told).toMatch(/^the database cannot be reached or refused us \(CONNECT_TIMEOUT/);
    expect(ms).toBeLessThan(15_000);
  });
});

describe('a server that is not PostgreSQL', () => {
  it('stops the start within seconds, saying to check DATABASE_URL, not never', { timeout: 60_000 }, async () => {
    // Answers the startup message as an HTTP server does, and closes: postgres.js connects again, for ever.
    const { told, ms } = await startAgainst((socket) => socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'));
    expect(told).toMatch(/^the database cannot be reached or refused us \(CONNECT_TIMEOUT: no answer as PostgreSQL within 10 s\): check DATABASE_URL/);
    expect(ms).toBeLessThan(20_000);
  });
});

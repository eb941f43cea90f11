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
    const error = await openDatabase(options).then(
      () => undefined,
      (e: unknown) => e,
    );
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

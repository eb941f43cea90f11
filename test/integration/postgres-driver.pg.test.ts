import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { postgresUrl } from '../helpers/app.js';

/**
 * The project's patch of postgres.js (patches/postgres+3.4.9.patch), on real PostgreSQL: what one
 * query leaves behind on its connection must never reach the next one (porsager/postgres#1119,
 * #1181). Seen through the service, a valid API key was answered 401 and label lookups failed.
 */
describe.skipIf(!postgresUrl)('postgres.js as patched', () => {
  const open = (name: string) => postgres(postgresUrl!, { max: 1, fetch_types: false, onnotice: () => {}, connection: { application_name: name } });

  it('a query after one that failed part-way through its rows gets its own rows only', async () => {
    const sql = open('driver-mid-rows');
    try {
      const failed = await sql`select 1 / (5 - g) as v from generate_series(1, 10) as g`.then(() => 'ok', (error: { code?: string }) => error.code);
      expect(failed).toBe('22012');
      const next = await sql`select 42 as answer`;
      expect([...next]).toEqual([{ answer: 42 }]);
    } finally {
      await sql.end();
    }
  });

  it('a connection cut while rows stream in leaves nothing of that query to the next connection', async () => {
    const name = `driver-cut-${process.pid}`;
    const sql = open(name);
    const admin = postgres(postgresUrl!, { max: 1, onnotice: () => {} });
    try {
      for (let round = 0; round < 3; round++) {
        const streaming = sql`select g, repeat('x', 200) as pad from generate_series(1, 2000000) as g`.then(() => 'finished', (error: { code?: string }) => error.code ?? 'error');
        await new Promise((resolve) => setTimeout(resolve, 150));
        await admin`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${name}`;
        expect(await streaming).not.toBe('finished');
        const next = await sql`select 42 as answer`;
        expect([...next]).toEqual([{ answer: 42 }]);
      }
    } finally {
      await sql.end();
      await admin.end();
    }
  });
});

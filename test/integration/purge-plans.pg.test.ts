import { PgDialect } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeExpired, purgeStatements } from '../../src/sync/purge.js';
import { createTestApp, postWebhook, type TestApp } from '../helpers/app.js';
import { uniquePhone } from '../helpers/fixtures.js';
import { planOf } from '../helpers/plans.js';

/**
 * The purge runs every 15 minutes over tables of millions of rows: each statement must find its
 * rows through an index (a sequential scan of the delivery log took a second with nothing to
 * purge), and must never wait on rows a delivery holds.
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('the purge on PostgreSQL', () => {
  let t: TestApp;
  let client: postgres.Sql;
  const dialect = new PgDialect();

  beforeAll(async () => {
    t = await createTestApp('postgres');
    // With sequential scans priced out, a plan reads a table whole only when no index can serve it.
    client = postgres(t.databaseUrl!, { max: 1, onnotice: () => {}, connection: { enable_seqscan: 'off' } });
  });
  afterAll(async () => {
    await client.end();
    await t.close();
  });

  it.each([
    ['idempotencyKeys', 'idempotency_keys_expires_idx'],
    ['tombstones', 'tombstones_expires_idx'],
    ['payloads', 'deliveries_payload_expires_idx'],
    ['deliveries', 'deliveries_received_idx'],
  ] as const)('%s: its rows are found through %s', async (name, index) => {
    const { sql, params } = dialect.sqlToQuery(purgeStatements(new Date())[name]);
    const plan = await planOf(client, sql, params);
    expect(plan).toContain(index);
    expect(plan).not.toMatch(/Seq Scan/);
  });

  it('reads the log through its index even when the statistics still count rows the last purge deleted', async () => {
    // 20,000 rows past the retention, analyzed, then moved to now without a new ANALYZE: the
    // statistics say most of the log is due, as they do right after a purge until autovacuum runs.
    await client.unsafe(
      `insert into deliveries (id, account_id, received_at, status, duration_ms)
       select 'dlv_stale_' || g, $1, now() - interval '40 days', 'applied', 1 from generate_series(1, 20000) g`,
      [t.account.id],
    );
    await client`analyze deliveries`;
    await client`update deliveries set received_at = now() where id like 'dlv_stale_%'`;
    const planner = postgres(t.databaseUrl!, { max: 1, onnotice: () => {} });
    try {
      const { sql, params } = dialect.sqlToQuery(purgeStatements(new Date()).deliveries);
      const plan = await planOf(planner, sql, params);
      expect(plan).toContain('deliveries_received_idx');
      expect(plan).not.toMatch(/Seq Scan on deliveries/);
    } finally {
      await planner.end();
      await client`delete from deliveries where id like 'dlv_stale_%'`;
    }
  });

  it('skips a row a delivery holds locked instead of waiting for it, and takes it on a later run', async () => {
    for (const key of ['held', 'free']) await postWebhook(t, { contact: { phone: uniquePhone() } }, { headers: { 'Idempotency-Key': key } });
    await client`update idempotency_keys set expires_at = now() - interval '1 second'`;
    const later = new Date(Date.now() + 1000);
    await client.begin(async (tx) => {
      await tx`select key from idempotency_keys where key = 'held' for update`;
      const purged = await purgeExpired(t.database.db, later);
      expect(purged.idempotencyKeys).toBe(1);
    });
    expect((await purgeExpired(t.database.db, later)).idempotencyKeys).toBe(1);
    expect(await client`select key from idempotency_keys`).toHaveLength(0);
  });
});

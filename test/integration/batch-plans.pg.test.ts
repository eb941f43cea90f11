import { PgDialect } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchStatements } from '../../src/db/queries/contact-batch.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { planOf } from '../helpers/plans.js';

/**
 * The batch statements are prepared: a connection plans each once and keeps that plan, which may
 * date from when the tables were empty, or had no statistics at all (autovacuum off). Such a plan
 * must still look contacts and labels up by index, row by row: a hash join or a sequential scan
 * planned over a tiny table stays one when the table holds millions of rows (this happened: the
 * bench slowed from 0.8 ms to 10 ms per batch over 60,000 contacts).
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('plans of the batch statements, on PostgreSQL', () => {
  let t: TestApp;
  let client: postgres.Sql;
  const dialect = new PgDialect();
  const key = () => ({ account_id: t.account.id, phone: '+447400999999' });
  const statements = () => ({
    loadContacts: batchStatements.loadContacts([key()]),
    writeContacts: batchStatements.writeContacts([{ ...key(), name: 'x', email: null, custom_attributes: {}, enhanced_data: [], invite_requested: false }]),
    clearContactLabels: batchStatements.clearContactLabels([key()]),
    writeContactLabels: batchStatements.writeContactLabels([{ ...key(), label_id: 1, position: 0 }]),
  });

  beforeAll(async () => {
    t = await createTestApp('postgres');
    client = postgres(t.databaseUrl!, { max: 1, onnotice: () => {}, connection: { plan_cache_mode: 'force_generic_plan' } });
  });
  afterAll(async () => {
    await client.end();
    await t.close();
  });

  /** The plan PostgreSQL keeps for the statement once prepared (the generic plan), as text. EXPLAIN without ANALYZE runs nothing. */
  async function keptPlan(name: string, statement: ReturnType<typeof statements>[keyof ReturnType<typeof statements>]): Promise<string> {
    const { sql, params } = dialect.sqlToQuery(statement);
    expect(params).toHaveLength(1);
    await client.unsafe(`prepare ${name}(jsonb) as ${sql}`);
    try {
      // EXPLAIN takes no parameters: the JSON goes in as a literal.
      return await planOf(client, `execute ${name}('${(params[0] as string).replaceAll("'", "''")}')`);
    } finally {
      await client.unsafe(`deallocate ${name}`);
    }
  }

  async function plans(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const [name, statement] of Object.entries(statements())) out[name] = await keptPlan(name, statement);
    return out;
  }

  const wholeTableReads = /Seq Scan on (contacts|contact_labels|labels)\b|Hash Join|Hash Semi Join|Merge Join/;

  it.each([
    ['empty tables, no statistics', async () => {}],
    [
      '30,000 contacts and 60,000 labels rows, still no statistics',
      async () => {
        await client.unsafe(`insert into labels (account_id, name, key) select $1, 'l' || g, 'l' || g from generate_series(1, 2000) g`, [t.account.id]);
        await client.unsafe(`insert into contacts (account_id, phone) select $1, '+4474' || lpad(g::text, 8, '0') from generate_series(1, 30000) g`, [t.account.id]);
        await client.unsafe(`insert into contact_labels (contact_id, label_id, position) select c.id, l.id, l.id % 2 from contacts c join labels l on l.id % 1000 = c.id % 1000 where l.id <= 2000 limit 60000`);
      },
    ],
    ['the same after ANALYZE', async () => void (await client.unsafe('analyze'))],
  ])('with %s: every statement looks rows up by index', async (_when, before) => {
    await before();
    for (const [name, plan] of Object.entries(await plans())) {
      expect(`${name}:\n${plan}`).not.toMatch(wholeTableReads);
      if (name !== 'writeContacts') expect(`${name}:\n${plan}`).toMatch(/Index Scan using contacts_account_phone_unique/);
    }
  });
});

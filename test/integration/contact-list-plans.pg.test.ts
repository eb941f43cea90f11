import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactIdsAbove, contactPage, SEARCH_WINDOW, searchFor } from '../../src/db/queries/contact-views.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { planOf } from '../helpers/plans.js';

/**
 * A contact search is a substring match (ILIKE '%…%', LIKE for digits) on name, email, external id
 * and phone, ORed: without an index able to serve each one, the OR reads the whole account
 * (1.0-1.8 s a search over 1,000,000 contacts; with these trigram indexes, 7-100 ms). Which plan
 * wins depends on the table's size, so this checks that each index serves its column's match.
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('contact search indexes, on PostgreSQL', () => {
  let t: TestApp;
  let client: postgres.Sql;

  beforeAll(async () => {
    t = await createTestApp('postgres');
    // Sequential and plain index scans priced out: what is left is a bitmap scan on an index whose
    // operator serves the match, or reading the table whole.
    client = postgres(t.databaseUrl!, { max: 1, onnotice: () => {}, connection: { enable_seqscan: 'off', enable_indexscan: 'off' } });
  });
  afterAll(async () => {
    await client.end();
    await t.close();
  });

  it.each([
    ['name', `name ilike '%zebedee%'`, 'contacts_name_trgm_idx'],
    ['email', `email ilike '%@example.com%'`, 'contacts_email_trgm_idx'],
    ['phone digits', `phone like '%7911123%'`, 'contacts_phone_trgm_idx'],
    ['phone prefix', `phone like '+4479111%'`, 'contacts_phone_trgm_idx'],
    // external_id is left out: on an empty table the planner prefers reading the partial unique
    // b-tree of its non-null values whole, which any match implies; over many contacts it does not.
  ])('%s: %s is served by %s', async (_column, condition, index) => {
    const plan = await planOf(client, `select id from contacts where ${condition}`);
    expect(plan).toContain(`Bitmap Index Scan on ${index}`);
  });
});

/**
 * The contact list pages through one account in id order (newest first). Through the primary key it read every
 * contact of the accounts created before it first (0.9-1.5 s for an account of 20,000 beside one of
 * 1,000,000); contacts_account_paging_idx reads only its own.
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('contact list paging, on PostgreSQL', () => {
  let t: TestApp;
  let client: postgres.Sql;

  beforeAll(async () => {
    t = await createTestApp('postgres');
    client = postgres(t.databaseUrl!, { max: 1, onnotice: () => {} });
    const big = await t.newAccount();
    await client.unsafe(`insert into contacts (account_id, phone) select $1, '+4474' || lpad(g::text, 8, '0') from generate_series(1, 30000) g`, [big.id]);
    await client.unsafe(`insert into contacts (account_id, phone) select $1, '+4475' || lpad(g::text, 8, '0') from generate_series(1, 300) g`, [t.account.id]);
    await client.unsafe('analyze');
  });
  afterAll(async () => {
    await client.end();
    await t.close();
  });

  it.each([
    ['the first page', {}],
    ['a later page', { beforeId: 30_200 }],
    ['what is listed before a later page (its previous link)', { above: 30_100 }],
  ])('%s of a small account is read through contacts_account_paging_idx', async (_page, cursor: { beforeId?: number; above?: number }) => {
    const db = t.database.db;
    const statement = cursor.above === undefined ? contactPage(db, t.account.id, { limit: 50, ...cursor }) : contactIdsAbove(db, t.account.id, { limit: 50 }, cursor.above);
    const { sql, params } = statement.toSQL();
    const plan = await planOf(client, sql, params);
    expect(plan).toContain('contacts_account_paging_idx');
  });
});

/**
 * A search whose matches are all far back (a term only an early import carries) walked the whole
 * account in id order looking for a page of them (1.2 s over 1,000,000 contacts). It reads a window
 * of SEARCH_WINDOW contacts that way, then finds what lies beyond through the trigram indexes.
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('a search whose matches are all old, on PostgreSQL', () => {
  let t: TestApp;
  let client: postgres.Sql;
  const search = searchFor('zebedee', 'GB');

  beforeAll(async () => {
    t = await createTestApp('postgres');
    client = postgres(t.databaseUrl!, { max: 1, onnotice: () => {} });
    await client.unsafe(`insert into contacts (account_id, phone, name) select $1, '+4474' || lpad(g::text, 8, '0'), case when g <= 1500 then 'Zebedee ' || g end from generate_series(1, 30000) g`, [
      t.account.id,
    ]);
    await client.unsafe('analyze');
  });
  afterAll(async () => {
    await client.end();
    await t.close();
  });

  const explain = async (statement: { toSQL(): { sql: string; params: unknown[] } }, analyze = false) => {
    const { sql, params } = statement.toSQL();
    return planOf(client, sql, params, { analyze });
  };

  it('reads at most its window in id order', async () => {
    const [edge] = await client<{ id: string }[]>`select id from contacts where account_id = ${t.account.id} order by id desc offset ${SEARCH_WINDOW - 1} limit 1`;
    const plan = await explain(contactPage(t.database.db, t.account.id, { search, limit: 50 }, undefined, { part: 'window', edge: Number(edge!.id) }), true);
    const read = [...plan.matchAll(/Rows Removed by Filter: (\d+)/g)].reduce((sum, [, n]) => sum + Number(n), 0);
    expect(read, plan).toBeLessThanOrEqual(SEARCH_WINDOW);
  });

  it.each([
    ['the rest of a page', () => contactPage(t.database.db, t.account.id, { search, limit: 50 }, undefined, { part: 'beyond', edge: 25_000 })],
    ['what lies before a page (its previous link)', () => contactIdsAbove(t.database.db, t.account.id, { search, limit: 50 }, 1, undefined, { part: 'beyond', edge: 5_000 })],
  ])('finds %s beyond its window by its matches, not by walking the ids', async (_name, statement) => {
    // Over this small a table a sequential scan is cheaper than the trigram index; over 1,000,000
    // contacts it is the index (a bitmap scan). Either way the matches are found, then sorted.
    const plan = await explain(statement());
    expect(plan).not.toMatch(/Index (Only )?Scan (Backward )?using contacts_(pkey|account_paging_idx)/);
    expect(plan).toMatch(/Sort Key: \(\(contacts\.id \+ 0\)\)|Sort Key: \(\(id \+ 0\)\)/);
  });
});

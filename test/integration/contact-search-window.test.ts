import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/db/client.js';
import { listContacts, previousContactsPage, SEARCH_WINDOW, searchFor } from '../../src/db/queries/contact-views.js';
import { createTestApp, postWebhook, testDatabases, type TestAccount, type TestApp } from '../helpers/app.js';

/**
 * A search reads the SEARCH_WINDOW contacts where its page starts, then looks beyond them only for
 * what they lacked (contact-views.ts): its pages must be the ones a single walk through the whole
 * list gives, each contact once, whichever part found it.
 */
describe.each(testDatabases())('contact search past its window, on %s', (kind) => {
  let t: TestApp;
  let account: TestAccount;
  const OLD = 70;

  beforeAll(async () => {
    t = await createTestApp(kind);
    account = await t.newAccount();
    // The oldest contacts match; a window's worth and more of newer ones do not; then a few newest match again.
    await t.database.db.execute(
      sql`insert into contacts (account_id, phone, name) select ${account.id}, '+4474000' || lpad(g::text, 5, '0'), 'Oldtimer ' || g from generate_series(1, ${OLD}) g`,
    );
    // The first page's window ends at the SEARCH_WINDOW-th newest contact, after the 3 newest: it
    // matches, so that a part reading it twice, or neither, shows.
    const fillers = SEARCH_WINDOW + 1000;
    const edge = fillers - (SEARCH_WINDOW - 3) + 1;
    await t.database.db.execute(
      sql`insert into contacts (account_id, phone, name) select ${account.id}, '+4474010' || lpad(g::text, 5, '0'), case when g = ${edge} then 'Edge oldtimer' end from generate_series(1, ${fillers}) g`,
    );
    for (let i = 1; i <= 3; i++) await postWebhook(t, { contact: { phone: `+44740200000${i}`, name: `Oldtimer new ${i}`, labels: 'late' } }, { token: account.webhookToken });
    for (const g of [1, 2, 30, 69]) await postWebhook(t, { contact: { phone: `+4474000${String(g).padStart(5, '0')}`, labels: 'late' } }, { token: account.webhookToken });
  });
  afterAll(() => t.close());

  /** The list as one walk in id order gives it: what every page together must be. */
  const expected = async (pattern: string, label?: string) =>
    rowsOf<{ id: number }>(
      await t.database.db.execute(sql`
        select c.id from contacts c where c.account_id = ${account.id} and c.name ilike ${pattern}
        ${label ? sql`and exists (select 1 from contact_labels cl join labels l on l.id = cl.label_id where cl.contact_id = c.id and l.key = ${label})` : sql``}
        order by c.id desc`),
    ).map((row) => Number(row.id));

  /** Every page of the list, following the cursor as the API and pages do. */
  const pages = async (q: string, label?: string, limit = 20) => {
    const all: number[][] = [];
    let beforeId: number | undefined;
    for (;;) {
      const { items, more } = await listContacts(t.database.db, account.id, { search: searchFor(q, 'GB'), label, limit, beforeId });
      all.push(items.map((item) => item.contact.id));
      if (!more) return all;
      beforeId = items.at(-1)!.contact.id;
    }
  };

  it.each([
    ['a search the trigram indexes serve', 'oldtimer', undefined],
    ['one too short for them (2 characters), which walks the ids still', 'ti', undefined],
    ['a search and a label', 'oldtimer', 'late'],
  ])('%s: the pages are the whole list in order, each contact once', async (_name, q, label) => {
    const listed = await pages(q, label);
    expect(listed.flat()).toEqual(await expected(`%${q}%`, label));
    expect(listed.flat().length).toBeGreaterThan(label ? 5 : OLD);
  });

  it("a page's previous link leads to the page before it, across the window's edge", async () => {
    const listed = await pages('oldtimer');
    expect(listed.length).toBeGreaterThanOrEqual(4);
    const query = { search: searchFor('oldtimer', 'GB'), limit: 20 };
    expect(await previousContactsPage(t.database.db, account.id, query, listed[1]![0]!)).toEqual({});
    for (let page = 2; page < listed.length; page++) {
      const previous = await previousContactsPage(t.database.db, account.id, query, listed[page]![0]!);
      expect(previous?.beforeId, `page ${page}`).toBeDefined();
      const { items } = await listContacts(t.database.db, account.id, { ...query, beforeId: previous!.beforeId });
      expect(items.map((item) => item.contact.id), `page ${page}`).toEqual(listed[page - 1]);
    }
  });
});

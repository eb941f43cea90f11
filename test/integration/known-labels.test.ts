import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labels } from '../../src/db/schema.js';
import { KnownLabels } from '../../src/sync/known-labels.js';
import { createTestApp, testDatabases, type TestApp } from '../helpers/app.js';

describe.each(testDatabases())('KnownLabels on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(kind);
  });
  afterAll(() => t.close());

  const names = async () =>
    (await t.database.db.select({ name: labels.name }).from(labels).where(eq(labels.accountId, t.account.id))).map((row) => row.name).sort();

  it('creates missing labels once, keeping the first spelling, and asks the database no more for known ones', async () => {
    const known = new KnownLabels(t.database.db);
    await known.ensure(t.account.id, ['VIP', 'beta', 'vip']);
    expect(await names()).toEqual(['VIP', 'beta']);
    // Rows removed behind its back are not looked for again: it knows them, so it issues no query.
    await t.database.db.delete(labels).where(eq(labels.accountId, t.account.id));
    await known.ensure(t.account.id, ['vip', 'Beta']);
    expect(await names()).toEqual([]);
    // Another account's labels are its own.
    const other = await t.newAccount();
    await known.ensure(other.id, ['VIP']);
    expect((await t.database.db.select().from(labels).where(eq(labels.accountId, other.id))).map((row) => row.name)).toEqual(['VIP']);
  });
});

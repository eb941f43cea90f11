import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveries } from '../../src/db/schema.js';
import { createTestApp, postWebhook, type TestApp } from '../helpers/app.js';
import { startCommitCutter, type CommitCutter } from '../helpers/commit-cutter.js';
import { storedContact, uniquePhone } from '../helpers/fixtures.js';

/**
 * A COMMIT that reached PostgreSQL but whose answer was lost (a failover, a broken connection): the
 * transaction committed, and its deliveries must be answered as applied, once. Trying them again
 * would apply them a second time, over what other deliveries for the same phones did meanwhile.
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('a COMMIT whose answer is lost, on PostgreSQL', () => {
  let t: TestApp;
  let cutter: CommitCutter;
  let behind: Awaited<ReturnType<TestApp['openSibling']>>;

  beforeAll(async () => {
    t = await createTestApp('postgres');
    cutter = await startCommitCutter(t.databaseUrl!);
    // Another instance on the same database, whose connections go through the proxy.
    behind = await t.openSibling(cutter.url);
  });
  afterAll(async () => {
    await behind?.close();
    await cutter?.close();
    await t?.close();
  });

  const bulk = async (lines: unknown[]) => {
    const res = await behind.app.request(`/webhooks/${t.account.webhookToken}/bulk`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: lines.map((line) => JSON.stringify(line)).join('\n'),
    });
    return (await res.text()).trim().split('\n').map((line) => JSON.parse(line) as Record<string, any>);
  };
  const logged = async (ids: string[]) =>
    (await t.database.db.select({ id: deliveries.id, status: deliveries.status }).from(deliveries).where(inArray(deliveries.id, ids))).map((row) => row.status);

  it('a group that committed is answered as it was applied, and a delivery applied since is kept', async () => {
    const [phone, other] = [uniquePhone(), uniquePhone()];
    const held = cutter.armNextCommit();
    const answers = bulk([{ contact: { phone, labels: 'first' }, overrideLabels: true }, { contact: { phone: other, name: 'Other' } }]);
    await held;
    // The group's locks went with its commit: another instance applies a newer delivery to the phone.
    const newer = await postWebhook(t, { contact: { phone, labels: 'newer' } });
    expect(newer.body.contact?.labels).toEqual(['first', 'newer']);
    cutter.cut();

    const [line1, line2, summary] = await answers;
    expect(line1).toMatchObject({ line: 1, status: 'applied', contact: { labels: ['first'] } });
    expect(line2).toMatchObject({ line: 2, status: 'applied', contact: { name: 'Other' } });
    expect(summary).toEqual({ summary: { lines: 2, applied: 2, unchanged: 0, stale: 0, failed: 0 } });
    expect((await storedContact(t, phone))?.labels).toEqual(['first', 'newer']);
    expect(await logged([line1!.delivery_id, line2!.delivery_id])).toEqual(['applied', 'applied']);
  });

  it('a lone delivery that committed is answered 200, not 503', async () => {
    const phone = uniquePhone();
    const held = cutter.armNextCommit();
    const answer = behind.app.request(`/webhooks/${t.account.webhookToken}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contact: { phone, name: 'Once' } }),
    });
    await held;
    cutter.cut();
    const res = await answer;
    const body = (await res.json()) as Record<string, any>;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ status: 'applied', contact: { name: 'Once' } });
    expect(await t.database.db.select({ status: deliveries.status }).from(deliveries).where(eq(deliveries.id, body.delivery_id))).toEqual([{ status: 'applied' }]);
  });
});

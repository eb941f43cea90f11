import { count, eq } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contacts } from '../../src/db/schema.js';
import { callApi, createTestApp, postgresUrl, postWebhook, type TestApp } from '../helpers/app.js';
import { storedContact, uniquePhone } from '../helpers/fixtures.js';
import { lockKey } from '../../src/sync/phone-key.js';

/**
 * Concurrency on real PostgreSQL (skipped without TEST_DATABASE_URL; .ci/run always sets it).
 * "Two instances" sends alternately to two apps with pools of their own on one database, so only
 * the advisory lock, not the in-process queue, keeps one phone's deliveries apart between them.
 */
describe.skipIf(!postgresUrl)('races on PostgreSQL', () => {
  let t: TestApp;
  let sibling: Awaited<ReturnType<TestApp['openSibling']>>;

  beforeAll(async () => {
    t = await createTestApp('postgres');
    sibling = await t.openSibling();
  });
  afterAll(async () => {
    await sibling.close();
    await t.close();
  });

  const send = (app: TestApp['app'], payload: unknown) =>
    app.request(`/webhooks/${t.account.webhookToken}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });

  describe.each([
    ['one instance', () => [t.app]],
    ['two instances', () => [t.app, sibling.app]],
  ])('%s', (_name, apps) => {
    it('60 concurrent merge deliveries to one phone end with all 60 labels', async () => {
      const phone = uniquePhone();
      const instances = apps();
      const responses = await Promise.all(
        Array.from({ length: 60 }, (_, i) => send(instances[i % instances.length]!, { contact: { phone, labels: `label-${i}` } })),
      );
      expect(responses.map((res) => res.status)).toEqual(Array(60).fill(200));
      const labels = (await storedContact(t, phone))?.labels ?? [];
      expect([...labels].sort()).toEqual(Array.from({ length: 60 }, (_, i) => `label-${i}`).sort());
    });

    it('concurrent claims of one external_id by different phones: one wins, the others get 422, never 500', async () => {
      for (let round = 0; round < 10; round++) {
        const instances = apps();
        const phones = [uniquePhone(), uniquePhone(), uniquePhone()];
        const answers = await Promise.all(
          phones.map((phone, i) => send(instances[i % instances.length]!, { contact: { phone, external_id: `race-${round}-${instances.length}` } })),
        );
        const statuses = answers.map((res) => res.status).sort();
        expect(statuses).toEqual([200, 422, 422]);
        for (const res of answers.filter((r) => r.status === 422)) expect(((await res.json()) as any).code).toBe('external_id_taken');
      }
    });

    it('two concurrent first deliveries for a new phone create one contact', async () => {
      for (let round = 0; round < 10; round++) {
        const phone = uniquePhone();
        const instances = apps();
        const [a, b] = await Promise.all([
          send(instances[0]!, { contact: { phone, name: 'A' } }),
          send(instances[instances.length - 1]!, { contact: { phone, name: 'B' } }),
        ]);
        expect([a.status, b.status]).toEqual([200, 200]);
        const created = [((await a.json()) as any).contact.created, ((await b.json()) as any).contact.created];
        expect(created.sort()).toEqual([false, true]);
        const [rows] = await t.database.db.select({ n: count() }).from(contacts).where(eq(contacts.phone, phone));
        expect(rows?.n).toBe(1);
      }
    });
  });

  it.each([
    ['refused as it is applied (unknown_assignee)', (phone: string) => ({ contact: { phone }, assignee: 'nobody@company.com' })],
    ['refused as it is read (invalid_phone)', () => ({ contact: { phone: 'not a phone' } })],
  ])('the same key and body, %s, sent to two instances at once: one refusal, given again to the other', async (_, payload) => {
    for (let round = 0; round < 10; round++) {
      const phone = uniquePhone();
      const key = { 'idempotency-key': `twice-${phone}` };
      const answers = await Promise.all(
        [t.app, sibling.app].map((app) =>
          app.request(`/webhooks/${t.account.webhookToken}`, { method: 'POST', headers: { 'content-type': 'application/json', ...key }, body: JSON.stringify(payload(phone)) }),
        ),
      );
      const bodies = (await Promise.all(answers.map((res) => res.json()))) as { delivery_id: string; code: string }[];
      expect(answers.map((res) => res.status)).toEqual([422, 422]);
      expect(bodies[0]!.delivery_id).toBe(bodies[1]!.delivery_id);
      expect(answers.map((res) => res.headers.get('idempotent-replayed')).sort()).toEqual([null, 'true']);
    }
  });

  it("a delivery answered 503 while it waited for its phone's lock (held by another instance) is not applied afterwards", async () => {
    const quick = await createTestApp('postgres', { REQUEST_TIMEOUT_MS: '300' });
    const other = postgres(quick.databaseUrl!, { max: 1, onnotice: () => {} });
    try {
      const phone = uniquePhone();
      const deliver = (labels: string) => postWebhook(quick, { contact: { phone, labels }, overrideLabels: true });
      await other`select pg_advisory_lock(${lockKey(quick.account.id, phone).toString()}::bigint)`;
      expect((await deliver('a')).status).toBe(503);
      await other`select pg_advisory_unlock(${lockKey(quick.account.id, phone).toString()}::bigint)`;
      const next = await deliver('b');
      expect(next.body).toMatchObject({ status: 'applied', contact: { labels: ['b'], created: true } });
      expect((await storedContact(quick, phone))?.labels).toEqual(['b']);
    } finally {
      await other.end();
      await quick.close();
    }
  });

  it('a delete counts a message that was being added while it ran', async () => {
    const phone = uniquePhone();
    const conversation = await callApi(t, 'POST', '/conversations', { body: { phone } });
    const id = conversation.body.id as string;
    await callApi(t, 'POST', `/conversations/${id}/messages`, { body: { direction: 'inbound', body: 'first' } });
    // Another connection adds a message as the API does, and holds its transaction open.
    const other = postgres(t.databaseUrl!, { max: 1, onnotice: () => {} });
    let inserted!: () => void;
    let release!: () => void;
    const added = new Promise<void>((resolve) => (inserted = resolve));
    const adding = other.begin(async (sql) => {
      await sql`select id from conversations where id = ${id} for key share`;
      await sql`insert into messages (id, conversation_id, direction, body) values (${`msg_late_${phone}`}, ${id}, 'inbound', 'late')`;
      inserted();
      await new Promise<void>((resolve) => (release = resolve));
    });
    try {
      await added;
      const deleting = send(t.app, { delete_contact: phone });
      // The delete is under way, waiting on the message's transaction somewhere.
      await new Promise((resolve) => setTimeout(resolve, 300));
      release();
      await adding;
      const answer = (await (await deleting).json()) as { deleted: unknown };
      expect(answer.deleted).toEqual({ contact: true, conversations: 1, messages: 2 });
    } finally {
      release?.();
      await other.end();
    }
  });
});

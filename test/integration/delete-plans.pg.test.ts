import { PgDialect } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messagesOfContact } from '../../src/sync/delete-contact.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { planOf } from '../helpers/plans.js';

/**
 * A delete answers how many messages went with the contact. Counted as a join of its conversations
 * and their messages, a contact with many conversations was planned as a hash join over a read of
 * every account's messages (1.2 s over 1,270,000 messages for 10,000 conversations).
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('a delete on PostgreSQL', () => {
  let t: TestApp;
  let client: postgres.Sql;
  let contactId: number;

  beforeAll(async () => {
    t = await createTestApp('postgres');
    client = postgres(t.databaseUrl!, { max: 1, onnotice: () => {} });
    const insertContact = (phone: string) => client<{ id: string }[]>`insert into contacts (account_id, phone) values (${t.account.id}, ${phone}) returning id`;
    const [heavy] = await insertContact('+447400100001');
    const [other] = await insertContact('+447400100002');
    contactId = Number(heavy!.id);
    // The contact's 3,000 conversations, and 30,000 messages in another contact's 3,000.
    const conversationsOf = (id: string, prefix: string) =>
      client.unsafe(`insert into conversations (id, account_id, contact_id) select '${prefix}' || g, $1, $2 from generate_series(1, 3000) g`, [t.account.id, id]);
    await conversationsOf(heavy!.id, 'cnv_heavy_');
    await conversationsOf(other!.id, 'cnv_other_');
    await client.unsafe(`insert into messages (id, conversation_id, direction, body) select 'msg_' || g, 'cnv_other_' || (g % 3000 + 1), 'inbound', 'hi' from generate_series(1, 30000) g`);
    await client`analyze`;
  });
  afterAll(async () => {
    await client.end();
    await t.close();
  });

  it("counts the contact's messages through the messages' index, not by reading them all", async () => {
    const { sql, params } = new PgDialect().sqlToQuery(messagesOfContact(contactId));
    const plan = await planOf(client, sql, params);
    expect(plan).toContain('messages_conversation_idx');
    expect(plan).not.toMatch(/Seq Scan on messages/);
    const [counted] = await client.unsafe(sql, params as never[]);
    expect(counted!.n).toBe(0);
  });
});

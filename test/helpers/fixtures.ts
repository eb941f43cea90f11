import { eq } from 'drizzle-orm';
import { agents, contacts, conversations, messages } from '../../src/db/schema.js';
import { findContact } from '../../src/db/queries/contacts.js';
import { labelsOf } from '../../src/db/queries/labels.js';
import { newId } from '../../src/ids.js';
import { summary } from '../../src/sync/upsert-contact.js';
import type { TestApp } from './app.js';
import { postWebhook } from './app.js';

/** An agent, inserted directly: the webhook suites do not depend on the agents API. */
export async function addAgent(t: TestApp, email: string, accountId = t.account.id): Promise<string> {
  const id = newId('agt');
  await t.database.db.insert(agents).values({ id, accountId, email: email.toLowerCase(), name: email });
  return id;
}

/** A contact (through the webhook) with `count` conversations of `perConversation` messages each. */
export async function addConversations(t: TestApp, phone: string, count: number, perConversation = 0): Promise<string[]> {
  await postWebhook(t, { contact: { phone } });
  const [contact] = await t.database.db.select().from(contacts).where(eq(contacts.phone, phone));
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = newId('cnv');
    ids.push(id);
    await t.database.db.insert(conversations).values({ id, accountId: contact!.accountId, contactId: contact!.id });
    for (let m = 0; m < perConversation; m++) {
      await t.database.db.insert(messages).values({ id: newId('msg'), conversationId: id, direction: 'inbound', body: `hello ${m}` });
    }
  }
  return ids;
}

export async function assigneesOf(t: TestApp, ids: string[]): Promise<(string | null)[]> {
  const rows = await t.database.db.select().from(conversations);
  return ids.map((id) => rows.find((row) => row.id === id)?.assigneeId ?? null);
}

/** A fresh valid UK mobile per call (every +447400 nnnnnn is valid), so cases do not share contacts. */
let next = 0;
export function uniquePhone(): string {
  next += 1;
  return `+447400${String(next).padStart(6, '0')}`;
}

/** The contact as stored, read straight from the database (null when there is none). */
export async function storedContact(t: TestApp, phone: string, accountId = t.account.id) {
  const row = await findContact(t.database.db, accountId, phone);
  if (!row) return null;
  return summary(row, (await labelsOf(t.database.db, row.id)).map((label) => label.name), false);
}

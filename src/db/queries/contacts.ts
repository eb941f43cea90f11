import { and, eq } from 'drizzle-orm';
import type { Db } from '../client.js';
import { contacts, type StoredSection } from '../schema.js';

export type ContactRow = typeof contacts.$inferSelect;

export async function findContact(db: Db, accountId: string, phone: string): Promise<ContactRow | undefined> {
  const [row] = await db
    .select()
    .from(contacts)
    .where(and(eq(contacts.accountId, accountId), eq(contacts.phone, phone)))
    .limit(1);
  return row;
}

/**
 * The contact with this phone, created bare if there is none. A webhook creating the same phone
 * at the same moment makes the insert do nothing; the select then finds its row.
 */
export async function ensureContact(tx: Db, accountId: string, phone: string): Promise<ContactRow> {
  await tx.insert(contacts).values({ accountId, phone }).onConflictDoNothing({ target: [contacts.accountId, contacts.phone] });
  return (await findContact(tx, accountId, phone))!;
}

export async function findContactByExternalId(db: Db, accountId: string, externalId: string): Promise<ContactRow | undefined> {
  const [row] = await db
    .select()
    .from(contacts)
    .where(and(eq(contacts.accountId, accountId), eq(contacts.externalId, externalId)))
    .limit(1);
  return row;
}

/** Sections as the API shows them: `{ "Title": [items] }`, in stored order. */
export function sectionsObject(sections: StoredSection[]): Record<string, StoredSection['items']> {
  // jsonb keeps object keys in its own order; items are rebuilt so that `text` comes first.
  return Object.fromEntries(
    sections.map(({ title, items }) => [
      title,
      items.map(({ text, description, link }) => ({ text, ...(description ? { description } : {}), ...(link ? { link } : {}) })),
    ]),
  );
}

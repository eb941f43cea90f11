import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { contactLabels, contacts, labels, type StoredSection } from '../schema.js';
import type { LabelRow } from './labels.js';

export type ContactRow = typeof contacts.$inferSelect;

export async function findContact(db: Db, accountId: string, phone: string): Promise<ContactRow | undefined> {
  const [row] = await db
    .select()
    .from(contacts)
    .where(and(eq(contacts.accountId, accountId), eq(contacts.phone, phone)))
    .limit(1);
  return row;
}

/** The contact with its labels in order, in one round trip. */
export async function findContactWithLabels(db: Db, accountId: string, phone: string): Promise<{ contact: ContactRow; labels: LabelRow[] } | undefined> {
  const [row] = await db
    .select({
      contact: contacts,
      // Spelled out with aliases: drizzle renders the outer columns unqualified inside a subquery.
      labels: sql<LabelRow[]>`coalesce((
        select json_agg(json_build_object('id', l.id, 'name', l.name, 'key', l.key) order by cl.position)
        from ${contactLabels} cl join ${labels} l on l.id = cl.label_id
        where cl.contact_id = ${sql.identifier('contacts')}.${sql.identifier('id')}), '[]')`,
    })
    .from(contacts)
    .where(and(eq(contacts.accountId, accountId), eq(contacts.phone, phone)))
    .limit(1);
  return row && { contact: row.contact, labels: row.labels.map((label) => ({ ...label, id: Number(label.id) })) };
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

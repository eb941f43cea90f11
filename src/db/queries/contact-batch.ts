import { sql } from 'drizzle-orm';
import { jsonb as json, rowsOf, type Db } from '../client.js';
import type { CustomAttributes, StoredSection } from '../schema.js';
import type { LabelRow } from './labels.js';

/**
 * Multi-row statements for a batch of upserts: each takes its rows as one JSON parameter, read back
 * with `jsonb_to_recordset`, so a batch costs the same few round trips whatever its size and the
 * statements look the same to both drivers.
 */

export interface StoredContact {
  id: number;
  accountId: string;
  phone: string;
  name: string | null;
  email: string | null;
  externalId: string | null;
  customAttributes: CustomAttributes;
  enhancedData: StoredSection[];
  inviteRequested: boolean;
  labels: LabelRow[];
}

export interface ContactKey {
  accountId: string;
  phone: string;
}

export const contactKey = ({ accountId, phone }: ContactKey) => `${accountId}\u0000${phone}`;

/** The contacts that exist among `keys`, with their labels in order, by `contactKey`. */
export async function loadContacts(db: Db, keys: ContactKey[]): Promise<Map<string, StoredContact>> {
  const rows = await db.execute(sql`
    select c.id, c.account_id, c.phone, c.name, c.email, c.external_id, c.custom_attributes, c.enhanced_data, c.invite_requested,
      coalesce((
        select json_agg(json_build_object('id', l.id, 'name', l.name, 'key', l.key) order by cl.position)
        from contact_labels cl join labels l on l.id = cl.label_id
        where cl.contact_id = c.id), '[]') as labels
    from jsonb_to_recordset(${json(keys.map(({ accountId, phone }) => ({ account_id: accountId, phone })))}) as k(account_id text, phone text)
    join contacts c on c.account_id = k.account_id and c.phone = k.phone`);
  const found = new Map<string, StoredContact>();
  for (const row of rowsOf<Record<string, unknown>>(rows)) {
    const contact: StoredContact = {
      id: Number(row.id),
      accountId: row.account_id as string,
      phone: row.phone as string,
      name: row.name as string | null,
      email: row.email as string | null,
      externalId: row.external_id as string | null,
      customAttributes: parsed(row.custom_attributes) as CustomAttributes,
      enhancedData: parsed(row.enhanced_data) as StoredSection[],
      inviteRequested: row.invite_requested as boolean,
      labels: (parsed(row.labels) as LabelRow[]).map((label) => ({ ...label, id: Number(label.id) })),
    };
    found.set(contactKey(contact), contact);
  }
  return found;
}

/** json and jsonb arrive parsed from both drivers; a string is parsed here in case one does not. */
const parsed = (value: unknown) => (typeof value === 'string' ? (JSON.parse(value) as unknown) : value);

export type ContactWrite = ContactKey & Pick<StoredContact, 'name' | 'email' | 'customAttributes' | 'enhancedData' | 'inviteRequested'>;

/**
 * Inserts or updates these contacts (their external ids are left as they are) and answers their ids
 * by `contactKey`. `updated_at` moves on every row written: callers write only changed contacts.
 */
export async function writeContacts(db: Db, writes: ContactWrite[]): Promise<Map<string, number>> {
  if (writes.length === 0) return new Map();
  const rows = await db.execute(sql`
    insert into contacts (account_id, phone, name, email, custom_attributes, enhanced_data, invite_requested)
    select account_id, phone, name, email, custom_attributes, enhanced_data, invite_requested
    from jsonb_to_recordset(${json(
      writes.map((w) => ({
        account_id: w.accountId,
        phone: w.phone,
        name: w.name,
        email: w.email,
        custom_attributes: w.customAttributes,
        enhanced_data: w.enhancedData,
        invite_requested: w.inviteRequested,
      })),
    )}) as w(account_id text, phone text, name text, email text, custom_attributes jsonb, enhanced_data jsonb, invite_requested boolean)
    on conflict (account_id, phone) do update set
      name = excluded.name, email = excluded.email, custom_attributes = excluded.custom_attributes,
      enhanced_data = excluded.enhanced_data, invite_requested = excluded.invite_requested, updated_at = now()
    returning id, account_id, phone`);
  return new Map(rowsOf<{ id: string | number; account_id: string; phone: string }>(rows).map((row) => [contactKey({ accountId: row.account_id, phone: row.phone }), Number(row.id)]));
}

export interface ContactLabelsWrite {
  contactId: number;
  labels: LabelRow[];
  /**
   * How many of the stored rows are left in place, as the start of `labels` (only the rest is
   * written), or null when every stored row is replaced.
   */
  kept: number | null;
}

/** What to write so that a contact's labels go from `stored` to `wanted`: when the change only appends, only the new rows. */
export function labelsChange(contactId: number, stored: LabelRow[], wanted: LabelRow[]): ContactLabelsWrite {
  const appendsOnly = stored.length <= wanted.length && stored.every((label, i) => wanted[i]!.key === label.key);
  return { contactId, labels: wanted, kept: appendsOnly ? stored.length : null };
}

/** Makes each contact's labels exactly its `labels`, in order. */
export async function writeContactLabelsBatch(db: Db, writes: ContactLabelsWrite[]): Promise<void> {
  const replaced = writes.filter((w) => w.kept === null).map((w) => w.contactId);
  if (replaced.length > 0) {
    await db.execute(sql`delete from contact_labels where contact_id in (select value::bigint from jsonb_array_elements_text(${json(replaced)}))`);
  }
  const rows = writes.flatMap(({ contactId, labels, kept }) =>
    labels.slice(kept ?? 0).map((label, i) => ({ contact_id: contactId, label_id: label.id, position: (kept ?? 0) + i })),
  );
  if (rows.length === 0) return;
  await db.execute(sql`
    insert into contact_labels (contact_id, label_id, position)
    select contact_id, label_id, position from jsonb_to_recordset(${json(rows)}) as r(contact_id bigint, label_id bigint, position integer)`);
}

import { sql } from 'drizzle-orm';
import { executePrepared, jsonb as json, type Db } from '../client.js';
import type { CustomAttributes, StoredSection } from '../schema.js';
import type { ContactRow } from './contacts.js';
import type { LabelRow } from './labels.js';

/**
 * Multi-row statements for a batch of upserts: each takes its rows as one JSON parameter, read back
 * with `jsonb_to_recordset`, so a batch costs the same few round trips whatever its size and the
 * statements look the same to both drivers.
 */

/** A contact's row as a batch reads it (every column but its times), with its labels in order. */
export type StoredContact = Omit<ContactRow, 'createdAt' | 'updatedAt'> & { labels: LabelRow[] };

export interface ContactKey {
  accountId: string;
  phone: string;
}

export const contactKey = ({ accountId, phone }: ContactKey) => `${accountId}\u0000${phone}`;

/*
 * These statements are prepared, so each connection plans them once and keeps the plan, perhaps
 * from when the tables were small or had no statistics (autovacuum off): every lookup is therefore
 * written so that its only sensible plan is an index lookup per row, never a join strategy that
 * reads a whole table (a hash join planned over a then tiny table stays one as the table grows).
 */

/**
 * The contact of `alias`'s account and phone, for a `cross join lateral`: one lookup in
 * (account_id, phone) per row; `limit 1` keeps the subquery from being merged into a plain join.
 */
const contactOf = (alias: 'k' | 'r') =>
  sql.raw(`select * from contacts where contacts.account_id = ${alias}.account_id and contacts.phone = ${alias}.phone limit 1`);

/** The statements, by what they take: exported so that a test can check the plans PostgreSQL makes for them. */
export const batchStatements = {
  loadContacts: (keys: { account_id: string; phone: string }[]) => sql`
    select c.id, c.account_id, c.phone, c.name, c.email, c.external_id, c.custom_attributes, c.enhanced_data, c.invite_requested, c.last_occurred_at,
      coalesce((
        select json_agg(json_build_object('id', l.id, 'name', l.name, 'key', l.key) order by cl.position)
        from contact_labels cl cross join lateral (select id, name, key from labels where labels.id = cl.label_id limit 1) as l
        where cl.contact_id = c.id), '[]') as labels
    from jsonb_to_recordset(${json(keys)}) as k(account_id text, phone text)
    cross join lateral (${contactOf('k')}) as c`,
  writeContacts: (rows: Record<string, unknown>[]) => sql`
    insert into contacts (account_id, phone, name, email, custom_attributes, enhanced_data, invite_requested)
    select account_id, phone, name, email, custom_attributes, enhanced_data, invite_requested
    from jsonb_to_recordset(${json(rows)}) as w(account_id text, phone text, name text, email text, custom_attributes jsonb, enhanced_data jsonb, invite_requested boolean)
    on conflict (account_id, phone) do update set
      name = excluded.name, email = excluded.email, custom_attributes = excluded.custom_attributes,
      enhanced_data = excluded.enhanced_data, invite_requested = excluded.invite_requested, updated_at = now()`,
  clearContactLabels: (keys: { account_id: string; phone: string }[]) => sql`
    delete from contact_labels where contact_id = any(array(
      select c.id from jsonb_to_recordset(${json(keys)}) as k(account_id text, phone text) cross join lateral (${contactOf('k')}) as c))`,
  writeContactLabels: (rows: { account_id: string; phone: string; label_id: number; position: number }[]) => sql`
    insert into contact_labels (contact_id, label_id, position)
    select c.id, r.label_id, r.position
    from jsonb_to_recordset(${json(rows)}) as r(account_id text, phone text, label_id bigint, position integer)
    cross join lateral (${contactOf('r')}) as c`,
};

/** The contacts that exist among `keys`, with their labels in order, by `contactKey`. */
export async function loadContacts(db: Db, keys: ContactKey[]): Promise<Map<string, StoredContact>> {
  const rows = await executePrepared<Record<string, unknown>>(db, 'load_contacts', batchStatements.loadContacts(keys.map(({ accountId, phone }) => ({ account_id: accountId, phone }))));
  const found = new Map<string, StoredContact>();
  for (const row of rows) {
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
      // postgres.js under drizzle hands timestamps over as text, PGlite as a Date.
      lastOccurredAt: row.last_occurred_at == null ? null : new Date(row.last_occurred_at as string | Date),
      labels: (parsed(row.labels) as LabelRow[]).map((label) => ({ ...label, id: Number(label.id) })),
    };
    found.set(contactKey(contact), contact);
  }
  return found;
}

/** json and jsonb arrive parsed from both drivers; a string is parsed here in case one does not. */
const parsed = (value: unknown) => (typeof value === 'string' ? (JSON.parse(value) as unknown) : value);

export type ContactWrite = ContactKey & Pick<StoredContact, 'name' | 'email' | 'customAttributes' | 'enhancedData' | 'inviteRequested'>;

/*
 * The writes below send their statements as soon as they are called, before awaiting anything, so
 * that a transaction can send several at once (postgres.js writes them together and PostgreSQL runs
 * them in the order sent) and wait for one round trip instead of one each. A statement that needs a
 * contact's id finds it by account and phone, so that it may follow the one inserting the contact.
 */

/** Inserts or updates these contacts (their external ids are left as they are); `updated_at` moves on every row written. */
export function writeContacts(db: Db, writes: ContactWrite[]): Promise<unknown> {
  if (writes.length === 0) return Promise.resolve();
  return executePrepared(
    db,
    'write_contacts',
    batchStatements.writeContacts(
      writes.map((w) => ({
        account_id: w.accountId,
        phone: w.phone,
        name: w.name,
        email: w.email,
        custom_attributes: w.customAttributes,
        enhanced_data: w.enhancedData,
        invite_requested: w.inviteRequested,
      })),
    ),
  );
}

export interface ContactLabelsWrite extends ContactKey {
  labels: LabelRow[];
  /**
   * How many of the stored rows are left in place, as the start of `labels` (only the rest is
   * written), or null when every stored row is replaced.
   */
  kept: number | null;
}

/** What to write so that a contact's labels go from `stored` to `wanted`: when the change only appends, only the new rows. */
export function labelsChange(contact: ContactKey, stored: LabelRow[], wanted: LabelRow[]): ContactLabelsWrite {
  const appendsOnly = stored.length <= wanted.length && stored.every((label, i) => wanted[i]!.key === label.key);
  return { accountId: contact.accountId, phone: contact.phone, labels: wanted, kept: appendsOnly ? stored.length : null };
}

/** Makes each contact's labels exactly its `labels`, in order. */
export function writeContactLabelsBatch(db: Db, writes: ContactLabelsWrite[]): Promise<unknown> {
  const sent: Promise<unknown>[] = [];
  const replaced = writes.filter((w) => w.kept === null).map(({ accountId, phone }) => ({ account_id: accountId, phone }));
  if (replaced.length > 0) {
    sent.push(executePrepared(db, 'clear_contact_labels', batchStatements.clearContactLabels(replaced)));
  }
  const rows = writes.flatMap(({ accountId, phone, labels, kept }) =>
    labels.slice(kept ?? 0).map((label, i) => ({ account_id: accountId, phone, label_id: label.id, position: (kept ?? 0) + i })),
  );
  if (rows.length > 0) {
    sent.push(executePrepared(db, 'write_contact_labels', batchStatements.writeContactLabels(rows)));
  }
  return Promise.all(sent);
}

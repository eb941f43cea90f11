import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../client.js';
import { contactLabels, labels } from '../schema.js';
import { labelKey } from '../../webhook/label-key.js';

export interface LabelRow {
  id: number;
  name: string;
  key: string;
}

/** The contact's labels in the order they were given. */
export async function labelsOf(db: Db, contactId: number): Promise<LabelRow[]> {
  return db
    .select({ id: labels.id, name: labels.name, key: labels.key })
    .from(contactLabels)
    .innerJoin(labels, eq(labels.id, contactLabels.labelId))
    .where(eq(contactLabels.contactId, contactId))
    .orderBy(asc(contactLabels.position));
}

/**
 * Label rows for these names, created where missing; an existing label keeps its first spelling.
 * One statement inserts the missing ones and reads the rest; a label another transaction committed
 * meanwhile is invisible to that statement's snapshot, so any still missing are read once more.
 * On the pool, never inside a delivery's transaction: two batches creating the same labels in
 * different orders would deadlock (KnownLabels).
 */
export async function ensureLabels(db: Db, accountId: string, names: string[]): Promise<Map<string, LabelRow>> {
  if (names.length === 0) return new Map();
  const wanted = sql.join(
    names.map((name) => sql`(${name}, ${labelKey(name)})`),
    sql`, `,
  );
  const rows = await db.execute(sql`
    with wanted(name, key) as (values ${wanted}),
    inserted as (
      insert into ${labels} (account_id, name, key) select ${accountId}, name, key from wanted
      on conflict (account_id, key) do nothing returning id, name, key
    )
    select id, name, key from inserted
    union all
    select l.id, l.name, l.key from ${labels} l join wanted w on w.key = l.key where l.account_id = ${accountId}`);
  const found = new Map(rowsOf<{ id: string | number; name: string; key: string }>(rows).map((row) => [row.key, { id: Number(row.id), name: row.name, key: row.key }]));
  const missing = names.map(labelKey).filter((key) => !found.has(key));
  if (missing.length > 0) {
    const late = await db
      .select({ id: labels.id, name: labels.name, key: labels.key })
      .from(labels)
      .where(and(eq(labels.accountId, accountId), inArray(labels.key, missing)));
    for (const row of late) found.set(row.key, row);
  }
  return found;
}

/**
 * The rows of a contact's labels after a delivery, from their names: the contact's own row where it
 * has the label already, else the one the delivery added (KnownLabels), which holds every new name.
 */
export function labelRowsFor(names: string[], current: LabelRow[], added: Map<string, LabelRow>): LabelRow[] {
  const had = new Map(current.map((label) => [label.key, label]));
  return names.map((name) => had.get(labelKey(name)) ?? added.get(labelKey(name))!);
}


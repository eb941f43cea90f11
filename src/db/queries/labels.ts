import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Db } from '../client.js';
import { contactLabels, labels } from '../schema.js';

export interface LabelRow {
  id: number;
  name: string;
  key: string;
}

export const labelKey = (name: string) => name.toLowerCase();

/** The contact's labels in the order they were given. */
export async function labelsOf(db: Db, contactId: number): Promise<LabelRow[]> {
  return db
    .select({ id: labels.id, name: labels.name, key: labels.key })
    .from(contactLabels)
    .innerJoin(labels, eq(labels.id, contactLabels.labelId))
    .where(eq(contactLabels.contactId, contactId))
    .orderBy(asc(contactLabels.position));
}

/** Label rows for these names, created where missing; an existing label keeps its first spelling. */
export async function ensureLabels(tx: Db, accountId: string, names: string[]): Promise<Map<string, LabelRow>> {
  if (names.length === 0) return new Map();
  await tx
    .insert(labels)
    .values(names.map((name) => ({ accountId, name, key: labelKey(name) })))
    .onConflictDoNothing({ target: [labels.accountId, labels.key] });
  const rows = await tx
    .select({ id: labels.id, name: labels.name, key: labels.key })
    .from(labels)
    .where(and(eq(labels.accountId, accountId), inArray(labels.key, names.map(labelKey))));
  return new Map(rows.map((row) => [row.key, row]));
}

/** Makes the contact's labels exactly `names`, in that order. */
export async function replaceContactLabels(tx: Db, accountId: string, contactId: number, names: string[]): Promise<LabelRow[]> {
  const byKey = await ensureLabels(tx, accountId, names);
  const rows = names.map((name) => byKey.get(labelKey(name))!);
  await tx.delete(contactLabels).where(eq(contactLabels.contactId, contactId));
  if (rows.length > 0) {
    await tx.insert(contactLabels).values(rows.map((row, position) => ({ contactId, labelId: row.id, position })));
  }
  return rows;
}

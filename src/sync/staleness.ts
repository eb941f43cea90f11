import { and, eq } from 'drizzle-orm';
import type { Tx } from '../db/client.js';
import type { ContactRow } from '../db/queries/contacts.js';
import { tombstones } from '../db/schema.js';
import { phoneHash } from './phone-key.js';

type LastTimeOf = Pick<ContactRow, 'lastOccurredAt'> | undefined;

/** A delivery older than the last one applied to the phone, or than the phone's deletion, is stale. */
export async function isStale(tx: Tx, accountId: string, phone: string, occurredAt: Date | undefined, contact: LastTimeOf): Promise<boolean> {
  if (!occurredAt) return false;
  // Older than the contact's own time: stale without reading the tombstone.
  if (contact?.lastOccurredAt && occurredAt < contact.lastOccurredAt) return true;
  const last = await phoneLastTime(tx, accountId, phone, contact);
  return last !== undefined && occurredAt < last;
}

/**
 * The phone's last time: that of the last dated delivery applied to its contact, or of its
 * deletion, whichever is later. A contact created again without a time keeps its deletion's, which
 * only its tombstone holds.
 */
export async function phoneLastTime(tx: Tx, accountId: string, phone: string, contact: LastTimeOf): Promise<Date | undefined> {
  const [tombstone] = await tx
    .select({ deletedAt: tombstones.deletedAt })
    .from(tombstones)
    .where(and(eq(tombstones.accountId, accountId), eq(tombstones.phoneHash, phoneHash(accountId, phone))))
    .limit(1);
  const contactTime = contact?.lastOccurredAt ?? undefined;
  if (!tombstone) return contactTime;
  return contactTime && contactTime > tombstone.deletedAt ? contactTime : tombstone.deletedAt;
}

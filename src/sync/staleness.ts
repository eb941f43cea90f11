import { and, eq } from 'drizzle-orm';
import type { Tx } from '../db/client.js';
import type { ContactRow } from '../db/queries/contacts.js';
import { tombstones } from '../db/schema.js';
import { phoneHash } from './phone-key.js';

/** A delivery older than the last one applied to the phone, or than the phone's deletion, is stale. */
export async function isStale(tx: Tx, accountId: string, phone: string, occurredAt: Date | undefined, contact: Pick<ContactRow, 'lastOccurredAt'> | undefined): Promise<boolean> {
  if (!occurredAt) return false;
  if (contact?.lastOccurredAt && occurredAt < contact.lastOccurredAt) return true;
  const [tombstone] = await tx
    .select({ deletedAt: tombstones.deletedAt })
    .from(tombstones)
    .where(and(eq(tombstones.accountId, accountId), eq(tombstones.phoneHash, phoneHash(accountId, phone))))
    .limit(1);
  return tombstone !== undefined && occurredAt < tombstone.deletedAt;
}

import { eq, sql } from 'drizzle-orm';
import { rowsOf, type Tx } from '../db/client.js';
import { findContact } from '../db/queries/contacts.js';
import { contacts, conversations, messages, TOMBSTONE_TTL, tombstones } from '../db/schema.js';
import type { DeleteOperation } from '../webhook/operation.js';
import { forgetStoredContact } from './idempotency.js';
import { phoneHash } from './phone-key.js';
import { isStale, phoneLastTime } from './staleness.js';

export interface DeleteResult {
  status: 'applied' | 'unchanged' | 'stale';
  /** Whether the phone had a contact: deleted now, or kept because the delete is stale. */
  found: boolean;
  deleted: { contact: boolean; conversations: number; messages: number };
}

/**
 * Removes the contact with its conversations, messages, labels and data, in the caller's transaction,
 * and leaves a tombstone so that an older upsert cannot bring it back.
 */
export async function deleteContact(tx: Tx, accountId: string, op: DeleteOperation): Promise<DeleteResult> {
  const nothing = { contact: false, conversations: 0, messages: 0 };
  const existing = await findContact(tx, accountId, op.phone);
  if (await isStale(tx, accountId, op.phone, op.occurredAt, existing)) return { status: 'stale', found: existing !== undefined, deleted: nothing };

  // Without a time of its own, the delete comes after the phone's last time (its last dated
  // delivery's, or an earlier deletion's) even when the sender's clock runs ahead of ours: that
  // delivery, or an older one, sent again is stale.
  const deletedAt = op.occurredAt ?? justAfter(await phoneLastTime(tx, accountId, op.phone, existing));
  await tx
    .insert(tombstones)
    .values({ accountId, phoneHash: phoneHash(accountId, op.phone), deletedAt })
    .onConflictDoUpdate({
      target: [tombstones.accountId, tombstones.phoneHash],
      set: {
        deletedAt: sql`greatest(${tombstones.deletedAt}, excluded.deleted_at)`,
        expiresAt: sql`now() + ${TOMBSTONE_TTL}`,
      },
    });
  if (!existing) return { status: 'unchanged', found: false, deleted: nothing };

  // Held until commit: a message being added (which holds its conversation FOR KEY SHARE) is
  // waited for and counted, and one added after finds its conversation gone. New conversations
  // wait on the phone's lock, which the caller holds.
  const locked = await tx.select({ id: conversations.id }).from(conversations).where(eq(conversations.contactId, existing.id)).for('update');
  const [counted] = rowsOf<{ n: number }>(await tx.execute(messagesOfContact(existing.id)));
  // Conversations, messages and contact labels go with the contact (ON DELETE CASCADE).
  await tx.delete(contacts).where(eq(contacts.id, existing.id));
  // Stored idempotent answers would otherwise hand the deleted contact back for 72 hours.
  await forgetStoredContact(tx, accountId, op.phone);
  return {
    status: 'applied',
    found: true,
    deleted: { contact: true, conversations: locked.length, messages: counted?.n ?? 0 },
  };
}

/** Now, or just after `last` when that is not yet past. */
function justAfter(last: Date | undefined): Date {
  const now = new Date();
  return last && last >= now ? new Date(last.getTime() + 1) : now;
}

/**
 * How many messages a contact's conversations hold, counted through the messages' index on their
 * conversation, one lookup per conversation: as a join, a contact of 10,000 conversations was
 * planned as a read of every account's messages (1.2 s; exported for its plan's test).
 */
export const messagesOfContact = (contactId: number) =>
  sql`select count(*)::int as n from ${messages} where ${messages.conversationId} = any(array(select ${conversations.id} from ${conversations} where ${conversations.contactId} = ${contactId}))`;

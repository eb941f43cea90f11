import type { Db } from '../db/client.js';
import { ensureContact } from '../db/queries/contacts.js';
import { insertConversation, type ConversationRow } from '../db/queries/conversations.js';
import { lockPhone } from './phone-key.js';

/**
 * Opens a conversation, creating the contact if the phone has none — under the phone's lock, as
 * webhooks take it, so that a delete of the same phone cannot slip in between.
 */
export function openConversation(db: Db, accountId: string, phone: string, subject: string | null): Promise<ConversationRow> {
  return db.transaction(async (tx) => {
    await lockPhone(tx, accountId, phone);
    const contact = await ensureContact(tx, accountId, phone);
    return insertConversation(tx, accountId, contact.id, subject);
  });
}

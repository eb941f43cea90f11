import { and, asc, eq } from 'drizzle-orm';
import { newId } from '../../ids.js';
import type { Db } from '../client.js';
import { agents, contacts, conversations, messages } from '../schema.js';

export type ConversationRow = typeof conversations.$inferSelect;
export type MessageRow = typeof messages.$inferSelect;
export type Direction = MessageRow['direction'];

export interface ConversationView {
  id: string;
  phone: string;
  status: ConversationRow['status'];
  subject: string | null;
  /** The assigned agent's email. */
  assignee: string | null;
  createdAt: Date;
}

export async function insertConversation(tx: Db, accountId: string, contactId: number, subject: string | null): Promise<ConversationRow> {
  const [row] = await tx.insert(conversations).values({ id: newId('cnv'), accountId, contactId, subject }).returning();
  return row!;
}

export async function findConversation(db: Db, accountId: string, id: string): Promise<ConversationView | undefined> {
  const [row] = await db
    .select({
      id: conversations.id,
      phone: contacts.phone,
      status: conversations.status,
      subject: conversations.subject,
      assignee: agents.email,
      createdAt: conversations.createdAt,
    })
    .from(conversations)
    .innerJoin(contacts, eq(contacts.id, conversations.contactId))
    .leftJoin(agents, eq(agents.id, conversations.assigneeId))
    .where(and(eq(conversations.accountId, accountId), eq(conversations.id, id)))
    .limit(1);
  return row;
}

/** Oldest first. */
export async function listMessages(db: Db, conversationId: string): Promise<MessageRow[]> {
  return db
    .select()
    .from(messages)
    .where(eq(messages.conversationId, conversationId))
    .orderBy(asc(messages.createdAt), asc(messages.id));
}

/** The new message, or undefined when the account has no such conversation. */
export async function addMessage(
  db: Db,
  accountId: string,
  conversationId: string,
  input: { direction: Direction; body: string },
): Promise<MessageRow | undefined> {
  return db.transaction(async (tx) => {
    // The row lock keeps a concurrent delete of the contact from removing the conversation before the insert.
    const [conversation] = await tx
      .select({ id: conversations.id })
      .from(conversations)
      .where(and(eq(conversations.accountId, accountId), eq(conversations.id, conversationId)))
      .for('key share');
    if (!conversation) return undefined;
    const [message] = await tx.insert(messages).values({ id: newId('msg'), conversationId, ...input }).returning();
    return message;
  });
}

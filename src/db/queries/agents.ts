import { and, asc, eq } from 'drizzle-orm';
import { newId } from '../../ids.js';
import type { Db } from '../client.js';
import { agents } from '../schema.js';

export type AgentRow = typeof agents.$inferSelect;

/** The new agent, or undefined when the account already has one with this email. */
export async function createAgent(db: Db, accountId: string, input: { email: string; name: string | null }): Promise<AgentRow | undefined> {
  const [row] = await db
    .insert(agents)
    .values({ id: newId('agt'), accountId, email: input.email, name: input.name })
    .onConflictDoNothing({ target: [agents.accountId, agents.email] })
    .returning();
  return row;
}

export async function listAgents(db: Db, accountId: string): Promise<AgentRow[]> {
  return db.select().from(agents).where(eq(agents.accountId, accountId)).orderBy(asc(agents.email));
}

/** Whether there was such an agent. Its conversations become unassigned (ON DELETE SET NULL). */
export async function deleteAgent(db: Db, accountId: string, email: string): Promise<boolean> {
  const deleted = await db
    .delete(agents)
    .where(and(eq(agents.accountId, accountId), eq(agents.email, email)))
    .returning({ id: agents.id });
  return deleted.length > 0;
}

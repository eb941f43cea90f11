import { randomBytes } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import { newId } from '../../ids.js';
import type { Db } from '../client.js';
import { signingSecrets } from '../schema.js';

/** 192 random bits, in the `whsec_<base64>` form Standard Webhooks libraries take. */
const newSigningSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

export async function createSigningSecret(db: Db, accountId: string): Promise<{ id: string; secret: string }> {
  const row = { id: newId('whs'), accountId, secret: newSigningSecret() };
  await db.insert(signingSecrets).values(row);
  return { id: row.id, secret: row.secret };
}

/** False when the account has no secret with this id. */
export async function deleteSigningSecret(db: Db, accountId: string, id: string): Promise<boolean> {
  const deleted = await db
    .delete(signingSecrets)
    .where(and(eq(signingSecrets.accountId, accountId), eq(signingSecrets.id, id)))
    .returning({ id: signingSecrets.id });
  return deleted.length > 0;
}

/** The account's secrets, oldest first: their ids and when they were added, never the secrets. */
export async function listSigningSecrets(db: Db, accountId: string): Promise<{ id: string; createdAt: Date }[]> {
  return db
    .select({ id: signingSecrets.id, createdAt: signingSecrets.createdAt })
    .from(signingSecrets)
    .where(eq(signingSecrets.accountId, accountId))
    .orderBy(asc(signingSecrets.createdAt), asc(signingSecrets.id));
}

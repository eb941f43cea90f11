import { createHash } from 'node:crypto';
import { and, eq, gt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { idempotencyKeys, storedAnswerPhone } from '../db/schema.js';

/** How long a key's answer is kept. Judged by the database's clock wherever a key's expiry is written, read or purged: two clocks could disagree on it. */
export const IDEMPOTENCY_HOURS = 72;
const IDEMPOTENCY_TTL = sql.raw(`interval '${IDEMPOTENCY_HOURS} hours'`);

export interface StoredResponse {
  fingerprint: string;
  body: unknown;
}

export const fingerprintOf = (kind: string, text: string) => createHash('sha256').update(`${kind}\n${text}`).digest('hex');

export async function findStoredResponse(db: Db, accountId: string, key: string): Promise<StoredResponse | undefined> {
  const [row] = await db
    .select({ fingerprint: idempotencyKeys.fingerprint, body: idempotencyKeys.responseBody })
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.accountId, accountId), eq(idempotencyKeys.key, key), gt(idempotencyKeys.expiresAt, sql`now()`)))
    .limit(1);
  return row;
}

/**
 * Keeps the final answer for the key. False when another process stored one first: the caller's
 * transaction must then be rolled back and the stored answer given instead.
 */
export async function storeResponse(db: Db, accountId: string, key: string, fingerprint: string, body: unknown): Promise<boolean> {
  const expiresAt = sql`now() + ${IDEMPOTENCY_TTL}`;
  const inserted = await db
    .insert(idempotencyKeys)
    .values({ accountId, key, fingerprint, responseBody: body, expiresAt })
    .onConflictDoUpdate({
      target: [idempotencyKeys.accountId, idempotencyKeys.key],
      set: { fingerprint, responseBody: body, expiresAt },
      // An expired key may be reused; a live one belongs to whoever stored it first.
      setWhere: sql`${idempotencyKeys.expiresAt} <= now()`,
    })
    .returning({ key: idempotencyKeys.key });
  return inserted.length > 0;
}

/**
 * Takes the contact out of the account's stored answers that carry this phone's contact, so that a
 * replay after a delete does not hand the deleted contact back; the answers keep their status and
 * delivery id. Run it in the delete's transaction.
 */
export const forgetStoredContact = (db: Db, accountId: string, phone: string) =>
  db
    .update(idempotencyKeys)
    .set({ responseBody: sql`${idempotencyKeys.responseBody} - 'contact'` })
    // Not the expired ones: never served again, and the purge may hold them.
    .where(and(eq(idempotencyKeys.accountId, accountId), eq(storedAnswerPhone(idempotencyKeys.responseBody), phone), gt(idempotencyKeys.expiresAt, sql`now()`)));

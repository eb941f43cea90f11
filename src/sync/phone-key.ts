import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Tx } from '../db/client.js';

/**
 * SHA-256 of account and phone. Both derivations below are fixed by what already exists: the lock
 * key by every running instance (all must agree), the hash by the tombstones stored with it. Change
 * either only with the other's data in mind.
 */
const digest = (accountId: string, phone: string) => createHash('sha256').update(`${accountId}\u0000${phone}`).digest();

/** The 64-bit advisory lock key for one account and phone: the first 8 bytes of SHA-256, signed. */
export function lockKey(accountId: string, phone: string): bigint {
  return digest(accountId, phone).readBigInt64BE(0);
}

/** Held until the transaction ends: serialises one phone across every process on the database. */
export async function lockPhone(tx: Tx, accountId: string, phone: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${lockKey(accountId, phone).toString()}::bigint)`);
}

/**
 * What a tombstone keeps of a deleted phone instead of the phone. A pseudonym, not anonymity: phone
 * numbers are few enough that one can be found from its hash by trying a country's numbers, which
 * is why tombstones are purged after 30 days.
 */
export function phoneHash(accountId: string, phone: string): string {
  return digest(accountId, phone).toString('hex');
}

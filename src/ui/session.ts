import { and, eq, gt, lte, sql } from 'drizzle-orm';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Db } from '../db/client.js';
import type { AccountRow } from '../db/queries/accounts.js';
import { accounts, uiSessions } from '../db/schema.js';
import { hashSecret, newSecret } from '../ids.js';

const SESSION_COOKIE = 'cs_session';
/**
 * Absolute lifetime: a session is not extended by use. Its end is written by this process's clock
 * (the cookie's expiry too) and checked by the database's; a skew only moves it by as much.
 */
const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** A longer cookie is not one this app set; it is not hashed or looked up. */
const MAX_TOKEN_LENGTH = 128;

/**
 * A new session for the account. The token goes in the cookie, only its hash in the database;
 * expired rows are cleared on the way, so the table holds no more than the live sessions.
 */
export async function startSession(db: Db, accountId: string): Promise<{ token: string; expiresAt: Date }> {
  const token = newSecret('uis');
  const expiresAt = new Date(Date.now() + SESSION_TTL_MS);
  await db.delete(uiSessions).where(lte(uiSessions.expiresAt, sql`now()`));
  await db.insert(uiSessions).values({ idHash: hashSecret(token), accountId, expiresAt });
  return { token, expiresAt };
}

/** The account whose live session this token is. */
export async function findSessionAccount(db: Db, token: string): Promise<AccountRow | undefined> {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const [row] = await db
    .select({ account: accounts })
    .from(uiSessions)
    .innerJoin(accounts, eq(accounts.id, uiSessions.accountId))
    .where(and(eq(uiSessions.idHash, hashSecret(token)), gt(uiSessions.expiresAt, sql`now()`)))
    .limit(1);
  return row?.account;
}

/** After this, the token opens nothing, whoever holds a copy of the cookie. */
export async function endSession(db: Db, token: string): Promise<void> {
  if (token.length > MAX_TOKEN_LENGTH) return;
  await db.delete(uiSessions).where(eq(uiSessions.idHash, hashSecret(token)));
}

export interface CookiePolicy {
  /** Secure cookies: the request came over https, or the service is published at an https URL (TLS ended at a proxy). */
  secure: boolean;
}

export const sessionToken = (c: Context): string | undefined => getCookie(c, SESSION_COOKIE) || undefined;

export function setSessionCookie(c: Context, policy: CookiePolicy, token: string, expiresAt: Date): void {
  setCookie(c, SESSION_COOKIE, token, {
    path: '/ui',
    httpOnly: true,
    sameSite: 'Lax',
    secure: policy.secure,
    expires: expiresAt,
    maxAge: Math.floor(SESSION_TTL_MS / 1000),
  });
}

export function clearSessionCookie(c: Context, policy: CookiePolicy): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/ui', httpOnly: true, sameSite: 'Lax', secure: policy.secure });
}

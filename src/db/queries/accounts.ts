import { count, eq, sql } from 'drizzle-orm';
import { hashSecret, newId, newSecret } from '../../ids.js';
import { ADVISORY_LOCKS, type Db } from '../client.js';
import { accounts, signingSecrets, uiSessions } from '../schema.js';

export type AccountRow = typeof accounts.$inferSelect;

export interface NewAccount {
  account: AccountRow;
  /** Shown once, at creation: only their hashes are stored. */
  webhookToken: string;
  apiKey: string;
}

const newWebhookToken = () => newSecret('whk');

export async function createAccount(db: Db, input: { name: string; defaultRegion: string | null }): Promise<NewAccount> {
  const webhookToken = newWebhookToken();
  const apiKey = newSecret('csk');
  const [account] = await db
    .insert(accounts)
    .values({ id: newId('acc'), name: input.name, defaultRegion: input.defaultRegion, webhookTokenHash: hashSecret(webhookToken), apiKeyHash: hashSecret(apiKey) })
    .returning();
  return { account: account!, webhookToken, apiKey };
}

export type WebhookAccount = AccountRow & { signingSecrets: string[] };

const accountByWebhookToken = (db: Db) =>
  db
    .select({
      account: accounts,
      // Spelled out with an alias: drizzle renders columns unqualified here, and a bare "id" inside
      // the subquery would be the signing secret's own. JSON rather than an array: postgres.js is
      // told not to fetch array types (see client.ts), and parses jsonb by itself.
      signingSecrets: sql<string[]>`coalesce((select jsonb_agg(s.secret order by s.created_at) from ${signingSecrets} s where s.account_id = ${sql.identifier('accounts')}.${sql.identifier('id')}), '[]'::jsonb)`,
    })
    .from(accounts)
    .where(eq(accounts.webhookTokenHash, sql.placeholder('hash')))
    .limit(1)
    .prepare('account_by_webhook_token');

/** Built once per database: it runs on every delivery. */
const preparedByDb = new WeakMap<Db, ReturnType<typeof accountByWebhookToken>>();

/** Longer than any token or key this service gives out: not hashed or looked up. */
const MAX_CREDENTIAL_LENGTH = 256;

/** The account a webhook token belongs to, with its signing secrets: one round trip per delivery. */
export async function findAccountByWebhookToken(db: Db, token: string): Promise<WebhookAccount | undefined> {
  if (token.length > MAX_CREDENTIAL_LENGTH) return undefined;
  let prepared = preparedByDb.get(db);
  if (!prepared) preparedByDb.set(db, (prepared = accountByWebhookToken(db)));
  const [row] = await prepared.execute({ hash: hashSecret(token) });
  return row && { ...row.account, signingSecrets: row.signingSecrets };
}

export async function findAccountByApiKey(db: Db, apiKey: string): Promise<AccountRow | undefined> {
  if (apiKey.length > MAX_CREDENTIAL_LENGTH) return undefined;
  const [row] = await db.select().from(accounts).where(eq(accounts.apiKeyHash, hashSecret(apiKey))).limit(1);
  return row;
}

/** Changes the account's name or default region; undefined when there is no such account. */
export async function updateAccount(db: Db, accountId: string, change: { name?: string; defaultRegion?: string | null }): Promise<AccountRow | undefined> {
  const [row] = await db.update(accounts).set(change).where(eq(accounts.id, accountId)).returning();
  return row;
}

/** Replaces the webhook token; the old one stops working with this commit. */
export async function rotateWebhookToken(db: Db, accountId: string): Promise<string> {
  const webhookToken = newWebhookToken();
  await db.update(accounts).set({ webhookTokenHash: hashSecret(webhookToken) }).where(eq(accounts.id, accountId));
  return webhookToken;
}

/**
 * Replaces the account's API key, or answers undefined when there is no such account. The old key
 * stops at once, and so do the web pages' sessions, which it may have opened: rotating a leaked key
 * must shut out whoever used it.
 */
export async function rotateApiKey(db: Db, accountId: string): Promise<string | undefined> {
  const apiKey = newSecret('csk');
  return db.transaction(async (tx) => {
    const [row] = await tx.update(accounts).set({ apiKeyHash: hashSecret(apiKey) }).where(eq(accounts.id, accountId)).returning({ id: accounts.id });
    if (!row) return undefined;
    await tx.delete(uiSessions).where(eq(uiSessions.accountId, accountId));
    return apiKey;
  });
}

/**
 * Creates the `default` account when the database holds none. Instances starting together take
 * turns on an advisory lock, so only one creates it. Returns it only when it was created here.
 */
export async function ensureDefaultAccount(db: Db, defaultRegion: string | null): Promise<NewAccount | null> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${ADVISORY_LOCKS.defaultAccount.toString()}::bigint)`);
    const [existing] = await tx.select({ n: count() }).from(accounts);
    if ((existing?.n ?? 0) > 0) return null;
    return createAccount(tx, { name: 'default', defaultRegion });
  });
}

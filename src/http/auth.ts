import { timingSafeEqual } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import type { Db } from '../db/client.js';
import { findAccountByApiKey, type AccountRow } from '../db/queries/accounts.js';
import { hashSecret } from '../ids.js';
import { ApiError } from './errors.js';

/**
 * `operation` is set by the webhook routes and replays, for the request log; `deadline` aborts when
 * the request has been answered 503 for taking too long. `beginWrite` is called as a write is about
 * to start: false once that 503 was answered (nothing may be written then), otherwise true, and from
 * then on the request is answered with its result however long it takes.
 */
export type AppEnv = {
  Variables: {
    account: AccountRow;
    requestId: string;
    operation?: string;
    deadline?: AbortSignal;
    beginWrite?: () => boolean;
    /** Set once a webhook delivery is handed to the deliverer, which counts it in the metrics from then on. */
    delivering?: boolean;
  };
};

function bearerToken(header: string | undefined): string | undefined {
  return header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
}

/** `Authorization: Bearer <account API key>`; sets `account`. */
export const requireApiKey = (db: Db) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const key = bearerToken(c.req.header('authorization'));
    const account = key ? await findAccountByApiKey(db, key) : undefined;
    if (!account) throw new ApiError('unauthorized', 'send Authorization: Bearer <API key> with a valid account API key');
    c.set('account', account);
    await next();
  });

/** `Authorization: Bearer <ADMIN_API_KEY>`, compared in constant time. */
export const requireAdmin = (adminKey: string | undefined) =>
  createMiddleware<AppEnv>(async (c, next) => {
    if (!adminKey) throw new ApiError('unauthorized', 'admin routes are disabled: set ADMIN_API_KEY to enable them');
    const key = bearerToken(c.req.header('authorization'));
    // Hashes have equal lengths, so the comparison takes the same time whatever was sent.
    const ok = key !== undefined && timingSafeEqual(Buffer.from(hashSecret(key)), Buffer.from(hashSecret(adminKey)));
    if (!ok) throw new ApiError('unauthorized', 'send Authorization: Bearer <ADMIN_API_KEY>');
    await next();
  });

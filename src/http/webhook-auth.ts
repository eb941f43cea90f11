import { createMiddleware } from 'hono/factory';
import type { Db } from '../db/client.js';
import { findAccountByWebhookToken, type WebhookAccount } from '../db/queries/accounts.js';
import type { AppEnv } from './auth.js';
import { ApiError } from './errors.js';

export type WebhookEnv = { Variables: AppEnv['Variables'] & { webhookAccount: WebhookAccount } };

/** `/webhooks/{token}…`: the token's account, or 401. The rate limit is charged by the route, once a signature holds. */
export const authenticateWebhook = (deps: { lookups: Db }) =>
  createMiddleware<WebhookEnv>(async (c, next) => {
    const token = c.req.param('token') ?? '';
    const account = await findAccountByWebhookToken(deps.lookups, token);
    if (!account) throw new ApiError('unauthorized', 'unknown webhook token: check the URL, or rotate the token and use the new one');
    c.set('account', account);
    c.set('webhookAccount', account);
    await next();
  });

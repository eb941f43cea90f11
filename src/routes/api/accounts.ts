import { createRoute, z } from '@hono/zod-openapi';
import { publicUrl, type Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import { createAccount, rotateApiKey, rotateWebhookToken, updateAccount, type AccountRow } from '../../db/queries/accounts.js';
import { ApiError } from '../../http/errors.js';
import { createRouter } from '../../http/router.js';
import { isRegion, REGION_MESSAGE } from '../../webhook/phone.js';
import { adminSecurity, apiKeySecurity, errorResponses, iso, jsonBody, jsonResponse } from './schemas.js';

const Region = z
  .string()
  .length(2, { error: 'must be a two-letter country code' })
  .transform((region) => region.toUpperCase())
  .refine(isRegion, { error: REGION_MESSAGE })
  .openapi({ example: 'GB', description: 'ISO 3166-1 alpha-2; numbers without + or 00 are read in this region first' });

const AccountName = z.string().trim().min(1).max(200).openapi({ example: 'Acme' });

const NewAccountBody = z.strictObject({
  name: AccountName,
  default_region: Region.nullable().optional(),
});

const AccountChange = z
  .strictObject({
    name: AccountName.optional(),
    default_region: Region.nullable().optional().openapi({ description: 'null: phones are read as international only. Contacts already stored keep their numbers' }),
  })
  .refine((change) => change.name !== undefined || change.default_region !== undefined, { error: 'must hold name or default_region, or both' });

const WebhookCredentials = z.object({
  webhook_url: z.string().openapi({ example: 'https://contacts.example.com/webhooks/whk_…' }),
  webhook_token: z.string(),
});

const NewAccount = WebhookCredentials.extend({
  id: z.string(),
  name: z.string(),
  default_region: z.string().nullable(),
  api_key: z.string().openapi({ description: 'Shown only here: only its hash is stored' }),
}).openapi('NewAccount');

const Account = z
  .object({ id: z.string(), name: z.string(), default_region: z.string().nullable(), created_at: z.string() })
  .openapi('Account');

const createAccountRoute = createRoute({
  method: 'post',
  path: '/accounts',
  tags: ['accounts'],
  summary: 'Create an account (admin); its secrets are shown only in this answer',
  security: adminSecurity,
  request: { body: jsonBody(NewAccountBody) },
  responses: { 201: jsonResponse(NewAccount, 'The account with its webhook URL and API key'), ...errorResponses(400, 401, 413, 415) },
});

const getAccountRoute = createRoute({
  method: 'get',
  path: '/account',
  tags: ['accounts'],
  summary: 'The calling account, without secrets',
  security: apiKeySecurity,
  responses: { 200: jsonResponse(Account, 'The account'), ...errorResponses(401) },
});

const updateAccountRoute = createRoute({
  method: 'patch',
  path: '/account',
  tags: ['accounts'],
  summary: 'Change the calling account’s name or default region (how national numbers are read from the next delivery on)',
  security: apiKeySecurity,
  request: { body: jsonBody(AccountChange) },
  responses: { 200: jsonResponse(Account, 'The account as changed'), ...errorResponses(400, 401, 413, 415) },
});

const rotateTokenRoute = createRoute({
  method: 'post',
  path: '/account/webhook-token/rotate',
  tags: ['accounts'],
  summary: 'Replace the webhook token; the old one stops working at once',
  security: apiKeySecurity,
  responses: { 200: jsonResponse(WebhookCredentials.openapi('WebhookCredentials'), 'The new webhook URL and token'), ...errorResponses(400, 401, 413, 415) },
});

const ApiKey = z.object({ api_key: z.string().openapi({ description: 'Shown only here: only its hash is stored' }) }).openapi('ApiKey');
const ROTATED = 'The new API key; the old one and every web page session of the account stopped at once';

const rotateApiKeyRoute = createRoute({
  method: 'post',
  path: '/account/api-key/rotate',
  tags: ['accounts'],
  summary: 'Replace the API key (a leaked one, say); the old key and the account’s web page sessions stop at once',
  security: apiKeySecurity,
  responses: { 200: jsonResponse(ApiKey, ROTATED), ...errorResponses(400, 401, 413, 415) },
});

const reissueApiKeyRoute = createRoute({
  method: 'post',
  path: '/accounts/{id}/api-key/rotate',
  tags: ['accounts'],
  summary: 'Replace an account’s API key (admin): the way back in when it is lost',
  security: adminSecurity,
  request: { params: z.object({ id: z.string().max(64).openapi({ example: 'acc_0mwqt54bye51738c0883286e9' }) }) },
  responses: { 200: jsonResponse(ApiKey, ROTATED), ...errorResponses(400, 401, 404, 413, 415) },
});

export function accountRoutes(deps: { config: Config; db: Db }) {
  const webhookUrl = (token: string) => `${publicUrl(deps.config)}/webhooks/${token}`;
  return createRouter()
    .openapi(createAccountRoute, async (c) => {
      const body = c.req.valid('json');
      const { account, webhookToken, apiKey } = await createAccount(deps.db, { name: body.name, defaultRegion: body.default_region ?? null });
      return c.json(
        {
          id: account.id,
          name: account.name,
          default_region: account.defaultRegion,
          webhook_url: webhookUrl(webhookToken),
          webhook_token: webhookToken,
          api_key: apiKey,
        },
        201,
      );
    })
    .openapi(getAccountRoute, (c) => c.json(accountJson(c.get('account')), 200))
    .openapi(updateAccountRoute, async (c) => {
      const { name, default_region } = c.req.valid('json');
      const account = await updateAccount(deps.db, c.get('account').id, { name, defaultRegion: default_region });
      // The account was just authenticated; deleted meanwhile, its key is gone anyway.
      if (account === undefined) throw new ApiError('unauthorized', 'this API key no longer opens any account');
      return c.json(accountJson(account), 200);
    })
    .openapi(rotateTokenRoute, async (c) => {
      const token = await rotateWebhookToken(deps.db, c.get('account').id);
      return c.json({ webhook_url: webhookUrl(token), webhook_token: token }, 200);
    })
    .openapi(rotateApiKeyRoute, async (c) => {
      const apiKey = await rotateApiKey(deps.db, c.get('account').id);
      // The account was just authenticated; deleted meanwhile, its key is gone anyway.
      if (apiKey === undefined) throw new ApiError('unauthorized', 'this API key no longer opens any account');
      return c.json({ api_key: apiKey }, 200);
    })
    .openapi(reissueApiKeyRoute, async (c) => {
      const apiKey = await rotateApiKey(deps.db, c.req.valid('param').id);
      if (apiKey === undefined) throw new ApiError('not_found', 'no account with this id');
      return c.json({ api_key: apiKey }, 200);
    });
}

const accountJson = (account: AccountRow) => ({ id: account.id, name: account.name, default_region: account.defaultRegion, created_at: iso(account.createdAt) });

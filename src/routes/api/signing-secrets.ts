import { createRoute, z } from '@hono/zod-openapi';
import type { Db } from '../../db/client.js';
import { createSigningSecret, deleteSigningSecret, listSigningSecrets } from '../../db/queries/signing-secrets.js';
import { ApiError } from '../../http/errors.js';
import { createRouter } from '../../http/router.js';
import { apiKeySecurity, errorResponses, iso, jsonResponse } from './schemas.js';

const SigningSecret = z
  .object({
    id: z.string(),
    secret: z.string().openapi({ example: 'whsec_…', description: 'Shown only here' }),
  })
  .openapi('SigningSecret');

const createSecretRoute = createRoute({
  method: 'post',
  path: '/account/signing-secrets',
  tags: ['accounts'],
  summary: 'Add a signing secret: from now on every webhook must carry a Standard Webhooks signature',
  security: apiKeySecurity,
  responses: { 201: jsonResponse(SigningSecret, 'The new secret, shown once'), ...errorResponses(400, 401, 413, 415) },
});

const SigningSecretList = z
  .object({ data: z.array(z.object({ id: z.string().openapi({ example: 'whs_0mwqt54bye51738c0883286e9' }), created_at: z.string() })) })
  .openapi('SigningSecretList');

const listSecretsRoute = createRoute({
  method: 'get',
  path: '/account/signing-secrets',
  tags: ['accounts'],
  summary: 'The signing secrets registered, oldest first: their ids (to remove one) and when they were added, never the secrets',
  security: apiKeySecurity,
  responses: { 200: jsonResponse(SigningSecretList, 'The signing secrets, without their values'), ...errorResponses(401) },
});

const deleteSecretRoute = createRoute({
  method: 'delete',
  path: '/account/signing-secrets/{id}',
  tags: ['accounts'],
  summary: 'Remove a signing secret; with none left, signatures are no longer required',
  security: apiKeySecurity,
  request: { params: z.object({ id: z.string().max(64).openapi({ param: { name: 'id', in: 'path' } }) }) },
  responses: { 204: { description: 'Removed' }, ...errorResponses(400, 401, 404, 413, 415) },
});

export function signingSecretRoutes(deps: { db: Db }) {
  return createRouter()
    .openapi(createSecretRoute, async (c) => c.json(await createSigningSecret(deps.db, c.get('account').id), 201))
    .openapi(listSecretsRoute, async (c) => {
      const secrets = await listSigningSecrets(deps.db, c.get('account').id);
      return c.json({ data: secrets.map(({ id, createdAt }) => ({ id, created_at: iso(createdAt) })) }, 200);
    })
    .openapi(deleteSecretRoute, async (c) => {
      if (!(await deleteSigningSecret(deps.db, c.get('account').id, c.req.valid('param').id))) {
        throw new ApiError('not_found', 'no signing secret with this id in this account');
      }
      return c.body(null, 204);
    });
}

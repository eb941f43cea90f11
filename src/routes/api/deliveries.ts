import { createRoute, z } from '@hono/zod-openapi';
import type { Db } from '../../db/client.js';
import { DELIVERY_STATUSES, findDelivery, keptError, keptPayload, listDeliveries, payloadKept, REFUSED_PAYLOAD_DAYS, type DeliverySummary } from '../../db/queries/deliveries.js';
import { DeliveryCursor, encodeDeliveryCursor } from '../../http/cursors.js';
import { ApiError, statusOf } from '../../http/errors.js';
import { chargeRateLimit, type RateLimiter } from '../../http/rate-limit.js';
import { createRouter } from '../../http/router.js';
import type { Deliverer } from '../../sync/deliver.js';
import { logOperation } from '../../http/request.js';
import { replayDelivery } from '../../sync/replay-delivery.js';
import { ErrorSchema, PageLimit, RefusalWarnings, apiKeySecurity, emptyAsAbsent, errorResponses, iso, jsonResponse } from './schemas.js';

const ListQuery = z.object({
  status: z.preprocess(emptyAsAbsent, z.enum(DELIVERY_STATUSES).optional()).openapi({ type: 'string', enum: [...DELIVERY_STATUSES] }),
  limit: PageLimit,
  cursor: z.preprocess(emptyAsAbsent, DeliveryCursor.optional()).openapi({ type: 'string', maxLength: 200, description: 'next_cursor from the previous page' }),
});

const IdParam = z.object({ id: z.string().max(64).openapi({ param: { name: 'id', in: 'path' }, example: 'dlv_…' }) });

const deliveryFields = {
  id: z.string(),
  received_at: z.string(),
  operation: z.string().nullable().openapi({ description: 'upsert, upsert_assign or delete; null when the payload was not understood' }),
  phone: z.string().nullable().openapi({ example: '+44*******456', description: 'Masked' }),
  status: z.enum(DELIVERY_STATUSES),
  error_code: z.string().nullable(),
  error: z.string().nullable().openapi({ description: 'A refused delivery\'s error as its sender was told it, naming the field at fault; kept as long as its payload' }),
  duration_ms: z.number().int(),
  idempotency_key: z.string().nullable(),
  payload_kept: z.boolean().openapi({ description: 'Whether the payload is still kept and can be replayed' }),
  replay_of: z.string().nullable().openapi({ example: 'dlv_…', description: 'A replay\'s: the refused delivery whose kept payload it applied again' }),
  replayed_as: z
    .object({ id: z.string(), status: z.enum(DELIVERY_STATUSES) })
    .nullable()
    .openapi({ description: 'A refused delivery\'s latest replay and how it went; null while it has not been replayed' }),
};
const DeliveryListItem = z.object(deliveryFields).openapi('DeliveryListItem');
const Delivery = z
  .object({
    ...deliveryFields,
    payload: z.string().nullable().openapi({ description: `As it was sent; refused deliveries only, for ${REFUSED_PAYLOAD_DAYS} days` }),
    payload_content_type: z.string().nullable().openapi({ example: 'application/json', description: 'application/json, application/x-www-form-urlencoded or query' }),
    payload_expires_at: z.string().nullable(),
  })
  .openapi('Delivery');
const DeliveryPage = z.object({ data: z.array(DeliveryListItem), next_cursor: z.string().nullable() }).openapi('DeliveryPage');

/** What the webhook answers (SPEC §2.3); its fields depend on the operation. */
const DeliveryResult = z
  .object({ status: z.enum(['applied', 'unchanged', 'stale']), operation: z.string(), delivery_id: z.string(), warnings: z.array(z.string()) })
  .loose()
  .openapi('DeliveryResult');
const DeliveryRefusal = ErrorSchema.extend({ delivery_id: z.string(), warnings: RefusalWarnings }).openapi('DeliveryRefusal');
/** A replay's 400: the payload refused again (a new delivery), or a request that was not read at all. */
const ReplayInvalid = ErrorSchema.extend({
  delivery_id: z.string().optional().openapi({ description: 'The new delivery, when the payload was refused again' }),
  warnings: RefusalWarnings,
}).openapi('ReplayInvalid');

const listDeliveriesRoute = createRoute({
  method: 'get',
  path: '/deliveries',
  tags: ['deliveries'],
  summary: 'The delivery log, newest first, in pages',
  security: apiKeySecurity,
  request: { query: ListQuery },
  responses: { 200: jsonResponse(DeliveryPage, 'One page of deliveries'), ...errorResponses(400, 401) },
});

const getDeliveryRoute = createRoute({
  method: 'get',
  path: '/deliveries/{id}',
  tags: ['deliveries'],
  summary: 'One delivery, with its payload while kept',
  security: apiKeySecurity,
  request: { params: IdParam },
  responses: { 200: jsonResponse(Delivery, 'The delivery'), ...errorResponses(400, 401, 404) },
});

const replayDeliveryRoute = createRoute({
  method: 'post',
  path: '/deliveries/{id}/replay',
  tags: ['deliveries'],
  summary: 'Apply a refused delivery’s kept payload again, as a new delivery; answered as the webhook answers',
  security: apiKeySecurity,
  request: { params: IdParam },
  responses: {
    200: jsonResponse(DeliveryResult, 'Applied, unchanged or stale'),
    400: jsonResponse(ReplayInvalid, 'invalid_payload: refused again, or an id or request body that is not valid'),
    422: jsonResponse(DeliveryRefusal, 'invalid_phone, unknown_assignee, …: refused again'),
    ...errorResponses(401, 404, 409, 413, 415, 429, 503),
  },
});

const deliveryJson = (row: Omit<DeliverySummary, 'receivedAtExact'>, now: Date) => ({
  id: row.id,
  received_at: iso(row.receivedAt),
  operation: row.operation,
  phone: row.phoneMasked,
  status: row.status,
  error_code: row.errorCode,
  error: keptError(row, now),
  duration_ms: row.durationMs,
  idempotency_key: row.idempotencyKey,
  payload_kept: payloadKept(row, now),
  replay_of: row.replayOf,
  replayed_as: row.replayedAs,
});

const notFound = () => new ApiError('not_found', 'no delivery with this id in this account');

export function deliveryRoutes(deps: { db: Db; deliverer: Deliverer; rateLimiter: RateLimiter }) {
  return createRouter()
    .openapi(listDeliveriesRoute, async (c) => {
      const { status, limit, cursor } = c.req.valid('query');
      const { items, more } = await listDeliveries(deps.db, c.get('account').id, { status, limit, after: cursor });
      const last = items.at(-1);
      const now = new Date();
      return c.json({ data: items.map((row) => deliveryJson(row, now)), next_cursor: more && last ? encodeDeliveryCursor(last.receivedAtExact, last.id) : null }, 200);
    })
    .openapi(getDeliveryRoute, async (c) => {
      const row = await findDelivery(deps.db, c.get('account').id, c.req.valid('param').id);
      if (!row) throw notFound();
      const now = new Date();
      const payload = keptPayload(row, now);
      return c.json(
        {
          ...deliveryJson({ ...row, hasPayload: row.payload !== null }, now),
          payload: payload?.text ?? null,
          payload_content_type: payload?.contentType ?? null,
          payload_expires_at: payload ? iso(payload.expiresAt) : null,
        },
        200,
      );
    })
    .openapi(replayDeliveryRoute, async (c) => {
      chargeRateLimit(deps.rateLimiter, c.get('account').id);
      const result = await replayDelivery(deps.db, deps.deliverer, c.get('account'), c.req.valid('param').id, c.get('deadline'));
      switch (result.kind) {
        case 'not_found':
          throw notFound();
        case 'payload_gone':
          throw new ApiError(
            'conflict',
            `this delivery has no payload to replay: only refused deliveries keep theirs, for ${REFUSED_PAYLOAD_DAYS} days; send it again from its source`,
          );
        case 'delivered': {
          logOperation(c, result.outcome);
          const body = result.outcome.body;
          const status = statusOf(body);
          // Narrowed for the typed responses only: a refusal's code maps to 400 or 422.
          return 'code' in body ? c.json(body, status as 400 | 422) : c.json(body, status as 200);
        }
      }
    });
}

import { Hono, type Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Db } from '../db/client.js';
import { authenticateWebhook, type WebhookEnv } from '../http/webhook-auth.js';
import { chargeRateLimit, type RateLimiter } from '../http/rate-limit.js';
import { verifySignature } from '../http/signature.js';
import { ApiError, statusOf, type ErrorBody } from '../http/errors.js';
import { logOperation, mediaType, readBody, signedHeaders, type BodyEnv } from '../http/request.js';
import type { Deliverer } from '../sync/deliver.js';
import type { KeyHeader } from '../sync/delivery-context.js';
import type { RefusalBody } from '../sync/delivery-body.js';
import type { SameKeys } from '../types.js';
import { utf8Text } from '../text.js';
import type { RawDelivery } from '../webhook/read-payload.js';

const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

export function webhookRoutes(deps: { lookups: Db; deliverer: Deliverer; rateLimiter: RateLimiter; maxBodyBytes: number }) {
  const app = new Hono<{ Variables: WebhookEnv['Variables'] & BodyEnv['Variables'] }>();
  const body = readBody(deps.maxBodyBytes);

  app.on(['GET', 'POST'], ['/webhooks', '/webhooks/'], () => {
    throw new ApiError('unauthorized', 'the webhook URL needs its token: /webhooks/{token}');
  });
  // With a slash after the token too, as some tools add to a URL pasted in: the same webhook.
  app.on(['GET', 'POST'], ['/webhooks/:token', '/webhooks/:token/'], refuseHead, body, authenticateWebhook(deps), async (c) => {
    const account = c.get('webhookAccount');
    const bytes = c.get('body');
    checkSignature(account.signingSecrets, c, bytes);
    // After the signature (a forged one costs the account nothing), before anything else is read.
    chargeRateLimit(deps.rateLimiter, account.id);
    const raw = readRaw(c, bytes);
    if (account.signingSecrets.length > 0 && raw.kind === 'query') {
      // The signature covers the body only: a payload in the query string could be changed under it.
      throw new ApiError('unauthorized', 'bad signature: it covers the body, and this payload is in the query string; send it in the body');
    }
    c.set('delivering', true);
    const outcome = await deps.deliverer.deliver({ account, raw, ...idempotencyKey(c, account.signingSecrets.length > 0), signal: c.get('deadline') });
    if (outcome.replayed) c.header('Idempotent-Replayed', 'true');
    logOperation(c, outcome);
    return c.json(outcome.body, statusOf(outcome.body));
  });
  return app;
}

/** The HTTP status of a delivery's answer; a refusal's body must be the one error body (checked here at compile time). */

/** `satisfies` lets a refusal's body carry a field the error body lacks: their keys must be the same too. */
const refusalBodyKeys: SameKeys<RefusalBody, ErrorBody> = true;
void refusalBodyKeys;

/**
 * hono answers HEAD with its GET route, and a GET here applies a delivery: a link checker or a
 * preview fetching the URL must not change a contact.
 */
const refuseHead = createMiddleware(async (c, next) => {
  if (c.req.method !== 'HEAD') return next();
  c.header('Allow', 'GET, POST');
  throw new ApiError('method_not_allowed', 'HEAD applies nothing: send the delivery with POST (or GET)');
});

/**
 * The delivery's idempotency key and the header it came in: `Idempotency-Key`, else `webhook-id`;
 * an empty or blank header counts as not sent, so that it does not hide the other. A signed
 * delivery's key is its `webhook-id` alone: the signature covers that id and not `Idempotency-Key`,
 * so a captured delivery sent again under a key of someone's choosing is still recognised as the
 * same delivery and cannot be applied twice.
 */
function idempotencyKey(c: Context, signed: boolean): { idempotencyKey: string; keyHeader: KeyHeader } | undefined {
  const headers: KeyHeader[] = signed ? ['webhook-id'] : ['Idempotency-Key', 'webhook-id'];
  for (const header of headers) {
    const key = c.req.header(header);
    if (!key?.trim()) continue;
    if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      throw new ApiError('invalid_payload', `${header} must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`, [{ path: header, message: 'too long' }]);
    }
    return { idempotencyKey: key, keyHeader: header };
  }
  return undefined;
}

/** With signing secrets registered, the raw bytes must carry a valid signature before anything is parsed. */
function checkSignature(secrets: string[], c: Context, bytes: Uint8Array): void {
  if (secrets.length === 0) return;
  const check = verifySignature(secrets, signedHeaders(c), bytes);
  if (!check.ok) throw new ApiError('unauthorized', `bad signature: ${check.reason}`);
}

/** The delivery as sent, not yet parsed: JSON, form fields, or (GET, or a POST without a body) the query string. */
function readRaw(c: Context, bytes: Uint8Array): RawDelivery {
  const query = new URL(c.req.url).search.slice(1);
  // A POST without a body is read like a GET, whatever Content-Type the tool sent with it.
  if (c.req.method === 'GET' || (bytes.length === 0 && query !== '')) return { kind: 'query', query };
  const body = utf8Text(bytes);
  if (body === undefined) throw new ApiError('invalid_payload', 'the body is not UTF-8 text: send it encoded as UTF-8');
  const type = mediaType(c);
  // Read from the body alone; a sender that put fields in the URL too is told they were not read.
  const queryFields = query === '' ? [] : [...new Set(new URLSearchParams(query).keys())];
  if (type === 'application/json' || type.endsWith('+json')) return { kind: 'json', body, queryFields };
  if (type === 'application/x-www-form-urlencoded') return { kind: 'form', body, queryFields };
  throw new ApiError('unsupported_media_type', 'send Content-Type: application/json or application/x-www-form-urlencoded');
}

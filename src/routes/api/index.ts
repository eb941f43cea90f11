import { createMiddleware } from 'hono/factory';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import { requireAdmin, requireApiKey, type AppEnv } from '../../http/auth.js';
import { ApiError } from '../../http/errors.js';
import { limitBody } from '../../http/request.js';
import { createRouter } from '../../http/router.js';
import { jsonFailure, unstorableText, urlEscapesAreUtf8, utf8Text } from '../../text.js';
import type { RateLimiter } from '../../http/rate-limit.js';
import type { Deliverer } from '../../sync/deliver.js';
import { accountRoutes } from './accounts.js';
import { agentRoutes } from './agents.js';
import { contactRoutes } from './contacts.js';
import { conversationRoutes } from './conversations.js';
import { deliveryRoutes } from './deliveries.js';
import { signingSecretRoutes } from './signing-secrets.js';

export interface ApiDeps {
  config: Config;
  db: Db;
  deliverer: Deliverer;
  /** The webhooks' per-account limit: a replay is a delivery too. */
  rateLimiter: RateLimiter;
  maxBodyBytes: number;
}

/** `/api/v1`: every route but account creation is scoped to the calling account's API key. */
export function apiRoutes(deps: ApiDeps) {
  const api = createRouter();
  api.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', { type: 'http', scheme: 'bearer', description: 'An account API key' });
  api.openAPIRegistry.registerComponent('securitySchemes', 'adminKey', { type: 'http', scheme: 'bearer', description: 'ADMIN_API_KEY' });

  api.use('*', limitBody(deps.maxBodyBytes));
  // Authentication runs before any route, so a request without a key learns nothing, not even a 404.
  // `/accounts/*` matches `/accounts` itself too.
  api.use('/accounts/*', requireAdmin(deps.config.ADMIN_API_KEY));
  const apiKey = requireApiKey(deps.db);
  for (const group of ['/account/*', '/agents/*', '/contacts/*', '/conversations/*', '/deliveries/*']) api.use(group, apiKey);
  api.use('*', requireUtf8Url);
  api.use('*', requireJsonBody);
  // Not /deliveries/*: a replay is a delivery, and honours its deadline itself.
  for (const group of ['/accounts/*', '/account/*', '/agents/*', '/conversations/*']) api.use(group, writeWithinDeadline);

  api.route('/', accountRoutes(deps));
  api.route('/', agentRoutes(deps));
  api.route('/', contactRoutes(deps));
  api.route('/', conversationRoutes(deps));
  api.route('/', deliveryRoutes(deps));
  api.route('/', signingSecretRoutes(deps));
  return api;
}

/** A path or query whose escapes are not UTF-8 (`?q=Jos%E9`, Latin-1) is refused rather than searched for as something else. */
const requireUtf8Url = createMiddleware<AppEnv>(async (c, next) => {
  if (!urlEscapesAreUtf8(c.req.url)) {
    throw new ApiError('invalid_payload', 'the URL holds percent-encoded bytes that are not UTF-8: percent-encode the UTF-8 bytes of the text (é is %C3%A9)');
  }
  await next();
});

/** The methods that may carry a body and change something. */
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * A body that is not JSON is refused here (a DELETE's too), before any route reads it, with the one
 * error body and a sentence saying what to send. An empty body passes, so
 * `curl -X POST -d ''` still rotates a token; any other body must be JSON in UTF-8 that PostgreSQL
 * can store, also on routes that read none (a rotation sent `{bad` is refused, not carried out).
 */
const requireJsonBody = createMiddleware<AppEnv>(async (c, next) => {
  if (WRITES.has(c.req.method)) {
    const type = c.req.header('content-type');
    const length = c.req.header('content-length');
    const mayHaveBody = length === undefined ? c.req.header('transfer-encoding') !== undefined || type !== undefined : Number(length) > 0;
    const isJson = type !== undefined && /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(type);
    if (mayHaveBody && !isJson) throw new ApiError('unsupported_media_type', 'send the body as JSON, with Content-Type: application/json');
    // hono keeps the bytes read here for the route's own validator.
    if (mayHaveBody) checkJsonText(new Uint8Array(await c.req.arrayBuffer()));
  }
  await next();
});

/**
 * A write is carried out only if it begins before REQUEST_TIMEOUT_MS runs out (its body, read by
 * requireJsonBody, may arrive late), and once begun it is answered with its result: a 503 always
 * means nothing was done, so its retry cannot create a second conversation or a signing secret
 * nobody has seen.
 */
const writeWithinDeadline = createMiddleware<AppEnv>(async (c, next) => {
  // The 503 has been answered already; this only stops the write.
  if (WRITES.has(c.req.method) && c.get('beginWrite')?.() === false) throw new ApiError('unavailable', 'the request took too long; retry later');
  await next();
});

function checkJsonText(bytes: Uint8Array): void {
  const text = utf8Text(bytes);
  if (text === undefined) throw new ApiError('invalid_payload', 'the body is not UTF-8 text: send it encoded as UTF-8');
  if (text.trim() === '') return;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ApiError('invalid_payload', `the body is not valid JSON${jsonFailure(error)}`);
  }
  const problem = unstorableText(value);
  if (problem) throw new ApiError('invalid_payload', `the body contains ${problem}, which cannot be stored`);
}

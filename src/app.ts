import { randomUUID } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Database } from './db/client.js';
import type { AppEnv } from './http/auth.js';
import { ApiError, errorResponse } from './http/errors.js';
import { answerUnrouted } from './http/not-found.js';
import { onError } from './http/on-error.js';
import { RateLimiter } from './http/rate-limit.js';
import { refuseEncodedBody } from './http/request.js';
import { createRouter } from './http/router.js';
import { createMetrics, type Metrics } from './metrics.js';
import { apiRoutes } from './routes/api/index.js';
import { docsRoutes } from './routes/docs.js';
import { bulkRoutes } from './routes/bulk.js';
import { healthRoutes, registerOperationsDocs, type Readiness } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { pageErrors, uiRoutes } from './routes/ui.js';
import { registerWebhookDocs } from './routes/webhook-openapi.js';
import { webhookRoutes } from './routes/webhooks.js';
import { AheadBudget } from './sync/bulk.js';
import { Deliverer } from './sync/deliver.js';
import { GroupCommitter } from './sync/group-commit.js';
import { PhoneQueues } from './sync/phone-queue.js';
import { securityHeaders } from './ui/middleware.js';

export interface AppDeps {
  config: Config;
  database: Database;
  logger: Logger;
}

/** The bulk route's path: its requests are the only ones without a time limit. */
const BULK_PATH = /^\/webhooks\/[^/]+\/bulk\/?$/;

/** Wiring only: no I/O happens until a request arrives. */
export function createApp({ config, database, logger }: AppDeps) {
  const db = database.db;
  const queues = new PhoneQueues({ maxBacklog: config.MAX_BACKLOG });
  // Two connections stay free of batches for idempotency lookups, refusals and the API, so that a
  // busy committer never starves the reads that feed it (token lookups have a connection of their own).
  const batchSlots = Math.min(config.MAX_TRANSACTIONS, database.concurrency > 2 ? database.concurrency - 2 : 1);
  // PGlite runs one transaction at a time, whatever is asked; a pool too small for the setting is worth a word.
  if (database.kind === 'postgres' && batchSlots < config.MAX_TRANSACTIONS) {
    logger.warn({ maxTransactions: config.MAX_TRANSACTIONS, dbPoolSize: database.concurrency, running: batchSlots }, 'MAX_TRANSACTIONS is more than DB_POOL_SIZE − 2: running that many instead');
  }
  const committer = new GroupCommitter(db, { concurrency: batchSlots, maxBatch: config.MAX_BATCH });
  const bulkBudget = new AheadBudget();
  const metrics = createMetrics({ queues, committer, bulkBudget, database });
  const deliverer = new Deliverer(db, queues, committer, metrics);
  const readiness: Readiness = { draining: false };

  const app = createRouter();
  app.use(requestLog(logger));
  app.use(countFailuresBeforeDelivery(metrics));
  app.use(answerHeaders);
  app.use(refuseWhileDraining(readiness));
  app.use((c, next) => (isWebhookOrApi(c.req.path) ? refuseEncodedBody(c, next) : next()));
  const requestTimeout = requestDeadline(config.REQUEST_TIMEOUT_MS);
  // Outside the timeout, so that a page that times out carries them too.
  app.use('/ui/*', securityHeaders);
  // A bulk request streams for as long as its lines take; every other request is bounded.
  app.use((c, next) => (c.req.method === 'POST' && BULK_PATH.test(c.req.path) ? next() : requestTimeout(c, next)));
  const answerError = onError(logger);
  const answerPageError = pageErrors(logger);
  // A page that fails outside its own routes (its request's deadline) is still answered as a page.
  app.onError((error, c) => (isPage(c.req.path) ? answerPageError(error, c) : answerError(error, c)));
  app.notFound(answerUnrouted(app));

  const rateLimiter = new RateLimiter(config.RATE_LIMIT_PER_MINUTE);
  app.route('/', healthRoutes({ database, readiness }));
  app.route('/', metricsRoutes(metrics.registry));
  app.route('/', bulkRoutes({ lookups: database.lookups, deliverer, rateLimiter, logger, maxLineBytes: config.MAX_BODY_BYTES, maxSpoolBytes: config.MAX_BULK_BYTES, idleMs: config.REQUEST_TIMEOUT_MS, budget: bulkBudget }));
  app.route('/', webhookRoutes({ lookups: database.lookups, deliverer, rateLimiter, maxBodyBytes: config.MAX_BODY_BYTES }));
  app.route('/api/v1', apiRoutes({ config, db, deliverer, rateLimiter, maxBodyBytes: config.MAX_BODY_BYTES }));
  registerWebhookDocs(app, { maxBodyBytes: config.MAX_BODY_BYTES, maxBulkBytes: config.MAX_BULK_BYTES });
  registerOperationsDocs(app);
  app.route('/', docsRoutes(app));
  // `/ui/`, as a visitor may type it: the pages' own `/` answers `/ui` only, being mounted there.
  app.get('/ui/', (c) => c.redirect('/ui/contacts', 303));
  app.route('/ui', uiRoutes({ config, db, deliverer, rateLimiter, logger }));

  return { app, queues, committer, bulkBudget, readiness };
}

export type App = ReturnType<typeof createApp>['app'];

/**
 * A caller's `X-Request-Id` is kept only in the forms proxies generate (a UUID, or 16 to 64 hex
 * digits, longer than any phone): it is logged, and free text there could carry a key, a phone or
 * an email into the log.
 */
const REQUEST_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,64})$/i;

/** One line per request. The route pattern is logged, never the path: a webhook path holds its token. */
function requestLog(logger: Logger) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const sent = c.req.header('x-request-id');
    const requestId = sent !== undefined && REQUEST_ID.test(sent) ? sent : randomUUID();
    c.set('requestId', requestId);
    c.header('X-Request-Id', requestId);
    const started = performance.now();
    await next();
    logger.info(
      {
        requestId,
        method: c.req.method,
        route: c.req.routePath,
        status: c.res.status,
        account: c.get('account')?.id,
        operation: c.get('operation'),
        durationMs: Math.round(performance.now() - started),
      },
      'request',
    );
  });
}

/**
 * A webhook request answered 500 or 503 before its delivery reached the deliverer (which counts
 * every delivery it takes): the database down at the token lookup, a body still arriving at the
 * timeout, shutdown. Counted as a delivery that failed, `unknown`/`error`, or an outage would not
 * show in the error rate. A bulk request's lines are counted one by one once its answer streams.
 */
function countFailuresBeforeDelivery(metrics: Metrics) {
  return createMiddleware<AppEnv>(async (c, next) => {
    await next();
    if (c.res.status >= 500 && !c.get('delivering') && c.req.path.startsWith('/webhooks')) metrics.deliveries.inc({ operation: 'unknown', status: 'error' });
  });
}

/**
 * On every answer, errors included: no MIME sniffing; and webhook and API answers, which carry
 * contacts, are kept by no cache (a shared proxy, the browser's) once sent.
 */
const answerHeaders = createMiddleware(async (c, next) => {
  await next();
  c.res.headers.set('X-Content-Type-Options', 'nosniff');
  if (isWebhookOrApi(c.req.path)) c.res.headers.set('Cache-Control', 'no-store');
});

/** The web pages, whose errors are pages too. */
const isPage = (path: string) => path === '/ui' || path.startsWith('/ui/');

/** Webhooks and the API: the paths that take deliveries and carry contacts (not pages, health or metrics). */
const isWebhookOrApi = (path: string) => path.startsWith('/webhooks') || path.startsWith('/api/');

/**
 * Answers 503 once a request has run `ms`, and aborts its `deadline` then: a delivery still waiting
 * for its turn is dropped rather than applied after its sender was told to retry (and so after
 * whatever the sender sent next). One already being applied is let finish, under its phone's lock.
 * An API write that has begun (`beginWrite`) is answered with its result instead.
 */
function requestDeadline(ms: number) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const deadline = new AbortController();
    c.set('deadline', deadline.signal);
    let timer: NodeJS.Timeout | undefined;
    c.set('beginWrite', () => {
      if (deadline.signal.aborted) return false;
      clearTimeout(timer);
      return true;
    });
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        deadline.abort();
        reject(new HTTPException(503, { message: 'the request took too long; retry later' }));
      }, ms);
    });
    try {
      await Promise.race([next(), expired]);
    } finally {
      clearTimeout(timer);
    }
  });
}

/**
 * Once shutdown has begun, new work on connections that are still open is refused, so the drain
 * only waits for what was already accepted; health checks still answer.
 */
function refuseWhileDraining(readiness: Readiness) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (readiness.draining && isWebhookOrApi(c.req.path)) {
      c.header('Connection', 'close');
      return errorResponse(c, new ApiError('unavailable', 'the service is shutting down; retry shortly', undefined, 1));
    }
    await next();
    // Begun before the drain, answered during it: the connection closes after the answer rather than idle, to be cut.
    if (readiness.draining) c.header('Connection', 'close');
  });
}

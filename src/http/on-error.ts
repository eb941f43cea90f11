import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from 'pino';
import { sqlState } from '../db/errors.js';
import { loggable } from '../log.js';
import { IdempotencyInProgress, NotApplied, Overloaded } from '../sync/errors.js';
import { Refusal } from '../webhook/refusal.js';
import { ApiError, errorResponse, internalError, type ErrorCode } from './errors.js';

/** Hono's own refusals (request validators, body parsing) in the one error body. */
const httpExceptionCodes: Partial<Record<number, ErrorCode>> = {
  400: 'invalid_payload',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  503: 'unavailable',
};

/** What hono's JSON validator says of a body it cannot parse. */
const HONO_MALFORMED_JSON = 'Malformed JSON in request body';

/**
 * Worth retrying: the database cannot be reached or is restarting (network errors, postgres.js's
 * own connection codes, SQLSTATE class 08 and 57P0x), is out of connections (53300), or a lock
 * waited longer than lock_timeout (55P03), a statement was cancelled (57014: statement_timeout, or
 * an operator's pg_cancel_backend), or the transaction lost a deadlock or serialization (40xxx).
 * Each was rolled back whole, so the sender's retry applies it once.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  '53300', '55P03', '57014', '57P01', '57P02', '57P03', '40001', '40P01',
]);

function isDatabaseUnavailable(code: string | undefined): boolean {
  return code !== undefined && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'));
}

/** untranslatable_character, character_not_in_repertoire: what a NUL in text or jsonb raises. */
const UNSTORABLE_TEXT = new Set(['22P05', '22021']);

/** Every error leaves through here, as the one error body; the unexpected ones as `500 internal`. */
function toApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (error instanceof Refusal) return new ApiError(error.code, error.message, error.issues);
  if (error instanceof IdempotencyInProgress) {
    return new ApiError('idempotency_in_progress', 'a delivery with this idempotency key is being processed; retry shortly', undefined, 1);
  }
  // Its sender was already answered 503 when the time ran out; nothing more is sent, or logged.
  if (error instanceof NotApplied) return new ApiError('unavailable', 'the request took too long; retry later', undefined, 1);
  if (error instanceof Overloaded) {
    return new ApiError('unavailable', 'too many deliveries waiting; retry shortly', undefined, error.retryAfterSeconds);
  }
  if (isDatabaseUnavailable(sqlState(error))) {
    return new ApiError('unavailable', 'the database is unavailable right now; retry shortly', undefined, 1);
  }
  if (UNSTORABLE_TEXT.has(sqlState(error) ?? '')) {
    return new ApiError('invalid_payload', 'the request holds text PostgreSQL cannot store (a NUL character, \\u0000)');
  }
  if (error instanceof HTTPException) {
    // requireJsonBody has refused every body that is not JSON, so only an empty one is left here.
    if (error.message === HONO_MALFORMED_JSON) return new ApiError('invalid_payload', 'the body is empty: send a JSON object');
    const code = httpExceptionCodes[error.status];
    if (code) return new ApiError(code, error.message || 'the request was refused', undefined, code === 'unavailable' ? 1 : undefined);
  }
  return undefined;
}

/** How often an outage of the database is logged at most, while it lasts. */
const OUTAGE_LOG_INTERVAL_MS = 10_000;
const outages = new WeakMap<Logger, { loggedAt: number; unlogged: number }>();

/**
 * A warning that the database was unavailable (answered 503, which the request line alone does not
 * tell from a drain or a full backlog), with its SQLSTATE or errno: at most one line every 10 s,
 * counting the answers left out, so that an outage under load does not flood the log.
 */
function logOutage(logger: Logger, error: unknown): void {
  const code = sqlState(error);
  if (!isDatabaseUnavailable(code)) return;
  const now = performance.now();
  const seen = outages.get(logger);
  if (seen && now - seen.loggedAt < OUTAGE_LOG_INTERVAL_MS) {
    seen.unlogged++;
    return;
  }
  logger.warn({ code, answeredSinceLastLine: seen?.unlogged || undefined }, 'database unavailable; answered 503');
  outages.set(logger, { loggedAt: now, unlogged: 0 });
}

/**
 * What an error is answered with (`500 internal` for one not expected), logged as an operator needs
 * it: an outage as a throttled warning, anything unexpected with its type and stack frames.
 */
export function answerFor(logger: Logger, error: unknown, context: Record<string, unknown>): ApiError {
  logOutage(logger, error);
  const known = toApiError(error);
  if (known && known.status !== 500) return known;
  logger.error({ error: loggable(error), ...context }, 'unexpected error');
  return known ?? internalError();
}

export const onError = (logger: Logger) => (error: Error, c: Context) => errorResponse(c, answerFor(logger, error, { requestId: c.get('requestId') }));

import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from 'pino';
import { Overloaded, Refusal } from '../sync/errors.js';
import { IdempotencyInProgress } from '../sync/deliver.js';
import { ApiError, errorResponse } from './errors.js';

/** Every error leaves through here, as the one error body; the unexpected ones as `500 internal`. */
export function toApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (error instanceof Refusal) return new ApiError(error.code, error.message, error.issues);
  if (error instanceof IdempotencyInProgress) {
    return new ApiError('idempotency_in_progress', 'a delivery with this idempotency key is being processed; retry shortly', undefined, 1);
  }
  if (error instanceof Overloaded) {
    return new ApiError('unavailable', 'too many deliveries waiting; retry shortly', undefined, error.retryAfterSeconds);
  }
  if (error instanceof HTTPException && error.status === 400) return new ApiError('invalid_payload', error.message || 'bad request');
  return undefined;
}

export const onError = (logger: Logger) => (error: Error, c: Context) => {
  const known = toApiError(error);
  if (known) return errorResponse(c, known);
  logger.error({ err: error, requestId: c.get('requestId') }, 'unexpected error');
  return errorResponse(c, new ApiError('internal', 'internal error'));
};

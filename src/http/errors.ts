import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AnswerBody } from '../sync/delivery-body.js';
import type { FieldIssue } from '../zod-issues.js';

export const codeToStatus = {
  invalid_payload: 400,
  unauthorized: 401,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  idempotency_in_progress: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  invalid_phone: 422,
  unknown_assignee: 422,
  external_id_taken: 422,
  idempotency_key_reused: 422,
  limit_exceeded: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof codeToStatus;

/** A delivery's answer's HTTP status: its error code's when it was refused, else 200. */
export const statusOf = (body: AnswerBody) => ('code' in body ? codeToStatus[(body satisfies ErrorBody).code] : 200);

/** The one error body. A webhook's refusal (`RefusalBody`, built where HTTP is not known) is one too: `statusOf` checks it. */
export interface ErrorBody {
  error: string;
  code: ErrorCode;
  issues?: FieldIssue[];
  delivery_id?: string;
  /** A refused webhook delivery's warnings (`RefusalBody`). */
  warnings?: string[];
}

/** Thrown by src/http, the routes and the pages (domain code throws `Refusal`); turned into the one error body by `onError`. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly issues?: FieldIssue[],
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  get status(): ContentfulStatusCode {
    return codeToStatus[this.code];
  }

  body(): ErrorBody {
    return { error: this.message, code: this.code, ...(this.issues ? { issues: this.issues } : {}) };
  }
}

export function errorResponse(c: Context, error: ApiError, extra: Partial<ErrorBody> = {}): Response {
  if (error.retryAfterSeconds !== undefined) c.header('Retry-After', String(error.retryAfterSeconds));
  // A body too large is left unread, and its connection is cut once @hono/node-server stops
  // draining it (500 ms): said here, the client sends its next request on another one.
  if (error.status === 413) c.header('Connection', 'close');
  return c.json({ ...error.body(), ...extra }, error.status);
}

/** What an unexpected error answers: never its message. */
export const internalError = () => new ApiError('internal', 'internal error');

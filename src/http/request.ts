import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError, errorResponse } from './errors.js';
import type { SignedHeaders } from './signature.js';

/** The media type of the request, lower-cased, without parameters (`application/json`). */
export const mediaType = (c: Context): string => (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();

/** The Standard Webhooks headers, as sent. */
export const signedHeaders = (c: Context): SignedHeaders => ({
  id: c.req.header('webhook-id'),
  timestamp: c.req.header('webhook-timestamp'),
  signature: c.req.header('webhook-signature'),
});

/** `MAX_BODY_BYTES`, counted while reading (chunked bodies included), answered with the one 413 body. */
export const limitBody = (maxBytes: number) =>
  bodyLimit({
    maxSize: maxBytes,
    onError: (c) => errorResponse(c, new ApiError('payload_too_large', `the body is larger than ${maxBytes} bytes`)),
  });

import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { bodyLimit } from 'hono/body-limit';
import { operationOfOutcome, type DeliveryOutcome } from '../sync/delivery-body.js';
import type { AppEnv } from './auth.js';
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

/** Names the delivery's operation in the request's log line (webhooks and replays). */
export function logOperation<E extends AppEnv>(c: Context<E>, outcome: DeliveryOutcome): void {
  const operation = operationOfOutcome(outcome);
  if (operation) c.set('operation', operation);
}

/**
 * A compressed body (`Content-Encoding: gzip`, …) is not decoded here: read as it came, it would be
 * refused as text that is not UTF-8, or taken as sent under a coding the sender did not apply. It
 * is refused for what it is.
 */
export const refuseEncodedBody = createMiddleware(async (c, next) => {
  const encoding = c.req.header('content-encoding')?.trim().toLowerCase();
  if (encoding && encoding !== 'identity' && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
    throw new ApiError('unsupported_media_type', 'the body is compressed (Content-Encoding): send it uncompressed');
  }
  await next();
});

const tooLarge = (maxBytes: number) => new ApiError('payload_too_large', `the body is larger than ${maxBytes} bytes`);

/** `MAX_BODY_BYTES`, counted while reading (chunked bodies included), answered with the one 413 body. */
export const limitBody = (maxBytes: number) =>
  bodyLimit({
    maxSize: maxBytes,
    onError: (c) => errorResponse(c, tooLarge(maxBytes)),
  });

export type BodyEnv = { Variables: { body: Uint8Array } };

/**
 * Reads the whole body into `c.var.body`, at most `maxBytes` (chunked bodies included: counted
 * while reading), or answers the same 413 as `limitBody`. Served by @hono/node-server it reads
 * Node's request directly: `c.req.raw.body` would build a web Request, an AbortSignal and two
 * streams around every webhook delivery's few hundred bytes. Nothing else may read the body then.
 */
export const readBody = (maxBytes: number) =>
  createMiddleware<BodyEnv>(async (c, next) => {
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined && Number(length) > maxBytes) throw tooLarge(maxBytes);
    const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
    const chunks = incoming ?? (c.req.raw.body as AsyncIterable<Uint8Array> | null);
    const parts: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of chunks ?? []) {
      size += chunk.length;
      if (size > maxBytes) throw tooLarge(maxBytes);
      parts.push(chunk);
    }
    c.set('body', parts.length === 1 ? parts[0]! : Buffer.concat(parts, size));
    await next();
  });

import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import { stream } from 'hono/streaming';
import type { Db } from '../db/client.js';
import { authenticateWebhook, type WebhookEnv } from '../http/webhook-auth.js';
import { ApiError, internalError } from '../http/errors.js';
import { loggable, toApiError } from '../http/on-error.js';
import { mediaType, signedHeaders } from '../http/request.js';
import type { RateLimiter } from '../http/rate-limit.js';
import { signatureVerifier } from '../http/signature.js';
import { applyBulk, summarise, type BulkResult, type BulkSummary } from '../sync/bulk.js';
import type { Deliverer } from '../sync/deliver.js';
import { readNdjsonLines } from '../webhook/ndjson.js';

const NDJSON_TYPES = new Set(['application/x-ndjson', 'application/jsonl', 'application/json-lines']);
/**
 * Bulk requests applied at once by this process. Each holds up to 4,000 unanswered lines (16 MiB)
 * in memory; beyond this many, a new one gets 503 + Retry-After rather than more memory.
 */
export const MAX_BULK_REQUESTS = 4;

/**
 * `POST /webhooks/{token}/bulk`: NDJSON in, one result per line out in line order, then a summary.
 * The request is streamed; with signing secrets it is first spooled to a temporary file while its
 * HMAC is computed, so that nothing is applied before the signature over the whole body holds.
 */
export function bulkRoutes(deps: { lookups: Db; deliverer: Deliverer; rateLimiter: RateLimiter; logger: Logger; maxLineBytes: number; maxSpoolBytes: number }) {
  const app = new Hono<WebhookEnv>();
  let active = 0;
  app.post('/webhooks/:token/bulk', authenticateWebhook(deps), async (c) => {
    const account = c.get('webhookAccount');
    if (!NDJSON_TYPES.has(mediaType(c))) throw new ApiError('unsupported_media_type', 'send the lines with Content-Type: application/x-ndjson');
    const body = c.req.raw.body;
    if (!body) throw new ApiError('invalid_payload', 'the body is empty: send one JSON payload per line');
    if (active >= MAX_BULK_REQUESTS) throw new ApiError('unavailable', `${MAX_BULK_REQUESTS} bulk requests are being applied; retry shortly`, undefined, 5);

    active++;
    let source: Spooled;
    try {
      const secrets = account.signingSecrets;
      source = secrets.length === 0 ? (body as unknown as AsyncIterable<Uint8Array>) : await spoolVerified(c, secrets, body, deps.maxSpoolBytes);
    } catch (error) {
      active--;
      throw error;
    }

    c.header('Content-Type', 'application/x-ndjson');
    return stream(c, async (out) => {
      const summary: BulkSummary = { lines: 0, applied: 0, unchanged: 0, stale: 0, failed: 0 };
      try {
        for await (const results of applyBulk(deps.deliverer, account, readNdjsonLines(source, deps.maxLineBytes), deps.maxLineBytes)) {
          let chunk = '';
          for (const result of results) {
            summarise(summary, result);
            chunk += `${JSON.stringify(resultLine(result, deps.logger, c.get('requestId')))}\n`;
          }
          await out.write(chunk);
        }
      } finally {
        active--;
        await source.cleanup?.();
      }
      await out.write(`${JSON.stringify({ summary })}\n`);
    }, async (error, out) => {
      // Reading the upload failed part-way, most often because the sender went away. The lines
      // answered above were applied; an error line takes the summary's place.
      deps.logger.warn({ error: loggable(error), requestId: c.get('requestId') }, 'bulk upload broke off');
      await out.write(`${JSON.stringify(internalError().body())}\n`);
    });
  });
  return app;
}

function resultLine(result: BulkResult, logger: Logger, requestId: string): Record<string, unknown> {
  if ('body' in result) return { line: result.line, ...result.body };
  const known = toApiError(result.error);
  if (!known) logger.error({ error: loggable(result.error), requestId, line: result.line }, 'unexpected error');
  return { line: result.line, ...(known ?? internalError()).body() };
}

type Spooled = AsyncIterable<Uint8Array> & { cleanup?: () => Promise<void> };

/** Writes the body to a temporary file while computing its HMAC; answers 401 before anything is applied if it does not match. */
async function spoolVerified(c: Context, secrets: string[], body: ReadableStream<Uint8Array>, maxBytes: number): Promise<Spooled> {
  const verifier = signatureVerifier(secrets, signedHeaders(c));
  const early = verifier.headerProblem();
  if (!early.ok) throw new ApiError('unauthorized', `bad signature: ${early.reason}`);
  const dir = await mkdtemp(join(tmpdir(), 'contact-sync-bulk-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  const file = join(dir, 'body.ndjson');
  try {
    await pipeline(
      body as unknown as AsyncIterable<Uint8Array>,
      async function* (chunks: AsyncIterable<Uint8Array>) {
        let size = 0;
        for await (const chunk of chunks) {
          size += chunk.length;
          if (size > maxBytes) throw new ApiError('payload_too_large', `a signed bulk body may be at most ${maxBytes} bytes`);
          verifier.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(file),
    );
    const check = verifier.verify();
    if (!check.ok) throw new ApiError('unauthorized', `bad signature: ${check.reason}`);
  } catch (error) {
    await cleanup();
    throw error;
  }
  const spooled = createReadStream(file) as unknown as Spooled;
  spooled.cleanup = cleanup;
  return spooled;
}

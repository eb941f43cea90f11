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
import { toApiError } from '../http/on-error.js';
import { loggable } from '../log.js';
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
export function bulkRoutes(deps: {
  lookups: Db;
  deliverer: Deliverer;
  rateLimiter: RateLimiter;
  logger: Logger;
  maxLineBytes: number;
  maxSpoolBytes: number;
  /** How long an upload may send nothing before it is cut off, so that a stalled sender does not keep its slot. */
  idleMs: number;
}) {
  const app = new Hono<WebhookEnv>();
  let active = 0;
  app.post('/webhooks/:token/bulk', authenticateWebhook(deps), async (c) => {
    const account = c.get('webhookAccount');
    if (!NDJSON_TYPES.has(mediaType(c))) throw new ApiError('unsupported_media_type', 'send the lines with Content-Type: application/x-ndjson');
    const body = c.req.raw.body;
    // @hono/node-server gives every request a body stream: an empty body shows in its length.
    if (!body || c.req.header('content-length') === '0') throw new ApiError('invalid_payload', 'the body is empty: send one JSON payload per line');
    if (active >= MAX_BULK_REQUESTS) throw new ApiError('unavailable', `${MAX_BULK_REQUESTS} bulk requests are being applied; retry shortly`, undefined, 5);

    active++;
    let source: Spooled;
    try {
      const secrets = account.signingSecrets;
      const sent = withIdleLimit(body as unknown as AsyncIterable<Uint8Array>, deps.idleMs);
      source = secrets.length === 0 ? sent : await spoolVerified(c, secrets, sent, deps.maxSpoolBytes);
    } catch (error) {
      active--;
      throw error;
    }

    c.header('Content-Type', 'application/x-ndjson');
    const started = performance.now();
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
      // The request's own log line was written when its answer began; this one says how it ended.
      deps.logger.info({ requestId: c.get('requestId'), ...summary, durationMs: Math.round(performance.now() - started) }, 'bulk request finished');
    }, async (error, out) => {
      // Reading the upload failed part-way, most often because the sender went away. The lines
      // answered above were applied; an error line takes the summary's place.
      deps.logger.warn({ error: loggable(error), requestId: c.get('requestId') }, 'bulk upload broke off');
      await out.write(`${JSON.stringify((error instanceof ApiError ? error : internalError()).body())}\n`);
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

/**
 * The body's chunks, failing with `unavailable` when none comes for `idleMs`: the request timeout
 * does not apply to a bulk upload, which may rightly take long, but a sender that has gone quiet
 * must not hold one of the MAX_BULK_REQUESTS slots for ever.
 */
async function* withIdleLimit(chunks: AsyncIterable<Uint8Array>, idleMs: number): AsyncGenerator<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]();
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ApiError('unavailable', `the upload sent nothing for ${idleMs} ms and was cut off; the lines answered above were applied, send the rest again`)), idleMs);
      });
      const next = await Promise.race([iterator.next(), stalled]).finally(() => clearTimeout(timer));
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Stops reading the request: its stream is cancelled, whatever the sender does next; how the
    // stream itself ends (closed, or errored by a sender that went away) is of no interest now.
    iterator.return?.().catch(() => {});
  }
}

type Spooled = AsyncIterable<Uint8Array> & { cleanup?: () => Promise<void> };

/** Writes the body to a temporary file while computing its HMAC; answers 401 before anything is applied if it does not match. */
async function spoolVerified(c: Context, secrets: string[], body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<Spooled> {
  const verifier = signatureVerifier(secrets, signedHeaders(c));
  const early = verifier.headerProblem();
  if (!early.ok) throw new ApiError('unauthorized', `bad signature: ${early.reason}`);
  const dir = await mkdtemp(join(tmpdir(), 'contact-sync-bulk-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  const file = join(dir, 'body.ndjson');
  try {
    await pipeline(
      body,
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

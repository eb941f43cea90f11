import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import { stream } from 'hono/streaming';
import type { StreamingApi } from 'hono/utils/stream';
import type { Db } from '../db/client.js';
import { findAccountByWebhookToken, type WebhookAccount } from '../db/queries/accounts.js';
import { authenticateWebhook, type WebhookEnv } from '../http/webhook-auth.js';
import { ApiError, internalError } from '../http/errors.js';
import { answerFor } from '../http/on-error.js';
import { loggable } from '../log.js';
import { emptyBody, nonEmpty, quietFor, spoolVerified, UploadStalled, withIdleLimit, type Spooled } from '../http/bulk-body.js';
import { mediaType } from '../http/request.js';
import { chargeRateLimit, type RateLimiter } from '../http/rate-limit.js';
import { applyBulk, summarise, type AheadBudget, type BulkResult, type BulkSummary } from '../sync/bulk.js';
import type { Deliverer } from '../sync/deliver.js';
import { readNdjsonLines } from '../webhook/ndjson.js';

/** NDJSON by the names tools send it under: none is registered, x-ndjson is the most common. */
export const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/json-lines', 'application/x-jsonlines'] as const;
const isNdjson = (type: string) => (NDJSON_TYPES as readonly string[]).includes(type);
/**
 * Bulk requests open at once in this process; beyond this many, a new one gets 503 + Retry-After.
 * Their memory is bounded by the budget of unanswered lines they share (AheadBudget), not by
 * their number, so that requests sending slowly, holding next to none of it, cannot lock
 * other accounts out unless they come from this many / MAX_BULK_REQUESTS_PER_ACCOUNT accounts.
 */
export const MAX_BULK_REQUESTS = 16;
/** Of those, one account's: one account (or whoever holds its webhook URL) cannot take them all. */
export const MAX_BULK_REQUESTS_PER_ACCOUNT = 2;
/** Signed bulk requests being spooled to disk at once (each up to MAX_BULK_BYTES) before their signature is checked. */
export const MAX_BULK_SPOOLS = 4;
/** How often an open bulk request checks that the credentials it came with still hold. */
export const CREDENTIALS_RECHECK_MS = 1000;

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
  /** The unanswered lines all bulk requests share (the app's, which its metrics read). */
  budget: AheadBudget;
}) {
  const app = new Hono<WebhookEnv>();
  const slots = new Slots(MAX_BULK_REQUESTS, MAX_BULK_REQUESTS_PER_ACCOUNT, {
    account: `${MAX_BULK_REQUESTS_PER_ACCOUNT} bulk requests of this account are being received or applied; retry once one has finished`,
    all: `${MAX_BULK_REQUESTS} bulk requests are being applied; retry shortly`,
  });
  const spools = new Slots(MAX_BULK_SPOOLS, MAX_BULK_REQUESTS_PER_ACCOUNT, {
    account: `${MAX_BULK_REQUESTS_PER_ACCOUNT} signed bulk requests of this account are being received; retry once one has finished`,
    all: `${MAX_BULK_SPOOLS} signed bulk requests are being received; retry shortly`,
  });
  const { budget } = deps;

  /**
   * Takes the request's slot and its lines: the upload as it streams in, or, signed, its spool once
   * the signature over the whole body holds. Refused before the body is read when no token is left,
   * or no slot; then an unsigned request is charged, a signed one once its signature holds. A 503
   * for a full slot costs no token. The caller releases the slot once the lines are answered.
   */
  async function admit(c: Context<WebhookEnv>, account: WebhookAccount): Promise<Spooled> {
    const body = c.req.raw.body;
    // @hono/node-server gives every request a body stream: an empty body shows in its length.
    if (!body || c.req.header('content-length') === '0') throw emptyBody();
    chargeRateLimit(deps.rateLimiter, account.id, { peek: true });
    slots.take(account.id);
    let source: Spooled | undefined;
    try {
      const sent = await nonEmpty(withIdleLimit(body as unknown as AsyncIterable<Uint8Array>, deps.idleMs));
      if (account.signingSecrets.length === 0) {
        source = sent;
      } else {
        spools.take(account.id);
        try {
          source = await spoolVerified(c, account.signingSecrets, sent, deps.maxSpoolBytes);
        } finally {
          spools.release(account.id);
        }
      }
      chargeRateLimit(deps.rateLimiter, account.id);
      return source;
    } catch (error) {
      slots.release(account.id);
      await source?.cleanup?.();
      throw error;
    }
  }

  app.on('POST', ['/webhooks/:token/bulk', '/webhooks/:token/bulk/'], authenticateWebhook(deps), async (c) => {
    const account = c.get('webhookAccount');
    if (!isNdjson(mediaType(c))) throw new ApiError('unsupported_media_type', 'send the lines with Content-Type: application/x-ndjson');
    const source = await admit(c, account);

    c.header('Content-Type', 'application/x-ndjson');
    const started = performance.now();
    // A reader that takes none of the answer for as long as a sender may send nothing is cut off
    // too: it would otherwise hold its slot for as long as it keeps the connection open.
    const cutOff = () => (c.env as Partial<HttpBindings> | undefined)?.outgoing?.destroy();
    return stream(c, async (out) => {
      const write = (text: string) => writeWithin(out, text, deps.idleMs, cutOff);
      const summary: BulkSummary = { lines: 0, applied: 0, unchanged: 0, stale: 0, failed: 0 };
      try {
        const lines = whileAdmitted(readNdjsonLines(source, deps.maxLineBytes), deps.lookups, c.req.param('token'), account);
        for await (const results of applyBulk(deps.deliverer, account, lines, deps.maxLineBytes, budget)) {
          let chunk = '';
          for (const result of results) {
            summarise(summary, result);
            chunk += `${JSON.stringify(resultLine(result, deps.logger, c.get('requestId')))}\n`;
          }
          await write(chunk);
        }
      } finally {
        slots.release(account.id);
        await source.cleanup?.();
      }
      await write(`${JSON.stringify({ summary })}\n`);
      // The request's own log line was written when its answer began; this one says how it ended.
      deps.logger.info({ requestId: c.get('requestId'), ...summary, durationMs: Math.round(performance.now() - started) }, 'bulk request finished');
    }, async (error, out) => {
      if (error instanceof AnswerNotRead) {
        deps.logger.warn({ requestId: c.get('requestId'), idleMs: deps.idleMs }, 'bulk answer not read: connection cut off');
        return;
      }
      // Reading the upload failed part-way, most often because the sender went away. The lines
      // answered above were applied; an error line takes the summary's place.
      if (error instanceof UploadStalled) deps.logger.warn({ requestId: c.get('requestId'), idleMs: error.idleMs }, 'bulk upload stalled: cut off after the lines answered');
      else deps.logger.warn({ error: loggable(error), requestId: c.get('requestId') }, 'bulk upload broke off');
      await writeWithin(out, `${JSON.stringify(brokenOff(error).body())}\n`, deps.idleMs, cutOff).catch(() => {});
    });
  });
  return app;
}

class AnswerNotRead extends Error {}

/**
 * The lines, as long as the request's credentials hold, checked again at most every
 * CREDENTIALS_RECHECK_MS: an upload kept open (a line now and then) past a rotation of its token,
 * the answer to a leaked URL, or past the account's first signing secret when it was not signed,
 * stops at its next line with an `unauthorized` error line in place of the summary. The lines
 * answered before it were applied.
 */
async function* whileAdmitted<T>(lines: AsyncIterable<T>, lookups: Db, token: string, admitted: WebhookAccount): AsyncGenerator<T> {
  let checkAt = performance.now() + CREDENTIALS_RECHECK_MS;
  for await (const line of lines) {
    if (performance.now() >= checkAt) {
      const unsent = 'the lines answered above were applied, the rest was not read';
      const now = await findAccountByWebhookToken(lookups, token).catch(() => {
        throw new ApiError('unavailable', `the database could not be reached to check this upload's token: ${unsent}; send it again shortly`);
      });
      if (now?.id !== admitted.id) throw new ApiError('unauthorized', `the webhook token was rotated while this upload was open: ${unsent}; send it to the new webhook URL`);
      if (admitted.signingSecrets.length === 0 && now.signingSecrets.length > 0) {
        throw new ApiError('unauthorized', `the account requires signatures since this upload began: ${unsent}; send it signed`);
      }
      checkAt = performance.now() + CREDENTIALS_RECHECK_MS;
    }
    yield line;
  }
}

/** The error line that takes the summary's place when reading the upload failed part-way. */
function brokenOff(error: Error): ApiError {
  if (error instanceof UploadStalled) {
    return new ApiError('unavailable', `the upload sent nothing for ${error.idleMs} ms and was cut off; the lines answered above were applied, send the rest again`);
  }
  return error instanceof ApiError ? error : internalError();
}

/** Writes to the answer, or cuts the connection off when the reader takes none of it for `ms`. */
async function writeWithin(out: StreamingApi, text: string, ms: number, cutOff: () => void): Promise<void> {
  const silence = quietFor(ms);
  const written = await Promise.race([out.write(text).then(() => true), silence.passed.then(() => false)]).finally(silence.cancel);
  if (written) return;
  // Cancels the stream, which settles the write still waiting, and closes the socket.
  out.abort();
  cutOff();
  throw new AnswerNotRead(`the answer was not read for ${ms} ms`);
}

/** Requests under way: `max` in all, `perAccount` of one account; beyond either, 503 + Retry-After saying which. */
class Slots {
  private total = 0;
  private readonly byAccount = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly perAccount: number,
    private readonly refusals: { account: string; all: string },
  ) {}

  /** Takes a slot for the account, or answers 503 + Retry-After. */
  take(accountId: string): void {
    const own = this.byAccount.get(accountId) ?? 0;
    if (own >= this.perAccount) throw new ApiError('unavailable', this.refusals.account, undefined, 5);
    if (this.total >= this.max) throw new ApiError('unavailable', this.refusals.all, undefined, 5);
    this.total++;
    this.byAccount.set(accountId, own + 1);
  }

  release(accountId: string): void {
    this.total--;
    const own = this.byAccount.get(accountId)! - 1;
    if (own === 0) this.byAccount.delete(accountId);
    else this.byAccount.set(accountId, own);
  }
}

function resultLine(result: BulkResult, logger: Logger, requestId: string): Record<string, unknown> {
  if ('body' in result) return { line: result.line, ...result.body };
  return { line: result.line, ...answerFor(logger, result.error, { requestId, line: result.line }).body() };
}

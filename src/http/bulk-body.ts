import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Context } from 'hono';
import { ApiError } from './errors.js';
import { signedHeaders } from './request.js';
import { signatureVerifier } from './signature.js';

/**
 * An upload that sent nothing for `idleMs`. As thrown, it is the answer for one cut off before any
 * of it was applied (while it was spooled, or before its first byte); once results have streamed,
 * the bulk route says instead that the lines answered were applied.
 */
export class UploadStalled extends ApiError {
  constructor(readonly idleMs: number) {
    super('unavailable', `the upload sent nothing for ${idleMs} ms and was cut off; nothing of it was applied, send it again`, undefined, 1);
  }
}

/**
 * The body's chunks, failing with `UploadStalled` when none comes for `idleMs`: the request
 * timeout does not apply to a bulk upload, which may rightly take long, but a sender that has gone
 * quiet must not hold one of the MAX_BULK_REQUESTS slots for ever.
 */
export async function* withIdleLimit(chunks: AsyncIterable<Uint8Array>, idleMs: number): AsyncGenerator<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]();
  try {
    for (;;) {
      const silence = quietFor(idleMs);
      const next = await Promise.race([iterator.next(), silence.passed.then(() => Promise.reject(new UploadStalled(idleMs)))]).finally(silence.cancel);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Stops reading the request: its stream is cancelled, whatever the sender does next; how the
    // stream itself ends (closed, or errored by a sender that went away) is of no interest now.
    iterator.return?.().catch(() => {});
  }
}

/**
 * Settles once `ms` have passed, unless cancelled first. It is judged after the event loop has
 * read what arrived meanwhile (in `setImmediate`, after the poll phase): when the one thread was
 * busy past `ms` (parsing other requests' lines), the timer is due before the data that came in
 * the meantime is read, and a sender or reader that kept up would be taken for silent.
 */
export function quietFor(ms: number): { passed: Promise<void>; cancel: () => void } {
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  const passed = new Promise<void>((resolve) => {
    timer = setTimeout(() => setImmediate(() => cancelled || resolve()), ms);
  });
  return {
    passed,
    cancel: () => {
      cancelled = true;
      clearTimeout(timer);
    },
  };
}

/**
 * The body's chunks, once one holding bytes has come; a body that ends without any is refused with
 * the same 400 as one sent with `Content-Length: 0`. Only a chunked body needs this: its emptiness
 * shows when it ends, and the answer must not have begun by then.
 */
export async function nonEmpty(chunks: AsyncIterable<Uint8Array>): Promise<AsyncIterable<Uint8Array>> {
  const iterator = chunks[Symbol.asyncIterator]();
  let first: IteratorResult<Uint8Array>;
  do first = await iterator.next();
  while (!first.done && first.value.length === 0);
  if (first.done) throw emptyBody();
  const head = first.value;
  return (async function* () {
    yield head;
    yield* { [Symbol.asyncIterator]: () => iterator };
  })();
}

export function emptyBody(): ApiError {
  return new ApiError('invalid_payload', 'the body is empty: send one JSON payload per line');
}

export type Spooled = AsyncIterable<Uint8Array> & { cleanup?: () => Promise<void> };

/** Writes the body to a temporary file while computing its HMAC; answers 401 before anything is applied if it does not match. */
export async function spoolVerified(c: Context, secrets: string[], body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<Spooled> {
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
  return Object.assign(createReadStream(file), { cleanup });
}

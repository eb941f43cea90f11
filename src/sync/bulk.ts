import type { NdjsonLine } from '../webhook/ndjson.js';
import type { Account, Deliverer, DeliveryBody, DeliveryOutcome } from './deliver.js';
import { Refusal } from './errors.js';

export const MAX_BULK_LINES = 1_000_000;
/** Lines applied in one transaction at most. */
const GROUP_LINES = 1000;
/** Lines read and not yet answered, at most: enough to keep two groups going, small enough to keep memory flat. */
const AHEAD_LINES = 3 * GROUP_LINES;
const AHEAD_BYTES = 16 * 1024 * 1024;

export type BulkResult = { line: number; body: DeliveryBody } | { line: number; error: unknown };

export interface BulkSummary {
  lines: number;
  applied: number;
  unchanged: number;
  stale: number;
  failed: number;
}

/** Wakes whoever waits for something to change. */
class Signal {
  private waiters: (() => void)[] = [];

  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

interface Waiting {
  line: number;
  text: string;
  answer: (result: BulkResult) => void;
}

/**
 * Applies NDJSON lines as deliveries and yields their results in line order. The lines that have
 * arrived while the previous group was being applied form the next group (up to GROUP_LINES), one
 * transaction of multi-row statements in line order (`Deliverer.deliverGroup`); a group is read
 * while the one before it commits, and groups commit one after another, so lines for the same phone
 * apply in line order. Nothing waits to fill a group: a sender that sends a line and waits for its
 * answer gets it. The input is not read further while AHEAD_LINES lines (or AHEAD_BYTES) are
 * unanswered, so memory does not grow with the request.
 */
export async function* applyBulk(deliverer: Deliverer, account: Account, lines: AsyncIterable<NdjsonLine>, maxLineBytes: number): AsyncGenerator<BulkResult> {
  const signal = new Signal();
  const answers: { result: Promise<BulkResult>; bytes: number }[] = [];
  let waiting: Waiting[] = [];
  let aheadBytes = 0;
  let reading = true;
  let closed = false;
  let failure: { error: unknown } | undefined;

  const read = async () => {
    try {
      for await (const item of lines) {
        if (closed) break;
        if (item.line > MAX_BULK_LINES) {
          answers.push({ result: Promise.resolve({ line: item.line, error: new Refusal('limit_exceeded', `a bulk request holds at most ${MAX_BULK_LINES} lines; the rest was not read`) }), bytes: 0 });
          break;
        }
        if ('tooLong' in item) {
          answers.push({ result: Promise.resolve(tooLong(item.line, maxLineBytes)), bytes: 0 });
        } else {
          let answer!: (result: BulkResult) => void;
          answers.push({ result: new Promise((resolve) => (answer = resolve)), bytes: item.text.length });
          waiting.push({ line: item.line, text: item.text, answer });
          aheadBytes += item.text.length;
        }
        signal.notify();
        while (!closed && (answers.length >= AHEAD_LINES || aheadBytes >= AHEAD_BYTES)) await signal.wait();
      }
    } catch (error) {
      failure = { error };
    } finally {
      reading = false;
      signal.notify();
    }
  };

  const apply = async () => {
    // The group committing and the one read after it, waiting for its turn.
    const inFlight: Promise<unknown>[] = [];
    while (reading || waiting.length > 0) {
      if (waiting.length === 0) {
        await signal.wait();
        continue;
      }
      if (inFlight.length >= 2) {
        await inFlight.shift();
        continue;
      }
      const group = waiting.slice(0, GROUP_LINES);
      waiting = waiting.slice(GROUP_LINES);
      inFlight.push(applyGroup(deliverer, account, group, inFlight.at(-1)));
    }
    await Promise.all(inFlight);
  };

  const reader = read();
  const applier = apply();
  try {
    while (answers.length > 0 || reading) {
      if (answers.length === 0) {
        await signal.wait();
        continue;
      }
      const next = answers.shift()!;
      const result = await next.result;
      aheadBytes -= next.bytes;
      signal.notify();
      yield result;
    }
  } finally {
    closed = true;
    signal.notify();
    await reader;
    await applier;
  }
  if (failure) throw failure.error;
}

/** Applies the group once `after` has settled; settles when each of its lines has its answer. */
function applyGroup(deliverer: Deliverer, account: Account, group: Waiting[], after: Promise<unknown> | undefined): Promise<unknown> {
  let outcomes: Promise<DeliveryOutcome>[];
  try {
    outcomes = deliverer.deliverGroup(
      account,
      group.map(({ text }) => ({ kind: 'json', body: text })),
      after,
    );
  } catch (error) {
    outcomes = group.map(() => Promise.reject(error));
  }
  return Promise.all(
    outcomes.map((outcome, i) => {
      const { line, answer } = group[i]!;
      return outcome.then(
        ({ body }) => answer({ line, body }),
        (error: unknown) => answer({ line, error }),
      );
    }),
  );
}

function tooLong(line: number, maxLineBytes: number): BulkResult {
  return { line, error: new Refusal('invalid_payload', `line ${line} is longer than ${maxLineBytes} bytes`) };
}

export function summarise(summary: BulkSummary, result: BulkResult): void {
  summary.lines += 1;
  if ('error' in result || 'code' in result.body) summary.failed += 1;
  else summary[result.body.status] += 1;
}

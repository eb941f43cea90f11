import type { NdjsonLine } from '../webhook/ndjson.js';
import type { Deliverer } from './deliver.js';
import type { Account } from './delivery-context.js';
import type { AnswerBody, DeliveryOutcome } from './delivery-body.js';
import { Refusal } from '../webhook/refusal.js';

const MAX_BULK_LINES = 1_000_000;
/** Lines applied in one transaction at most. */
const GROUP_LINES = 1000;
/** Groups being applied at once, at most: each holds a transaction. */
const MAX_GROUPS_IN_FLIGHT = 3;
/** Lines read and not yet answered, at most: enough to keep every group going and the next forming, small enough to keep memory flat. */
const AHEAD_LINES = (MAX_GROUPS_IN_FLIGHT + 1) * GROUP_LINES;
/** The same, in characters of line text (a JavaScript string's length): lines may be up to MAX_BODY_BYTES each. */
const AHEAD_CHARS = 16 * 1024 * 1024;
/**
 * What all the bulk requests of a process may hold read and not yet answered together: as much as
 * 4 requests at full speed hold, which bounds the memory of their lines and parsed payloads, and the
 * parsing and validating queued on the one thread, however many requests are open.
 */
const AHEAD_IN_ALL = { lines: 4 * AHEAD_LINES, chars: 4 * AHEAD_CHARS };

export type BulkResult = { line: number; body: AnswerBody } | { line: number; error: unknown };

export interface BulkSummary {
  lines: number;
  applied: number;
  unchanged: number;
  stale: number;
  failed: number;
}

/** Wakes whoever waits for something to change. */
export class Signal {
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

/**
 * The lines read and not yet answered across the bulk requests that share it, and their characters,
 * at most `limit`: what bounds their memory and queued work, rather than how many requests are open.
 * Each request holds at most its share (the lines divided among the requests open, a group's worth
 * at least), so that a few whose readers take their answers slowly cannot hold all of it; and one
 * reads on while it has nothing unanswered, however full the budget is, so every one keeps moving.
 */
export class AheadBudget {
  private used = { lines: 0, chars: 0 };
  private readonly requests = new Set<Signal>();

  constructor(readonly limit = AHEAD_IN_ALL) {}

  /** Lines and characters read and not yet answered, now. */
  get inUse(): { lines: number; chars: number } {
    return { ...this.used };
  }

  get full(): boolean {
    return this.used.lines >= this.limit.lines || this.used.chars >= this.limit.chars;
  }

  /** How many unanswered lines one request may hold now. */
  get share(): number {
    return Math.min(AHEAD_LINES, Math.max(GROUP_LINES, Math.floor(this.limit.lines / Math.max(1, this.requests.size))));
  }

  take(chars: number): void {
    this.used.lines += 1;
    this.used.chars += chars;
  }

  /** Gives lines back, and wakes the requests waiting for room. */
  give(lines: number, chars: number): void {
    if (lines === 0) return;
    this.used.lines -= lines;
    this.used.chars -= chars;
    for (const signal of this.requests) signal.notify();
  }

  /** A request joins: `signal` is notified whenever room is given back, until it `leave`s. */
  join(signal: Signal): void {
    this.requests.add(signal);
  }

  leave(signal: Signal): void {
    this.requests.delete(signal);
    for (const other of this.requests) other.notify();
  }
}

interface Waiting {
  line: number;
  text: string;
  answer: (result: BulkResult) => void;
}

/** A line's answer, known at once (`result`) when it has settled; `chars` when the line holds room in the budget. */
interface Answer {
  settled: Promise<void>;
  result?: BulkResult;
  chars?: number;
}

/** A group being applied: which phones it holds, and when it has settled. */
interface InFlight {
  lockKeys: Set<bigint>;
  done: Promise<unknown>;
}

/**
 * Applies NDJSON lines as deliveries and yields their results in line order, as many at a time as
 * have settled. The lines that have arrived while earlier groups were being applied form the next
 * group (up to GROUP_LINES), one transaction of multi-row statements in line order
 * (`Deliverer.commitGroup`). A group waits only for the groups before it that share a phone with
 * it, so lines for the same phone apply in line order while groups of other phones commit side by
 * side. Nothing waits to fill a group: a sender that sends a line and waits for its answer gets it.
 * The input is not read further while this request holds its share of `budget`, shared with the
 * other bulk requests (AHEAD_LINES at most, fewer when many are open), or AHEAD_CHARS, or while the
 * budget is full and it holds any, so that memory and queued work grow neither with the request nor
 * with the number of requests.
 */
export async function* applyBulk(
  deliverer: Deliverer,
  account: Account,
  lines: AsyncIterable<NdjsonLine>,
  maxLineBytes: number,
  budget = new AheadBudget(),
): AsyncGenerator<BulkResult[]> {
  const signal = new Signal();
  budget.join(signal);
  const answers: Answer[] = [];
  let waiting: Waiting[] = [];
  let aheadChars = 0;
  let aheadLines = 0;
  let reading = true;
  let closed = false;
  let failure: { error: unknown } | undefined;

  const settledNow = (result: BulkResult): Answer => ({ settled: Promise.resolve(), result });
  const read = async () => {
    try {
      for await (const item of lines) {
        if (closed) break;
        if (item.line > MAX_BULK_LINES) {
          answers.push(settledNow({ line: item.line, error: new Refusal('limit_exceeded', `a bulk request holds at most ${MAX_BULK_LINES} lines; the rest was not read`) }));
          break;
        }
        if ('tooLong' in item) {
          answers.push(settledNow(tooLong(item.line, maxLineBytes)));
        } else if ('notUtf8' in item) {
          answers.push(settledNow({ line: item.line, error: new Refusal('invalid_payload', `line ${item.line} is not UTF-8 text: send it encoded as UTF-8`) }));
        } else {
          let settle!: () => void;
          const pending: Answer = { settled: new Promise<void>((resolve) => (settle = resolve)), chars: item.text.length };
          const answer = (result: BulkResult) => {
            pending.result = result;
            settle();
          };
          waiting.push({ line: item.line, text: item.text, answer });
          answers.push(pending);
          aheadChars += item.text.length;
          aheadLines += 1;
          budget.take(item.text.length);
        }
        signal.notify();
        while (!closed && (answers.length >= budget.share || aheadChars >= AHEAD_CHARS || (aheadLines > 0 && budget.full))) await signal.wait();
      }
    } catch (error) {
      failure = { error };
    } finally {
      reading = false;
      signal.notify();
    }
  };

  const apply = async () => {
    let inFlight: InFlight[] = [];
    while (reading || waiting.length > 0) {
      if (waiting.length === 0) {
        await signal.wait();
        // Lines have come in: let the reader finish the chunk they came in, so that they form one group.
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      const group = waiting.slice(0, GROUP_LINES);
      waiting = waiting.slice(GROUP_LINES);
      const applied = applyGroup(deliverer, account, group, inFlight);
      inFlight.push(applied);
      void applied.done.then(() => {
        inFlight = inFlight.filter((g) => g !== applied);
        signal.notify();
      });
      // The next group is formed once one of these settles: meanwhile the lines arriving join it.
      while (inFlight.length >= MAX_GROUPS_IN_FLIGHT) await signal.wait();
    }
    await Promise.all(inFlight.map((g) => g.done));
  };

  const reader = read();
  const applier = apply();
  try {
    while (answers.length > 0 || reading) {
      if (answers.length === 0) {
        await signal.wait();
        continue;
      }
      await answers[0]!.settled;
      let ready = 0;
      while (ready < answers.length && answers[ready]!.result !== undefined) ready++;
      const done = answers.splice(0, ready);
      const taken = done.filter((answer) => answer.chars !== undefined);
      const chars = taken.reduce((sum, answer) => sum + answer.chars!, 0);
      aheadChars -= chars;
      aheadLines -= taken.length;
      budget.give(taken.length, chars);
      signal.notify();
      yield done.map((answer) => answer.result!);
    }
  } finally {
    closed = true;
    signal.notify();
    try {
      await reader;
      await applier;
    } finally {
      // Cut short (the sender or the reader gone): what was read and not answered frees its share.
      budget.leave(signal);
      budget.give(aheadLines, aheadChars);
    }
  }
  if (failure) throw failure.error;
}

/** Starts applying the group once the groups in flight that share a phone with it have settled. */
function applyGroup(deliverer: Deliverer, account: Account, group: Waiting[], inFlight: InFlight[]): InFlight {
  let lockKeys = new Set<bigint>();
  let outcomes: Promise<DeliveryOutcome>[];
  try {
    const prepared = deliverer.prepareGroup(
      account,
      group.map(({ text }) => ({ kind: 'json', body: text, bulkLine: true })),
    );
    lockKeys = prepared.lockKeys;
    const before = inFlight.filter((other) => sharesAPhone(other.lockKeys, lockKeys)).map((other) => other.done);
    outcomes = deliverer.commitGroup(prepared, before.length > 0 ? Promise.all(before) : undefined);
  } catch (error) {
    outcomes = group.map(() => Promise.reject(error));
  }
  const done = Promise.all(
    outcomes.map((outcome, i) => {
      const { line, answer } = group[i]!;
      return outcome.then(
        ({ body }) => answer({ line, body }),
        (error: unknown) => answer({ line, error }),
      );
    }),
  );
  return { lockKeys, done };
}

function sharesAPhone(a: Set<bigint>, b: Set<bigint>): boolean {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  for (const key of small) if (large.has(key)) return true;
  return false;
}

function tooLong(line: number, maxLineBytes: number): BulkResult {
  return { line, error: new Refusal('invalid_payload', `line ${line} is longer than ${maxLineBytes} bytes`) };
}

export function summarise(summary: BulkSummary, result: BulkResult): void {
  summary.lines += 1;
  if ('error' in result || 'code' in result.body) summary.failed += 1;
  else summary[result.body.status] += 1;
}

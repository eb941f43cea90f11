import { sql } from 'drizzle-orm';
import { executePrepared, jsonb, type Db, type Tx } from '../db/client.js';
import { sqlState } from '../db/errors.js';
import { NotApplied } from './errors.js';
import { applyUpsertBatch, type UpsertJob } from './upsert-batch.js';

/**
 * What a delivery does in its batch's transaction: its own statements, or its part of the batch's
 * multi-row statements (a plain upsert, or a refusal that only needs its log row). Once `signal` has aborted (its sender was answered 503 for taking too long),
 * it is not applied if it has not been yet when its locks are held.
 */
export type Work<T> = ({ run: (tx: Tx) => Promise<T> } | { batched: UpsertJob<T> }) & { signal?: AbortSignal };

interface Pending {
  /** The advisory lock the work needs, if any. */
  lockKey: bigint | undefined;
  work: Work<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** A batch as it is committed: deliveries for different phones in any order, or a group that keeps its order. */
interface Batch {
  items: Pending[];
  ordered: boolean;
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Group commit: deliveries for different phones that are waiting at the same moment are applied in
 * one transaction, so that every caller is answered only after the commit and a failing delivery
 * fails alone. Plain upserts share a handful of multi-row statements (`applyUpsertBatch`, whose
 * refusals are decided before anything is written); every other delivery runs its own statements
 * in a savepoint of its own. Nothing waits to form a batch: while `concurrency` transactions are
 * running, whatever arrives queues up and becomes the next batch, so batches grow with load and a
 * lone delivery goes straight through.
 *
 * The caller keeps one phone out of two batches at once (its per-phone lane), or submits a group
 * that is applied in its own order (a bulk request's lines); across processes the batch takes every
 * phone's advisory lock, in ascending key order so that two batches cannot wait on each other in a
 * cycle.
 */
export class GroupCommitter {
  private readonly waiting: Batch[] = [];
  private running = 0;
  private applying = 0;
  /** Transactions committed or rolled back, and the deliveries they carried: for tests and tuning. */
  readonly stats = { batches: 0, deliveries: 0, largest: 0, retriedAlone: 0 };

  constructor(
    private readonly db: Db,
    private readonly options: { concurrency: number; maxBatch: number },
  ) {}

  /** Transactions that may run at once. */
  get concurrency(): number {
    return this.options.concurrency;
  }

  /** Deliveries inside a running transaction now. */
  get inFlight(): number {
    return this.applying;
  }

  /** Transactions running now, out of `concurrency`: the database connections the committer holds. */
  get transactionsRunning(): number {
    return this.running;
  }

  /** Batches formed and waiting for a transaction of their own: more than a few means the database is the limit. */
  get batchesWaiting(): number {
    return this.waiting.length;
  }

  /** Applies `work` in the next batch, holding the advisory lock `lockKey`; settles after the commit. */
  submit<T>(lockKey: bigint, work: Work<T>): Promise<T> {
    const [pending, answer] = this.pending(lockKey, work);
    const last = this.waiting.at(-1);
    if (last && !last.ordered && last.items.length < this.options.maxBatch) last.items.push(pending);
    else this.waiting.push({ items: [pending], ordered: false });
    this.pump();
    return answer as Promise<T>;
  }

  /**
   * Applies the items in one transaction of their own, in the order given (several may share a
   * phone), and answers each as `submit` would. Without a lock key an item needs no phone's lock.
   */
  submitGroup<T>(items: { lockKey: bigint | undefined; work: Work<T> }[]): Promise<T>[] {
    const answers: Promise<T>[] = [];
    const pendings = items.map(({ lockKey, work }) => {
      const [pending, answer] = this.pending(lockKey, work);
      answers.push(answer as Promise<T>);
      return pending;
    });
    if (pendings.length > 0) this.waiting.push({ items: pendings, ordered: true });
    this.pump();
    return answers;
  }

  private pending(lockKey: bigint | undefined, work: Work<unknown>): [Pending, Promise<unknown>] {
    let pending!: Pending;
    const answer = new Promise<unknown>((resolve, reject) => {
      // Settled exactly once, after its batch: it stops counting as in flight just before its caller hears.
      const settle = <V>(answer: (value: V) => void) => (value: V) => {
        this.applying--;
        answer(value);
      };
      pending = { lockKey, work, resolve: settle(resolve), reject: settle(reject) };
    });
    return [pending, answer];
  }

  private pump(): void {
    while (this.running < this.options.concurrency && this.waiting.length > 0) {
      const batch = this.waiting.shift()!;
      this.stats.batches++;
      this.stats.deliveries += batch.items.length;
      this.stats.largest = Math.max(this.stats.largest, batch.items.length);
      this.running++;
      this.applying += batch.items.length;
      void this.commit(batch).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async commit(batch: Batch, retried = false): Promise<void> {
    const { items } = batch;
    let settled: Settled[];
    /** The work's outcome and its transaction's id, once the work is done and COMMIT is to be sent. */
    let done: { xid: string; settled: Settled[] } | undefined;
    try {
      settled = await this.db.transaction(async (tx) => {
        const [xid, result] = await Promise.all([
          transactionId(tx),
          applyAll(tx, batch, lockAll(tx, items.flatMap((item) => (item.lockKey === undefined ? [] : [item.lockKey])))),
        ]);
        done = { xid, settled: result };
        return result;
      });
    } catch (error) {
      if (done) {
        // COMMIT was sent and its answer lost (most often a connection cut): the transaction may
        // well have committed, and trying its deliveries again would apply them twice, over what
        // other deliveries for the same phones did since its locks went. PostgreSQL knows which.
        const outcome = await commitOutcome(this.db, done.xid);
        if (outcome === 'committed') return settle(items, done.settled);
        if (outcome === 'unknown') return items.forEach((item) => item.reject(error));
      }
      if (items.length === 1) {
        // PostgreSQL chose this transaction to break a deadlock or a serialization conflict: the
        // other side has gone on, so once more usually succeeds.
        if (!retried && isConflict(error)) return this.commit(batch, true);
        return items[0]!.reject(error);
      }
      // The batch as a whole failed and was rolled back (a deadlock on a shared new label, a
      // connection lost before COMMIT): nothing of it was applied, so each delivery is tried once
      // more on its own, where the outcome is its own (a group's in its order).
      this.stats.retriedAlone += items.length;
      const alone = (item: Pending) => this.commit({ items: [item], ordered: false }, retried);
      if (batch.ordered) for (const item of items) await alone(item);
      else await Promise.all(items.map(alone));
      return;
    }
    settle(items, settled);
  }
}

function settle(items: Pending[], settled: Settled[]): void {
  items.forEach((item, i) => {
    const result = settled[i]!;
    if (result.ok) item.resolve(result.value);
    else item.reject(result.error);
  });
}

/** The transaction's id, for `commitOutcome`: sent with the transaction's first statements. */
async function transactionId(tx: Tx): Promise<string> {
  const [row] = await executePrepared<{ xid: string }>(tx, 'transaction_id', sql`select txid_current()::text as xid`);
  return row!.xid;
}

/**
 * Whether transaction `xid`, whose COMMIT got no answer, committed: asked on another connection,
 * a few times while the server still counts it as in progress (it has not yet noticed the
 * connection go). `unknown` when the database cannot tell or cannot be reached: the deliveries are
 * then answered with the error (503), as their outcome is not known.
 */
async function commitOutcome(db: Db, xid: string): Promise<'committed' | 'aborted' | 'unknown'> {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const [row] = await executePrepared<{ status: string | null }>(db, 'transaction_status', sql`select txid_status(${xid}::bigint) as status`);
      if (row?.status === 'committed' || row?.status === 'aborted') return row.status;
      if (row?.status !== 'in progress') return 'unknown';
    } catch {
      // The database is not reachable yet: ask again.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return 'unknown';
}

/**
 * Applies a batch's work in its transaction and answers each item's outcome, in the items' order.
 * Consecutive upserts share one `applyUpsertBatch`; other work runs in a savepoint, unless it is
 * alone in the transaction. An unordered batch has one item per phone, so its upserts go first,
 * together. `locked` is the statement taking the locks, already sent: nothing runs before it holds.
 */
async function applyAll(tx: Tx, batch: Batch, locked: Promise<void>): Promise<Settled[]> {
  const order = batch.items.map((_, i) => i);
  if (!batch.ordered) order.sort((a, b) => Number('run' in batch.items[a]!.work) - Number('run' in batch.items[b]!.work));
  const settled: Settled[] = new Array(batch.items.length);
  for (let start = 0; start < order.length; ) {
    const first = batch.items[order[start]!]!.work;
    if ('run' in first) {
      await locked;
      settled[order[start]!] = first.signal?.aborted
        ? { ok: false, error: new NotApplied() }
        : batch.items.length === 1
          ? { ok: true, value: await first.run(tx) }
          : await inSavepoint(tx, first.run);
      start++;
      continue;
    }
    let end = start;
    while (end < order.length && 'batched' in batch.items[order[end]!]!.work) end++;
    const segment = order.slice(start, end);
    const values = await applyUpsertBatch(
      tx,
      segment.map((i) => {
        const work = batch.items[i]!.work as { batched: UpsertJob<unknown>; signal?: AbortSignal };
        return { job: work.batched, signal: work.signal };
      }),
      locked,
    );
    segment.forEach((i, j) => (settled[i] = values[j]!.applied ? { ok: true, value: values[j]!.value } : { ok: false, error: new NotApplied() }));
    start = end;
  }
  return settled;
}

async function inSavepoint(tx: Tx, run: (tx: Tx) => Promise<unknown>): Promise<Settled> {
  try {
    return { ok: true, value: await tx.transaction((savepoint) => run(savepoint)) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Transaction-level advisory locks on every key, taken in ascending order in one statement. */
async function lockAll(tx: Tx, keys: bigint[]): Promise<void> {
  if (keys.length === 0) return;
  const distinct = [...new Set(keys)].map((key) => key.toString());
  await executePrepared(tx, 'lock_phones', sql`select pg_advisory_xact_lock(k) from (select value::bigint as k from jsonb_array_elements_text(${jsonb(distinct)}) order by 1) as ordered`);
}

/** deadlock_detected or serialization_failure. */
function isConflict(error: unknown): boolean {
  const code = sqlState(error);
  return code === '40P01' || code === '40001';
}

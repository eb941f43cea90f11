import { sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.js';
import { sqlState } from '../db/errors.js';

interface Pending {
  lockKey: bigint;
  run: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Group commit: deliveries for different phones that are waiting at the same moment are applied in
 * one transaction, each in a savepoint of its own, so one that fails is rolled back alone and every
 * caller is answered only after the commit. Nothing waits to form a batch: while `concurrency`
 * transactions are running, whatever arrives queues up and becomes the next batch, so batches grow
 * with load and a lone delivery goes straight through.
 *
 * The caller keeps one phone out of two batches at once (its per-phone lane); across processes the
 * batch takes every phone's advisory lock, in ascending key order so that two batches cannot wait
 * on each other in a cycle.
 */
export class GroupCommitter {
  private readonly waiting: Pending[] = [];
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

  submit<T>(lockKey: bigint, run: (tx: Tx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // Settled exactly once, after its batch: it stops counting as in flight just before its caller hears.
      const settle = <V>(answer: (value: V) => void) => (value: V) => {
        this.applying--;
        answer(value);
      };
      this.waiting.push({ lockKey, run, resolve: settle(resolve as (value: unknown) => void), reject: settle(reject) });
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.options.concurrency && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.options.maxBatch);
      this.stats.batches++;
      this.stats.deliveries += batch.length;
      this.stats.largest = Math.max(this.stats.largest, batch.length);
      this.running++;
      this.applying += batch.length;
      void this.commit(batch).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async commit(batch: Pending[], retried = false): Promise<void> {
    let settled: Settled[];
    try {
      settled = await this.db.transaction(async (tx) => {
        await lockAll(tx, batch.map((item) => item.lockKey));
        if (batch.length === 1) return [{ ok: true, value: await batch[0]!.run(tx) }];
        const results: Settled[] = [];
        for (const item of batch) results.push(await inSavepoint(tx, item.run));
        return results;
      });
    } catch (error) {
      if (batch.length === 1) {
        // PostgreSQL chose this transaction to break a deadlock or a serialization conflict: the
        // other side has gone on, so once more usually succeeds.
        if (!retried && isConflict(error)) return this.commit(batch, true);
        return batch[0]!.reject(error);
      }
      // The batch as a whole failed (a deadlock on a shared new label, a lost connection): each
      // delivery is tried once more on its own, where the outcome is its own. Every delivery is
      // idempotent in effect, and one with a key finds its stored answer, so a retry is safe.
      this.stats.retriedAlone += batch.length;
      await Promise.all(batch.map((item) => this.commit([item], retried)));
      return;
    }
    batch.forEach((item, i) => {
      const result = settled[i]!;
      if (result.ok) item.resolve(result.value);
      else item.reject(result.error);
    });
  }
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
  const sorted = [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const values = sql.join(
    sorted.map((key) => sql`(${key.toString()}::bigint)`),
    sql`, `,
  );
  await tx.execute(sql`select pg_advisory_xact_lock(k) from (select k from (values ${values}) as v(k) order by k) as ordered`);
}

/** deadlock_detected or serialization_failure. */
function isConflict(error: unknown): boolean {
  const code = sqlState(error);
  return code === '40P01' || code === '40001';
}

import { sql, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Logger } from 'pino';
import { rowsOf, type Db } from '../db/client.js';
import { deliveries, idempotencyKeys, tombstones } from '../db/schema.js';
import { loggable } from '../log.js';

/** The delivery log keeps 30 days; a refused payload goes sooner, at its own `payload_expires_at`. */
const DELIVERY_RETENTION_DAYS = 30;
export const DELIVERY_RETENTION_MS = DELIVERY_RETENTION_DAYS * 24 * 60 * 60 * 1000;

export interface PurgeCounts {
  idempotencyKeys: number;
  tombstones: number;
  payloads: number;
  deliveries: number;
}

/** Rows a purge statement removes at most, each batch its own transaction. */
export const PURGE_BATCH = 5000;

/**
 * Removes what has outlived its time. Readers already ignore expired keys and payloads, so a purge
 * that runs late changes nothing a caller sees. It goes in batches of PURGE_BATCH rows, each
 * committed on its own, skipping rows a delivery holds: a backlog of millions is neither one long
 * transaction holding locks that deliveries wait on, nor a result kept in memory. Time is the
 * database's (`now()`), which wrote the expiries: a process whose clock runs ahead must not remove a
 * key still live. `at` stands in for it in tests.
 */
export async function purgeExpired(db: Db, at?: Date): Promise<PurgeCounts> {
  const counts: PurgeCounts = { idempotencyKeys: 0, tombstones: 0, payloads: 0, deliveries: 0 };
  // In this order: payloads before old deliveries, so that a row both expired and too old is
  // counted in both, as it lost both.
  for (const [name, statement] of Object.entries(purgeStatements(at)) as [keyof PurgeCounts, SQL][]) counts[name] = await inBatches(db, statement);
  return counts;
}

/** Each purge's statement, over one batch of at most PURGE_BATCH rows (exported for its plans' test). */
export function purgeStatements(at?: Date): Record<keyof PurgeCounts, SQL> {
  const now = at ? sql`${at.toISOString()}::timestamptz` : sql`now()`;
  const oldest = sql`${now} - ${sql.raw(`interval '${DELIVERY_RETENTION_DAYS} days'`)}`;
  return {
    idempotencyKeys: sql`delete from ${idempotencyKeys} where ctid = any(${batchOf(idempotencyKeys, idempotencyKeys.expiresAt, sql`<= ${now}`)})`,
    tombstones: sql`delete from ${tombstones} where ctid = any(${batchOf(tombstones, tombstones.expiresAt, sql`<= ${now}`)})`,
    // `payload is not null` lets the partial index on payload_expires_at find them.
    payloads: sql`update ${deliveries} set payload = null, payload_content_type = null, payload_expires_at = null, error_message = null
      where ctid = any(${batchOf(deliveries, deliveries.payloadExpiresAt, sql`<= ${now} and ${deliveries.payload} is not null`)})`,
    deliveries: sql`delete from ${deliveries} where ctid = any(${batchOf(deliveries, deliveries.receivedAt, sql`< ${oldest}`)})`,
  };
}

/**
 * Up to PURGE_BATCH rows whose `column` meets `bound`, oldest first, skipping those a delivery
 * holds locked. The order keeps the column's index the plan whatever the statistics say: without
 * it, statistics not yet refreshed since the last purge (which still count the rows it deleted)
 * had the planner read the whole delivery log at every run, to find nothing.
 */
const batchOf = (table: PgTable, column: PgColumn, bound: SQL) =>
  sql`array(select ctid from ${table} where ${column} ${bound} order by ${column} limit ${PURGE_BATCH} for update skip locked)`;

/** Runs `statement` until a batch comes back short; answers how many rows it changed in all. */
async function inBatches(db: Db, statement: SQL): Promise<number> {
  let total = 0;
  for (;;) {
    const [row] = rowsOf<{ n: number }>(await db.execute(sql`with changed as (${statement} returning 1) select count(*)::int as n from changed`));
    const changed = row?.n ?? 0;
    total += changed;
    if (changed < PURGE_BATCH) return total;
  }
}

/**
 * Runs `purgeExpired` every `intervalMs`, one run at a time, without keeping the process alive.
 * A failure is logged and the next tick tries again. `stop()` resolves once a run in progress ends,
 * so the database can then be closed.
 */
export function startPurgeSchedule(db: Db, logger: Logger, intervalMs: number): () => Promise<void> {
  let running: Promise<void> | undefined;
  const run = async () => {
    try {
      const counts = await purgeExpired(db);
      if (Object.values(counts).some((n) => n > 0)) logger.info({ purged: counts }, 'purged expired rows');
    } catch (error) {
      logger.error({ error: loggable(error) }, 'purge failed');
    }
  };
  const timer = setInterval(() => {
    if (running) return;
    running = run().finally(() => {
      running = undefined;
    });
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

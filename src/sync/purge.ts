import { count, lt, lte, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
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

/**
 * Removes what has outlived its time. Readers already ignore expired keys and payloads, so a purge
 * that runs late changes nothing a caller sees. Each statement is counted inside the database, so
 * memory does not grow with the number of rows purged. Time is the database's (`now()`), which wrote
 * the expiries: a process whose clock runs ahead must not remove a key still live. `at` stands in for
 * it in tests.
 */
export async function purgeExpired(db: Db, at?: Date): Promise<PurgeCounts> {
  const now = at ?? sql`now()`;
  const oldest = at ? new Date(at.getTime() - DELIVERY_RETENTION_MS) : sql`now() - ${sql.raw(`interval '${DELIVERY_RETENTION_DAYS} days'`)}`;
  const keys = db.$with('keys').as(db.delete(idempotencyKeys).where(lte(idempotencyKeys.expiresAt, now)).returning({ key: idempotencyKeys.key }));
  const graves = db.$with('graves').as(db.delete(tombstones).where(lte(tombstones.expiresAt, now)).returning({ hash: tombstones.phoneHash }));
  const payloads = db.$with('payloads').as(
    db
      .update(deliveries)
      .set({ payload: null, payloadContentType: null, payloadExpiresAt: null, errorMessage: null })
      .where(lte(deliveries.payloadExpiresAt, now))
      .returning({ id: deliveries.id }),
  );
  const old = db.$with('old').as(
    db
      .delete(deliveries)
      .where(lt(deliveries.receivedAt, oldest))
      .returning({ id: deliveries.id }),
  );
  const [k] = await db.with(keys).select({ n: count() }).from(keys);
  const [t] = await db.with(graves).select({ n: count() }).from(graves);
  // Payloads first: a row both expired and too old is then counted in both, as it lost both.
  const [p] = await db.with(payloads).select({ n: count() }).from(payloads);
  const [d] = await db.with(old).select({ n: count() }).from(old);
  return { idempotencyKeys: k?.n ?? 0, tombstones: t?.n ?? 0, payloads: p?.n ?? 0, deliveries: d?.n ?? 0 };
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

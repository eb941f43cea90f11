import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database } from './db/client.js';
import { operationOfOutcome, type DeliveryOutcome } from './sync/delivery-body.js';
import type { AheadBudget } from './sync/bulk.js';
import type { GroupCommitter } from './sync/group-commit.js';
import type { PhoneQueues } from './sync/phone-queue.js';
import type { OperationName } from './webhook/operation.js';

/**
 * `replayed`: the stored answer to an earlier delivery with the same idempotency key, whatever it was.
 * `error`: answered with an error and not recorded in the log (409 in progress, 503 backlog full, 500).
 */
export type DeliveryStatusLabel = 'applied' | 'unchanged' | 'stale' | 'refused' | 'replayed' | 'error';
/** `unknown`: refused, or failed, before the operation could be read; or a replayed refusal. */
export type OperationLabel = OperationName | 'unknown';

/** From 1 ms to 5 s: a delivery is one short transaction, queueing behind its phone included. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface MetricSources {
  queues: PhoneQueues;
  committer: GroupCommitter;
  bulkBudget: AheadBudget;
  database: Pick<Database, 'kind' | 'concurrency'>;
}

/**
 * One registry per app, so that several apps in one process (tests, siblings) never share or clash.
 * Gauges are read from their sources when scraped; counters and the histogram are fed by `observe`.
 */
export function createMetrics({ queues, committer, bulkBudget, database }: MetricSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const deliveries = new Counter({
    name: 'contact_sync_deliveries_total',
    help: 'Deliveries answered, by operation and status. status: applied|unchanged|stale (200), refused (400/422), replayed (stored answer to a repeated Idempotency-Key), error (409/503/500, not logged; unknown operation when it came before the payload was read).',
    labelNames: ['operation', 'status'] as const,
    registers,
  });
  const deliveryDuration = new Histogram({
    name: 'contact_sync_delivery_duration_seconds',
    help: 'Time from accepting a webhook delivery (or replay) to its answer: idempotency check, per-phone queue, transaction and commit. Bulk lines are counted in contact_sync_deliveries_total, not timed here.',
    labelNames: ['operation'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  // The gauges register themselves and read their value on each scrape.
  new Gauge({
    name: 'contact_sync_queue_depth',
    help: 'Deliveries accepted into the per-phone queues and not yet answered; at MAX_BACKLOG new ones get 503.',
    registers,
    collect() {
      this.set(queues.depth);
    },
  });
  new Gauge({
    name: 'contact_sync_queue_lanes',
    help: 'Per-phone lanes open (phones with a delivery queued or running); idle lanes are released.',
    registers,
    collect() {
      this.set(queues.lanesOpen);
    },
  });
  new Gauge({
    name: 'contact_sync_in_flight',
    help: 'Deliveries inside a running transaction now (several share one transaction under group commit).',
    registers,
    collect() {
      this.set(committer.inFlight);
    },
  });
  // What the pool is doing: postgres.js exposes no live counts, but the committer's transactions
  // (MAX_TRANSACTIONS of them at most) hold its connections, and its waiting batches show saturation.
  new Gauge({
    name: 'contact_sync_db_transactions',
    help: 'Delivery transactions running now (state="running", at most MAX_TRANSACTIONS) and batches waiting for one (state="waiting").',
    labelNames: ['state'] as const,
    registers,
    collect() {
      this.set({ state: 'running' }, committer.transactionsRunning);
      this.set({ state: 'waiting' }, committer.batchesWaiting);
    },
  });
  new Gauge({
    name: 'contact_sync_bulk_ahead_lines',
    help: 'Bulk lines read and not yet answered, across every bulk request; at the limit (16,000 lines, or 64 Mi characters), each reads one line at a time.',
    registers,
    collect() {
      this.set(bulkBudget.inUse.lines);
    },
  });
  new Gauge({
    name: 'contact_sync_db_pool_size',
    help: 'Configured maximum database connections (DB_POOL_SIZE; 1 for PGlite). postgres.js exposes no live pool counts.',
    labelNames: ['driver'] as const,
    registers,
    collect() {
      this.set({ driver: database.kind }, database.concurrency);
    },
  });

  /**
   * Counts and times one delivery once, when it is answered or fails (`timed: false`: counts
   * only). `run` names the operation as soon as it has read it, so that a delivery that then fails
   * (503, 500) counts under it.
   */
  async function observe(run: (named: (operation: OperationName) => void) => Promise<DeliveryOutcome>, { timed } = { timed: true }): Promise<DeliveryOutcome> {
    const stopTimer = deliveryDuration.startTimer();
    let labels: { operation: OperationLabel; status: DeliveryStatusLabel } = { operation: 'unknown', status: 'error' };
    try {
      const outcome = await run((operation) => (labels = { operation, status: 'error' }));
      labels = labelsOf(outcome);
      return outcome;
    } finally {
      deliveries.inc(labels);
      if (timed) stopTimer({ operation: labels.operation });
    }
  }

  return { registry, deliveries, observe };
}

export type Metrics = ReturnType<typeof createMetrics>;

function labelsOf(outcome: DeliveryOutcome): { operation: OperationLabel; status: DeliveryStatusLabel } {
  const { body, replayed } = outcome;
  const name = operationOfOutcome(outcome) ?? 'unknown';
  if (replayed) return { operation: name, status: 'replayed' };
  return { operation: name, status: 'code' in body ? 'refused' : body.status };
}

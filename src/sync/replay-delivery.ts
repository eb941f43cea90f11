import type { Db } from '../db/client.js';
import { findDelivery, keptPayload } from '../db/queries/deliveries.js';
import { storedRaw } from '../webhook/read-payload.js';
import type { Deliverer } from './deliver.js';
import type { Account } from './delivery-context.js';
import type { DeliveryOutcome } from './delivery-body.js';

export type ReplayResult =
  | { kind: 'delivered'; outcome: DeliveryOutcome }
  | { kind: 'not_found' }
  /** Not refused (nothing was kept), or kept too long ago. */
  | { kind: 'payload_gone' };

/**
 * Applies a kept payload again as a new delivery. Without an idempotency key: the original's key
 * holds the original's answer, which would only be given back.
 */
export async function replayDelivery(db: Db, deliverer: Deliverer, account: Account, id: string, signal?: AbortSignal): Promise<ReplayResult> {
  const row = await findDelivery(db, account.id, id);
  if (!row) return { kind: 'not_found' };
  const payload = keptPayload(row);
  if (!payload) return { kind: 'payload_gone' };
  const outcome = await deliverer.deliver({ account, raw: storedRaw(payload.text, payload.contentType), idempotencyKey: undefined, signal, replayOf: row.id });
  return { kind: 'delivered', outcome };
}

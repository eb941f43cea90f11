import type { Db } from '../client.js';
import { deliveries } from '../schema.js';

/** Refused payloads are kept this long so that they can be fixed at the source and replayed. */
export const REFUSED_PAYLOAD_TTL_MS = 7 * 24 * 60 * 60 * 1000;

export type DeliveryStatus = 'applied' | 'unchanged' | 'stale' | 'refused';

export interface DeliveryRecord {
  id: string;
  accountId: string;
  operation: string | null;
  phoneMasked: string | null;
  status: DeliveryStatus;
  errorCode: string | null;
  durationMs: number;
  idempotencyKey: string | null;
  /** Only for refused deliveries. */
  payload?: { text: string; contentType: string };
}

export async function recordDelivery(db: Db, record: DeliveryRecord): Promise<void> {
  const { payload, ...row } = record;
  await db.insert(deliveries).values({
    ...row,
    payload: payload?.text ?? null,
    payloadContentType: payload?.contentType ?? null,
    payloadExpiresAt: payload ? new Date(Date.now() + REFUSED_PAYLOAD_TTL_MS) : null,
  });
}

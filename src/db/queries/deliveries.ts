import { and, asc, desc, eq, getTableColumns, sql, type SQL } from 'drizzle-orm';
import { executePrepared, jsonb as json, type Db } from '../client.js';
import { deliveries, RARE_DELIVERY_STATUSES, rareStatusCondition, type DeliveryStatus } from '../schema.js';

export { DELIVERY_STATUSES, isDeliveryStatus, type DeliveryStatus } from '../schema.js';

/**
 * Refused payloads are kept this long so that they can be fixed at the source and replayed. Their
 * expiry is set and checked by this process's clock, and purged by the database's: a skew between
 * the two only moves the end of a week by as much, where an idempotency key's must not (idempotency.ts).
 */
export const REFUSED_PAYLOAD_DAYS = 7;
const REFUSED_PAYLOAD_TTL_MS = REFUSED_PAYLOAD_DAYS * 24 * 60 * 60 * 1000;

export interface DeliveryRecord {
  id: string;
  accountId: string;
  operation: string | null;
  phoneMasked: string | null;
  status: DeliveryStatus;
  errorCode: string | null;
  /** A refusal's message; kept while its payload is. */
  errorMessage: string | null;
  durationMs: number;
  idempotencyKey: string | null;
  /** Only for refused deliveries. */
  payload?: { text: string; contentType: string };
  /** A replay's: the refused delivery it applied again. */
  replayOf: string | null;
}

export function recordDelivery(db: Db, record: DeliveryRecord): Promise<void> {
  return recordDeliveries(db, [record]);
}

/**
 * Several deliveries' rows in the log, in one statement, sent before anything is awaited (see
 * contact-batch.ts). A row already there under the same id is kept rather than failing the batch:
 * a delivery is only tried again once its first transaction is known not to have committed (see
 * group-commit.ts), so this is a guard, not a path taken.
 */
export async function recordDeliveries(db: Db, records: DeliveryRecord[]): Promise<void> {
  if (records.length === 0) return;
  const expires = new Date(Date.now() + REFUSED_PAYLOAD_TTL_MS).toISOString();
  const rows = records.map((r) => ({
    id: r.id,
    account_id: r.accountId,
    operation: r.operation,
    phone_masked: r.phoneMasked,
    status: r.status,
    error_code: r.errorCode,
    error_message: r.errorMessage,
    duration_ms: r.durationMs,
    idempotency_key: r.idempotencyKey,
    payload: r.payload?.text ?? null,
    payload_content_type: r.payload?.contentType ?? null,
    payload_expires_at: r.payload ? expires : null,
    replay_of: r.replayOf,
  }));
  await executePrepared(db, 'record_deliveries', sql`
    insert into deliveries (id, account_id, operation, phone_masked, status, error_code, error_message, duration_ms, idempotency_key, payload, payload_content_type, payload_expires_at, replay_of)
    select id, account_id, operation, phone_masked, status, error_code, error_message, duration_ms, idempotency_key, payload, payload_content_type, payload_expires_at, replay_of
    from jsonb_to_recordset(${json(rows)}) as d(id text, account_id text, operation text, phone_masked text, status text, error_code text, error_message text,
      duration_ms integer, idempotency_key text, payload text, payload_content_type text, payload_expires_at timestamptz, replay_of text)
    on conflict (id) do nothing`);
}

/** A refused delivery's latest replay: so that the log shows it was handled, and how. */
export interface LatestReplay {
  id: string;
  status: DeliveryStatus;
}

/**
 * The row's latest replay, through deliveries_replay_of_idx; null for a row never replayed. Written
 * out: drizzle leaves a column of a one-table query unqualified, and `id` in here would be `r.id`.
 */
const latestReplay = sql<LatestReplay | null>`(
  select json_build_object('id', r.id, 'status', r.status) from deliveries r
  where r.replay_of = deliveries.id and r.account_id = deliveries.account_id
  order by r.received_at desc, r.id desc limit 1)`;

export type DeliveryRow = typeof deliveries.$inferSelect & { replayedAs: LatestReplay | null };

/** A row of the log without its payload text, which may be large. */
export type DeliverySummary = Omit<DeliveryRow, 'payload' | 'payloadContentType' | 'accountId'> & {
  hasPayload: boolean;
  /** `received_at` to the microsecond, as the database holds it: a millisecond `Date` would skip rows in a page cursor. */
  receivedAtExact: string;
};

/** Where a page starts: after this row, in newest-first order. */
export interface DeliveryPosition {
  receivedAt: string;
  id: string;
}

export interface DeliveryListQuery {
  status?: DeliveryStatus;
  limit: number;
  after?: DeliveryPosition;
}

const summaryColumns = {
  id: deliveries.id,
  receivedAt: deliveries.receivedAt,
  receivedAtExact: receivedAtExact(),
  operation: deliveries.operation,
  phoneMasked: deliveries.phoneMasked,
  status: deliveries.status,
  errorCode: deliveries.errorCode,
  errorMessage: deliveries.errorMessage,
  durationMs: deliveries.durationMs,
  idempotencyKey: deliveries.idempotencyKey,
  payloadExpiresAt: deliveries.payloadExpiresAt,
  hasPayload: sql<boolean>`(${deliveries.payload} is not null)`,
  replayOf: deliveries.replayOf,
  replayedAs: latestReplay,
};

/** One page of the account's log, newest first, and whether there are more after it. */
export async function listDeliveries(db: Db, accountId: string, query: DeliveryListQuery): Promise<{ items: DeliverySummary[]; more: boolean }> {
  const conditions = listConditions(accountId, query.status);
  if (query.after) conditions.push(sql`(${deliveries.receivedAt}, ${deliveries.id}) < (${query.after.receivedAt}::timestamptz, ${query.after.id})`);
  // One row more than asked tells whether another page exists without counting.
  const rows = await db
    .select(summaryColumns)
    .from(deliveries)
    .where(and(...conditions))
    .orderBy(desc(deliveries.receivedAt), desc(deliveries.id))
    .limit(query.limit + 1);
  return { items: rows.slice(0, query.limit), more: rows.length > query.limit };
}

/**
 * Where the page before one that starts at `first` begins: `{ after }` for its cursor, `{}` when it
 * is the first page, or undefined when nothing is listed before it.
 */
export async function previousDeliveriesPage(db: Db, accountId: string, query: Omit<DeliveryListQuery, 'after'>, first: DeliveryPosition): Promise<{ after?: DeliveryPosition } | undefined> {
  // The positions just above the page, oldest first: one more than a page means a page of them and more beyond.
  const above = await db
    .select({ receivedAt: receivedAtExact(), id: deliveries.id })
    .from(deliveries)
    .where(and(...listConditions(accountId, query.status), sql`(${deliveries.receivedAt}, ${deliveries.id}) > (${first.receivedAt}::timestamptz, ${first.id})`))
    .orderBy(asc(deliveries.receivedAt), asc(deliveries.id))
    .limit(query.limit + 1);
  if (above.length === 0) return undefined;
  return above.length > query.limit ? { after: above[query.limit]! } : {};
}

/**
 * Which rows a list holds, whatever its page; its pages then go by a row comparison on
 * (received_at, id), which keeps (account_id, received_at, id) usable as the index it is.
 */
function listConditions(accountId: string, status: DeliveryStatus | undefined): SQL[] {
  const conditions: SQL[] = [eq(deliveries.accountId, accountId)];
  if (status) conditions.push(eq(deliveries.status, status));
  // Stated, deliveries_account_rare_status_idx's condition lets a plan kept for any status value use it.
  if (status && RARE_DELIVERY_STATUSES.includes(status)) conditions.push(rareStatusCondition(deliveries.status));
  return conditions;
}

/** `received_at` to the microsecond, as the database holds it: a millisecond `Date` would skip rows in a page cursor. */
function receivedAtExact() {
  return sql<string>`to_char(${deliveries.receivedAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

export async function findDelivery(db: Db, accountId: string, id: string): Promise<DeliveryRow | undefined> {
  const [row] = await db
    .select({ ...getTableColumns(deliveries), replayedAs: latestReplay })
    .from(deliveries)
    .where(and(eq(deliveries.accountId, accountId), eq(deliveries.id, id)))
    .limit(1);
  return row;
}

/**
 * Whether what a refused delivery keeps (its payload and error message) is still there: it counts as
 * gone at its expiry, even before the purge clears it.
 */
const unexpired = (expiresAt: Date | null, now: Date): expiresAt is Date => expiresAt !== null && expiresAt > now;

/** Whether a listed delivery's payload is still kept, so that it can be replayed. */
export const payloadKept = (row: Pick<DeliverySummary, 'hasPayload' | 'payloadExpiresAt'>, now = new Date()) => row.hasPayload && unexpired(row.payloadExpiresAt, now);

/** A refused delivery's error message, while its payload is kept. */
export function keptError(row: Pick<DeliveryRow, 'errorMessage' | 'payloadExpiresAt'>, now = new Date()): string | null {
  return unexpired(row.payloadExpiresAt, now) ? row.errorMessage : null;
}

/** The payload of a refused delivery, while it is kept; purging may not have run yet, so expiry is checked here too. */
export function keptPayload(
  row: Pick<DeliveryRow, 'payload' | 'payloadContentType' | 'payloadExpiresAt'>,
  now = new Date(),
): { text: string; contentType: string; expiresAt: Date } | undefined {
  const { payload, payloadContentType, payloadExpiresAt } = row;
  if (payload === null || payloadContentType === null || !unexpired(payloadExpiresAt, now)) return undefined;
  return { text: payload, contentType: payloadContentType, expiresAt: payloadExpiresAt };
}

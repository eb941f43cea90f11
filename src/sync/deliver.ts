import type { Db, Tx } from '../db/client.js';
import { recordDelivery, type DeliveryStatus } from '../db/queries/deliveries.js';
import { newId } from '../ids.js';
import { operationName, toOperation, type Operation, type OperationName } from '../webhook/operation.js';
import { maskPhone } from '../webhook/phone.js';
import { readPayload, storedPayload, type RawDelivery } from '../webhook/read-payload.js';
import { deleteContact, type DeleteResult } from './delete-contact.js';
import { Refusal, type RefusalCode, type RefusalIssue } from './errors.js';
import { findStoredResponse, fingerprintOf, storeResponse, type StoredResponse } from './idempotency.js';
import type { GroupCommitter } from './group-commit.js';
import { KnownLabels } from './known-labels.js';
import type { LabelRow } from '../db/queries/labels.js';
import { lockKey } from './phone-key.js';
import type { PhoneQueues } from './phone-queue.js';
import { upsertContact, type UpsertResult } from './upsert-contact.js';

export interface Account {
  id: string;
  name: string;
  defaultRegion: string | null;
}

export interface DeliveryInput {
  account: Account;
  raw: RawDelivery;
  idempotencyKey?: string;
}

export type SuccessBody = {
  status: 'applied' | 'unchanged' | 'stale';
  operation: OperationName;
  delivery_id: string;
  warnings: string[];
} & (
  | { contact: UpsertResult['contact']; assigned_conversations: number }
  | { deleted: DeleteResult['deleted']; contact: boolean }
);

export interface RefusalBody {
  error: string;
  code: RefusalCode;
  issues?: RefusalIssue[];
  delivery_id: string;
}

export type DeliveryBody = SuccessBody | RefusalBody;

export interface DeliveryOutcome {
  body: DeliveryBody;
  /** The stored answer to an earlier delivery with the same idempotency key. */
  replayed: boolean;
  /** A refusal's operation, when the payload was read that far (a refusal body does not carry it). */
  operation?: OperationName;
}

/** Watches every delivery from arrival to answer, refusals and errors included (metrics). */
export interface DeliveryObserver {
  observe(run: () => Promise<DeliveryOutcome>): Promise<DeliveryOutcome>;
}

/** The same idempotency key is being processed right now in this process. */
export class IdempotencyInProgress extends Error {}

/** Another process stored an answer for the key first; this transaction must not commit. */
class StoredFirst extends Error {}

interface Context {
  id: string;
  started: number;
  account: Account;
  raw: RawDelivery;
  key: string | undefined;
  fingerprint: string;
}


/**
 * Applies one webhook delivery exactly once: deduplicated by idempotency key, one phone at a time
 * (in-process lane, then a transaction-level advisory lock), recorded and answered only after commit.
 */
export class Deliverer {
  private readonly keysInFlight = new Set<string>();
  private readonly labels: KnownLabels;

  constructor(
    private readonly db: Db,
    private readonly queues: PhoneQueues,
    private readonly committer: GroupCommitter,
    private readonly options: { metrics?: DeliveryObserver } = {},
  ) {
    this.labels = new KnownLabels(db);
  }

  /** Whether a delivery would be accepted now rather than refused for a full backlog. */
  get hasRoom(): boolean {
    return this.queues.hasRoom;
  }

  deliver(input: DeliveryInput): Promise<DeliveryOutcome> {
    return this.options.metrics ? this.options.metrics.observe(() => this.deliverKeyed(input)) : this.deliverKeyed(input);
  }

  private async deliverKeyed({ account, raw, idempotencyKey: key }: DeliveryInput): Promise<DeliveryOutcome> {
    const ctx: Context = { id: newId('dlv'), started: performance.now(), account, raw, key, fingerprint: fingerprintOf(raw.kind, storedPayload(raw).text) };
    if (key === undefined) return this.deliverOnce(ctx);
    const flight = `${account.id}\u0000${key}`;
    if (this.keysInFlight.has(flight)) throw new IdempotencyInProgress();
    this.keysInFlight.add(flight);
    try {
      return await this.deliverOnce(ctx);
    } finally {
      this.keysInFlight.delete(flight);
    }
  }

  private async deliverOnce(ctx: Context): Promise<DeliveryOutcome> {
    if (ctx.key !== undefined) {
      const stored = await findStoredResponse(this.db, ctx.account.id, ctx.key);
      if (stored) return this.replay(ctx, stored);
    }
    let parsed: { operation: Operation; warnings: string[] };
    try {
      parsed = toOperation(readPayload(ctx.raw), ctx.account.defaultRegion);
    } catch (error) {
      if (error instanceof Refusal) return this.refuse(ctx, error);
      throw error;
    }
    const { operation, warnings } = parsed;
    try {
      // Inside the lane, so that deliveries for one phone keep their order whatever each awaits.
      return await this.queues.run(`${ctx.account.id}\u0000${operation.phone}`, async () => {
        const added = operation.kind === 'upsert' ? await this.labels.ensure(ctx.account.id, operation.labels) : new Map();
        return this.committer.submit(lockKey(ctx.account.id, operation.phone), (tx) => this.apply(tx, ctx, operation, warnings, added));
      });
    } catch (error) {
      if (error instanceof Refusal) return this.refuse(ctx, error, operation);
      if (error instanceof StoredFirst) return this.replay(ctx, (await findStoredResponse(this.db, ctx.account.id, ctx.key!))!);
      throw error;
    }
  }

  /** Runs inside the group committer's transaction, which already holds the phone's advisory lock. */
  private async apply(tx: Tx, ctx: Context, operation: Operation, warnings: string[], added: Map<string, LabelRow>): Promise<DeliveryOutcome> {
    if (ctx.key !== undefined) {
      // Checked again under the lock: another process may have applied the same delivery meanwhile.
      const stored = await findStoredResponse(tx, ctx.account.id, ctx.key);
      if (stored) throw new StoredFirst();
    }
    const name = operationName(operation);
    const base = { operation: name, delivery_id: ctx.id };
    let body: SuccessBody;
    if (operation.kind === 'delete') {
      const result = await deleteContact(tx, ctx.account.id, operation);
      body = { status: result.status, ...base, contact: result.deleted.contact, deleted: result.deleted, warnings };
    } else {
      const result = await upsertContact(tx, ctx.account.id, operation, added);
      body = { status: result.status, ...base, contact: result.contact, assigned_conversations: result.assignedConversations, warnings };
    }
    await this.record(tx, ctx, body.status, name, operation.phone);
    if (ctx.key !== undefined && !(await storeResponse(tx, ctx.account.id, ctx.key, ctx.fingerprint, body))) throw new StoredFirst();
    return { body, replayed: false };
  }

  private replay(ctx: Context, stored: StoredResponse): Promise<DeliveryOutcome> | DeliveryOutcome {
    if (stored.fingerprint === ctx.fingerprint) return { body: stored.body as DeliveryBody, replayed: true };
    const reused = new Refusal('idempotency_key_reused', 'this Idempotency-Key was already used with a different body', [
      { path: 'Idempotency-Key', message: 'send a new key for a new delivery' },
    ]);
    // Not stored under the key: the key's answer is the first delivery's.
    return this.refuse(ctx, reused);
  }

  /** Records a refused delivery with its payload and, with a key, keeps the answer as final. */
  private async refuse(ctx: Context, refusal: Refusal, operation?: Operation): Promise<DeliveryOutcome> {
    const code = refusal.code;
    const body: RefusalBody = { error: refusal.message, code, ...(refusal.issues ? { issues: refusal.issues } : {}), delivery_id: ctx.id };
    await this.db.transaction(async (tx) => {
      await this.record(tx, ctx, 'refused', operation ? operationName(operation) : null, operation?.phone ?? null, code);
      if (ctx.key !== undefined && code !== 'idempotency_key_reused') await storeResponse(tx, ctx.account.id, ctx.key, ctx.fingerprint, body);
    });
    return { body, replayed: false, ...(operation ? { operation: operationName(operation) } : {}) };
  }

  private record(tx: Tx, ctx: Context, status: DeliveryStatus, operation: string | null, phone: string | null, errorCode?: string) {
    return recordDelivery(tx, {
      id: ctx.id,
      accountId: ctx.account.id,
      operation,
      phoneMasked: phone ? maskPhone(phone) : null,
      status,
      errorCode: errorCode ?? null,
      durationMs: Math.round(performance.now() - ctx.started),
      idempotencyKey: ctx.key ?? null,
      ...(status === 'refused' ? { payload: storedPayload(ctx.raw) } : {}),
    });
  }
}

import type { Db, Tx } from '../db/client.js';
import { recordDelivery, type DeliveryRecord, type DeliveryStatus } from '../db/queries/deliveries.js';
import { operationName, type Operation, type OperationName, type UpsertOperation } from '../webhook/operation.js';
import { maskPhone } from '../webhook/phone.js';
import { storedPayload, type RawDelivery } from '../webhook/read-payload.js';
import { deleteContact } from './delete-contact.js';
import { refusalBody, type AnswerBody, type DeliveryOutcome, type SuccessBody } from './delivery-body.js';
import { IdempotencyInProgress, NotApplied } from './errors.js';
import { Refusal } from '../webhook/refusal.js';
import { newContext, parse, subject, type Account, type DeliveryContext, type DeliveryInput } from './delivery-context.js';
import { findStoredResponse, storeResponse, type StoredResponse } from './idempotency.js';
import type { GroupCommitter, Work } from './group-commit.js';
import { KnownLabels } from './known-labels.js';
import type { LabelRow } from '../db/queries/labels.js';
import { lockKey } from './phone-key.js';
import { laneKey, type PhoneQueues } from './phone-queue.js';
import { isBatchable, type UpsertJob } from './upsert-batch.js';
import { upsertContact } from './upsert-contact.js';

/** Watches every delivery from arrival to answer, refusals and errors included (metrics). */
export interface DeliveryObserver {
  observe(run: (named: (operation: OperationName) => void) => Promise<DeliveryOutcome>, options?: { timed: boolean }): Promise<DeliveryOutcome>;
}

/** A refusal's message as the log keeps it: enough for any of ours, which name a field and why. */
const MAX_ERROR_MESSAGE_LENGTH = 1000;

/** Another process stored an answer for the key first; this transaction must not commit. */
class StoredFirst extends Error {}

/** Deliveries read by `prepareGroup`, not yet applied. */
export interface PreparedGroup {
  account: Account;
  contexts: DeliveryContext[];
  parsed: ({ operation: Operation; warnings: string[] } | Refusal)[];
  /** Each delivery's phone lock, by position (none for a refusal). */
  keys: (bigint | undefined)[];
  lockKeys: Set<bigint>;
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
    private readonly metrics: DeliveryObserver,
  ) {
    this.labels = new KnownLabels(db);
  }

  deliver(input: DeliveryInput): Promise<DeliveryOutcome> {
    return this.metrics.observe((named) => this.deliverKeyed(input, named));
  }

  private async deliverKeyed(input: DeliveryInput, named: (operation: OperationName) => void): Promise<DeliveryOutcome> {
    const ctx = newContext(input);
    if (ctx.key === undefined) return this.deliverOnce(ctx, named);
    const flight = `${ctx.account.id}\u0000${ctx.key}`;
    if (this.keysInFlight.has(flight)) throw new IdempotencyInProgress();
    this.keysInFlight.add(flight);
    try {
      return await this.deliverOnce(ctx, named);
    } finally {
      this.keysInFlight.delete(flight);
    }
  }

  private async deliverOnce(ctx: DeliveryContext, named: (operation: OperationName) => void): Promise<DeliveryOutcome> {
    const parsed = parse(ctx);
    if (parsed instanceof Refusal) {
      const stored = ctx.key === undefined ? undefined : await findStoredResponse(this.db, ctx.account.id, ctx.key);
      return stored ? this.replay(ctx, stored, parsed) : this.refuse(ctx, parsed);
    }
    const { operation, warnings } = parsed;
    named(operationName(operation));
    try {
      // Inside the lane, so that deliveries for one phone keep their order whatever each awaits:
      // the key's stored answer too is looked up in turn, not before a later delivery's turn.
      return await this.queues.run(laneKey(ctx.account.id, operation.phone), async () => {
        // Its sender was answered 503 while it waited for its turn, and may have sent it again
        // since, and more after it: applied now, it would come after those.
        if (ctx.signal?.aborted) throw new NotApplied();
        if (ctx.key !== undefined) {
          const stored = await findStoredResponse(this.db, ctx.account.id, ctx.key);
          if (stored) return this.replay(ctx, stored, operation);
        }
        const added = operation.kind === 'upsert' ? await this.labels.ensure(ctx.account.id, operation.labels) : new Map<string, LabelRow>();
        return this.committer.submit(lockKey(ctx.account.id, operation.phone), this.work(ctx, operation, warnings, added));
      });
    } catch (error) {
      return this.settleFailure(ctx, error, operation);
    }
  }

  /**
   * Reads several deliveries of one account, to be applied together by `commitGroup`; `lockKeys`
   * are the phones they touch, so that the caller can tell which groups may run side by side.
   */
  prepareGroup(account: Account, raws: RawDelivery[]): PreparedGroup {
    const contexts = raws.map((raw) => newContext({ account, raw }));
    const parsed = contexts.map(parse);
    const keys = parsed.map((p) => (p instanceof Refusal ? undefined : lockKey(account.id, p.operation.phone)));
    const lockKeys = new Set(keys.filter((key) => key !== undefined));
    return { account, contexts, parsed, keys, lockKeys };
  }

  /**
   * Applies a prepared group in one transaction of its own, in the group's order, so that
   * deliveries for one phone apply in that order (a bulk request's lines). Their labels are created
   * at once; the transaction starts once `after` has settled (the groups before it that share a
   * phone). Answers each delivery as `deliver` would, in order.
   */
  commitGroup(group: PreparedGroup, after?: Promise<unknown>): Promise<DeliveryOutcome>[] {
    const { account, contexts, parsed, keys } = group;
    const committed = (async () => {
      const names = parsed.flatMap((p) => (p instanceof Refusal || p.operation.kind !== 'upsert' ? [] : (p.operation.labels ?? [])));
      const added = await this.labels.ensure(account.id, names);
      await Promise.allSettled([after]);
      return this.committer.submitGroup(
        parsed.map((p, i) =>
          p instanceof Refusal
            ? { lockKey: undefined, work: { batched: this.job(contexts[i]!, p, [], added) } }
            : { lockKey: keys[i], work: this.work(contexts[i]!, p.operation, p.warnings, added) },
        ),
      );
    })();
    return contexts.map((ctx, i) => {
      const p = parsed[i]!;
      const outcome = committed
        .then((answers) => answers[i]!)
        .catch((error: unknown) => this.settleFailure(ctx, error, p instanceof Refusal ? undefined : p.operation));
      // Counted, not timed: a bulk line waits for its group of up to 1,000, which would bury the
      // webhook's latency in the histogram. The bulk request's log line gives its duration.
      return this.metrics.observe(
        (named) => {
          if (!(p instanceof Refusal)) named(operationName(p.operation));
          return outcome;
        },
        { timed: false },
      );
    });
  }

  /** What the delivery does in its batch: a plain upsert joins the batch's multi-row statements. */
  private work(ctx: DeliveryContext, operation: Operation, warnings: string[], added: Map<string, LabelRow>): Work<DeliveryOutcome> {
    if (operation.kind === 'upsert' && isBatchable(operation, ctx.key)) return { batched: this.job(ctx, operation, warnings, added), signal: ctx.signal };
    return { run: (tx) => this.apply(tx, ctx, operation, warnings, added), signal: ctx.signal };
  }

  private job(ctx: DeliveryContext, operation: UpsertOperation | Refusal, warnings: string[], added: Map<string, LabelRow>): UpsertJob<DeliveryOutcome> {
    const upsert = operation instanceof Refusal ? undefined : operation;
    return {
      accountId: ctx.account.id,
      operation,
      added,
      conclude: (result) => {
        if (result instanceof Refusal) {
          result.warnings ??= warnings;
          const about = subject(upsert, result);
          return {
            record: this.recordOf(ctx, 'refused', about.operation, about.phone, result),
            value: { body: refusalBody(ctx.id, result), replayed: false, ...(about.operation ? { operation: about.operation } : {}) },
          };
        }
        const body: SuccessBody = { status: result.status, operation: 'upsert', delivery_id: ctx.id, contact: result.contact, assigned_conversations: 0, warnings };
        return { record: this.recordOf(ctx, result.status, 'upsert', upsert?.phone ?? null), value: { body, replayed: false } };
      },
    };
  }

  /** A delivery whose transaction threw: a refusal is recorded as such; the key's stored answer is given where another process stored it first. */
  private async settleFailure(ctx: DeliveryContext, error: unknown, operation?: Operation): Promise<DeliveryOutcome> {
    if (error instanceof Refusal) return this.refuse(ctx, error, operation);
    if (error instanceof StoredFirst) return this.answerStoredFirst(ctx, operation);
    throw error;
  }

  /** Another process stored an answer under the key first: that answer is the key's. */
  private async answerStoredFirst(ctx: DeliveryContext, about: Operation | Refusal | undefined): Promise<DeliveryOutcome> {
    const stored = await findStoredResponse(this.db, ctx.account.id, ctx.key!);
    // Expired between the two looks (at the end of its 72 hours): the sender's retry applies it anew.
    if (!stored) throw new IdempotencyInProgress();
    return this.replay(ctx, stored, about);
  }

  /** Runs inside the group committer's transaction, which already holds the phone's advisory lock. */
  private async apply(tx: Tx, ctx: DeliveryContext, operation: Operation, warnings: string[], added: Map<string, LabelRow>): Promise<DeliveryOutcome> {
    if (ctx.key !== undefined) {
      // Checked again under the lock: another process may have applied the same delivery meanwhile.
      const stored = await findStoredResponse(tx, ctx.account.id, ctx.key);
      if (stored) throw new StoredFirst();
    }
    const name = operationName(operation);
    const base = { operation: name, delivery_id: ctx.id };
    let body: SuccessBody;
    try {
      if (operation.kind === 'delete') {
        const result = await deleteContact(tx, ctx.account.id, operation);
        body = { status: result.status, ...base, contact: result.found, deleted: result.deleted, warnings };
      } else {
        const result = await upsertContact(tx, ctx.account.id, operation, added);
        body = { status: result.status, ...base, contact: result.contact, assigned_conversations: result.assignedConversations, warnings };
      }
    } catch (error) {
      // Refused as applied (unknown_assignee, external_id_taken, limit_exceeded): told with what reading it noticed.
      if (error instanceof Refusal) error.warnings ??= warnings;
      throw error;
    }
    await this.record(tx, ctx, body.status, name, operation.phone);
    if (ctx.key !== undefined && !(await storeResponse(tx, ctx.account.id, ctx.key, ctx.fingerprint, body))) throw new StoredFirst();
    return { body, replayed: false };
  }

  /**
   * The key's stored answer, when this is the same delivery again; else a refusal, logged with what
   * this delivery was about: its operation, or the refusal met while reading it.
   */
  private replay(ctx: DeliveryContext, stored: StoredResponse, about: Operation | Refusal | undefined): Promise<DeliveryOutcome> | DeliveryOutcome {
    if (stored.fingerprint === ctx.fingerprint) return { body: stored.body as AnswerBody, replayed: true };
    const reused = new Refusal('idempotency_key_reused', `this ${ctx.keyHeader} was already used with a different body`, [
      { path: ctx.keyHeader, message: 'send a new key for a new delivery' },
    ]);
    if (about instanceof Refusal) reused.subject = about.subject;
    // Not stored under the key: the key's answer is the first delivery's.
    return this.refuse(ctx, reused, about instanceof Refusal ? undefined : about);
  }

  /** Records a refused delivery with its payload and, with a key, keeps the answer as final. */
  private async refuse(ctx: DeliveryContext, refusal: Refusal, operation?: Operation): Promise<DeliveryOutcome> {
    const code = refusal.code;
    const body = refusalBody(ctx.id, refusal);
    const about = subject(operation, refusal);
    try {
      await this.db.transaction(async (tx) => {
        await this.record(tx, ctx, 'refused', about.operation, about.phone, refusal);
        if (ctx.key !== undefined && code !== 'idempotency_key_reused' && !(await storeResponse(tx, ctx.account.id, ctx.key, ctx.fingerprint, body))) {
          throw new StoredFirst();
        }
      });
    } catch (error) {
      // The same key reached another process at the same moment and was refused there first.
      if (error instanceof StoredFirst) return this.answerStoredFirst(ctx, operation ?? refusal);
      throw error;
    }
    return { body, replayed: false, ...(about.operation ? { operation: about.operation } : {}) };
  }

  private record(tx: Tx, ctx: DeliveryContext, status: DeliveryStatus, operation: string | null, phone: string | null, refusal?: Refusal) {
    return recordDelivery(tx, this.recordOf(ctx, status, operation, phone, refusal));
  }

  private recordOf(ctx: DeliveryContext, status: DeliveryStatus, operation: string | null, phone: string | null, refusal?: Refusal): DeliveryRecord {
    return {
      id: ctx.id,
      accountId: ctx.account.id,
      operation,
      phoneMasked: phone ? maskPhone(phone) : null,
      status,
      errorCode: refusal?.code ?? null,
      errorMessage: refusal ? refusal.message.slice(0, MAX_ERROR_MESSAGE_LENGTH) : null,
      durationMs: Math.round(performance.now() - ctx.started),
      idempotencyKey: ctx.key ?? null,
      ...(status === 'refused' ? { payload: storedPayload(ctx.raw) } : {}),
      replayOf: ctx.replayOf ?? null,
    };
  }
}

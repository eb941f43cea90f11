import type { Tx } from '../db/client.js';
import {
  contactKey,
  labelsChange,
  loadContacts,
  writeContactLabelsBatch,
  writeContacts,
  type ContactKey,
  type ContactLabelsWrite,
  type ContactWrite,
  type StoredContact,
} from '../db/queries/contact-batch.js';
import { recordDeliveries, type DeliveryRecord } from '../db/queries/deliveries.js';
import { labelRowsFor, type LabelRow } from '../db/queries/labels.js';
import type { UpsertOperation } from '../webhook/operation.js';
import { Refusal } from '../webhook/refusal.js';
import { planUpsert, summary, type ContactSummary, type ContactValues } from './upsert-contact.js';

/** What a batched upsert came to: applied or unchanged, or refused without writing anything. */
export type BatchedResult = { status: 'applied' | 'unchanged'; contact: ContactSummary } | Refusal;

/**
 * One delivery for `applyUpsertBatch`: a plain upsert (no assignee, `occurred_at`, external id or
 * idempotency key: those take the one-at-a-time path), or a refusal already met, which only needs
 * its row in the log.
 */
export interface UpsertJob<T> {
  accountId: string;
  operation: UpsertOperation | Refusal;
  /** The rows of the labels the upsert adds (KnownLabels). */
  added: Map<string, LabelRow>;
  /** The delivery's row in the log and its answer, once its result is known. */
  conclude(result: BatchedResult): { record: DeliveryRecord; value: T };
}

export function isBatchable(op: UpsertOperation, idempotencyKey: string | undefined): boolean {
  return idempotencyKey === undefined && op.assignee === undefined && op.occurredAt === undefined && op.externalId === undefined;
}

interface Contact {
  stored: StoredContact | undefined;
  values: ContactValues;
  labels: LabelRow[];
  /** Whether its row is written: its values or its labels changed (either moves `updated_at`). */
  changed: boolean;
}

/**
 * Applies upserts in the caller's transaction with a handful of statements whatever their number:
 * read the contacts (sent together with `locked`, the statement taking their phones' locks, so that
 * it runs once they are held), work out each delivery in turn in memory (several for one phone
 * apply in the order given), then write the contacts that changed, their labels and every
 * delivery's log row, sent together. A refusal (a limit exceeded) writes only its log row and
 * leaves the phone as the deliveries before it made it. Answers each entry, in order: its job's value, or
 * not applied when its signal had aborted by the time the locks were held.
 */
export async function applyUpsertBatch<T>(tx: Tx, entries: { job: UpsertJob<T>; signal?: AbortSignal }[], locked: Promise<unknown>): Promise<({ applied: true; value: T } | { applied: false })[]> {
  const keys = new Map<string, ContactKey>();
  for (const { job: { accountId, operation } } of entries) {
    if (!(operation instanceof Refusal)) keys.set(contactKey({ accountId, phone: operation.phone }), { accountId, phone: operation.phone });
  }
  const [, stored] = await Promise.all([locked, keys.size > 0 ? loadContacts(tx, [...keys.values()]) : new Map<string, StoredContact>()]);
  const contacts = new Map<string, Contact>();
  for (const [key, contact] of stored) contacts.set(key, { stored: contact, values: contact, labels: contact.labels, changed: false });

  // Decided once the locks are held: a job whose sender stopped waiting meanwhile is left out.
  const applied = entries.map(({ signal }) => !signal?.aborted);
  const jobs = entries.filter((_, i) => applied[i]).map(({ job }) => job);
  const concluded = jobs.map((job) => job.conclude(job.operation instanceof Refusal ? job.operation : applyInMemory(contacts, job.accountId, job.operation, job.added)));

  const writes: ContactWrite[] = [];
  const labelWrites: ContactLabelsWrite[] = [];
  for (const [key, contact] of contacts) {
    const where = keys.get(key)!;
    if (contact.changed) writes.push({ ...where, ...contact.values });
    const before = contact.stored?.labels ?? [];
    if (!sameKeys(before, contact.labels)) labelWrites.push(labelsChange(where, before, contact.labels));
  }
  // In this order: a contact's labels are written once the contact is.
  await Promise.all([
    writeContacts(tx, writes),
    writeContactLabelsBatch(tx, labelWrites),
    recordDeliveries(
      tx,
      concluded.map((c) => c.record),
    ),
  ]);
  let next = 0;
  return applied.map((isApplied) => (isApplied ? { applied: true, value: concluded[next++]!.value } : { applied: false }));
}

function applyInMemory(contacts: Map<string, Contact>, accountId: string, op: UpsertOperation, added: Map<string, LabelRow>): BatchedResult {
  const key = contactKey({ accountId, phone: op.phone });
  const current = contacts.get(key);
  let plan;
  try {
    plan = planUpsert(current?.values, current?.labels ?? [], op);
  } catch (error) {
    if (error instanceof Refusal) return error;
    throw error;
  }
  const labels = plan.labelsChanged ? labelRowsFor(plan.labels, current?.labels ?? [], added) : (current?.labels ?? []);
  contacts.set(key, { stored: current?.stored, values: plan.values, labels, changed: (current?.changed ?? false) || plan.changed || plan.labelsChanged });
  return {
    status: plan.changed || plan.labelsChanged ? 'applied' : 'unchanged',
    contact: summary({ ...plan.values, phone: op.phone }, labels.map((label) => label.name), current === undefined),
  };
}

const sameKeys = (a: LabelRow[], b: LabelRow[]) => a.length === b.length && a.every((label, i) => label.key === b[i]!.key);

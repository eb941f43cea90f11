import { and, count, eq, ne, or, isNull } from 'drizzle-orm';
import type { Tx } from '../db/client.js';
import { isUniqueViolation } from '../db/errors.js';
import { contactKey, labelsChange, loadContacts, writeContactLabelsBatch } from '../db/queries/contact-batch.js';
import { findContactByExternalId, sectionsObject, type ContactRow } from '../db/queries/contacts.js';
import { labelRowsFor, type LabelRow } from '../db/queries/labels.js';
import { labelKey } from '../webhook/label-key.js';
import { agents, contacts, conversations, type CustomAttributes, type StoredSection } from '../db/schema.js';
import type { UpsertOperation } from '../webhook/operation.js';
import { Refusal } from '../webhook/refusal.js';
import { MAX_CONTACT_DATA_BYTES, MAX_CUSTOM_ATTRIBUTES, MAX_LABELS, MAX_SECTIONS } from '../webhook/payload.js';
import { mergeAttributes, mergeLabels, mergeSections, sameJson } from './merge.js';
import { isStale } from './staleness.js';

export interface ContactSummary {
  phone: string;
  name: string | null;
  email: string | null;
  external_id: string | null;
  labels: string[];
  enhanced_data: Record<string, unknown>;
  custom_attributes: Record<string, unknown>;
  invite_requested: boolean;
  created: boolean;
}

export type UpsertResult =
  | { status: 'applied' | 'unchanged'; contact: ContactSummary; assignedConversations: number }
  | { status: 'stale'; contact: ContactSummary | null; assignedConversations: number };

/** What a contact holds that a delivery can change, as the API shows it. */
export type ContactValues = Pick<ContactRow, 'name' | 'email' | 'externalId' | 'customAttributes' | 'enhancedData' | 'inviteRequested'>;

export interface UpsertPlan {
  values: ContactValues;
  /** The labels' names after the delivery, in order. */
  labels: string[];
  /** Whether `values` differ from the contact's (always, for a new contact). */
  changed: boolean;
  labelsChanged: boolean;
}

/**
 * The contact after the delivery, computed from what it holds now; reads and writes nothing. Throws
 * a `limit_exceeded` Refusal when the result would hold too much. The external id is taken as sent:
 * whether another contact holds it is for the caller to check.
 */
export function planUpsert(existing: ContactValues | undefined, currentLabels: LabelRow[], op: UpsertOperation): UpsertPlan {
  const labels = mergeLabels(
    currentLabels.map((l) => l.name),
    { labels: op.labels, override: op.overrideLabels, remove: op.removeLabels },
  );
  if (labels.length > MAX_LABELS) throw limit('contact.labels', `a contact can have at most ${MAX_LABELS} labels`);
  const enhancedData = mergeSections(existing?.enhancedData ?? [], op.enhancedData);
  if (enhancedData.length > MAX_SECTIONS) throw limit('contact.enhanced_data', `a contact can have at most ${MAX_SECTIONS} sections`);
  const customAttributes = mergeAttributes(existing?.customAttributes ?? {}, op.customAttributes);
  if (Object.keys(customAttributes).length > MAX_CUSTOM_ATTRIBUTES) {
    throw limit('contact.custom_attributes', `a contact can have at most ${MAX_CUSTOM_ATTRIBUTES} custom attributes`);
  }
  if (op.enhancedData !== undefined || op.customAttributes !== undefined) checkDataSize(existing, enhancedData, customAttributes, op);
  const values: ContactValues = {
    name: op.name === undefined ? (existing?.name ?? null) : op.name,
    email: op.email === undefined ? (existing?.email ?? null) : op.email,
    externalId: op.externalId === undefined ? (existing?.externalId ?? null) : op.externalId,
    customAttributes,
    enhancedData,
    inviteRequested: existing ? existing.inviteRequested : op.inviteNewContacts,
  };
  const changed = !existing || (Object.keys(values) as (keyof ContactValues)[]).some((k) => !sameJson(values[k], existing[k]));
  const labelsChanged = !sameJson(labels.map(labelKey), currentLabels.map((l) => l.key));
  return { values, labels, changed, labelsChanged };
}

/**
 * Refuses a delivery that would take the contact's enhanced data and custom attributes past
 * MAX_CONTACT_DATA_BYTES together, unless it makes them smaller than they are (a contact stored
 * before the limit can still be trimmed).
 */
function checkDataSize(existing: ContactValues | undefined, enhancedData: StoredSection[], customAttributes: CustomAttributes, op: UpsertOperation): void {
  const bytes = dataBytes(enhancedData, customAttributes);
  if (bytes <= MAX_CONTACT_DATA_BYTES || (existing && bytes <= dataBytes(existing.enhancedData, existing.customAttributes))) return;
  const kib = (n: number) => `${Math.ceil(n / 1024)} KiB`;
  throw limit(
    op.enhancedData !== undefined ? 'contact.enhanced_data' : 'contact.custom_attributes',
    `a contact's enhanced data and custom attributes can hold at most ${kib(MAX_CONTACT_DATA_BYTES)} together (as JSON); this delivery would make them ${kib(bytes)}: remove sections or attributes (a section sent as [], an attribute as null), or send less`,
  );
}

const dataBytes = (enhancedData: StoredSection[], customAttributes: CustomAttributes) => Buffer.byteLength(JSON.stringify([enhancedData, customAttributes]));

/**
 * Upserts the contact and, with an assignee, assigns its conversations — in the caller's transaction,
 * under the phone's lock. `added` holds the rows of the labels the delivery adds (KnownLabels). A
 * refusal is thrown before or after writing; the caller rolls back either way.
 */
export async function upsertContact(tx: Tx, accountId: string, op: UpsertOperation, added: Map<string, LabelRow>): Promise<UpsertResult> {
  const key = { accountId, phone: op.phone };
  const existing = (await loadContacts(tx, [key])).get(contactKey(key));
  const currentLabels = existing?.labels ?? [];
  if (await isStale(tx, accountId, op.phone, op.occurredAt, existing)) {
    return { status: 'stale', contact: existing ? summary(existing, currentLabels.map((l) => l.name), false) : null, assignedConversations: 0 };
  }
  const agentId = op.assignee === undefined ? undefined : await findAgentId(tx, accountId, op.assignee);

  const { values, labels, changed, labelsChanged } = planUpsert(existing, currentLabels, op);
  const externalId = values.externalId;
  if (externalId !== null && externalId !== existing?.externalId) await assertExternalIdFree(tx, accountId, externalId);
  const newer = op.occurredAt && (!existing?.lastOccurredAt || op.occurredAt > existing.lastOccurredAt) ? op.occurredAt : undefined;

  let row: ContactValues & Pick<ContactRow, 'id' | 'accountId' | 'phone'>;
  try {
    if (!existing) {
      [row] = (await tx.insert(contacts).values({ accountId, phone: op.phone, ...values, lastOccurredAt: op.occurredAt ?? null }).returning()) as [ContactRow];
    } else if (changed || labelsChanged || newer) {
      // A label is part of the contact as it is shown: a change of labels alone moves updated_at too.
      [row] = (await tx
        .update(contacts)
        .set({ ...values, ...(newer ? { lastOccurredAt: newer } : {}), ...(changed || labelsChanged ? { updatedAt: new Date() } : {}) })
        .where(eq(contacts.id, existing.id))
        .returning()) as [ContactRow];
    } else {
      row = existing;
    }
  } catch (error) {
    // Another phone's transaction claimed the same external_id after our check: the unique index
    // settles it, and this delivery is refused like one that came second.
    if (isUniqueViolation(error, 'contacts_account_external_id_unique')) throw externalIdTaken();
    throw error;
  }

  let labelNames = currentLabels.map((l) => l.name);
  if (labelsChanged) {
    const wanted = labelRowsFor(labels, currentLabels, added);
    await writeContactLabelsBatch(tx, [labelsChange(row, currentLabels, wanted)]);
    labelNames = wanted.map((l) => l.name);
  }

  let assigned = { changed: 0, total: 0 };
  if (agentId !== undefined) assigned = await assignConversations(tx, accountId, row.id, agentId);

  const applied = changed || labelsChanged || assigned.changed > 0;
  return { status: applied ? 'applied' : 'unchanged', contact: summary(row, labelNames, !existing), assignedConversations: assigned.total };
}

async function findAgentId(tx: Tx, accountId: string, email: string): Promise<string> {
  const [agent] = await tx
    .select({ id: agents.id })
    .from(agents)
    .where(and(eq(agents.accountId, accountId), eq(agents.email, email)))
    .limit(1)
    // Held until commit: an agent deleted meanwhile waits for this assignment, never breaks it.
    .for('key share');
  if (!agent) {
    throw new Refusal('unknown_assignee', `no agent with email ${email} in this account`, [
      { path: 'assignee', message: 'no such agent; create it with POST /api/v1/agents' },
    ]);
  }
  return agent.id;
}

async function assertExternalIdFree(tx: Tx, accountId: string, externalId: string): Promise<void> {
  if (await findContactByExternalId(tx, accountId, externalId)) throw externalIdTaken();
}

const externalIdTaken = () =>
  new Refusal('external_id_taken', 'contact.external_id already belongs to another contact', [
    { path: 'contact.external_id', message: 'held by another phone in this account' },
  ]);

/** Every conversation of the contact goes to the agent; answers how many changed and how many it now has. */
async function assignConversations(tx: Tx, accountId: string, contactId: number, agentId: string): Promise<{ changed: number; total: number }> {
  const ofContact = and(eq(conversations.accountId, accountId), eq(conversations.contactId, contactId));
  const updated = await tx
    .update(conversations)
    .set({ assigneeId: agentId })
    .where(and(ofContact, or(isNull(conversations.assigneeId), ne(conversations.assigneeId, agentId))))
    .returning({ id: conversations.id });
  const [total] = await tx.select({ n: count() }).from(conversations).where(ofContact);
  return { changed: updated.length, total: total?.n ?? 0 };
}

function limit(path: string, message: string): Refusal {
  return new Refusal('limit_exceeded', message, [{ path, message }]);
}

export function summary(row: ContactValues & Pick<ContactRow, 'phone'>, labels: string[], created: boolean): ContactSummary {
  return {
    phone: row.phone,
    name: row.name,
    email: row.email,
    external_id: row.externalId,
    labels,
    enhanced_data: sectionsObject(row.enhancedData),
    custom_attributes: row.customAttributes,
    invite_requested: row.inviteRequested,
    created,
  };
}

import { type z } from 'zod';
import { Refusal, type RefusalSubject } from './refusal.js';
import { describeZodError } from '../zod-issues.js';
import { normalisePhone, phoneProblem } from './phone.js';
import type { StoredItem, StoredSection } from '../db/schema.js';
import { isObject, PhoneInput, WebhookPayload } from './payload.js';
import { sectionTitleTwice, unknownKeyHint, unknownKeys } from './unknown-keys.js';

export interface UpsertOperation {
  kind: 'upsert';
  phone: string;
  name?: string | null;
  email?: string | null;
  externalId?: string | null;
  labels?: string[];
  overrideLabels: boolean;
  removeLabels?: string[];
  /** Sections sent, in order; an empty list of items removes the section. */
  enhancedData?: StoredSection[];
  customAttributes?: Record<string, string | number | boolean | null>;
  inviteNewContacts: boolean;
  /** Lower-cased email of the agent to assign the contact's conversations to. */
  assignee?: string;
  occurredAt?: Date;
}

export interface DeleteOperation {
  kind: 'delete';
  phone: string;
  occurredAt?: Date;
}

export type Operation = UpsertOperation | DeleteOperation;

export type OperationName = 'upsert' | 'upsert_assign' | 'delete';

export const operationName = (op: Operation): OperationName =>
  op.kind === 'delete' ? 'delete' : op.assignee ? 'upsert_assign' : 'upsert';

/** Which operation the keys ask for, before any value is checked. */
function operationOf(payload: Record<string, unknown>): OperationName {
  const has = (key: string) => payload[key] !== undefined && payload[key] !== null;
  if (has('delete_contact')) {
    if (has('contact') || has('assignee')) {
      throw new Refusal('invalid_payload', 'delete_contact cannot be combined with contact or assignee', [
        { path: 'delete_contact', message: 'send a delete on its own' },
      ]);
    }
    return 'delete';
  }
  if (has('contact')) return has('assignee') ? 'upsert_assign' : 'upsert';
  if (has('assignee')) {
    throw new Refusal('invalid_payload', 'assignee needs contact.phone to know whose conversations to assign', [
      { path: 'contact', message: 'is required with assignee' },
    ]);
  }
  throw new Refusal('invalid_payload', 'nothing to do: send contact (to upsert) or delete_contact (to delete)', [
    { path: 'contact', message: 'is required' },
  ]);
}

/** Top-level keys that only an upsert reads. */
const UPSERT_ONLY = ['overrideLabels', 'removeLabels', 'inviteNewContacts'] as const;

/**
 * Validates a payload and resolves it to one operation, with warnings for keys that were ignored. A
 * refusal carries what the payload was about (`subject`) as far as it could be read, so that the
 * delivery log shows which operation and phone a sender got wrong.
 */
export function toOperation(sent: Record<string, unknown>, region: string | null): { operation: Operation; warnings: string[] } {
  const { payload, warnings } = withoutBlanks(sent);
  try {
    const read = readOperation(payload, region);
    read.warnings.push(...warnings);
    return read;
  } catch (error) {
    if (error instanceof Refusal) {
      error.subject ??= refusalSubject(payload, region);
      error.warnings ??= [...unknownKeys(payload).map(unknownKeyWarning), ...warnings];
    }
    throw error;
  }
}

/**
 * Optional fields a sender may leave blank, which count as not sent: a form tool sends an unmapped
 * field as ``, a JSON tool (Zapier, Make) as null. Where `""` means something (no labels), only null does.
 */
const BLANK_AS_ABSENT = {
  top: { blank: ['assignee', 'delete_contact', 'occurred_at', 'overrideLabels', 'inviteNewContacts'], nullOnly: ['removeLabels'] },
  contact: { blank: ['overrideLabels'], nullOnly: ['labels', 'removeLabels', 'enhanced_data', 'custom_attributes'] },
} as const;

const isBlank = (value: unknown) => value === null || (typeof value === 'string' && value.trim() === '');
const isEmpty = (value: unknown) => isBlank(value) || (Array.isArray(value) && value.length === 0) || (isObject(value) && Object.keys(value).length === 0);

/**
 * The payload without its blank optional fields (BLANK_AS_ABSENT), each named in a warning. Beside
 * a delete, a contact whose every field is blank is one too: a form tool sends its unmapped
 * `phone=&name=` with every delivery.
 */
function withoutBlanks(payload: Record<string, unknown>): { payload: Record<string, unknown>; warnings: string[] } {
  const top = dropBlanks(payload, BLANK_AS_ABSENT.top, '');
  if (top.fields.delete_contact !== undefined && isObject(top.fields.contact) && Object.values(top.fields.contact).every(isEmpty)) {
    const { contact: _, ...rest } = top.fields;
    return { payload: rest, warnings: [...top.warnings, 'contact: every field empty, taken as not sent'] };
  }
  if (!isObject(top.fields.contact)) return { payload: top.fields, warnings: top.warnings };
  const contact = dropBlanks(top.fields.contact, BLANK_AS_ABSENT.contact, 'contact.');
  if (contact.fields === top.fields.contact) return { payload: top.fields, warnings: top.warnings };
  return { payload: { ...top.fields, contact: contact.fields }, warnings: [...top.warnings, ...contact.warnings] };
}

function dropBlanks(fields: Record<string, unknown>, absent: { blank: readonly string[]; nullOnly: readonly string[] }, prefix: string) {
  const keys = [...absent.blank.filter((key) => isBlank(fields[key])), ...absent.nullOnly.filter((key) => fields[key] === null)];
  // Nothing blank, the common case: the fields as they are, not a copy made for every delivery.
  if (keys.length === 0) return { fields, warnings: [] };
  const kept = { ...fields };
  for (const key of keys) delete kept[key];
  return { fields: kept, warnings: keys.map((key) => `${prefix}${key}: empty, taken as not sent`) };
}

/** At most this many warnings, each at most this long: an answer must not grow with a sender's mistakes. */
const MAX_WARNINGS = 50;
const MAX_WARNING_LENGTH = 300;

/**
 * The warnings an answer carries: the first MAX_WARNINGS, then one that counts the rest; each cut
 * to MAX_WARNING_LENGTH (between characters, never inside a surrogate pair, which jsonb refuses).
 */
export function boundedWarnings(warnings: string[]): string[] {
  const cut = (warning: string) => {
    if (warning.length <= MAX_WARNING_LENGTH) return warning;
    const end = MAX_WARNING_LENGTH - 1;
    return `${warning.slice(0, /[\ud800-\udbff]/.test(warning[end - 1]!) ? end - 1 : end)}…`;
  };
  if (warnings.length <= MAX_WARNINGS) return warnings.map(cut);
  return [...warnings.slice(0, MAX_WARNINGS - 1).map(cut), `…and ${warnings.length - MAX_WARNINGS + 1} more warnings`];
}

/** What a refused payload was about, as far as it can be read: its operation and its phone when valid. */
export function refusalSubject(payload: Record<string, unknown>, region: string | null): RefusalSubject {
  let operation: OperationName | null;
  try {
    operation = operationOf(payload);
  } catch {
    operation = null;
  }
  const input = PhoneInput.safeParse(operation === 'delete' ? payload.delete_contact : isObject(payload.contact) ? payload.contact.phone : undefined);
  return { operation, phone: input.success ? normalisePhone(input.data, region) : null };
}

const unknownKeyWarning = (path: string) => `${path}: unknown key, ignored${unknownKeyHint(path)}`;

function readOperation(payload: Record<string, unknown>, region: string | null): { operation: Operation; warnings: string[] } {
  operationOf(payload);
  const parsed = WebhookPayload.safeParse(payload);
  if (!parsed.success) throw invalidPayload(parsed.error);
  const twice = sectionTitleTwice(payload);
  if (twice !== undefined) {
    const message = `holds the section ${JSON.stringify(twice)} twice once titles are trimmed: send it once`;
    throw new Refusal('invalid_payload', `contact.enhanced_data ${message}`, [{ path: 'contact.enhanced_data', message }]);
  }
  const p = parsed.data;
  const warnings = unknownKeys(payload).map(unknownKeyWarning);

  if (p.delete_contact !== undefined) {
    for (const key of UPSERT_ONLY) if (p[key] !== undefined) warnings.push(`${key}: ignored by delete_contact`);
    return { operation: { kind: 'delete', phone: phoneOf(p.delete_contact, 'delete_contact', region), occurredAt: p.occurred_at }, warnings };
  }
  const c = p.contact!;
  const overrideLabels = eitherLevel('overrideLabels', c.overrideLabels, p.overrideLabels) ?? false;
  const operation: UpsertOperation = {
    kind: 'upsert',
    phone: phoneOf(c.phone, 'contact.phone', region),
    name: c.name,
    email: c.email,
    externalId: c.external_id,
    labels: c.labels,
    overrideLabels,
    removeLabels: eitherLevel('removeLabels', c.removeLabels, p.removeLabels),
    enhancedData: c.enhanced_data?.map(({ title, items }) => ({ title, items: items.map(storedItem) })),
    customAttributes: c.custom_attributes,
    inviteNewContacts: p.inviteNewContacts ?? false,
    assignee: p.assignee?.toLowerCase(),
    occurredAt: p.occurred_at,
  };
  if (overrideLabels && c.labels === undefined) warnings.push('overrideLabels: ignored without labels');
  return { operation, warnings };
}

/**
 * A key that may be sent at the top level (as Polser does) or inside `contact`: sent at both with
 * different values, the payload contradicts itself, and which one was meant cannot be told.
 */
function eitherLevel<T>(key: string, inContact: T | undefined, atTop: T | undefined): T | undefined {
  if (inContact !== undefined && atTop !== undefined && JSON.stringify(inContact) !== JSON.stringify(atTop)) {
    const message = 'sent with another value at the other level; send it once';
    throw new Refusal('invalid_payload', `${key} is sent both at the top level and in contact, with different values: send it once`, [
      { path: key, message },
      { path: `contact.${key}`, message },
    ]);
  }
  return inContact ?? atTop;
}

/** Only the keys that have a value, so that a stored item compares equal to the same item sent again. */
function storedItem(item: { text: string; description?: string | null; link?: string }): StoredItem {
  return { text: item.text, ...(item.description ? { description: item.description } : {}), ...(item.link ? { link: item.link } : {}) };
}

function phoneOf(input: string | number, path: string, region: string | null): string {
  const phone = normalisePhone(input, region);
  if (phone === null) {
    throw new Refusal('invalid_phone', `${path} is not a valid phone number`, [
      { path, message: phoneProblem(input, region) },
    ]);
  }
  return phone;
}

function invalidPayload(error: z.ZodError): Refusal {
  const { message, issues } = describeZodError(error);
  return new Refusal('invalid_payload', message, issues);
}

import { Refusal } from './refusal.js';
import { escapesAreUtf8, jsonFailure, unstorableText } from '../text.js';
import { isEmail, isObject } from './payload.js';
import { parseIsoTime } from './iso-time.js';
import { normalisePhone } from './phone.js';

/**
 * A delivery as sent. `queryFields`: names in a query string sent beside a body, which are not read.
 * `bulkLine`: a line of a bulk request, so that a refusal speaks of the line, not the body.
 */
export type RawDelivery =
  | { kind: 'json'; body: string; queryFields?: string[]; bulkLine?: true }
  | { kind: 'form'; body: string; queryFields?: string[] }
  | { kind: 'query'; query: string };

const STORED_TYPES = { json: 'application/json', form: 'application/x-www-form-urlencoded', query: 'query' } as const;

/** The delivery's text exactly as it was sent. */
export const sentText = (raw: RawDelivery): string => (raw.kind === 'query' ? raw.query : raw.body);

/**
 * What is kept of a refused delivery, so that it can be replayed as it was sent. PostgreSQL text
 * cannot hold U+0000, and a payload holding one was refused: a NUL is kept as the escape that
 * stands for it in the payload's own syntax (`%00` in a form; `\u0000` in JSON, completing a
 * backslash already before it), so that a replay is refused for it again rather than applied with
 * something else in its place.
 */
export function storedPayload(raw: RawDelivery): { text: string; contentType: string } {
  const text = sentText(raw);
  const kept = raw.kind === 'json' ? text.replace(/(\\*)\u0000/g, (_, slashes: string) => `${slashes}${slashes.length % 2 === 1 ? '' : '\\'}u0000`) : text.replaceAll('\u0000', '%00');
  return { text: kept, contentType: STORED_TYPES[raw.kind] };
}

/** The delivery as it was sent, from a payload kept by `storedPayload`. */
export function storedRaw(text: string, contentType: string): RawDelivery {
  switch (contentType) {
    case STORED_TYPES.json:
      return { kind: 'json', body: text };
    case STORED_TYPES.form:
      return { kind: 'form', body: text };
    case STORED_TYPES.query:
      return { kind: 'query', query: text };
    default:
      throw new Error(`a stored payload has an unknown content type: ${contentType.slice(0, 100)}`);
  }
}

/** Flat fields of the contact, also sent as `contact[field]`. */
const CONTACT_FIELDS = ['phone', 'name', 'email', 'external_id', 'labels'] as const;
/** Fields JSON takes at either level: flat they are top-level, as `contact[field]` the contact's. */
const EITHER_LEVEL_FIELDS = ['removeLabels', 'overrideLabels'] as const;
const TOP_FIELDS = ['inviteNewContacts', 'assignee', 'delete_contact', 'occurred_at'] as const;
/** The fields a form may repeat to send a list. */
const LIST_FIELDS: ReadonlySet<string> = new Set(['labels', 'removeLabels']);

/** A payload as read, and the refusal it met once its fields could be read, if any. */
export interface ReadPayload {
  payload: Record<string, unknown>;
  warnings: string[];
  /** Text PostgreSQL cannot store, or a field sent twice with different values: the payload is then read only to tell what it was about. */
  refusal?: Refusal;
}

/**
 * Turns what was sent (JSON, form fields or a query string) into one payload object, with warnings:
 * fields sent beside a `payload` field (which holds the whole delivery) are not read, and a phone's
 * `+` that form decoding turned into a space is put back. What cannot be read at all is thrown.
 */
export function readPayload(raw: RawDelivery): ReadPayload {
  const unread = raw.kind === 'query' ? [] : (raw.queryFields ?? []).map((name) => `${shown(name)}: in the query string beside a body, not read`);
  if (raw.kind === 'json') return checked({ payload: parseJsonObject(raw.body, raw.bulkLine ? 'the line' : 'the body'), warnings: unread });
  const fields = raw.kind === 'form' ? raw.body : raw.query;
  if (raw.kind === 'form' && /^\s*[[{]/.test(fields)) {
    // No field's name starts so: this is a JSON body sent with curl -d's default type.
    throw new Refusal('invalid_payload', 'the body is JSON, sent as form fields (Content-Type: application/x-www-form-urlencoded, what curl -d sends): send it with Content-Type: application/json');
  }
  if (!escapesAreUtf8(fields)) {
    const where = raw.kind === 'form' ? 'the form fields hold' : 'the query string holds';
    throw new Refusal('invalid_payload', `${where} percent-encoded bytes that are not UTF-8: percent-encode the UTF-8 bytes of the text`);
  }
  const { payload, ignored, warnings: repeated, refusal } = readFields(new URLSearchParams(fields));
  const warnings = [...unread, ...ignored.map((name) => `${shown(name)}: ignored beside the payload field, which holds the whole delivery`), ...repeated];
  if (isObject(payload.contact)) {
    warnings.push(...restorePlus(payload.contact, 'phone', 'contact.phone', internationalPhone));
    warnings.push(...restorePlus(payload.contact, 'email', 'contact.email', emailWithPlus));
  }
  warnings.push(...restorePlus(payload, 'delete_contact', 'delete_contact', internationalPhone));
  warnings.push(...restorePlus(payload, 'assignee', 'assignee', emailWithPlus));
  warnings.push(...restorePlus(payload, 'occurred_at', 'occurred_at', timeWithPlus));
  return refusal ? { payload, warnings, refusal } : checked({ payload, warnings });
}

/** A field's name as a warning quotes it: the answer is stored (jsonb), which cannot hold a NUL. */
const shown = (name: string) => name.replaceAll('\u0000', '\\u0000');

function checked(read: ReadPayload): ReadPayload {
  const problem = unstorableText(read.payload);
  return problem ? { ...read, refusal: new Refusal('invalid_payload', `the payload contains ${problem}, which cannot be stored`) } : read;
}

/**
 * Form decoding reads `+` as a space, so a `+` sent unencoded arrives as one. Where a space cannot
 * be meant and a `+` makes the value valid, the `+` is put back, with a warning (`repaired` answers
 * the value with its `+` back, or undefined).
 */
function restorePlus(holder: Record<string, unknown>, key: string, path: string, repaired: (value: string) => string | undefined): string[] {
  const value = holder[key];
  const fixed = typeof value === 'string' ? repaired(value) : undefined;
  if (fixed === undefined) return [];
  holder[key] = fixed;
  return [`${path}: its + arrived as a space (form encoding reads + so) and was read as +; send it as %2B`];
}

/**
 * `phone=+2031234567` arrives as " 2031234567", which would be read in the account's region first:
 * another number, and another person. One space and a digit is a `+` when that makes a valid
 * international number; after a `tel:` too (`tel: 2031234567`, from `tel:+2031234567`).
 */
function internationalPhone(value: string): string | undefined {
  const sent = /^(tel:)? (\d.*)$/is.exec(value);
  if (!sent) return undefined;
  const international = `${sent[1] ?? ''}+${sent[2]}`;
  return normalisePhone(international, null) === null ? undefined : international;
}

/** `email=john+crm@example.com` arrives as "john crm@example.com": no address holds a space. */
function emailWithPlus(value: string): string | undefined {
  const trimmed = value.trim();
  if (!trimmed.includes(' ')) return undefined;
  const withPlus = trimmed.replaceAll(' ', '+');
  return isEmail(withPlus) ? withPlus : undefined;
}

/** `occurred_at=2026-01-01T10:00:00+01:00` arrives as "…10:00:00 01:00": a time is never followed by a space and digits. */
function timeWithPlus(value: string): string | undefined {
  const offset = /(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$/.exec(value.trim());
  if (!offset) return undefined;
  const withPlus = `${value.trim().slice(0, offset.index)}${offset[1]}+${offset[2]}`;
  return parseIsoTime(withPlus) ? withPlus : undefined;
}

/** `phone=%2B44…&name=…`: form fields sent as JSON (a tool's Content-Type left at its default). */
const FORM_FIELDS = /^\s*[\w.[\]%-]+=[^{}]*$/;

function parseJsonObject(text: string, what: string): Record<string, unknown> {
  if (text.trim() === '') throw new Refusal('invalid_payload', `${what} is empty: send a JSON object`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    if (FORM_FIELDS.test(text)) {
      throw new Refusal('invalid_payload', `${what} is form fields (name=value&…), not JSON: send it with Content-Type: application/x-www-form-urlencoded, or send a JSON object`);
    }
    throw new Refusal('invalid_payload', `${what} is not valid JSON${jsonFailure(error)}`);
  }
  if (!isObject(value)) throw new Refusal('invalid_payload', `${what} must be a JSON object`);
  return value;
}

/**
 * Either one field `payload` holding the JSON document, or flat fields: `phone` (or `contact[phone]`),
 * `name`, `labels`, … Repeated `labels` (and `removeLabels`) fields form a list; any other field
 * sent more than once, under one name or both of its names, is read once when every copy says the
 * same, and refused when they differ: which one was meant cannot be told.
 */
function readFields(params: URLSearchParams): { payload: Record<string, unknown>; ignored: string[]; warnings: string[]; refusal?: Refusal } {
  // Grouped in one pass: URLSearchParams.get scans every field, so asking it for each name sent
  // would take the square of their number (52,000 names, 212 KB, held the process 20 s).
  const sent = new Map<string, string[]>();
  for (const [name, value] of params) {
    const values = sent.get(name);
    if (values) values.push(value);
    else sent.set(name, [value]);
  }
  const warnings: string[] = [];
  const conflicts: Refusal[] = [];
  const payload = sent.get('payload');
  if (payload) {
    const text = single('payload', ['payload'], payload, warnings, conflicts);
    // Which of the documents was meant cannot be told: nothing of them is read.
    if (conflicts.length > 0) throw conflicts[0];
    return { payload: parseJsonObject(text, 'the payload field'), ignored: [...sent.keys()].filter((name) => name !== 'payload'), warnings };
  }

  const result: Record<string, unknown> = {};
  const contact: Record<string, unknown> = {};
  /** Takes the field sent under these names (or `name[]`) out of `sent`: a list when `list` and there are several, or `name[]` was used. */
  const take = (into: Record<string, unknown>, path: string, field: string, names: string[], list: boolean) => {
    const given = names.flatMap((name) => [name, `${name}[]`]).filter((name) => sent.has(name));
    const values = given.flatMap((name) => sent.get(name)!);
    given.forEach((name) => sent.delete(name));
    if (values.length === 0) return;
    const asList = given.some((name) => name.endsWith('[]'));
    into[field] = asList || (list && values.length > 1) ? values : single(path, given, values, warnings, conflicts);
  };
  for (const field of CONTACT_FIELDS) take(contact, `contact.${field}`, field, [field, `contact[${field}]`], LIST_FIELDS.has(field));
  for (const field of EITHER_LEVEL_FIELDS) {
    take(result, field, field, [field], LIST_FIELDS.has(field));
    take(contact, `contact.${field}`, field, [`contact[${field}]`], LIST_FIELDS.has(field));
  }
  for (const field of TOP_FIELDS) take(result, field, field, [field], false);
  if (Object.keys(contact).length > 0) result.contact = contact;
  // Left: names the payload does not know, which it warns of; their first value is enough for that.
  for (const [name, values] of sent) result[name] = values[0];
  return { payload: result, ignored: [], warnings, ...(conflicts.length > 0 ? { refusal: conflicts[0] } : {}) };
}

/**
 * The one value of a field that is not a list, sent `values.length` times under `names`. Copies
 * that differ are a refusal, added to `conflicts`: the rest is read on, so that the delivery log
 * can show the operation and phone the sender got wrong.
 */
function single(path: string, names: string[], values: string[], warnings: string[], conflicts: Refusal[]): string {
  if (values.length === 1) return values[0]!;
  const under = names.length > 1 ? ` (as ${names.map(shown).join(' and ')})` : '';
  if (values.some((value) => value !== values[0])) {
    conflicts.push(
      new Refusal('invalid_payload', `${path} is sent ${values.length} times${under} with different values: send it once`, [{ path, message: `is sent ${values.length} times with different values: send it once` }]),
    );
    return values[0]!;
  }
  warnings.push(`${path}: sent ${values.length} times${under} with the same value, read once`);
  return values[0]!;
}

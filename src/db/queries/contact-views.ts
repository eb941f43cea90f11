import { and, asc, desc, eq, gt, ilike, inArray, like, lt, or, type SQL } from 'drizzle-orm';
import type { Db } from '../client.js';
import { agents, contactLabels, contacts, conversations, labels, pagingCondition } from '../schema.js';
import { findContact, type ContactRow } from './contacts.js';
import { labelKey } from '../../webhook/label-key.js';
import { normalisePhone, phonePrefix } from '../../webhook/phone.js';
import { labelsOf } from './labels.js';

export interface ContactWithLabels {
  contact: ContactRow;
  /** Names in the order they were given. */
  labels: string[];
}

export interface ConversationSummary {
  id: string;
  status: 'open' | 'closed';
  subject: string | null;
  /** The assigned agent's email. */
  assignee: string | null;
}

export interface ContactView extends ContactWithLabels {
  conversations: ConversationSummary[];
}

export interface ContactSearch {
  /** Matched as a substring of name, email and external id. */
  text: string;
  /** The search as E.164, when it is a valid phone: matched exactly. */
  phone?: string;
  /** Digits to find within phones, when the search looks like part of a number. */
  phoneDigits?: string;
  /** The start of the phones a number begun nationally or after 00 names (`07911 12` → `+4479111 2`). */
  phonePrefix?: string;
}

/** Characters a phone is written with: a search made only of them is (part of) a number. */
const PHONE_LIKE = /^[+\d\s().\-/]+$/;

export function searchFor(q: string, region: string | null): ContactSearch {
  const phone = normalisePhone(q, region) ?? undefined;
  const digits = q.replace(/\D/g, '');
  return { text: q, phone, phoneDigits: PHONE_LIKE.test(q) && digits ? digits : undefined, phonePrefix: phonePrefix(q, region) };
}

export interface ContactListQuery {
  search?: ContactSearch;
  label?: string;
  limit: number;
  /** Contacts come newest first (in descending id order); the page starts after this id, below it. */
  beforeId?: number;
}

export async function findContactView(db: Db, accountId: string, phone: string): Promise<ContactView | undefined> {
  const contact = await findContact(db, accountId, phone);
  if (!contact) return undefined;
  const [labelRows, conversationRows] = await Promise.all([labelsOf(db, contact.id), conversationsOf(db, accountId, contact.id)]);
  return { contact, labels: labelRows.map((l) => l.name), conversations: conversationRows };
}

/** One page of contacts, and whether there are more after it. */
export async function listContacts(db: Db, accountId: string, query: ContactListQuery): Promise<{ items: ContactWithLabels[]; more: boolean }> {
  const filter = await labelFilter(db, accountId, query.label);
  if (!filter) return { items: [], more: false };
  const rows = await contactPage(db, accountId, query, filter.labelId);
  const page = rows.slice(0, query.limit);
  const names = await labelNamesByContact(db, page.map((row) => row.id));
  return { items: page.map((contact) => ({ contact, labels: names.get(contact.id) ?? [] })), more: rows.length > query.limit };
}

/**
 * Where the page before one that starts at `firstId` begins: `{ beforeId }` for its cursor, `{}`
 * when it is the first page, or undefined when nothing is listed before it.
 */
export async function previousContactsPage(db: Db, accountId: string, query: Omit<ContactListQuery, 'beforeId'>, firstId: number): Promise<{ beforeId?: number } | undefined> {
  const filter = await labelFilter(db, accountId, query.label);
  if (!filter) return undefined;
  const above = await contactIdsAbove(db, accountId, query, firstId, filter.labelId);
  if (above.length === 0) return undefined;
  return above.length > query.limit ? { beforeId: above[query.limit]!.id } : {};
}

/**
 * The label a list is filtered by, as its id: `{}` for no filter, undefined when the account has no
 * such label (nothing is listed). The id first: known, the planner reads that label's rows of
 * (label_id, contact_id) in id order; joined in the same statement, it guessed at every label's and
 * read them all.
 */
async function labelFilter(db: Db, accountId: string, name: string | undefined): Promise<{ labelId?: number } | undefined> {
  if (name === undefined) return {};
  const [label] = await db.select({ id: labels.id }).from(labels).where(and(eq(labels.accountId, accountId), eq(labels.key, labelKey(name)))).limit(1);
  return label ? { labelId: label.id } : undefined;
}

/** The statement reading one page, and one row more, which tells whether another page exists without counting (exported for its plans' test). */
export function contactPage(db: Db, accountId: string, query: Omit<ContactListQuery, 'label'>, labelId?: number) {
  const conditions = listConditions(db, accountId, query, labelId);
  if (query.beforeId !== undefined) conditions.push(lt(contacts.id, query.beforeId));
  return db
    .select()
    .from(contacts)
    .where(and(...conditions))
    .orderBy(desc(contacts.id))
    .limit(query.limit + 1);
}

/**
 * The ids of the contacts listed just above `firstId`, oldest first, a page and one more: whether a
 * page of them lies before it and where that page starts (exported for its plans' test).
 */
export function contactIdsAbove(db: Db, accountId: string, query: Omit<ContactListQuery, 'label' | 'beforeId'>, firstId: number, labelId?: number) {
  return db
    .select({ id: contacts.id })
    .from(contacts)
    .where(and(...listConditions(db, accountId, query, labelId), gt(contacts.id, firstId)))
    .orderBy(asc(contacts.id))
    .limit(query.limit + 1);
}

/** Which contacts a list holds, whatever its page. */
function listConditions(db: Db, accountId: string, query: Pick<ContactListQuery, 'search'>, labelId: number | undefined): (SQL | undefined)[] {
  // Stated, contacts_account_paging_idx's condition lets the account's contacts be read in id order
  // (either way) without reading other accounts'.
  const conditions: (SQL | undefined)[] = [eq(contacts.accountId, accountId), pagingCondition(contacts.id)];
  if (query.search) conditions.push(searchCondition(query.search));
  if (labelId !== undefined) conditions.push(inArray(contacts.id, db.select({ id: contactLabels.contactId }).from(contactLabels).where(eq(contactLabels.labelId, labelId))));
  return conditions;
}

/** `%` and `_` in what a user typed are literal characters, not wildcards. */
const escapeLike = (text: string) => text.replace(/[\\%_]/g, (char) => `\\${char}`);

function searchCondition(search: ContactSearch): SQL | undefined {
  const contains = `%${escapeLike(search.text)}%`;
  const matches = [ilike(contacts.name, contains), ilike(contacts.email, contains), ilike(contacts.externalId, contains)];
  if (search.phone) matches.push(eq(contacts.phone, search.phone));
  else if (search.phoneDigits) matches.push(like(contacts.phone, `%${search.phoneDigits}%`));
  if (!search.phone && search.phonePrefix) matches.push(like(contacts.phone, `${search.phonePrefix}%`));
  return or(...matches);
}

/** Labels for a whole page in one query. */
async function labelNamesByContact(db: Db, contactIds: number[]): Promise<Map<number, string[]>> {
  const byContact = new Map<number, string[]>();
  if (contactIds.length === 0) return byContact;
  const rows = await db
    .select({ contactId: contactLabels.contactId, name: labels.name })
    .from(contactLabels)
    .innerJoin(labels, eq(labels.id, contactLabels.labelId))
    .where(inArray(contactLabels.contactId, contactIds))
    .orderBy(asc(contactLabels.contactId), asc(contactLabels.position));
  for (const { contactId, name } of rows) byContact.set(contactId, [...(byContact.get(contactId) ?? []), name]);
  return byContact;
}

async function conversationsOf(db: Db, accountId: string, contactId: number): Promise<ConversationSummary[]> {
  return db
    .select({ id: conversations.id, status: conversations.status, subject: conversations.subject, assignee: agents.email })
    .from(conversations)
    .leftJoin(agents, eq(agents.id, conversations.assigneeId))
    .where(and(eq(conversations.accountId, accountId), eq(conversations.contactId, contactId)))
    .orderBy(asc(conversations.createdAt), asc(conversations.id));
}

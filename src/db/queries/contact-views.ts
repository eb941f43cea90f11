import { and, asc, desc, eq, gt, gte, ilike, inArray, like, lt, lte, or, sql, type SQL } from 'drizzle-orm';
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
  const walk: Walk = { direction: 'older', from: query.beforeId };
  const rows = await inParts(db, accountId, query, walk, query.limit + 1, (part, n) => contactPage(db, accountId, query, filter.labelId, part, n));
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
  const walk: Walk = { direction: 'newer', from: firstId };
  const above = await inParts(db, accountId, query, walk, query.limit + 1, (part, n) => contactIdsAbove(db, accountId, query, firstId, filter.labelId, part, n));
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

/** Which way a list is read from a contact on: `older` as pages go (descending ids), `newer` for the page before. */
interface Walk {
  direction: 'older' | 'newer';
  /** The id the walk starts after, not itself read; none from the newest. */
  from?: number;
}

/**
 * How many contacts a search reads in id order, from where its page starts, before it turns to the
 * search's indexes. The planner walks the account in id order until a page of matches has turned
 * up, taking them to be spread evenly; when they are all far back (a term only an early import
 * carries) or there are none, that walk read the whole account (1.2 s over 1,000,000 contacts).
 */
export const SEARCH_WINDOW = 5000;

/**
 * A part of a list as it is read: `whole` (no search, or fewer than SEARCH_WINDOW contacts to read),
 * or, for a search, the window of SEARCH_WINDOW contacts from where the page starts up to the
 * contact `edge` (read in id order, at most SEARCH_WINDOW rows), then what lies `beyond` it
 * (found through the trigram indexes and sorted, at a cost that grows with the matches, not with
 * the account).
 */
export type ListPart = { part: 'whole' } | { part: 'window' | 'beyond'; edge: number };

/**
 * Up to `n` rows of a list from `walk.from` on, in the walk's order: a search reads its window
 * first and looks beyond it only for what the window lacked. The window's edge is read first, so
 * both parts agree on it whatever is written meanwhile.
 */
async function inParts<T>(db: Db, accountId: string, query: Pick<ContactListQuery, 'search'>, walk: Walk, n: number, read: (part: ListPart, n: number) => Promise<T[]>): Promise<T[]> {
  if (!query.search) return read({ part: 'whole' }, n);
  const [edge] = await db
    .select({ id: contacts.id })
    .from(contacts)
    .where(and(eq(contacts.accountId, accountId), pagingCondition(contacts.id), walkFrom(walk)))
    .orderBy(walk.direction === 'older' ? desc(contacts.id) : asc(contacts.id))
    .offset(SEARCH_WINDOW - 1)
    .limit(1);
  if (!edge) return read({ part: 'whole' }, n);
  const window = await read({ part: 'window', edge: edge.id }, n);
  if (window.length >= n) return window;
  return [...window, ...(await read({ part: 'beyond', edge: edge.id }, n - window.length))];
}

const walkFrom = ({ direction, from }: Walk) => (from === undefined ? undefined : direction === 'older' ? lt(contacts.id, from) : gt(contacts.id, from));

/**
 * The part's own bound on ids, and its order. Beyond the window, a search the trigram indexes can
 * serve is ordered by `id + 0`, which keeps the planner from walking the ids to find its matches;
 * one they cannot (under 3 characters: no trigram) walks them still, as reading them all to sort
 * would cost more.
 */
function partOf(list: ListPart, direction: Walk['direction'], search: ContactSearch | undefined): { bound?: SQL; order: SQL } {
  const older = direction === 'older';
  const inIdOrder = older ? desc(contacts.id) : asc(contacts.id);
  if (list.part === 'whole') return { order: inIdOrder };
  if (list.part === 'window') return { bound: older ? gte(contacts.id, list.edge) : lte(contacts.id, list.edge), order: inIdOrder };
  const bound = older ? lt(contacts.id, list.edge) : gt(contacts.id, list.edge);
  return { bound, order: search && byTrigrams(search) ? sql`${contacts.id} + 0 ${sql.raw(older ? 'desc' : 'asc')}` : inIdOrder };
}

/** Whether every pattern of the search holds a trigram, so that the trigram indexes find its matches. */
const byTrigrams = (search: ContactSearch) => [...search.text].length >= 3 && (search.phoneDigits === undefined || search.phoneDigits.length >= 3);

/** The statement reading up to `n` contacts of a page, newest first: a page and one row more tells whether another page exists without counting (exported for its plans' test). */
export function contactPage(db: Db, accountId: string, query: Omit<ContactListQuery, 'label'>, labelId?: number, list: ListPart = { part: 'whole' }, n = query.limit + 1) {
  const { bound, order } = partOf(list, 'older', query.search);
  return db
    .select()
    .from(contacts)
    .where(and(...listConditions(db, accountId, query, labelId), walkFrom({ direction: 'older', from: query.beforeId }), bound))
    .orderBy(order)
    .limit(n);
}

/**
 * The ids of the contacts listed just above `firstId`, oldest first, a page and one more: whether a
 * page of them lies before it and where that page starts (exported for its plans' test).
 */
export function contactIdsAbove(
  db: Db,
  accountId: string,
  query: Omit<ContactListQuery, 'label' | 'beforeId'>,
  firstId: number,
  labelId?: number,
  list: ListPart = { part: 'whole' },
  n = query.limit + 1,
) {
  const { bound, order } = partOf(list, 'newer', query.search);
  return db
    .select({ id: contacts.id })
    .from(contacts)
    .where(and(...listConditions(db, accountId, query, labelId), walkFrom({ direction: 'newer', from: firstId }), bound))
    .orderBy(order)
    .limit(n);
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

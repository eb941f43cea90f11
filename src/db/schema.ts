import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

/*
 * The conditions of two partial indexes, for them and for the queries that must state them to be
 * planned with them (whatever their parameters): one place, so that the two cannot drift apart.
 */
/** `id > 0`, true of every contact: contacts_account_paging_idx's, stated by the contact list alone. */
export const pagingCondition = (id: AnyPgColumn) => sql`${id} > 0`;
export const DELIVERY_STATUSES = ['applied', 'unchanged', 'stale', 'refused'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];
export const isDeliveryStatus = (value: unknown): value is DeliveryStatus => (DELIVERY_STATUSES as readonly unknown[]).includes(value);
/** The statuses a few deliveries in a hundred have: deliveries_account_rare_status_idx's. */
export const RARE_DELIVERY_STATUSES: readonly DeliveryStatus[] = ['refused', 'stale'];
export const rareStatusCondition = (status: AnyPgColumn) => sql`${status} in ${sql.raw(`(${RARE_DELIVERY_STATUSES.map((s) => `'${s}'`).join(', ')})`)}`;

export const accounts = pgTable('accounts', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  defaultRegion: text('default_region'),
  /** SHA-256 hex of the webhook token; the token itself is never stored. */
  webhookTokenHash: text('webhook_token_hash').notNull().unique(),
  apiKeyHash: text('api_key_hash').notNull().unique(),
  createdAt: createdAt(),
});

/**
 * Standard Webhooks signing secrets. Kept as issued (`whsec_…`): verifying an HMAC needs the key
 * itself, so unlike tokens and API keys these cannot be stored as hashes.
 */
export const signingSecrets = pgTable(
  'signing_secrets',
  {
    id: text('id').primaryKey(),
    accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
    secret: text('secret').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('signing_secrets_account_idx').on(t.accountId)],
);

export const agents = pgTable(
  'agents',
  {
    id: text('id').primaryKey(),
    accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
    /** Lower-cased: agents are matched case-insensitively. */
    email: text('email').notNull(),
    name: text('name'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('agents_account_email_unique').on(t.accountId, t.email)],
);

/** One enhanced-data section as stored: kept as a list so that section order survives jsonb. */
export type StoredSection = { title: string; items: StoredItem[] };
export type StoredItem = { text: string; description?: string; link?: string };
export type CustomAttributes = Record<string, string | number | boolean>;

export const contacts = pgTable(
  'contacts',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
    /** E.164. */
    phone: text('phone').notNull(),
    name: text('name'),
    email: text('email'),
    externalId: text('external_id'),
    customAttributes: jsonb('custom_attributes').$type<CustomAttributes>().notNull().default({}),
    enhancedData: jsonb('enhanced_data').$type<StoredSection[]>().notNull().default([]),
    inviteRequested: boolean('invite_requested').notNull().default(false),
    /** `occurred_at` of the newest delivery applied; older ones are stale. */
    lastOccurredAt: timestamp('last_occurred_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // (account_id, phone) is the only index that starts with account_id and holds every contact: a
  // lookup by phone planned without statistics (a new database, or autovacuum off) cannot pick an
  // index of another column and scan the whole account. So the (account_id, id) index that pages
  // through an account is partial, `where id > 0` (every id is): only a query that says so itself,
  // as the contact list does, can use it; a plain (account_id, id) index was taken by the batch
  // statements' lookup so planned (batch-plans.pg.test.ts). Search is
  // a substring match (ILIKE '%…%') on any of four columns, which only trigram indexes (pg_trgm)
  // serve: one on each, or the OR reads the whole table.
  (t) => [
    uniqueIndex('contacts_account_phone_unique').on(t.accountId, t.phone),
    uniqueIndex('contacts_account_external_id_unique').on(t.accountId, t.externalId).where(sql`${t.externalId} is not null`),
    index('contacts_account_paging_idx').on(t.accountId, t.id).where(pagingCondition(t.id)),
    index('contacts_name_trgm_idx').using('gin', t.name.op('gin_trgm_ops')),
    index('contacts_email_trgm_idx').using('gin', t.email.op('gin_trgm_ops')),
    index('contacts_external_id_trgm_idx').using('gin', t.externalId.op('gin_trgm_ops')),
    index('contacts_phone_trgm_idx').using('gin', t.phone.op('gin_trgm_ops')),
  ],
);

export const labels = pgTable(
  'labels',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
    /** As first written. */
    name: text('name').notNull(),
    /** Lower-cased: `VIP` and `vip` are one label. */
    key: text('key').notNull(),
  },
  (t) => [uniqueIndex('labels_account_key_unique').on(t.accountId, t.key)],
);

export const contactLabels = pgTable(
  'contact_labels',
  {
    contactId: bigint('contact_id', { mode: 'number' })
      .notNull()
      .references(() => contacts.id, { onDelete: 'cascade' }),
    labelId: bigint('label_id', { mode: 'number' })
      .notNull()
      .references(() => labels.id, { onDelete: 'cascade' }),
    /** Labels are shown in the order they were given. */
    position: integer('position').notNull(),
  },
  // (label_id, contact_id): a label's contacts in id order, for the contact list's label filter.
  (t) => [primaryKey({ columns: [t.contactId, t.labelId] }), index('contact_labels_label_contact_idx').on(t.labelId, t.contactId)],
);

export const conversations = pgTable(
  'conversations',
  {
    id: text('id').primaryKey(),
    accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
    contactId: bigint('contact_id', { mode: 'number' })
      .notNull()
      .references(() => contacts.id, { onDelete: 'cascade' }),
    subject: text('subject'),
    status: text('status', { enum: ['open', 'closed'] }).notNull().default('open'),
    assigneeId: text('assignee_id').references(() => agents.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
  },
  (t) => [index('conversations_contact_idx').on(t.contactId), index('conversations_assignee_idx').on(t.assigneeId)],
);

export const messages = pgTable(
  'messages',
  {
    id: text('id').primaryKey(),
    conversationId: text('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    direction: text('direction', { enum: ['inbound', 'outbound'] }).notNull(),
    body: text('body').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('messages_conversation_idx').on(t.conversationId, t.createdAt)],
);

export const deliveries = pgTable(
  'deliveries',
  {
    id: text('id').primaryKey(),
    accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
    operation: text('operation'),
    /** Masked (`+44*******456`): the log keeps no full phone. */
    phoneMasked: text('phone_masked'),
    /** The type only: the column is plain text, as in conversations.status. */
    status: text('status', { enum: DELIVERY_STATUSES }).notNull(),
    errorCode: text('error_code'),
    /**
     * A refused delivery's error as its sender was told it, naming the field at fault. It may quote
     * what was sent (an assignee's email), so it is kept, and purged, with the payload.
     */
    errorMessage: text('error_message'),
    durationMs: integer('duration_ms').notNull(),
    idempotencyKey: text('idempotency_key'),
    /** Kept for refused deliveries only, until `payload_expires_at`, so they can be replayed. */
    payload: text('payload'),
    payloadContentType: text('payload_content_type'),
    payloadExpiresAt: timestamp('payload_expires_at', { withTimezone: true }),
    /** A replay's: the refused delivery whose kept payload it applied again. */
    replayOf: text('replay_of'),
  },
  (t) => [
    index('deliveries_account_received_idx').on(t.accountId, t.receivedAt, t.id),
    // A refused delivery's replays, newest first: the log shows whether, and how, it was replayed.
    index('deliveries_replay_of_idx').on(t.replayOf, t.receivedAt, t.id).where(sql`${t.replayOf} is not null`),
    // The purge looks across accounts, by age.
    index('deliveries_received_idx').on(t.receivedAt),
    index('deliveries_payload_expires_idx').on(t.payloadExpiresAt).where(sql`${t.payload} is not null`),
    // The log filtered by a rare status (a few in a hundred) without reading past the common ones.
    index('deliveries_account_rare_status_idx').on(t.accountId, t.status, t.receivedAt, t.id).where(rareStatusCondition(t.status)),
  ],
);

/**
 * The phone of the contact a stored answer carries, as the delete finds the answers to strip
 * (`idempotency_keys_contact_phone_idx`): the same expression in both, or the index is not used.
 */
export const storedAnswerPhone = (responseBody: AnyPgColumn) => sql`(${responseBody} -> 'contact' ->> 'phone')`;

export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    /** SHA-256 of the payload's kind (json, form or query) and its text. */
    fingerprint: text('fingerprint').notNull(),
    /** The final answer (2xx, 400, 422); its HTTP status follows from its `code`. */
    responseBody: jsonb('response_body').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.accountId, t.key] }),
    index('idempotency_keys_expires_idx').on(t.expiresAt),
    // A contact's delete strips it from the account's stored answers: found by phone, not by
    // reading the account's 72 hours of keys (50 ms at 200,000 keys, and growing with them).
    index('idempotency_keys_contact_phone_idx').on(t.accountId, storedAnswerPhone(t.responseBody)),
  ],
);

/** How long a deleted phone's tombstone is kept (set on each delete, so from the last one). */
export const TOMBSTONE_TTL = sql.raw(`interval '30 days'`);

export const tombstones = pgTable(
  'tombstones',
  {
    accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
    /** SHA-256 of account and phone (phoneHash): a pseudonym, purged with the tombstone. */
    phoneHash: text('phone_hash').notNull(),
    deletedAt: timestamp('deleted_at', { withTimezone: true }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true })
      .notNull()
      .default(sql`now() + ${TOMBSTONE_TTL}`),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.phoneHash] }), index('tombstones_expires_idx').on(t.expiresAt)],
);

/**
 * Sessions of the web pages (`/ui`). The cookie holds a random token; only its SHA-256 is kept, so
 * a copy of this table opens no session. Logging out deletes the row: the cookie is then worthless.
 */
export const uiSessions = pgTable(
  'ui_sessions',
  {
    idHash: text('id_hash').primaryKey(),
    accountId: text('account_id').notNull().references(() => accounts.id, { onDelete: 'cascade' }),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('ui_sessions_expires_idx').on(t.expiresAt)],
);

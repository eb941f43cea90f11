import { z } from 'zod';
import { longerThan } from '../text.js';
import { labelKey } from './label-key.js';
import { parseIsoTime } from './iso-time.js';

const BOOLISH = 'must be true or false (or "true"/"false" in any case, or 1/0)';

/** `true`/`false`, `"true"`/`"false"` in any case, `1`/`0` (number or string). */
const Boolish = z
  .union([z.boolean(), z.number(), z.string().max(256)], { error: BOOLISH })
  .refine((v) => (typeof v === 'string' ? /^(true|false|1|0)$/i.test(v.trim()) : v === true || v === false || v === 1 || v === 0), {
    error: BOOLISH,
  })
  .transform((v) => v === true || v === 1 || (typeof v === 'string' && /^(true|1)$/i.test(v.trim())));

export const MAX_LABEL_LENGTH = 100;
export const MAX_LABELS = 100;
/** Said of one label in a list, at its place, and of a comma-separated string holding one. */
const LABEL_TOO_LONG = `must be at most ${MAX_LABEL_LENGTH} characters`;
const HOLDS_LABEL_TOO_LONG = `holds a label of more than ${MAX_LABEL_LENGTH} characters`;

/**
 * How much a label list may hold before it is read: room for spaces, empty entries and the same
 * label written twice, which do not count towards MAX_LABELS; beyond this no list can be a valid one.
 */
const MAX_LABEL_ENTRIES = MAX_LABELS * 10;
/** The longest comma-separated label string read. */
export const MAX_LABELS_TEXT_LENGTH = MAX_LABEL_ENTRIES * (MAX_LABEL_LENGTH + 2);

/** A comma-separated string or a list; trimmed, empty ones dropped; at most MAX_LABELS different labels. */
const LabelList = z
  .union(
    [
      z.string().max(MAX_LABELS_TEXT_LENGTH, { error: `is too long for ${MAX_LABELS} labels of at most ${MAX_LABEL_LENGTH} characters` }),
      z
        .array(z.string({ error: 'must be a string' }).max(MAX_LABEL_LENGTH * 4, { error: LABEL_TOO_LONG }))
        .max(MAX_LABEL_ENTRIES, { error: `must hold at most ${MAX_LABEL_ENTRIES} entries (and ${MAX_LABELS} different labels)` })
        .check((ctx) => {
          // In a list a label too long is told at its place; the check below tells it of a string.
          const at = ctx.value.findIndex((label) => longerThan(label.trim(), MAX_LABEL_LENGTH));
          if (at !== -1) ctx.issues.push({ code: 'custom', input: ctx.value[at], path: [at], message: LABEL_TOO_LONG });
        }),
    ],
    {
      error: 'must be a comma-separated string or a list of strings',
    },
  )
  .transform((v) => (typeof v === 'string' ? v.split(',') : v).map((label) => label.trim()).filter(Boolean))
  .check((ctx) => {
    if (new Set(ctx.value.map(labelKey)).size > MAX_LABELS) {
      ctx.issues.push({ code: 'custom', input: ctx.value, message: `must hold at most ${MAX_LABELS} labels` });
    }
    const long = ctx.value.find((label) => longerThan(label, MAX_LABEL_LENGTH));
    if (long !== undefined) {
      ctx.issues.push({ code: 'custom', input: long, message: HOLDS_LABEL_TOO_LONG });
    }
  });

const PHONE_FORMS = 'must be a phone number as a string, or as a whole number';

/** A number is taken only when it is whole, positive and exact: `7911123456.5` or `-447911123456` would read as another number. */
export const PhoneInput = z.union(
  [
    // Blank is missing (400), not a phone that is not valid (422).
    z.string().trim().min(1, { error: 'is required' }).max(64, { error: 'must be at most 64 characters' }),
    z.number().int({ error: PHONE_FORMS }).positive({ error: PHONE_FORMS }),
  ],
  { error: (issue) => (issue.input === undefined || issue.input === null ? 'is required' : PHONE_FORMS) },
);

const NUMBER_AS_TEXT = 'must be a string (a number is taken only when whole and at most 2^53 − 1: send others as text)';

/**
 * Optional text where `null` or `""` clears the stored value. A number is taken as its digits when
 * it is whole and exact: a larger one (`9007199254740993`) has already lost digits when it is read.
 */
const clearableText = (max: number) =>
  z
    .union([z.string().trim().max(max, { error: `must be at most ${max} characters` }), z.number().int({ error: NUMBER_AS_TEXT }), z.null()], { error: NUMBER_AS_TEXT })
    .transform((v) => (v === null ? null : String(v) || null))
    .optional();

/** Spaces around an email are dropped before it is checked, as they are around a name. */
const trimmed = (value: unknown) => (typeof value === 'string' ? value.trim() : value);

/**
 * zod's own email pattern with the letters, marks and digits of every script, not ASCII's alone:
 * `jörg@bücher.de` is an address (RFC 6531), and CRMs hold such.
 */
export const EMAIL_PATTERN = /^(?:[\p{L}\p{M}\p{N}_'+-]+\.)*[\p{L}\p{M}\p{N}_'+-]*[\p{L}\p{M}\p{N}_+-]@(?:[\p{L}\p{M}\p{N}][\p{L}\p{M}\p{N}-]*\.)+[\p{L}\p{M}]{2,}$/u;

const Email = z.email({ pattern: EMAIL_PATTERN, error: 'must be an email address' }).max(320);

export const isEmail = (value: string) => Email.safeParse(value).success;

/** Optional email where `null` or `""` clears the stored value. */
const ClearableEmail = z
  .preprocess((v) => (trimmed(v) === '' ? null : trimmed(v)), z.union([Email, z.null()], { error: 'must be an email address' }))
  .optional();

/**
 * `http(s)://`, `mailto:`, `tel:`, or a scheme-less address (`www.x.com`), stored with https://.
 * Anything else (`javascript:`, `data:`, …) is refused: it is shown as a link on the profile page.
 */
export function normaliseLink(link: string): string | null {
  const trimmed = link.trim();
  // Spaces in a phone number are how people write it (`tel:+44 7911 123456`, a no-break space
  // from a spreadsheet too); a tel: URI has none. A line break is still refused below.
  const text = /^tel:/i.test(trimmed) ? trimmed.replace(/[^\S\r\n]/g, '') : trimmed;
  if (/[\s\u0000-\u001f\u007f]/.test(text)) return null;
  if (/^https?:\/\//i.test(text)) return URL.canParse(text) ? text : null;
  if (/^(mailto|tel):./i.test(text)) return text;
  if (/^[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?([/?#]|$)/i.test(text)) {
    const url = `https://${text}`;
    return URL.canParse(url) ? url : null;
  }
  return null;
}

export const SectionItem = z.object({
  text: z.string({ error: 'is required and must be a string' }).trim().min(1, { error: 'must not be empty' }).max(500, { error: 'must be at most 500 characters' }),
  description: z.string({ error: 'must be a string' }).max(1000, { error: 'must be at most 1000 characters' }).nullish(),
  link: z
    .string({ error: 'must be a string' })
    .max(2048, { error: 'must be at most 2048 characters' })
    .nullish()
    .transform((link, ctx) => {
      if (link === null || link === undefined || link.trim() === '') return undefined;
      const normalised = normaliseLink(link);
      if (normalised === null) {
        ctx.issues.push({
          code: 'custom',
          input: link,
          message: 'must be an http(s)://, mailto: or tel: link, or a web address like www.example.com',
        });
        return z.NEVER;
      }
      return normalised;
    }),
}, { error: 'must be an item: an object with text, and description and link if wanted' });

export const MAX_SECTIONS = 50;
export const MAX_SECTION_ITEMS = 100;

/**
 * A delivery's limits count what it keeps, as the contact's do: removals (a section sent as `[]`,
 * an attribute as `null`) come on top, up to as many again, so that a whole profile can be
 * replaced in one delivery.
 */
const withRemovals = (max: number) => 2 * max;
const sectionsKept = (sections: { items: unknown[] }[]) => sections.filter(({ items }) => items.length > 0).length;
const tooManySections = {
  kept: `must hold at most ${MAX_SECTIONS} sections with items`,
  all: `must hold at most ${withRemovals(MAX_SECTIONS)} sections, removals ([]) included`,
};

/**
 * `schema`, for an object of at most `max` keys: one of more is refused for its size before any of
 * its values is read, as its count alone decides the answer (25,000 bad attribute values cost a
 * third of a second of the one thread, and as many issues, to be refused in the end for their number).
 */
const keysAtMost = <T extends z.ZodType>(max: number, error: string, schema: T) =>
  z.preprocess((value, ctx) => {
    if (isObject(value) && Object.keys(value).length > max) ctx.issues.push({ code: 'custom', input: value, message: error });
    return value;
  }, schema);

const Sections = keysAtMost(
  withRemovals(MAX_SECTIONS),
  tooManySections.all,
  z
    .record(
      z.string().trim().min(1, { error: 'a section title must not be empty' }).max(200, { error: 'a section title must be at most 200 characters' }),
      z.array(SectionItem, { error: 'must be a list of items' }).max(MAX_SECTION_ITEMS, { error: `must hold at most ${MAX_SECTION_ITEMS} items` }),
      { error: (issue) => (issue.code === 'invalid_type' ? 'must be an object of sections' : undefined) },
    )
    .refine((sections) => sectionsKept(Object.values(sections).map((items) => ({ items }))) <= MAX_SECTIONS, { error: tooManySections.kept }),
);

/** `{ "Section": [item, …] }` or a list of such objects; later sections of the same name win. */
const EnhancedData = z
  .union([Sections, z.array(Sections).max(MAX_SECTIONS, { error: `must be a list of at most ${MAX_SECTIONS} objects of sections` })], {
    error: 'must be an object of sections or a list of them',
  })
  .transform((value) => {
    const merged = new Map<string, z.infer<typeof SectionItem>[]>();
    for (const sections of Array.isArray(value) ? value : [value]) {
      for (const [title, items] of Object.entries(sections)) merged.set(title, items);
    }
    return [...merged].map(([title, items]) => ({ title, items }));
  })
  .refine((sections) => sections.length <= withRemovals(MAX_SECTIONS), { error: tooManySections.all })
  .refine((sections) => sectionsKept(sections) <= MAX_SECTIONS, { error: tooManySections.kept });

export const MAX_CUSTOM_ATTRIBUTES = 100;

/**
 * What a contact's enhanced data and custom attributes may hold together, as JSON: as much as the
 * largest delivery of the default body limit. The count limits alone let a contact grow, a
 * delivery at a time, to some 17 MB, which every later delivery for its phone then read, wrote and
 * answered (and kept, under an idempotency key): a 37-byte delivery cost 12 MB.
 */
export const MAX_CONTACT_DATA_BYTES = 256 * 1024;

/** A number as it was sent: past 2^53 − 1 (a 64-bit id, say) JSON parsing has already changed its digits. */
const ExactNumber = z.number().refine((n) => Math.abs(n) <= Number.MAX_SAFE_INTEGER, {
  error: 'is too large to keep exactly (past 2^53 − 1 a number has already lost digits when it is read): send it as text',
});

export const CustomAttributes = keysAtMost(
  withRemovals(MAX_CUSTOM_ATTRIBUTES),
  `must hold at most ${withRemovals(MAX_CUSTOM_ATTRIBUTES)} keys, removals (null) included`,
  z
    .record(
      z.string().min(1, { error: 'an attribute name must not be empty' }).max(100, { error: 'an attribute name must be at most 100 characters' }),
      z.union([z.string().max(1000, { error: 'must be at most 1000 characters' }), ExactNumber, z.boolean(), z.null()], {
        error: 'must be a string, number, boolean or null',
      }),
      { error: 'must be an object of attribute names to strings, numbers, booleans or null' },
    )
    .refine((attributes) => Object.values(attributes).filter((value) => value !== null).length <= MAX_CUSTOM_ATTRIBUTES, {
      error: `must hold at most ${MAX_CUSTOM_ATTRIBUTES} keys with values`,
    }),
);

/** How far ahead of this server's clock an `occurred_at` may be: any time zone written as UTC, not more. */
const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;

/**
 * Epoch milliseconds below this (March 1973) are epoch seconds sent by mistake: read as milliseconds
 * they would date the delivery in January 1970, and it would answer `stale` without a word.
 */
const MIN_EPOCH_MS = 100_000_000_000;

/** ISO 8601 with a time zone, or epoch milliseconds (as a number or a string of digits), at most 24 hours ahead. */
const OccurredAt = z
  .union([z.number(), z.string().max(64)], { error: 'must be an ISO 8601 time or epoch milliseconds' })
  .transform((value, ctx) => {
    const epoch = typeof value === 'number' || /^\s*\d+\s*$/.test(value) ? Number(value) : undefined;
    if (epoch !== undefined && (!Number.isInteger(epoch) || epoch < MIN_EPOCH_MS)) {
      const message = Number.isInteger(epoch) && epoch >= 0 ? 'looks like epoch seconds: send epoch milliseconds (seconds × 1000) or an ISO 8601 time' : 'must be whole epoch milliseconds or an ISO 8601 time';
      ctx.issues.push({ code: 'custom', input: value, message });
      return z.NEVER;
    }
    const date = epoch !== undefined ? new Date(epoch) : parseIsoTime(String(value));
    if (!date || Number.isNaN(date.getTime())) {
      ctx.issues.push({ code: 'custom', input: value, message: 'must be an ISO 8601 time with a zone, or epoch milliseconds' });
      return z.NEVER;
    }
    // No change in a CRM is older, and an older time would not come back from the database as it
    // went in: PostgreSQL writes years 1 to 99 as `0040-…`, which JavaScript reads as 2040, and
    // times before the 1900s in local mean time, with an offset in seconds.
    if (date.getTime() < 0) {
      ctx.issues.push({ code: 'custom', input: value, message: 'is before 1970: send the time the change happened, with its zone' });
      return z.NEVER;
    }
    // Taken, it would make every later delivery for the phone stale until that time comes.
    if (date.getTime() > Date.now() + MAX_FUTURE_MS) {
      ctx.issues.push({ code: 'custom', input: value, message: 'is more than 24 hours ahead: check the sender\'s clock and time zone' });
      return z.NEVER;
    }
    return date;
  });

export const ContactPayload = z.object({
  phone: PhoneInput,
  name: clearableText(200),
  email: ClearableEmail,
  external_id: clearableText(200),
  labels: LabelList.optional(),
  overrideLabels: Boolish.optional(),
  removeLabels: LabelList.optional(),
  enhanced_data: EnhancedData.optional(),
  custom_attributes: CustomAttributes.optional(),
}, { error: 'must be an object holding the contact’s phone and fields' });

export const WebhookPayload = z.object({
  contact: ContactPayload.optional(),
  delete_contact: PhoneInput.optional(),
  assignee: z.preprocess(trimmed, Email).optional(),
  overrideLabels: Boolish.optional(),
  removeLabels: LabelList.optional(),
  inviteNewContacts: Boolish.optional(),
  occurred_at: OccurredAt.optional(),
});

export type WebhookPayload = z.infer<typeof WebhookPayload>;
export type ContactPayload = z.infer<typeof ContactPayload>;

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

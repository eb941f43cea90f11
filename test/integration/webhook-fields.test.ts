import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, postWebhook, testDatabases, type JsonBody, type TestApp } from '../helpers/app.js';
import { eq } from 'drizzle-orm';
import { findContact } from '../../src/db/queries/contacts.js';
import { contacts } from '../../src/db/schema.js';
import { addAgent, addConversations, assigneesOf, storedContact, uniquePhone } from '../helpers/fixtures.js';
import { sleep } from '../helpers/process.js';

/** One row of SPEC §2.2: earlier deliveries, then the one under test and what must follow. */
interface FieldCase {
  name: string;
  before?: (phone: string) => unknown[];
  send: (phone: string) => unknown;
  status?: number;
  code?: string;
  /** What the stored contact (or null) must be after the delivery. */
  expect?: (stored: JsonBody | null, body: JsonBody) => void;
}

/** `count` sections named `prefix0`…, each with one item, or `items` (`[]` removes them). */
const sections = (prefix: string, count: number, items: unknown[] = [{ text: 't' }]) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, items]));
/** `count` custom attributes named `prefix0`…, each holding `value` (`null` removes them). */
const attributes = (prefix: string, count: number, value: unknown) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, value]));

const contact = (phone: string, fields: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => ({
  contact: { phone, ...fields },
  ...top,
});

const longText = (n: number) => 'x'.repeat(n);

/** A time five hours ahead of this machine's clock: a sender writing its local time as UTC. */
const AHEAD = Date.now() + 5 * 60 * 60_000;

const cases: FieldCase[] = [
  // phone
  { name: 'phone: E.164 is stored as sent', send: (p) => contact(p), expect: (s, b) => expect(s?.phone).toBe(b.contact.phone) },
  { name: 'phone: a number (not a string) is accepted', send: () => contact(447400999001 as unknown as string), expect: (_s, b) => expect(b.contact.phone).toBe('+447400999001') },
  { name: 'phone: letters are refused', send: () => contact('+44 7400 CALLME'), status: 422, code: 'invalid_phone' },
  { name: 'phone: too short is refused', send: () => contact('+44 12'), status: 422, code: 'invalid_phone' },
  { name: 'phone: missing is refused', send: () => ({ contact: { name: 'No Phone' } }), status: 400, code: 'invalid_payload' },
  { name: 'phone: an object is refused', send: () => ({ contact: { phone: { n: 1 } } }), status: 400, code: 'invalid_payload' },
  // As digits, 447.400… and -447400… would be another number (the phone's own, here): only whole positive numbers are phones.
  { name: 'phone: a number with a fraction is refused', send: (p) => contact(Number(`${p.slice(1, 4)}.${p.slice(4)}`) as unknown as string), status: 400, code: 'invalid_payload' },
  { name: 'phone: a negative number is refused', send: (p) => contact(-Number(p.slice(1)) as unknown as string), status: 400, code: 'invalid_payload' },
  {
    name: 'delete_contact: a number with a fraction is refused, and deletes nothing',
    before: (p) => [contact(p, { name: 'Still here' })],
    send: (p) => ({ delete_contact: Number(`${p.slice(1, 4)}.${p.slice(4)}`) }),
    status: 400,
    code: 'invalid_payload',
    expect: (s) => expect(s?.name).toBe('Still here'),
  },
  {
    name: 'delete_contact: keys only an upsert reads are listed in warnings',
    before: (p) => [contact(p)],
    send: (p) => ({ delete_contact: p, removeLabels: 'x', overrideLabels: true, inviteNewContacts: '1' }),
    expect: (s, b) => {
      expect(s).toBeNull();
      expect(b.warnings).toEqual(['overrideLabels: ignored by delete_contact', 'removeLabels: ignored by delete_contact', 'inviteNewContacts: ignored by delete_contact']);
    },
  },
  // name
  { name: 'name: sets the name', send: (p) => contact(p, { name: 'Ada Lovelace' }), expect: (s) => expect(s?.name).toBe('Ada Lovelace') },
  { name: 'name: absent leaves it as it is', before: (p) => [contact(p, { name: 'Kept' })], send: (p) => contact(p, { labels: 'x' }), expect: (s) => expect(s?.name).toBe('Kept') },
  { name: 'name: null clears it', before: (p) => [contact(p, { name: 'Gone' })], send: (p) => contact(p, { name: null }), expect: (s) => expect(s?.name).toBeNull() },
  { name: 'name: 200 characters are accepted', send: (p) => contact(p, { name: longText(200) }), expect: (s) => expect(s?.name).toHaveLength(200) },
  { name: 'name: a NUL character is refused (PostgreSQL cannot store it)', send: (p) => contact(p, { name: 'a\u0000b' }), status: 400, code: 'invalid_payload' },
  { name: 'name: 201 characters are refused', send: (p) => contact(p, { name: longText(201) }), status: 400, code: 'invalid_payload' },
  // labels
  { name: 'labels: comma-separated, trimmed, empty ones dropped', send: (p) => contact(p, { labels: ' a , b,, c ,' }), expect: (s) => expect(s?.labels).toEqual(['a', 'b', 'c']) },
  { name: 'labels: a list of strings', send: (p) => contact(p, { labels: ['x', ' y ', ''] }), expect: (s) => expect(s?.labels).toEqual(['x', 'y']) },
  { name: 'labels: merged by default, none removed', before: (p) => [contact(p, { labels: 'a, b' })], send: (p) => contact(p, { labels: 'c' }), expect: (s) => expect(s?.labels).toEqual(['a', 'b', 'c']) },
  { name: 'labels: one label whatever its case, shown as first written', before: (p) => [contact(p, { labels: 'VIP' })], send: (p) => contact(p, { labels: 'vip, Vip' }), expect: (s) => expect(s?.labels).toEqual(['VIP']) },
  { name: 'labels: a label of 101 characters is refused', send: (p) => contact(p, { labels: [longText(101)] }), status: 400, code: 'invalid_payload' },
  { name: 'labels: 101 labels in one delivery are refused', send: (p) => contact(p, { labels: Array.from({ length: 101 }, (_, i) => `l${i}`).join(',') }), status: 400, code: 'invalid_payload' },
  {
    name: 'labels: more than 100 on the contact after merging is limit_exceeded',
    before: (p) => [contact(p, { labels: Array.from({ length: 60 }, (_, i) => `a${i}`) })],
    send: (p) => contact(p, { labels: Array.from({ length: 60 }, (_, i) => `b${i}`) }),
    status: 422,
    code: 'limit_exceeded',
    expect: (s) => expect(s?.labels).toHaveLength(60),
  },
  { name: 'labels: a number is refused', send: (p) => contact(p, { labels: 5 }), status: 400, code: 'invalid_payload' },
  // overrideLabels
  ...[true, 'true', 'TRUE', 1, '1'].map((value) => ({
    name: `overrideLabels: ${JSON.stringify(value)} at top level replaces all`,
    before: (p: string) => [contact(p, { labels: 'a, b' })],
    send: (p: string) => contact(p, { labels: 'c' }, { overrideLabels: value }),
    expect: (s: JsonBody | null) => expect(s?.labels).toEqual(['c']),
  })),
  ...[false, 'false', 'False', 0, '0'].map((value) => ({
    name: `overrideLabels: ${JSON.stringify(value)} merges`,
    before: (p: string) => [contact(p, { labels: 'a' })],
    send: (p: string) => contact(p, { labels: 'c' }, { overrideLabels: value }),
    expect: (s: JsonBody | null) => expect(s?.labels).toEqual(['a', 'c']),
  })),
  { name: 'overrideLabels: inside contact works too', before: (p) => [contact(p, { labels: 'a' })], send: (p) => contact(p, { labels: ['b'], overrideLabels: true }), expect: (s) => expect(s?.labels).toEqual(['b']) },
  { name: 'overrideLabels: with "" clears every label', before: (p) => [contact(p, { labels: 'a, b' })], send: (p) => contact(p, { labels: '' }, { overrideLabels: 'true' }), expect: (s) => expect(s?.labels).toEqual([]) },
  { name: 'overrideLabels: with [] clears every label', before: (p) => [contact(p, { labels: 'a' })], send: (p) => contact(p, { labels: [] }, { overrideLabels: true }), expect: (s) => expect(s?.labels).toEqual([]) },
  { name: 'overrideLabels: without labels changes nothing', before: (p) => [contact(p, { labels: 'a' })], send: (p) => contact(p, {}, { overrideLabels: true }), expect: (s, b) => { expect(s?.labels).toEqual(['a']); expect(b.status).toBe('unchanged'); } },
  { name: 'overrideLabels: "yes" is refused', send: (p) => contact(p, { labels: 'a' }, { overrideLabels: 'yes' }), status: 400, code: 'invalid_payload' },
  // removeLabels
  { name: 'removeLabels: removes after adding, any case', before: (p) => [contact(p, { labels: 'a, B' })], send: (p) => contact(p, { labels: 'c', removeLabels: 'b, C' }), expect: (s) => expect(s?.labels).toEqual(['a']) },
  // enhanced_data
  {
    name: 'enhanced_data: an object of sections; scheme-less links get https://',
    send: (p) => contact(p, { enhanced_data: { Orders: [{ text: 'A-1', description: 'paid', link: 'www.example.com/a' }] } }),
    expect: (s) => expect(s?.enhanced_data).toEqual({ Orders: [{ text: 'A-1', description: 'paid', link: 'https://www.example.com/a' }] }),
  },
  {
    name: 'enhanced_data: a list of section objects',
    send: (p) => contact(p, { enhanced_data: [{ One: [{ text: '1' }] }, { Two: [{ text: '2', link: 'mailto:a@b.co' }] }] }),
    expect: (s) => expect(s?.enhanced_data).toEqual({ One: [{ text: '1' }], Two: [{ text: '2', link: 'mailto:a@b.co' }] }),
  },
  {
    name: 'enhanced_data: a section sent replaces it, others are kept, [] removes one',
    before: (p) => [contact(p, { enhanced_data: { A: [{ text: 'a1' }], B: [{ text: 'b1' }], C: [{ text: 'c1' }] } })],
    send: (p) => contact(p, { enhanced_data: { A: [{ text: 'a2', link: 'tel:+447400000001' }], C: [] } }),
    expect: (s) => expect(s?.enhanced_data).toEqual({ A: [{ text: 'a2', link: 'tel:+447400000001' }], B: [{ text: 'b1' }] }),
  },
  ...['javascript:alert(1)', 'data:text/html,<script>x</script>', 'ftp://example.com', 'vbscript:x', 'https://exa mple.com'].map((link) => ({
    name: `enhanced_data: link ${link} is refused`,
    send: (p: string) => contact(p, { enhanced_data: { S: [{ text: 't', link }] } }),
    status: 400,
    code: 'invalid_payload',
    expect: (s: JsonBody | null) => expect(s).toBeNull(),
  })),
  { name: 'enhanced_data: item text is required', send: (p) => contact(p, { enhanced_data: { S: [{ description: 'd' }] } }), status: 400, code: 'invalid_payload' },
  { name: 'enhanced_data: text over 500 is refused', send: (p) => contact(p, { enhanced_data: { S: [{ text: longText(501) }] } }), status: 400, code: 'invalid_payload' },
  { name: 'enhanced_data: description over 1000 is refused', send: (p) => contact(p, { enhanced_data: { S: [{ text: 't', description: longText(1001) }] } }), status: 400, code: 'invalid_payload' },
  { name: 'enhanced_data: link over 2048 is refused', send: (p) => contact(p, { enhanced_data: { S: [{ text: 't', link: `https://x.co/${longText(2040)}` }] } }), status: 400, code: 'invalid_payload' },
  { name: 'enhanced_data: 51 sections are refused', send: (p) => contact(p, { enhanced_data: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`S${i}`, [{ text: 't' }]])) }), status: 400, code: 'invalid_payload' },
  { name: 'enhanced_data: 101 items in a section are refused', send: (p) => contact(p, { enhanced_data: { S: Array.from({ length: 101 }, () => ({ text: 't' })) } }), status: 400, code: 'invalid_payload' },
  {
    name: 'enhanced_data: more than 50 sections after merging is limit_exceeded',
    before: (p) => [contact(p, { enhanced_data: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`A${i}`, [{ text: 't' }]])) })],
    send: (p) => contact(p, { enhanced_data: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`B${i}`, [{ text: 't' }]])) }),
    status: 422,
    code: 'limit_exceeded',
  },
  { name: 'enhanced_data: a string is refused', send: (p) => contact(p, { enhanced_data: 'nope' }), status: 400, code: 'invalid_payload' },
  {
    // "A" and " A" are one section once trimmed: one would silently replace (or remove) the other.
    name: 'enhanced_data: one title twice once trimmed is refused, and the section is kept',
    before: (p) => [contact(p, { enhanced_data: { A: [{ text: 'kept' }] } })],
    send: (p) => contact(p, { enhanced_data: { A: [{ text: 'new' }], ' A': [] } }),
    status: 400,
    code: 'invalid_payload',
    expect: (s, b) => { expect(b.error).toBe('contact.enhanced_data holds the section "A" twice once titles are trimmed: send it once'); expect(s?.enhanced_data).toEqual({ A: [{ text: 'kept' }] }); },
  },
  {
    name: 'enhanced_data: in a list, a later object\'s section of the same title wins, as documented',
    send: (p) => contact(p, { enhanced_data: [{ A: [{ text: 'first' }] }, { ' A': [{ text: 'second' }] }] }),
    expect: (s) => expect(s?.enhanced_data).toEqual({ A: [{ text: 'second' }] }),
  },
  {
    // Removals do not count towards the 50: a whole profile is replaced in one delivery.
    name: 'enhanced_data: 50 sections removed and 50 new ones in one delivery are applied',
    before: (p) => [contact(p, { enhanced_data: sections('Old', 50) })],
    send: (p) => contact(p, { enhanced_data: { ...sections('Old', 50, []), ...sections('New', 50) } }),
    expect: (s, b) => { expect(b.status).toBe('applied'); expect(Object.keys(s?.enhanced_data ?? {})).toEqual(Object.keys(sections('New', 50))); },
  },
  { name: 'enhanced_data: over 100 sections, removals included, are refused', send: (p) => contact(p, { enhanced_data: { ...sections('Old', 51, []), ...sections('New', 50) } }), status: 400, code: 'invalid_payload' },
  // email, external_id
  { name: 'email: stored', send: (p) => contact(p, { email: 'ada@example.com' }), expect: (s) => expect(s?.email).toBe('ada@example.com') },
  { name: 'email: not an email is refused', send: (p) => contact(p, { email: 'not-an-email' }), status: 400, code: 'invalid_payload' },
  { name: 'email: letters of any script are an address (RFC 6531)', send: (p) => contact(p, { email: 'jörg@bücher.de' }), expect: (s) => expect(s?.email).toBe('jörg@bücher.de') },
  { name: 'email: a domain without a dot is refused', send: (p) => contact(p, { email: 'jörg@bücher' }), status: 400, code: 'invalid_payload' },
  { name: 'email: spaces around it are dropped, as from a name', send: (p) => contact(p, { email: ' ada@example.com\t' }), expect: (s) => expect(s?.email).toBe('ada@example.com') },
  { name: 'email: only spaces clears it, as ""', before: (p) => [contact(p, { email: 'gone@example.com' })], send: (p) => contact(p, { email: '  ' }), expect: (s) => expect(s?.email).toBeNull() },
  { name: 'email: a number is refused', send: (p) => contact(p, { email: 5 }), status: 400, code: 'invalid_payload' },
  { name: 'external_id: stored (numbers as text)', send: (p) => contact(p, { external_id: 12345 }), expect: (s) => expect(s?.external_id).toBe('12345') },
  { name: 'external_id: over 200 is refused', send: (p) => contact(p, { external_id: longText(201) }), status: 400, code: 'invalid_payload' },
  // JSON.parse has already turned 9007199254740993 into …992: storing it would link the contact to another CRM record.
  { name: 'external_id: a number past 2^53 is refused, not stored rounded', send: (p) => `{"contact":{"phone":"${p}","external_id":9007199254740993}}`, status: 400, code: 'invalid_payload' },
  { name: 'external_id: a number with a fraction is refused', send: (p) => contact(p, { external_id: 12.5 }), status: 400, code: 'invalid_payload' },
  // custom_attributes
  {
    name: 'custom_attributes: shallow merge, null removes a key',
    before: (p) => [contact(p, { custom_attributes: { plan: 'pro', seats: 3, trial: true } })],
    send: (p) => contact(p, { custom_attributes: { seats: 5, trial: null } }),
    expect: (s) => expect(s?.custom_attributes).toEqual({ plan: 'pro', seats: 5 }),
  },
  {
    name: 'custom_attributes: 100 keys removed and 100 new ones in one delivery are applied',
    before: (p) => [contact(p, { custom_attributes: attributes('old', 100, 1) })],
    send: (p) => contact(p, { custom_attributes: { ...attributes('old', 100, null), ...attributes('new', 100, 2) } }),
    expect: (s, b) => { expect(b.status).toBe('applied'); expect(s?.custom_attributes).toEqual(attributes('new', 100, 2)); },
  },
  { name: 'custom_attributes: over 200 keys, removals included, are refused', send: (p) => contact(p, { custom_attributes: { ...attributes('old', 101, null), ...attributes('new', 100, 2) } }), status: 400, code: 'invalid_payload' },
  { name: 'custom_attributes: a nested object is refused', send: (p) => contact(p, { custom_attributes: { a: { b: 1 } } }), status: 400, code: 'invalid_payload' },
  { name: 'custom_attributes: 101 keys are refused', send: (p) => contact(p, { custom_attributes: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i])) }), status: 400, code: 'invalid_payload' },
  {
    name: 'custom_attributes: more than 100 keys after merging is limit_exceeded',
    before: (p) => [contact(p, { custom_attributes: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`a${i}`, i])) })],
    send: (p) => contact(p, { custom_attributes: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`b${i}`, i])) }),
    status: 422,
    code: 'limit_exceeded',
    expect: (s) => expect(Object.keys(s?.custom_attributes ?? {})).toHaveLength(60),
  },
  // inviteNewContacts
  { name: 'inviteNewContacts: marks a new contact', send: (p) => contact(p, {}, { inviteNewContacts: 'true' }), expect: (s) => expect(s?.invite_requested).toBe(true) },
  { name: 'inviteNewContacts: leaves an existing contact alone', before: (p) => [contact(p)], send: (p) => contact(p, {}, { inviteNewContacts: true }), expect: (s) => expect(s?.invite_requested).toBe(false) },
  { name: 'inviteNewContacts: absent does not mark', send: (p) => contact(p), expect: (s) => expect(s?.invite_requested).toBe(false) },
  // occurred_at
  {
    name: 'occurred_at: an older delivery is stale and not applied',
    before: (p) => [contact(p, { name: 'New' }, { occurred_at: '2026-01-02T00:00:00Z' })],
    send: (p) => contact(p, { name: 'Old' }, { occurred_at: '2026-01-01T00:00:00Z' }),
    expect: (s, b) => { expect(b.status).toBe('stale'); expect(s?.name).toBe('New'); },
  },
  {
    name: 'occurred_at: epoch milliseconds compare with ISO times',
    before: (p) => [contact(p, { name: 'First' }, { occurred_at: '2026-01-01T00:00:00Z' })],
    send: (p) => contact(p, { name: 'Second' }, { occurred_at: Date.parse('2026-01-01T00:00:01Z') }),
    expect: (s, b) => { expect(b.status).toBe('applied'); expect(s?.name).toBe('Second'); },
  },
  {
    name: 'occurred_at: Salesforce\'s +0000-style offset is read, and its sign counts (00:30 at +01 is 23:30 the day before in UTC)',
    before: (p) => [contact(p, { name: 'New' }, { occurred_at: '2026-01-02T00:00:00Z' })],
    send: (p) => contact(p, { name: 'Old' }, { occurred_at: '2026-01-02T00:30:00.000+0100' }),
    expect: (s, b) => { expect(b.status).toBe('stale'); expect(s?.name).toBe('New'); },
  },
  {
    name: 'occurred_at: PostgreSQL\'s text form (a space, an hour-only offset) is read',
    before: (p) => [contact(p, { name: 'First' }, { occurred_at: '2026-01-01T10:00:00Z' })],
    send: (p) => contact(p, { name: 'Second' }, { occurred_at: '2026-01-01 10:00:01+00' }),
    expect: (s, b) => { expect(b.status).toBe('applied'); expect(s?.name).toBe('Second'); },
  },
  {
    name: 'occurred_at: an upsert older than the deletion does not bring the contact back',
    before: (p) => [contact(p, { name: 'Was' }), { delete_contact: p, occurred_at: '2026-03-01T00:00:00Z' }],
    send: (p) => contact(p, { name: 'Zombie' }, { occurred_at: '2026-02-01T00:00:00Z' }),
    expect: (s, b) => { expect(b.status).toBe('stale'); expect(s).toBeNull(); },
  },
  {
    // A sender whose clock runs ahead (local time written as UTC): its last time is later than the delete's.
    name: 'occurred_at: a delete without one keeps the phone\'s last time, so an older upsert after it is stale',
    before: (p) => [contact(p, { name: 'Current' }, { occurred_at: AHEAD }), { delete_contact: p }],
    send: (p) => contact(p, { name: 'Outdated' }, { occurred_at: AHEAD - 60 * 60_000 }),
    expect: (s, b) => { expect(b.status).toBe('stale'); expect(s).toBeNull(); },
  },
  {
    name: 'occurred_at: after a delete without one, the last delivery sent again is stale too',
    before: (p) => [contact(p, { name: 'Current' }, { occurred_at: AHEAD }), { delete_contact: p }],
    send: (p) => contact(p, { name: 'Current' }, { occurred_at: AHEAD }),
    expect: (s, b) => { expect(b.status).toBe('stale'); expect(s).toBeNull(); },
  },
  {
    // The phone's last time is the dated delete's, and an undated upsert leaves it as it was (audit S9).
    name: 'occurred_at: a delete without one after an undated re-creation keeps an earlier deletion\'s time, so its last delivery sent again is stale',
    before: (p) => [
      contact(p, { name: 'Current' }, { occurred_at: AHEAD }),
      { delete_contact: p, occurred_at: AHEAD },
      contact(p, { name: 'By hand' }),
      { delete_contact: p },
    ],
    send: (p) => contact(p, { name: 'Current' }, { occurred_at: AHEAD }),
    expect: (s, b) => { expect(b.status).toBe('stale'); expect(s).toBeNull(); },
  },
  {
    name: 'occurred_at: an upsert newer than the deletion creates it again',
    before: (p) => [{ delete_contact: p, occurred_at: '2026-03-01T00:00:00Z' }],
    send: (p) => contact(p, { name: 'Back' }, { occurred_at: '2026-03-02T00:00:00Z' }),
    expect: (s, b) => { expect(b.status).toBe('applied'); expect(s?.name).toBe('Back'); },
  },
  {
    name: 'occurred_at: a delete older than the last delivery is stale, and says the contact is still there',
    before: (p) => [contact(p, { name: 'Kept' }, { occurred_at: '2026-01-02T00:00:00Z' })],
    send: (p) => ({ delete_contact: p, occurred_at: '2026-01-01T00:00:00Z' }),
    expect: (s, b) => {
      expect(b).toMatchObject({ status: 'stale', operation: 'delete', contact: true, deleted: { contact: false, conversations: 0, messages: 0 } });
      expect(s?.name).toBe('Kept');
    },
  },
  {
    name: 'occurred_at: a stale delete of a phone without a contact says there is none',
    before: (p) => [{ delete_contact: p, occurred_at: '2026-01-02T00:00:00Z' }],
    send: (p) => ({ delete_contact: p, occurred_at: '2026-01-01T00:00:00Z' }),
    expect: (s, b) => {
      expect(b).toMatchObject({ status: 'stale', operation: 'delete', contact: false, deleted: { contact: false } });
      expect(s).toBeNull();
    },
  },
  {
    name: 'occurred_at: more than 24 hours ahead is refused (it would make the phone stale until then)',
    before: (p) => [contact(p, { name: 'Now' })],
    send: (p) => contact(p, { name: 'Future' }, { occurred_at: new Date(Date.now() + 25 * 60 * 60_000).toISOString() }),
    status: 400,
    code: 'invalid_payload',
  },
  {
    name: 'occurred_at: a few hours ahead (a time zone written as UTC) is taken',
    send: (p) => contact(p, { name: 'Soon' }, { occurred_at: Date.now() + 14 * 60 * 60_000 }),
    expect: (s, b) => { expect(b.status).toBe('applied'); expect(s?.name).toBe('Soon'); },
  },
  { name: 'occurred_at: after year 9999 is refused', send: (p) => contact(p, {}, { occurred_at: 253402300800000 }), status: 400, code: 'invalid_payload' },
  // Before 1970 a time is refused: years 1 to 99 would be read back from the database as other
  // years (0040 as 2040: every delivery after it stale), earlier ones in local mean time.
  { name: 'occurred_at: year 0 is refused', send: (p) => contact(p, { name: 'Never' }, { occurred_at: '0000-01-01T00:00:00Z' }), status: 400, code: 'invalid_payload' },
  { name: 'occurred_at: year 40 is refused', send: (p) => contact(p, { name: 'Never' }, { occurred_at: '0040-01-01T00:00:00Z' }), status: 400, code: 'invalid_payload' },
  { name: 'occurred_at: a moment before 1970 in UTC is refused', send: (p) => contact(p, {}, { occurred_at: '1970-01-01T00:30:00+01:00' }), status: 400, code: 'invalid_payload' },
  {
    name: 'occurred_at: 1970 is taken, and a delivery of today after it is applied',
    before: (p) => [contact(p, { name: 'Old' }, { occurred_at: '1970-01-01T00:00:00Z' })],
    send: (p) => contact(p, { name: 'New' }, { occurred_at: new Date().toISOString() }),
    expect: (s, b) => { expect(b.status).toBe('applied'); expect(s?.name).toBe('New'); },
  },
  { name: 'name: an unpaired surrogate is refused', send: (p) => contact(p, { name: 'a\ud800b' }), status: 400, code: 'invalid_payload' },
  { name: 'custom_attributes: an unpaired surrogate is refused', send: (p) => contact(p, { custom_attributes: { a: '\udc00' } }), status: 400, code: 'invalid_payload' },
  { name: 'a payload nested 20,000 levels deep is refused', send: (p) => `{"contact":{"phone":"${p}"},"x":${"[".repeat(20000)}${"]".repeat(20000)}}`, status: 400, code: 'invalid_payload' },
  { name: 'occurred_at: not a time is refused', send: (p) => contact(p, {}, { occurred_at: 'yesterday' }), status: 400, code: 'invalid_payload' },
  { name: 'occurred_at: a time without a zone is refused', send: (p) => contact(p, {}, { occurred_at: '2026-01-01T10:00:00' }), status: 400, code: 'invalid_payload' },
  // unknown keys
  {
    name: 'unknown keys are ignored and listed in warnings',
    send: (p) => ({ contact: { phone: p, nickname: 'Al', enhanced_data: { S: [{ text: 't', colour: 'red' }] } }, extra: 1 }),
    expect: (s, b) => {
      expect(b.warnings).toEqual(['extra: unknown key, ignored', 'contact.nickname: unknown key, ignored', 'contact.enhanced_data.S[0].colour: unknown key, ignored']);
      expect(s).not.toHaveProperty('nickname');
    },
  },
  {
    name: 'an assignee put inside contact is an unknown key there, and its warning says where it is read; nothing is assigned',
    send: (p) => ({ contact: { phone: p, assignee: 'agent@company.com' } }),
    expect: (_, b) => {
      expect(b).toMatchObject({ operation: 'upsert', assigned_conversations: 0 });
      expect(b.warnings).toEqual(['contact.assignee: unknown key, ignored (assignee is read at the top level, beside contact)']);
    },
  },
  {
    name: 'warnings are bounded: 60 unknown keys give 49 named and one that counts the other 11',
    send: (p) => ({ contact: { phone: p, ...Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`extra${i}`, i])) } }),
    expect: (s, b) => {
      expect(b.warnings).toHaveLength(50);
      expect(b.warnings.at(-1)).toBe('…and 11 more warnings');
      expect(s).not.toBeNull();
    },
  },
  {
    name: 'a __proto__ key in custom_attributes or enhanced_data is ignored and listed in warnings',
    send: (p) => `{"contact":{"phone":"${p}","custom_attributes":{"__proto__":"x","a":1},"enhanced_data":{"__proto__":[{"text":"p"}],"S":[{"text":"s"}]}}}`,
    expect: (s, b) => {
      expect(b.warnings).toEqual(['contact.custom_attributes.__proto__: unknown key, ignored', 'contact.enhanced_data.__proto__: unknown key, ignored']);
      expect(s?.custom_attributes).toEqual({ a: 1 });
      expect(s?.enhanced_data).toEqual({ S: [{ text: 's' }] });
    },
  },
];

describe.each(testDatabases())('SPEC §2.2 contact fields on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(kind);
  });
  afterAll(() => t.close());

  it.each(cases)('$name', async ({ before, send, status = 200, code, expect: check }) => {
    const phone = uniquePhone();
    for (const payload of before?.(phone) ?? []) expect((await postWebhook(t, payload)).status).toBe(200);
    const stateBefore = await storedContact(t, phone);
    const res = await postWebhook(t, send(phone));
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    if (code) {
      expect(res.body.code).toBe(code);
      expect(res.body.error).toEqual(expect.any(String));
      expect(res.body.delivery_id).toMatch(/^dlv_/);
      // A refused delivery changes nothing.
      expect(await storedContact(t, phone)).toEqual(stateBefore);
    }
    check?.(await storedContact(t, res.body.contact?.phone ?? phone), res.body);
  });

  it.each([
    ['a plain upsert (batched)', {}],
    ['an upsert with occurred_at (applied on its own)', { occurred_at: '2026-01-01T00:00:00Z' }],
  ])('a change of labels alone moves updated_at, a repeat does not: %s', async (_, top) => {
    const phone = uniquePhone();
    const updatedAt = async () => (await findContact(t.database.db, t.account.id, phone))!.updatedAt.getTime();
    expect((await postWebhook(t, contact(phone, { name: 'Named' }))).status).toBe(200);
    const created = await updatedAt();
    await sleep(20);
    expect((await postWebhook(t, contact(phone, { labels: 'new-label' }, top))).body.status).toBe('applied');
    const labelled = await updatedAt();
    expect(labelled).toBeGreaterThan(created);
    await sleep(20);
    expect((await postWebhook(t, contact(phone, { labels: 'new-label' }, top))).body.status).toBe('unchanged');
    expect(await updatedAt()).toBe(labelled);
  });

  describe('phone forms are one contact', () => {
    it.each(['+44 7400 123456', '0044 7400 123456', '447400123456', '07400 123456', '+44 7400-123-456', 'tel:+44-7400-123456', 447400123456])(
      '%s → +447400123456 (account region GB)',
      async (form) => {
        const res = await postWebhook(t, { contact: { phone: form, labels: [`form ${typeof form} ${form}`] } });
        expect(res.status).toBe(200);
        expect(res.body.contact.phone).toBe('+447400123456');
      },
    );

    it('all of them landed on the same contact', async () => {
      expect((await storedContact(t, '+447400123456'))?.labels).toHaveLength(7);
    });

    it('digits are read in the account region first, then as international', async () => {
      const us = await t.newAccount('US');
      const local = await postWebhook(t, { contact: { phone: '(415) 555-2671' } }, { token: us.webhookToken });
      expect(local.body.contact.phone).toBe('+14155552671');
      const international = await postWebhook(t, { contact: { phone: '447400123457' } }, { token: us.webhookToken });
      expect(international.body.contact.phone).toBe('+447400123457');
    });

    it('without a region, digits must be international', async () => {
      const none = await t.newAccount(null);
      expect((await postWebhook(t, { contact: { phone: '07400 123456' } }, { token: none.webhookToken })).body.code).toBe('invalid_phone');
      expect((await postWebhook(t, { contact: { phone: '447400123456' } }, { token: none.webhookToken })).body.contact.phone).toBe('+447400123456');
    });
  });

  describe('external_id', () => {
    it('held by another phone is external_id_taken, and nothing of the delivery is applied', async () => {
      const [a, b] = [uniquePhone(), uniquePhone()];
      await postWebhook(t, { contact: { phone: a, external_id: 'crm-1' } });
      await postWebhook(t, { contact: { phone: b, name: 'B' } });
      const res = await postWebhook(t, { contact: { phone: b, name: 'B2', external_id: 'crm-1' } });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('external_id_taken');
      expect((await storedContact(t, b))?.name).toBe('B');
    });

    it('the same phone sending its own external_id again is fine', async () => {
      const a = uniquePhone();
      await postWebhook(t, { contact: { phone: a, external_id: 'crm-2' } });
      const res = await postWebhook(t, { contact: { phone: a, external_id: 'crm-2' } });
      expect(res.body.status).toBe('unchanged');
    });

    it('is unique per account, not across accounts', async () => {
      const other = await t.newAccount();
      await postWebhook(t, { contact: { phone: uniquePhone(), external_id: 'shared-id' } });
      const res = await postWebhook(t, { contact: { phone: uniquePhone(), external_id: 'shared-id' } }, { token: other.webhookToken });
      expect(res.status).toBe(200);
    });
  });

  describe('assignee', () => {
    it('assigns every conversation of the contact to the agent, case-insensitively, spaces around the email dropped', async () => {
      const phone = uniquePhone();
      const agentId = await addAgent(t, 'Sam@Company.com');
      const ids = await addConversations(t, phone, 2);
      const res = await postWebhook(t, { contact: { phone, name: 'Assigned' }, assignee: 'sam@COMPANY.com' });
      expect(res.status).toBe(200);
      expect(res.body.operation).toBe('upsert_assign');
      expect(res.body.assigned_conversations).toBe(2);
      expect(await assigneesOf(t, ids)).toEqual([agentId, agentId]);
      const again = await postWebhook(t, { contact: { phone, name: 'Assigned' }, assignee: ' sam@company.com ' });
      expect(again.status, JSON.stringify(again.body)).toBe(200);
      expect(again.body.status).toBe('unchanged');
    });

    it('an unknown agent is unknown_assignee, and the upsert is not applied either', async () => {
      const phone = uniquePhone();
      const ids = await addConversations(t, phone, 1);
      const res = await postWebhook(t, { contact: { phone, name: 'Should not be set' }, assignee: 'nobody@company.com' });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('unknown_assignee');
      expect((await storedContact(t, phone))?.name).toBeNull();
      expect(await assigneesOf(t, ids)).toEqual([null]);
    });

    it("another account's agent is unknown here", async () => {
      const other = await t.newAccount();
      await addAgent(t, 'theirs@company.com', other.id);
      const res = await postWebhook(t, { contact: { phone: uniquePhone() }, assignee: 'theirs@company.com' });
      expect(res.body.code).toBe('unknown_assignee');
    });

    it('not an email is refused', async () => {
      const res = await postWebhook(t, { contact: { phone: uniquePhone() }, assignee: 'sam' });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_payload');
    });

    it('moves conversations another agent holds to the one named, and says applied', async () => {
      const phone = uniquePhone();
      const first = await addAgent(t, 'first@company.com');
      const second = await addAgent(t, 'second@company.com');
      const ids = await addConversations(t, phone, 2);
      await postWebhook(t, { contact: { phone }, assignee: 'first@company.com' });
      expect(await assigneesOf(t, ids)).toEqual([first, first]);
      const moved = await postWebhook(t, { contact: { phone }, assignee: 'second@company.com' });
      expect(moved.body).toMatchObject({ status: 'applied', assigned_conversations: 2 });
      expect(await assigneesOf(t, ids)).toEqual([second, second]);
    });

    it('an assignment that changes only the conversations is applied, not unchanged', async () => {
      const phone = uniquePhone();
      await postWebhook(t, { contact: { phone } });
      await addAgent(t, 'only@company.com');
      await addConversations(t, phone, 1);
      const res = await postWebhook(t, { contact: { phone }, assignee: 'only@company.com' });
      expect(res.body).toMatchObject({ status: 'applied', assigned_conversations: 1 });
    });
  });

  describe('what only a second delivery, or a boundary, shows', () => {
    it('a top-level removeLabels beside contact removes them, in JSON and as a flat form field', async () => {
      const phone = uniquePhone();
      await postWebhook(t, { contact: { phone, labels: 'a, b, c' } });
      const json = await postWebhook(t, { contact: { phone }, removeLabels: 'b' });
      expect(json.body.contact.labels).toEqual(['a', 'c']);
      const form = await t.app.request(`/webhooks/${t.account.webhookToken}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `phone=${encodeURIComponent(phone)}&removeLabels=c`,
      });
      expect(((await form.json()) as JsonBody).contact.labels).toEqual(['a']);
      expect((await storedContact(t, phone))?.labels).toEqual(['a']);
    });

    it('a contact can reach exactly 100 labels by merging; the 101st is limit_exceeded', async () => {
      const phone = uniquePhone();
      await postWebhook(t, { contact: { phone, labels: Array.from({ length: 99 }, (_, i) => `l${i}`) } });
      const hundredth = await postWebhook(t, { contact: { phone, labels: 'l99' } });
      expect(hundredth.status).toBe(200);
      expect(hundredth.body.contact.labels).toHaveLength(100);
      const more = await postWebhook(t, { contact: { phone, labels: 'l100' } });
      expect(more.status).toBe(422);
      expect(more.body.code).toBe('limit_exceeded');
    });

    it("a contact's enhanced data and custom attributes hold at most 256 KiB together; a delivery past it is limit_exceeded and changes nothing", async () => {
      const phone = uniquePhone();
      // About 62 KB a section: four fit, a fifth would not.
      const section = Array.from({ length: 40 }, () => ({ text: longText(500), description: longText(1000) }));
      for (let i = 0; i < 4; i++) expect((await postWebhook(t, contact(phone, { enhanced_data: { [`S${i}`]: section } }))).status).toBe(200);
      const fifth = await postWebhook(t, contact(phone, { name: 'Fifth', enhanced_data: { S4: section } }));
      expect(fifth.status).toBe(422);
      expect(fifth.body).toMatchObject({ code: 'limit_exceeded', issues: [{ path: 'contact.enhanced_data' }] });
      expect(fifth.body.error).toMatch(/^a contact's enhanced data and custom attributes can hold at most 256 KiB together \(as JSON\); this delivery would make them (2[6-9]\d|3\d\d) KiB: remove sections or attributes/);
      const attributesPast = await postWebhook(t, contact(phone, { custom_attributes: attributes('a', 20, longText(1000)) }));
      expect(attributesPast.body).toMatchObject({ code: 'limit_exceeded', issues: [{ path: 'contact.custom_attributes' }] });
      const stored = await storedContact(t, phone);
      expect([stored?.name, Object.keys(stored?.enhanced_data ?? {}), stored?.custom_attributes]).toEqual([null, ['S0', 'S1', 'S2', 'S3'], {}]);
      // Room made, the same delivery fits.
      expect((await postWebhook(t, contact(phone, { enhanced_data: { S0: [] } }))).status).toBe(200);
      expect((await postWebhook(t, contact(phone, { name: 'Fifth', enhanced_data: { S4: section } }))).status).toBe(200);
    });

    it('a contact stored past that limit before it existed takes deliveries that leave it no larger', async () => {
      const phone = uniquePhone();
      await postWebhook(t, contact(phone, { name: 'Old' }));
      const section = Array.from({ length: 40 }, () => ({ text: longText(500), description: longText(1000) }));
      const big = Array.from({ length: 6 }, (_, i) => ({ title: `S${i}`, items: section }));
      await t.database.db.update(contacts).set({ enhancedData: big }).where(eq(contacts.phone, phone));
      const labelled = await postWebhook(t, contact(phone, { labels: 'vip' }));
      expect(labelled.status).toBe(200);
      const trimmed = await postWebhook(t, contact(phone, { enhanced_data: { S0: [{ text: 'short' }] } }));
      expect(trimmed.status).toBe(200);
      const grown = await postWebhook(t, contact(phone, { enhanced_data: { S0: section, S6: [{ text: 'more' }] } }));
      expect(grown.body.code).toBe('limit_exceeded');
      expect((await storedContact(t, phone))?.enhanced_data.S0).toEqual([{ text: 'short' }]);
    });

    it('a delete counts each conversation once, whatever its messages', async () => {
      const phone = uniquePhone();
      await addConversations(t, phone, 2, 3);
      await addConversations(t, phone, 1, 0);
      const res = await postWebhook(t, { delete_contact: phone });
      expect(res.body.deleted).toEqual({ contact: true, conversations: 3, messages: 6 });
    });

    it("a delete in one account leaves another account's stored answer for the same phone whole", async () => {
      const other = await t.newAccount();
      const phone = uniquePhone();
      const payload = { contact: { phone, name: 'Theirs' } };
      const headers = { 'idempotency-key': `theirs-${phone}` };
      await postWebhook(t, payload, { token: other.webhookToken, headers });
      await postWebhook(t, { contact: { phone, name: 'Ours' } });
      expect((await postWebhook(t, { delete_contact: phone })).body.deleted.contact).toBe(true);
      const again = await postWebhook(t, payload, { token: other.webhookToken, headers });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body.contact).toMatchObject({ phone, name: 'Theirs' });
    });

    it('a later occurred_at that changes nothing answers unchanged and leaves updated_at', async () => {
      const phone = uniquePhone();
      await postWebhook(t, { contact: { phone, name: 'Same' }, occurred_at: '2026-01-01T00:00:00Z' });
      const before = await findContact(t.database.db, t.account.id, phone);
      await sleep(20);
      const res = await postWebhook(t, { contact: { phone, name: 'Same' }, occurred_at: '2026-01-01T00:00:01Z' });
      expect(res.body.status).toBe('unchanged');
      expect((await findContact(t.database.db, t.account.id, phone))?.updatedAt).toEqual(before?.updatedAt);
    });
  });
});

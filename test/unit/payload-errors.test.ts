import { describe, expect, it } from 'vitest';
import { Refusal } from '../../src/webhook/refusal.js';
import { toOperation } from '../../src/webhook/operation.js';

const phone = '+447911123456';

function refusalOf(payload: Record<string, unknown>): Refusal {
  try {
    toOperation(payload, 'GB');
  } catch (error) {
    if (error instanceof Refusal) return error;
    throw error;
  }
  throw new Error(`accepted: ${JSON.stringify(payload)}`);
}

/** A refusal names the field at fault and what it takes, so the sender can fix it at the source. */
describe('what a refused payload is told', () => {
  it.each([
    [{ enhanced_data: { Orders: [{ text: 'x', link: 'javascript:alert(1)' }] } }, 'contact.enhanced_data.Orders[0].link', /http\(s\):\/\/, mailto: or tel:/],
    [{ enhanced_data: [{ Orders: [{ text: 'x', link: 'data:text/html,x' }] }] }, 'contact.enhanced_data[0].Orders[0].link', /http\(s\):\/\/, mailto: or tel:/],
    // An http(s) address later in the link does not make it one.
    [{ enhanced_data: { Orders: [{ text: 'x', link: 'javascript:alert(1)//https://example.com' }] } }, 'contact.enhanced_data.Orders[0].link', /http\(s\):\/\/, mailto: or tel:/],
    [{ enhanced_data: { Orders: [{ text: 'x', link: 'data:text/html,<b>https://example.com</b>' }] } }, 'contact.enhanced_data.Orders[0].link', /http\(s\):\/\/, mailto: or tel:/],
    [{ enhanced_data: { Orders: [{ text: 'x', link: 'ftp://https://example.com' }] } }, 'contact.enhanced_data.Orders[0].link', /http\(s\):\/\/, mailto: or tel:/],
    [{ enhanced_data: { Orders: [{ description: 'no text' }] } }, 'contact.enhanced_data.Orders[0].text', /is required/],
    [{ enhanced_data: { Orders: [5] } }, 'contact.enhanced_data.Orders[0]', /must be an item/],
    [{ enhanced_data: { Orders: 'x' } }, 'contact.enhanced_data.Orders', /must be a list of items/],
    [{ enhanced_data: [{ S: [{ text: 'x' }] }, 'x'] }, 'contact.enhanced_data[1]', /must be an object of sections/],
    [{ enhanced_data: { '': [{ text: 'x' }] } }, 'contact.enhanced_data[""]', /section title must not be empty/],
    [{ enhanced_data: { ['t'.repeat(201)]: [{ text: 'x' }] } }, `contact.enhanced_data.${'t'.repeat(201)}`, /section title must be at most 200 characters/],
    [{ custom_attributes: { '': 1 } }, 'contact.custom_attributes[""]', /attribute name must not be empty/],
    [{ phone: 7911123456.5 }, 'contact.phone', /whole number/],
    [{ external_id: 2 ** 53 }, 'contact.external_id', /send others as text/],
    [{ enhanced_data: 'nope' }, 'contact.enhanced_data', /must be an object of sections or a list of them/],
    [{ labels: ['ok', 7] }, 'contact.labels[1]', /must be a string/],
    [{ labels: ['x'.repeat(401)] }, 'contact.labels[0]', /at most 100 characters/],
    [{ labels: ['ok', '', ` ${'x'.repeat(101)} `] }, 'contact.labels[2]', /(^| )must be at most 100 characters$/],
    [{ labels: `ok, ${'x'.repeat(101)}` }, 'contact.labels', /(^| )holds a label of more than 100 characters$/],
    [{ labels: { a: 1 } }, 'contact.labels', /comma-separated string or a list of strings/],
  ])('%j → %s', (fields, path, message) => {
    const refusal = refusalOf({ contact: { phone, ...fields } });
    expect(refusal.code).toBe('invalid_payload');
    expect(refusal.issues?.[0]).toEqual({ path, message: expect.stringMatching(message) });
    expect(refusal.message).toMatch(message);
  });

  /** Of its form's type but over that form's limit: told about the limit, not what forms it takes. */
  it.each([
    ['101 labels as a list', 'contact.labels', { labels: Array.from({ length: 101 }, (_, i) => `l${i}`) }, /at most 100 labels/],
    ['101 removeLabels as a list', 'contact.removeLabels', { removeLabels: Array.from({ length: 101 }, (_, i) => `l${i}`) }, /at most 100 labels/],
    ['101 labels in a string', 'contact.labels', { labels: Array.from({ length: 101 }, (_, i) => `l${i}`).join(',') }, /at most 100 labels/],
    ['a labels string of 102,001 characters', 'contact.labels', { labels: 'x'.repeat(102_001) }, /too long for 100 labels/],
    ['an item text of 501 characters', 'contact.enhanced_data.S[0].text', { enhanced_data: { S: [{ text: 'x'.repeat(501) }] } }, /at most 500 characters/],
    ['a description of 1001 characters', 'contact.enhanced_data.S[0].description', { enhanced_data: { S: [{ text: 'x', description: 'd'.repeat(1001) }] } }, /at most 1000 characters/],
    ['a link of 2063 characters', 'contact.enhanced_data.S[0].link', { enhanced_data: { S: [{ text: 'x', link: `https://x.com/${'p'.repeat(2048)}` }] } }, /at most 2048 characters/],
    ['overrideLabels "maybe"', 'contact.overrideLabels', { overrideLabels: 'maybe' }, /(^| )must be true or false \(or "true"\/"false" in any case, or 1\/0\)$/],
    ['a custom attribute of 12345678901234567890', 'contact.custom_attributes.crm_id', { custom_attributes: { crm_id: 12345678901234567890 } }, /too large to keep exactly/],
    ['a custom attribute of -1e300', 'contact.custom_attributes.x', { custom_attributes: { x: -1e300 } }, /send it as text/],
    ['custom_attributes as a list', 'contact.custom_attributes', { custom_attributes: [] }, /must be an object of attribute names to strings, numbers, booleans or null/],
    ['an email that is a number', 'contact.email', { email: 5 }, /must be an email address$/],
  ])('%s → %s', (_, path, fields, message) => {
    const refusal = refusalOf({ contact: { phone, ...fields } });
    expect(refusal.code).toBe('invalid_payload');
    expect(refusal.issues?.[0]).toEqual({ path, message: expect.stringMatching(message) });
    expect(refusal.message).toMatch(message);
  });
});

/** Every length limit counts characters as the sender sees them: an emoji (two UTF-16 code units) is one. */
describe('lengths count characters, an emoji as one', () => {
  const emoji = (count: number) => '😀'.repeat(count);
  it.each([
    ['a name', 200, (text: string) => ({ name: text })],
    ['an external id', 200, (text: string) => ({ external_id: text })],
    ['a label in a list', 100, (text: string) => ({ labels: ['ok', text] })],
    ['a label in a string', 100, (text: string) => ({ labels: `ok,${text}` })],
    ['an item text', 500, (text: string) => ({ enhanced_data: { S: [{ text }] } })],
  ])('%s of %i emoji is taken, one more is refused', (_, limit, fields) => {
    expect(() => toOperation({ contact: { phone, ...fields(emoji(limit)) } }, 'GB')).not.toThrow();
    expect(refusalOf({ contact: { phone, ...fields(emoji(limit + 1)) } }).message).toMatch(new RegExp(`(at most|more than) ${limit} characters`));
  });
});

describe('a refusal stays small, whatever was sent', () => {
  const bad = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, {}]));

  it('custom_attributes or enhanced_data of more keys than are ever kept is refused for its size alone, before any value is read', () => {
    const attributes = refusalOf({ contact: { phone, custom_attributes: bad(25_000) } });
    expect(attributes.issues).toEqual([{ path: 'contact.custom_attributes', message: 'must hold at most 200 keys, removals (null) included' }]);
    const sections = refusalOf({ contact: { phone, enhanced_data: bad(101) } });
    expect(sections.issues).toEqual([{ path: 'contact.enhanced_data', message: 'must hold at most 100 sections, removals ([]) included' }]);
  });

  it('lists the first 50 issues, and its sentence counts them all', () => {
    const refusal = refusalOf({ contact: { phone, custom_attributes: bad(120) } });
    expect(refusal.issues).toHaveLength(50);
    expect(refusal.issues?.[49]).toEqual({ path: 'contact.custom_attributes.k49', message: 'must be a string, number, boolean or null' });
    expect(refusal.message).toBe('contact.custom_attributes.k0 must be a string, number, boolean or null (and 119 more)');
  });
});

describe('what a refused top-level field is told', () => {
  it.each([
    [{ contact: { phone }, overrideLabels: 'maybe' }, 'overrideLabels', /must be true or false/],
    [{ contact: { phone }, inviteNewContacts: 2 }, 'inviteNewContacts', /must be true or false/],
    [{ contact: { phone }, occurred_at: {} }, 'occurred_at', /ISO 8601 time or epoch milliseconds/],
    // Read as milliseconds, epoch seconds would date the delivery in 1970 and answer `stale`.
    [{ contact: { phone }, occurred_at: 1_763_700_000 }, 'occurred_at', /looks like epoch seconds: send epoch milliseconds/],
    [{ contact: { phone }, occurred_at: '1763700000' }, 'occurred_at', /looks like epoch seconds/],
    [{ contact: { phone }, occurred_at: -1 }, 'occurred_at', /must be whole epoch milliseconds or an ISO 8601 time/],
    [{ contact: { phone }, occurred_at: 1_763_700_000_000.5 }, 'occurred_at', /must be whole epoch milliseconds/],
    [{ delete_contact: 7911123456.5 }, 'delete_contact', /whole number/],
    [{ contact: 'x' }, 'contact', /must be an object holding the contact’s phone and fields/],
  ])('%j → %s', (payload, path, message) => {
    const refusal = refusalOf(payload);
    expect(refusal.code).toBe('invalid_payload');
    expect(refusal.issues?.[0]).toEqual({ path, message: expect.stringMatching(message) });
    expect(refusal.message).toMatch(message);
  });
});

describe('a blank optional top-level field (an unmapped field of a form tool)', () => {
  it.each([
    ['assignee', ''],
    ['assignee', null],
    ['delete_contact', '  '],
    ['delete_contact', null],
    ['occurred_at', ''],
    ['overrideLabels', null],
    ['inviteNewContacts', ''],
  ])('%s of %j is taken as not sent, with a warning', (key, value) => {
    const { operation, warnings } = toOperation({ contact: { phone, labels: 'a' }, [key]: value }, 'GB');
    expect(operation).toMatchObject({ kind: 'upsert', phone, overrideLabels: false, inviteNewContacts: false });
    expect(operation).not.toHaveProperty('assignee', expect.anything());
    expect(operation).not.toHaveProperty('occurredAt', expect.anything());
    expect(warnings).toEqual([`${key}: empty, taken as not sent`]);
  });

  it.each([null, '', ' '])('contact.overrideLabels of %j is taken as not sent too, with a warning', (value) => {
    const { operation, warnings } = toOperation({ contact: { phone, labels: 'a', overrideLabels: value } }, 'GB');
    expect(operation).toMatchObject({ kind: 'upsert', overrideLabels: false, labels: ['a'] });
    expect(warnings).toEqual(['contact.overrideLabels: empty, taken as not sent']);
  });

  it('null for a list or an object (a JSON tool\'s unmapped field) is taken as not sent, at either level', () => {
    const sent = { contact: { phone, name: 'Kept', email: null, labels: null, removeLabels: null, enhanced_data: null, custom_attributes: null }, removeLabels: null, overrideLabels: null, assignee: null };
    const { operation, warnings } = toOperation(sent, 'GB');
    expect(operation).toEqual({ kind: 'upsert', phone, name: 'Kept', email: null, overrideLabels: false, inviteNewContacts: false });
    expect(warnings.sort()).toEqual(
      ['assignee', 'overrideLabels', 'removeLabels', 'contact.labels', 'contact.removeLabels', 'contact.enhanced_data', 'contact.custom_attributes'].map((key) => `${key}: empty, taken as not sent`).sort(),
    );
  });

  it('an empty labels string still means no labels (with overrideLabels, remove them all)', () => {
    const { operation, warnings } = toOperation({ contact: { phone, labels: '' }, overrideLabels: true }, 'GB');
    expect(operation).toMatchObject({ labels: [], overrideLabels: true });
    expect(warnings).toEqual([]);
  });

  it('a blank delete_contact alone is still nothing to do', () => {
    expect(refusalOf({ delete_contact: '' }).message).toMatch(/^nothing to do/);
  });
});

describe('a key sent at both levels', () => {
  it.each([
    ['overrideLabels', { contact: { phone, labels: 'x', overrideLabels: false }, overrideLabels: 'true' }],
    ['removeLabels', { contact: { phone, removeLabels: 'a' }, removeLabels: 'b' }],
  ])('%s with two different values is refused, naming both', (key, payload) => {
    const refusal = refusalOf(payload);
    expect(refusal.code).toBe('invalid_payload');
    expect(refusal.message).toBe(`${key} is sent both at the top level and in contact, with different values: send it once`);
    expect(refusal.issues?.map((issue) => issue.path)).toEqual([key, `contact.${key}`]);
  });

  it.each([
    ['overrideLabels', { contact: { phone, labels: 'x', overrideLabels: 'TRUE' }, overrideLabels: 1 }, { overrideLabels: true }],
    ['removeLabels', { contact: { phone, removeLabels: ' a, b' }, removeLabels: ['a', 'b'] }, { removeLabels: ['a', 'b'] }],
  ])('%s with the same value in two spellings is taken', (_, payload, expected) => {
    expect(toOperation(payload, 'GB').operation).toMatchObject(expected);
  });
});

it.each(['', '   ', null])('a blank contact.phone (%j) is missing: 400 "is required", not 422 invalid_phone', (blank) => {
  const refusal = refusalOf({ contact: { phone: blank, name: 'No phone' } });
  expect(refusal.code).toBe('invalid_payload');
  expect(refusal.issues).toEqual([{ path: 'contact.phone', message: 'is required' }]);
});

describe('limits count what is kept, not what was sent', () => {
  const labels = Array.from({ length: 100 }, (_, i) => `l${i}`);
  it.each([
    ['100 labels and an empty entry, as a list', [...labels, '', '  ']],
    ['100 labels and a trailing comma, as a string', `${labels.join(',')},`],
    ['100 labels, each sent twice in another case', [...labels, ...labels.map((label) => label.toUpperCase())]],
  ])('%s are taken', (_name, sent) => {
    const { operation } = toOperation({ contact: { phone, labels: sent } }, 'GB');
    expect(operation).toMatchObject({ kind: 'upsert' });
  });

  it('a 200-character name or external_id with spaces around it is taken, trimmed', () => {
    const name = 'n'.repeat(200);
    const { operation } = toOperation({ contact: { phone, name: ` ${name} `, external_id: ` ${name} ` } }, 'GB');
    expect(operation).toMatchObject({ name, externalId: name });
  });
});

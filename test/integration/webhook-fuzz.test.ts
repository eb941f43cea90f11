import { eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contacts, deliveries, idempotencyKeys } from '../../src/db/schema.js';
import { createTestApp, testDatabases, type TestAccount, type TestApp } from '../helpers/app.js';

/**
 * Whatever is sent, the answer is 2xx or 4xx — never 5xx — and another account never changes.
 * Account A takes the fuzz; account B holds data that must stay exactly as it was.
 */
describe.each(testDatabases())('any input on %s', (kind) => {
  let t: TestApp;
  let other: TestAccount;
  const runs = kind === 'pglite' ? 150 : 60;

  const snapshot = async () => ({
    contacts: await t.database.db.select().from(contacts).where(eq(contacts.accountId, other.id)),
    deliveries: await t.database.db.select().from(deliveries).where(eq(deliveries.accountId, other.id)),
    keys: await t.database.db.select().from(idempotencyKeys).where(eq(idempotencyKeys.accountId, other.id)),
  });
  let before: Awaited<ReturnType<typeof snapshot>>;

  beforeAll(async () => {
    t = await createTestApp(kind);
    other = await t.newAccount();
    const res = await t.app.request(`/webhooks/${other.webhookToken}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'k1' },
      body: JSON.stringify({ contact: { phone: '+447400555000', name: 'B', labels: 'x, y', enhanced_data: { S: [{ text: 't' }] } } }),
    });
    expect(res.status).toBe(200);
    before = await snapshot();
  });
  afterAll(async () => {
    expect(await snapshot()).toEqual(before);
    await t.close();
  });

  const send = async (init: { method?: string; type?: string; body?: RequestInit['body']; query?: string; token?: string; headers?: Record<string, string> }) => {
    const res = await t.app.request(`/webhooks/${init.token ?? t.account.webhookToken}${init.query !== undefined ? `?${init.query}` : ''}`, {
      method: init.method ?? 'POST',
      headers: { ...(init.type ? { 'content-type': init.type } : {}), ...init.headers },
      body: init.body,
    });
    await res.arrayBuffer();
    return res.status;
  };
  const notServerError = (status: number) => status >= 200 && status < 500;

  const phone = fc.oneof(
    fc.constantFrom('+447400555001', '07400 555002', '0044 7400 555003', 447400555004, '+1 415 555 2671'),
    fc.string({ maxLength: 30 }),
    fc.integer(),
    fc.double(),
    fc.anything(),
  );
  const items = fc.array(fc.record({ text: fc.oneof(fc.string(), fc.anything()), description: fc.anything(), link: fc.oneof(fc.webUrl(), fc.string(), fc.constantFrom('javascript:alert(1)', 'www.x.com', 'mailto:a@b.c')) }, { requiredKeys: [] }), { maxLength: 4 });
  const payload = fc.record(
    {
      contact: fc.record(
        {
          phone,
          name: fc.oneof(fc.string({ maxLength: 250 }), fc.anything()),
          email: fc.oneof(fc.emailAddress(), fc.anything()),
          external_id: fc.oneof(fc.string({ maxLength: 10 }), fc.anything()),
          labels: fc.oneof(fc.string(), fc.array(fc.string({ maxLength: 120 }), { maxLength: 5 }), fc.anything()),
          removeLabels: fc.oneof(fc.string(), fc.anything()),
          overrideLabels: fc.oneof(fc.boolean(), fc.constantFrom('true', 'FALSE', '1', 0, 'yes'), fc.anything()),
          enhanced_data: fc.oneof(fc.dictionary(fc.string({ maxLength: 10 }), items, { maxKeys: 3 }), fc.array(fc.dictionary(fc.string(), items, { maxKeys: 2 }), { maxLength: 2 }), fc.anything()),
          custom_attributes: fc.oneof(fc.dictionary(fc.string({ maxLength: 10 }), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null))), fc.anything()),
        },
        { requiredKeys: [] },
      ),
      delete_contact: phone,
      assignee: fc.oneof(fc.emailAddress(), fc.anything()),
      overrideLabels: fc.anything(),
      inviteNewContacts: fc.anything(),
      occurred_at: fc.oneof(fc.date().map((d) => (Number.isNaN(d.getTime()) ? 'x' : d.toISOString())), fc.integer(), fc.string(), fc.anything()),
      __proto__: fc.anything(),
    },
    { requiredKeys: [] },
  );

  it('any JSON value', async () => {
    await fc.assert(fc.asyncProperty(fc.jsonValue(), async (value) => notServerError(await send({ type: 'application/json', body: JSON.stringify(value) }))), { numRuns: runs });
  });

  it('any payload shaped like a delivery, with any values in its fields', async () => {
    await fc.assert(
      fc.asyncProperty(payload, fc.option(fc.string({ maxLength: 20 })), async (value, key) =>
        notServerError(await send({ type: 'application/json', body: JSON.stringify(value), headers: key ? { 'idempotency-key': key } : {} })),
      ),
      { numRuns: runs * 2 },
    );
  });

  it('any form body', async () => {
    const pairs = fc.array(fc.tuple(fc.oneof(fc.constantFrom('phone', 'contact[phone]', 'labels', 'labels[]', 'payload', 'delete_contact', 'assignee', 'overrideLabels', 'occurred_at'), fc.string()), fc.string()), { maxLength: 6 });
    await fc.assert(
      fc.asyncProperty(fc.oneof(pairs.map((p) => new URLSearchParams(p).toString()), fc.string()), async (body) =>
        notServerError(await send({ type: 'application/x-www-form-urlencoded', body })),
      ),
      { numRuns: runs },
    );
  });

  it('any query string', async () => {
    await fc.assert(fc.asyncProperty(fc.string(), async (query) => notServerError(await send({ method: 'GET', query: encodeURI(query) }))), { numRuns: runs });
  });

  it('any bytes, under any content type', async () => {
    const type = fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/octet-stream', '');
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), type, async (bytes, contentType) => notServerError(await send({ type: contentType, body: bytes }))), { numRuns: runs });
  });

  it('any token in the path', async () => {
    await fc.assert(fc.asyncProperty(fc.string({ minLength: 1, maxLength: 300 }), async (token) => notServerError(await send({ token: encodeURIComponent(token), type: 'application/json', body: '{}' }))), { numRuns: runs });
  });
});

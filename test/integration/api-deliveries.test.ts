import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deliveries } from '../../src/db/schema.js';
import { callApi, createTestApp, postWebhook, testDatabases, type JsonBody, type TestAccount, type TestApp } from '../helpers/app.js';
import { uniquePhone } from '../helpers/fixtures.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const DAY_MS = 24 * 60 * 60 * 1000;

const ids = (body: JsonBody) => (body.data as { id: string }[]).map((d) => d.id);

describe.each(testDatabases())('API deliveries on %s', (kind) => {
  let t: TestApp;
  let account: TestAccount;
  beforeAll(async () => {
    t = await createTestApp(kind);
  });
  afterAll(() => t.close());
  // A fresh account per test: each test sees only its own log.
  beforeEach(async () => {
    account = await t.newAccount();
  });

  const api = (method: string, path: string, body?: unknown) => callApi(t, method, path, { key: account.apiKey, body });
  const webhook = (payload: unknown, headers?: Record<string, string>) => postWebhook(t, payload, { token: account.webhookToken, headers });
  const form = async (body: string) => {
    const res = await t.app.request(`/webhooks/${account.webhookToken}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    return { status: res.status, body: (await res.json()) as JsonBody };
  };
  const formWebhook = async (body: string) => {
    const res = await t.app.request(`/webhooks/${account.webhookToken}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    return { status: res.status, body: (await res.json()) as JsonBody };
  };
  const queryWebhook = async (query: string) => {
    const res = await t.app.request(`/webhooks/${account.webhookToken}?${query}`);
    return { status: res.status, body: (await res.json()) as JsonBody };
  };
  const logSize = async () => (await t.database.db.select().from(deliveries).where(eq(deliveries.accountId, account.id))).length;

  describe('GET /deliveries', () => {
    it('lists the account’s deliveries newest first, each with its outcome', async () => {
      const phone = uniquePhone();
      const applied = await webhook({ contact: { phone, name: 'Ann' } });
      const unchanged = await webhook({ contact: { phone, name: 'Ann' } }, { 'Idempotency-Key': 'key-1' });
      const refused = await webhook({ contact: { phone: 'not a phone' } });
      expect([applied.status, unchanged.status, refused.status]).toEqual([200, 200, 422]);

      const res = await api('GET', '/deliveries');
      expect(res.status).toBe(200);
      expect(ids(res.body)).toEqual([refused.body.delivery_id, unchanged.body.delivery_id, applied.body.delivery_id]);
      expect(res.body.next_cursor).toBeNull();
      expect(res.body.data[0]).toEqual({
        id: refused.body.delivery_id,
        received_at: expect.stringMatching(ISO),
        operation: 'upsert',
        phone: null,
        status: 'refused',
        error_code: 'invalid_phone',
        error: refused.body.error,
        duration_ms: expect.any(Number),
        idempotency_key: null,
        payload_kept: true,
        replay_of: null,
        replayed_as: null,
      });
      expect(refused.body.error).toMatch(/contact\.phone/);
      expect(res.body.data[1]).toMatchObject({ status: 'unchanged', operation: 'upsert', idempotency_key: 'key-1', payload_kept: false });
      expect(res.body.data[2]).toMatchObject({ status: 'applied', operation: 'upsert', phone: `+44*******${phone.slice(-3)}`, error_code: null, error: null, payload_kept: false });
      expect(res.body.data[2]).not.toHaveProperty('payload');
    });

    it.each([
      ['applied', 2],
      ['unchanged', 1],
      ['refused', 1],
      ['stale', 1],
    ])('filters by status=%s', async (status, expected) => {
      const phone = uniquePhone();
      await webhook({ contact: { phone, name: 'A' }, occurred_at: '2024-05-01T00:00:00Z' });
      await webhook({ contact: { phone, name: 'B' }, occurred_at: '2024-05-02T00:00:00Z' });
      await webhook({ contact: { phone, name: 'B' }, occurred_at: '2024-05-02T00:00:00Z' });
      await webhook({ contact: { phone, name: 'old' }, occurred_at: '2024-04-01T00:00:00Z' });
      await webhook({ contact: { phone, email: 'nope' } });
      const res = await api('GET', `/deliveries?status=${status}`);
      expect(res.status).toBe(200);
      expect(res.body.data).toHaveLength(expected);
      expect(res.body.data.every((d: JsonBody) => d.status === status)).toBe(true);
    });

    it('shows the operation and masked phone of a refused delivery, as far as its payload names them', async () => {
      const phone = uniquePhone();
      const masked = `+44*******${phone.slice(-3)}`;
      const cases: [unknown, { operation: string | null; phone: string | null }][] = [
        [{ contact: { phone, email: 'nope' } }, { operation: 'upsert', phone: masked }],
        [{ contact: { phone, enhanced_data: { S: [{ text: 't', link: 'javascript:alert(1)' }] } } }, { operation: 'upsert', phone: masked }],
        [{ contact: { phone }, assignee: 'not an email' }, { operation: 'upsert_assign', phone: masked }],
        [{ delete_contact: phone, occurred_at: 'yesterday' }, { operation: 'delete', phone: masked }],
        [{ delete_contact: phone, contact: { phone } }, { operation: null, phone: masked }],
        [{ contact: { phone: 'nope', name: 'A' } }, { operation: 'upsert', phone: null }],
        [{ contact: { phone: { n: 1 } } }, { operation: 'upsert', phone: null }],
        // Refused for text PostgreSQL cannot store, met before the fields are validated.
        [{ contact: { phone, name: 'a\u0000b' } }, { operation: 'upsert', phone: masked }],
        [{ contact: { phone, name: 'a\ud800b' } }, { operation: 'upsert', phone: masked }],
        [{ delete_contact: phone, custom: 'a\u0000b' }, { operation: 'delete', phone: masked }],
        // Form fields: one sent twice with different values, or holding a NUL.
        [`phone=${encodeURIComponent(phone)}&name=X&name=Y`, { operation: 'upsert', phone: masked }],
        [`phone=${encodeURIComponent(phone)}&name=a%00b`, { operation: 'upsert', phone: masked }],
        [`payload=${encodeURIComponent(JSON.stringify({ contact: { phone } }))}&payload=%7B%7D`, { operation: null, phone: null }],
      ];
      for (const [payload, expected] of cases) {
        const sent = typeof payload === 'string' ? await form(payload) : await webhook(payload);
        expect(sent.status, JSON.stringify(payload)).toBeGreaterThanOrEqual(400);
        const shown = await api('GET', `/deliveries/${sent.body.delivery_id}`);
        expect({ operation: shown.body.operation, phone: shown.body.phone }, JSON.stringify(payload)).toEqual(expected);
      }

      const bulk = await t.app.request(`/webhooks/${account.webhookToken}/bulk`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: `${JSON.stringify({ contact: { phone, email: 'nope' } })}\n`,
      });
      const [line] = (await bulk.text()).trim().split('\n').map((text) => JSON.parse(text) as JsonBody);
      expect(line!.code).toBe('invalid_payload');
      const shown = await api('GET', `/deliveries/${line!.delivery_id}`);
      expect({ operation: shown.body.operation, phone: shown.body.phone }).toEqual({ operation: 'upsert', phone: masked });
    });

    it('pages through with the cursor, each delivery once, newest first', async () => {
      for (let i = 0; i < 7; i++) await webhook({ contact: { phone: uniquePhone() } });
      const all = ids((await api('GET', '/deliveries')).body);
      expect(all).toHaveLength(7);
      expect([...all].sort().reverse()).toEqual(all);

      const seen: string[] = [];
      const sizes: number[] = [];
      let cursor: string | null = null;
      do {
        const res = await api('GET', `/deliveries?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        seen.push(...ids(res.body));
        sizes.push(res.body.data.length);
        cursor = res.body.next_cursor;
      } while (cursor);
      expect(sizes).toEqual([3, 3, 1]);
      expect(seen).toEqual(all);
    });

    it('pages a filtered list', async () => {
      const refused: string[] = [];
      for (let i = 0; i < 5; i++) {
        await webhook({ contact: { phone: uniquePhone() } });
        refused.unshift((await webhook({ contact: { phone: 'nope' } })).body.delivery_id);
      }
      const first = await api('GET', '/deliveries?status=refused&limit=2');
      const second = await api('GET', `/deliveries?status=refused&limit=2&cursor=${first.body.next_cursor}`);
      const third = await api('GET', `/deliveries?status=refused&limit=2&cursor=${second.body.next_cursor}`);
      expect([...ids(first.body), ...ids(second.body), ...ids(third.body)]).toEqual(refused);
      expect(third.body.next_cursor).toBeNull();
    });

    it('loses no delivery between pages when several share a millisecond or a time', async () => {
      for (let i = 0; i < 6; i++) await webhook({ contact: { phone: uniquePhone() } });
      const rows = ids((await api('GET', '/deliveries')).body);
      // Same millisecond, different microseconds, and two exactly equal times (ordered by id then).
      const times = ['.123900', '.123800', '.123800', '.123700', '.123100', '.122000'];
      for (const [i, id] of rows.entries()) {
        await t.database.db
          .update(deliveries)
          .set({ receivedAt: sql`${`2024-06-01T10:00:00${times[i]}Z`}::timestamptz` })
          .where(eq(deliveries.id, id));
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await api('GET', `/deliveries?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
        seen.push(...ids(res.body));
        cursor = res.body.next_cursor;
      } while (cursor);
      expect(seen).toEqual(rows);
    });

    it('accepts limit 200', async () => {
      expect((await api('GET', '/deliveries?limit=200')).status).toBe(200);
    });

    it('takes an empty limit= or status= as not sent, as it does q= and label= for contacts', async () => {
      await webhook({ contact: { phone: uniquePhone() } });
      await webhook({ contact: { phone: 'nope' } });
      const res = await api('GET', '/deliveries?limit=&status=');
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.data.map((d: JsonBody) => d.status).sort()).toEqual(['applied', 'refused']);
    });

    it('says so when limit is sent twice', async () => {
      const res = await api('GET', '/deliveries?limit=1&limit=2');
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'limit is given 2 times: give it once', code: 'invalid_payload', issues: [{ path: 'limit', message: 'is given 2 times: give it once' }] });
    });

    it('says which statuses there are', async () => {
      const res = await api('GET', '/deliveries?status=failed');
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('status must be one of "applied", "unchanged", "stale" or "refused"');
    });

    it.each([
      ['status=failed', 'status'],
      ['status=APPLIED', 'status'],
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['limit=x', 'limit'],
      ['cursor=not-a-cursor!', 'cursor'],
      [`cursor=${Buffer.from('2024-06-01T10:00:00.123Z,dlv_abc').toString('base64url')}`, 'cursor'],
      [`cursor=${Buffer.from('yesterday,dlv_abc').toString('base64url')}`, 'cursor'],
      [`cursor=${Buffer.from('2024-02-30T00:00:00.000000Z,dlv_abc').toString('base64url')}`, 'cursor'],
      [`cursor=${Buffer.from('0000-01-01T00:00:00.000000Z,dlv_abc').toString('base64url')}`, 'cursor'],
      [`cursor=${Buffer.from("2024-06-01T10:00:00.123456Z,dlv_' or 1=1").toString('base64url')}`, 'cursor'],
    ])('refuses %s with 400 invalid_payload', async (query, path) => {
      const res = await api('GET', `/deliveries?${query}`);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_payload');
      expect(res.body.issues[0].path).toBe(path);
    });

    it('needs an API key', async () => {
      const res = await callApi(t, 'GET', '/deliveries', { key: 'csk_nope' });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('unauthorized');
    });
  });

  describe('GET /deliveries/{id}', () => {
    it('shows a refused delivery with its payload as sent', async () => {
      const text = `{ "contact": { "phone": "${uniquePhone()}" }, "assignee": "nobody@company.com" }`;
      const refused = await webhook(text);
      expect(refused.body.code).toBe('unknown_assignee');
      const res = await api('GET', `/deliveries/${refused.body.delivery_id}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        id: refused.body.delivery_id,
        status: 'refused',
        operation: 'upsert_assign',
        error_code: 'unknown_assignee',
        error: 'no agent with email nobody@company.com in this account',
        payload_kept: true,
        payload: text,
        payload_content_type: 'application/json',
      });
      expect(refused.body.error).toBe(res.body.error);
      const expiresIn = Date.parse(res.body.payload_expires_at) - Date.now();
      expect(expiresIn).toBeGreaterThan(7 * DAY_MS - 60_000);
      expect(expiresIn).toBeLessThanOrEqual(7 * DAY_MS);
    });

    it('shows no payload for an applied delivery', async () => {
      const applied = await webhook({ contact: { phone: uniquePhone(), name: 'Kept nowhere' } });
      const res = await api('GET', `/deliveries/${applied.body.delivery_id}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'applied', payload_kept: false, payload: null, payload_content_type: null, payload_expires_at: null });
    });

    it('answers 404 for an id that is not a delivery', async () => {
      const res = await api('GET', '/deliveries/dlv_000000000ffffffffffffffff');
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('not_found');
    });
  });

  describe('POST /deliveries/{id}/replay', () => {
    it('applies a refused delivery once its cause is fixed, as a new delivery, leaving the original as it was', async () => {
      const phone = uniquePhone();
      const refused = await webhook({ contact: { phone, name: 'Zoe' }, assignee: 'late@company.com' });
      expect(refused.status).toBe(422);
      const original = await api('GET', `/deliveries/${refused.body.delivery_id}`);

      // Replayed before the fix: refused again, as a delivery of its own that keeps its payload too.
      const early = await api('POST', `/deliveries/${refused.body.delivery_id}/replay`);
      expect(early.status).toBe(422);
      expect(early.body).toMatchObject({ code: 'unknown_assignee', delivery_id: expect.stringMatching(/^dlv_/) });
      expect(early.body.delivery_id).not.toBe(refused.body.delivery_id);
      expect((await api('GET', `/deliveries/${early.body.delivery_id}`)).body).toMatchObject({ status: 'refused', payload_kept: true, replay_of: refused.body.delivery_id });
      // The original says it was replayed, and how: refused again.
      expect((await api('GET', `/deliveries/${refused.body.delivery_id}`)).body.replayed_as).toEqual({ id: early.body.delivery_id, status: 'refused' });

      expect((await api('POST', '/agents', { email: 'late@company.com', name: 'Late' })).status).toBe(201);
      await api('POST', '/conversations', { phone });
      const res = await api('POST', `/deliveries/${refused.body.delivery_id}/replay`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        status: 'applied',
        operation: 'upsert_assign',
        delivery_id: expect.stringMatching(/^dlv_/),
        contact: { phone, name: 'Zoe' },
        assigned_conversations: 1,
        warnings: [],
      });
      expect([refused.body.delivery_id, early.body.delivery_id]).not.toContain(res.body.delivery_id);

      const contact = await api('GET', `/contacts/${encodeURIComponent(phone)}`);
      expect(contact.body).toMatchObject({ name: 'Zoe', conversations: [{ assignee: 'late@company.com' }] });
      // The original is as it was, but for naming its latest replay; the replay names it.
      expect(original.body.replayed_as).toBeNull();
      expect((await api('GET', `/deliveries/${refused.body.delivery_id}`)).body).toEqual({ ...original.body, replayed_as: { id: res.body.delivery_id, status: 'applied' } });
      const log = await api('GET', '/deliveries');
      expect(log.body.data[0]).toMatchObject({ id: res.body.delivery_id, status: 'applied', operation: 'upsert_assign', payload_kept: false, replay_of: refused.body.delivery_id, replayed_as: null });
      expect(log.body.data.find((row: JsonBody) => row.id === refused.body.delivery_id)).toMatchObject({ replay_of: null, replayed_as: { id: res.body.delivery_id, status: 'applied' } });
    });

    it('replays without the original idempotency key, whose answer stays the first one', async () => {
      const payload = { contact: { phone: uniquePhone() }, assignee: 'keyed@company.com' };
      const refused = await webhook(payload, { 'Idempotency-Key': 'crm-42' });
      await api('POST', '/agents', { email: 'keyed@company.com' });
      const res = await api('POST', `/deliveries/${refused.body.delivery_id}/replay`);
      expect(res.status).toBe(200);
      expect((await api('GET', `/deliveries/${res.body.delivery_id}`)).body.idempotency_key).toBeNull();
      const resent = await webhook(payload, { 'Idempotency-Key': 'crm-42' });
      expect(resent.status).toBe(422);
      expect(resent.headers.get('idempotent-replayed')).toBe('true');
    });

    it('replays a form-encoded delivery', async () => {
      const phone = uniquePhone();
      const body = new URLSearchParams({ phone, name: 'Form Fay', labels: 'crm, web', assignee: 'forms@company.com' }).toString();
      const refused = await formWebhook(body);
      expect(refused.status).toBe(422);
      const stored = await api('GET', `/deliveries/${refused.body.delivery_id}`);
      expect(stored.body).toMatchObject({ payload: body, payload_content_type: 'application/x-www-form-urlencoded' });

      await api('POST', '/agents', { email: 'forms@company.com' });
      const res = await api('POST', `/deliveries/${refused.body.delivery_id}/replay`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'applied', operation: 'upsert_assign', contact: { phone, name: 'Form Fay', labels: ['crm', 'web'] } });
    });

    it('replays a delivery sent as a query string', async () => {
      const phone = uniquePhone();
      const query = new URLSearchParams({ phone, name: 'Query Quinn', assignee: 'query@company.com' }).toString();
      const refused = await queryWebhook(query);
      expect(refused.status).toBe(422);
      expect((await api('GET', `/deliveries/${refused.body.delivery_id}`)).body).toMatchObject({ payload: query, payload_content_type: 'query' });

      await api('POST', '/agents', { email: 'query@company.com' });
      const res = await api('POST', `/deliveries/${refused.body.delivery_id}/replay`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'applied', contact: { phone, name: 'Query Quinn' } });
    });

    // PostgreSQL text cannot hold a NUL: the log keeps the escape for it, which a replay refuses again.
    it.each([
      ['JSON, in a string', 'json', (phone: string) => `{"contact":{"phone":"${phone}","name":"Jos\u0000e"}}`, (phone: string) => `{"contact":{"phone":"${phone}","name":"Jos\\u0000e"}}`],
      ['JSON, after a backslash', 'json', (phone: string) => `{"contact":{"phone":"${phone}","name":"Jos\\\u0000e"}}`, (phone: string) => `{"contact":{"phone":"${phone}","name":"Jos\\u0000e"}}`],
      ['a form', 'form', (phone: string) => `phone=${encodeURIComponent(phone)}&name=a\u0000b`, (phone: string) => `phone=${encodeURIComponent(phone)}&name=a%00b`],
    ])('keeps a NUL in %s as its escape, and a replay is refused again, applying nothing', async (_, kind, sent, kept) => {
      const phone = uniquePhone();
      const refused = kind === 'json' ? await webhook(sent(phone)) : await formWebhook(sent(phone));
      expect(refused.status).toBe(400);
      expect((await api('GET', `/deliveries/${refused.body.delivery_id}`)).body.payload).toBe(kept(phone));

      const res = await api('POST', `/deliveries/${refused.body.delivery_id}/replay`);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.code).toBe('invalid_payload');
      expect((await api('GET', `/contacts/${encodeURIComponent(phone)}`)).status).toBe(404);
    });

    it('answers 400 with a new delivery id when the payload is still malformed', async () => {
      const refused = await webhook('{"contact": ');
      expect(refused.status).toBe(400);
      const res = await api('POST', `/deliveries/${refused.body.delivery_id}/replay`);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'invalid_payload', error: expect.any(String) });
      expect(res.body.delivery_id).not.toBe(refused.body.delivery_id);
    });

    it('answers 409 conflict for an applied delivery, and records nothing', async () => {
      const applied = await webhook({ contact: { phone: uniquePhone() } });
      const before = await logSize();
      const res = await api('POST', `/deliveries/${applied.body.delivery_id}/replay`);
      expect(res.status).toBe(409);
      expect(res.body).toEqual({ code: 'conflict', error: expect.stringContaining('no payload to replay') });
      expect(await logSize()).toBe(before);
    });

    it('answers 409 conflict once the payload has expired, and shows it no more', async () => {
      const phone = uniquePhone();
      const refused = await webhook({ contact: { phone }, assignee: 'expired@company.com' });
      await api('POST', '/agents', { email: 'expired@company.com' });
      await t.database.db
        .update(deliveries)
        .set({ payloadExpiresAt: new Date(Date.now() - 1000) })
        .where(and(eq(deliveries.accountId, account.id), eq(deliveries.id, refused.body.delivery_id)));

      const shown = await api('GET', `/deliveries/${refused.body.delivery_id}`);
      expect(shown.body).toMatchObject({ status: 'refused', payload_kept: false, payload: null, payload_content_type: null, payload_expires_at: null });
      expect((await api('GET', '/deliveries?status=refused')).body.data[0]).toMatchObject({ id: refused.body.delivery_id, payload_kept: false });
      const before = await logSize();
      const res = await api('POST', `/deliveries/${refused.body.delivery_id}/replay`);
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('conflict');
      expect(await logSize()).toBe(before);
      expect((await api('GET', `/contacts/${encodeURIComponent(phone)}`)).status).toBe(404);
    });

    it("answers 404 for another account's delivery, and applies nothing", async () => {
      const phone = uniquePhone();
      const refused = await webhook({ contact: { phone }, assignee: 'mine@company.com' });
      await api('POST', '/agents', { email: 'mine@company.com' });
      const other = await t.newAccount();
      await callApi(t, 'POST', '/agents', { key: other.apiKey, body: { email: 'mine@company.com' } });

      const before = await logSize();
      const res = await callApi(t, 'POST', `/deliveries/${refused.body.delivery_id}/replay`, { key: other.apiKey });
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('not_found');
      expect((await callApi(t, 'GET', `/deliveries/${refused.body.delivery_id}`, { key: other.apiKey })).status).toBe(404);
      expect(await logSize()).toBe(before);
      expect((await callApi(t, 'GET', '/deliveries', { key: other.apiKey })).body.data).toEqual([]);
      expect((await api('GET', `/contacts/${encodeURIComponent(phone)}`)).status).toBe(404);
      expect((await callApi(t, 'GET', `/contacts/${encodeURIComponent(phone)}`, { key: other.apiKey })).status).toBe(404);
    });

    it('answers 404 for an unknown id', async () => {
      const res = await api('POST', '/deliveries/dlv_nope/replay');
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('not_found');
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, createTestApp, postWebhook, testDatabases, type JsonBody, type TestAccount, type TestApp } from '../helpers/app.js';

const JOHN = '+447911123456';
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const phones = (body: JsonBody) => (body.data as { phone: string }[]).map((c) => c.phone);

describe.each(testDatabases())('API contacts on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(kind);
    const contacts = [
      {
        phone: JOHN,
        name: 'John Smith',
        email: 'john@example.com',
        external_id: 'CRM-100',
        labels: 'subscriber, VIP',
        enhanced_data: { 'Outstanding payments': [{ text: 'INV-1', description: 'Since 13 Aug 2024', link: 'www.google.com' }] },
        custom_attributes: { plan: 'pro', seats: 3, trial: false },
      },
      { phone: '+447911123457', name: 'Jane 100% Doe', email: 'jane@corp.io', external_id: 'ab%c', labels: ['vip'] },
      { phone: '+447911123458', name: 'Jan_Kowalski', email: 'jan@EXAMPLE.org', external_id: 'abXc' },
      { phone: '+14155552671', name: 'Mary', labels: 'Customer' },
      { phone: '+33612345678', name: 'JanXKowalski', labels: 'customer, Vip' },
    ];
    for (const contact of contacts) {
      const res = await postWebhook(t, { contact, inviteNewContacts: contact.phone === JOHN });
      expect(res.status).toBe(200);
    }
  });
  afterAll(() => t.close());

  const list = (query: string, key?: string) => callApi(t, 'GET', `/contacts${query}`, { key });

  describe('GET /contacts/{phone}', () => {
    it('shows the whole contact', async () => {
      const conversation = await callApi(t, 'POST', '/conversations', { body: { phone: JOHN } });
      const res = await callApi(t, 'GET', `/contacts/${encodeURIComponent(JOHN)}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        phone: JOHN,
        name: 'John Smith',
        email: 'john@example.com',
        external_id: 'CRM-100',
        labels: ['subscriber', 'VIP'],
        enhanced_data: { 'Outstanding payments': [{ text: 'INV-1', description: 'Since 13 Aug 2024', link: 'https://www.google.com' }] },
        custom_attributes: { plan: 'pro', seats: 3, trial: false },
        invite_requested: true,
        conversations: [{ id: conversation.body.id, status: 'open', assignee: null }],
        created_at: expect.stringMatching(ISO),
        updated_at: expect.stringMatching(ISO),
      });
    });

    it.each([
      ['+ URL-encoded', '%2B447911123456'],
      ['+ and spaces URL-encoded', '%2B44%207911%20123456'],
      ['a bare +', '+447911123456'],
      ['national, read in the account region GB', '07911123456'],
      ['00 international', '00447911123456'],
      ['digits without +', '447911123456'],
    ])('finds the phone written %s', async (_, path) => {
      const res = await callApi(t, 'GET', `/contacts/${path}`);
      expect(res.status).toBe(200);
      expect(res.body.phone).toBe(JOHN);
    });

    it.each([
      ['not a phone', 'abc'],
      ['too short', '12'],
      ['valid but unknown', '%2B12025550173'],
    ])('answers 404 not_found for a phone %s', async (_, path) => {
      const res = await callApi(t, 'GET', `/contacts/${path}`);
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('not_found');
    });
  });

  describe('GET /contacts', () => {
    it('lists every contact newest first, without conversations', async () => {
      const res = await list('');
      expect(res.status).toBe(200);
      expect(phones(res.body)).toEqual(['+33612345678', '+14155552671', '+447911123458', '+447911123457', JOHN]);
      expect(res.body.next_cursor).toBeNull();
      expect(res.body.data[4]).not.toHaveProperty('conversations');
      expect(res.body.data[4]).toMatchObject({ labels: ['subscriber', 'VIP'], invite_requested: true, custom_attributes: { seats: 3 } });
      // A label keeps the spelling it was first written with in the account.
      expect(res.body.data[0].labels).toEqual(['Customer', 'VIP']);
    });

    it('pages through with the cursor, each contact once', async () => {
      const seen: string[] = [];
      const sizes: number[] = [];
      let cursor: string | null = null;
      do {
        const res = await list(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        seen.push(...phones(res.body));
        sizes.push(res.body.data.length);
        cursor = res.body.next_cursor;
      } while (cursor);
      expect(sizes).toEqual([2, 2, 1]);
      expect(seen).toEqual(phones((await list('')).body));
    });

    it('gives no next_cursor when the page ends exactly at the last contact', async () => {
      const first = await list('?limit=4');
      const second = await list(`?limit=1&cursor=${first.body.next_cursor}`);
      expect(phones(second.body)).toEqual([JOHN]);
      expect(second.body.next_cursor).toBeNull();
    });

    it.each([
      ['by label in any case', '?label=VIP', ['+33612345678', '+447911123457', JOHN]],
      ['by another label', '?label=customer', ['+33612345678', '+14155552671']],
      ['by a label no one has', '?label=nobody', []],
      ['by label and q', '?label=vip&q=jan', ['+33612345678', '+447911123457']],
      ['on name, any case', '?q=SMITH', [JOHN]],
      ['on email, any case', '?q=example.', ['+447911123458', JOHN]],
      ['on external id exactly', '?q=CRM-100', [JOHN]],
      ['on external id in part', '?q=crm', [JOHN]],
      ['on a phone in national form', `?q=${encodeURIComponent('07911 123456')}`, [JOHN]],
      ['on a phone with +', `?q=${encodeURIComponent('+1 415 555 2671')}`, ['+14155552671']],
      ['on some digits of a phone', '?q=791112345', ['+447911123458', '+447911123457', JOHN]],
      ['on digits written with spaces', `?q=${encodeURIComponent('612 345')}`, ['+33612345678']],
      ['on the start of a number written nationally (region GB)', `?q=${encodeURIComponent('07911 12345')}`, ['+447911123458', '+447911123457', JOHN]],
      ['on the start of a number written after 00', `?q=${encodeURIComponent('0033 6 12')}`, ['+33612345678']],
      ['with % as a literal character', `?q=${encodeURIComponent('b%c')}`, ['+447911123457']],
      ['with % in a name', `?q=${encodeURIComponent('100%')}`, ['+447911123457']],
      ['with _ as a literal character', '?q=jan_', ['+447911123458']],
      ['matching nothing', '?q=zzz', []],
      ['with an empty q', '?q=', ['+33612345678', '+14155552671', '+447911123458', '+447911123457', JOHN]],
    ])('filters %s', async (_, query, expected) => {
      const res = await list(query);
      expect(res.status).toBe(200);
      expect(phones(res.body)).toEqual(expected);
    });

    it('pages a filtered list', async () => {
      const first = await list('?label=vip&limit=2');
      expect(phones(first.body)).toEqual(['+33612345678', '+447911123457']);
      const second = await list(`?label=vip&limit=2&cursor=${first.body.next_cursor}`);
      expect(phones(second.body)).toEqual([JOHN]);
      expect(second.body.next_cursor).toBeNull();
    });

    it('says so when label is given more than once, rather than that it must be a string', async () => {
      const res = await list('?label=vip&label=customer&label=x&q=jan');
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'label is given 3 times: give it once', code: 'invalid_payload', issues: [{ path: 'label', message: 'is given 3 times: give it once' }] });
      const other = await list('?label=vip&q=');
      expect(other.status).toBe(200);
    });

    it('takes an empty limit= or cursor= as not sent: the first page, 50 a page', async () => {
      for (const query of ['?limit=', '?cursor=', '?limit=&cursor=']) {
        const res = await list(query);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body.data).toEqual((await list('')).body.data);
      }
    });

    it('gives 50 a page unless told, and at most 200', async () => {
      const other = await t.newAccount();
      for (let i = 0; i < 201; i++) expect((await postWebhook(t, { contact: { phone: `+4474005${String(i).padStart(5, '0')}` } }, { token: other.webhookToken })).status).toBe(200);
      const page = (query: string) => callApi(t, 'GET', `/contacts${query}`, { key: other.apiKey });
      const first = await page('');
      expect(first.body.data).toHaveLength(50);
      expect(first.body.next_cursor).toEqual(expect.any(String));
      const all = await page('?limit=200');
      expect(all.body.data).toHaveLength(200);
      expect((await page(`?limit=200&cursor=${all.body.next_cursor}`)).body).toMatchObject({ data: [expect.anything()], next_cursor: null });
    });

    it.each([
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=1.5', 'limit'],
      ['limit=1e2', 'limit'],
      ['limit=0x10', 'limit'],
      ['limit=%2010', 'limit'],
      ['cursor=not-a-cursor!', 'cursor'],
      [`cursor=${Buffer.from('abc').toString('base64url')}`, 'cursor'],
      [`cursor=${Buffer.from('12').toString('base64url')}==`, 'cursor'],
      [`q=${'x'.repeat(201)}`, 'q'],
    ])('refuses %s with 400 invalid_payload', async (query, path) => {
      const res = await list(`?${query}`);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_payload');
      expect(res.body.issues[0].path).toBe(path);
    });

    it('refuses escapes that are not UTF-8 (Latin-1 é) in the query or the path, and reads those that are', async () => {
      for (const path of ['/contacts?q=Jan%E9', `/contacts/${encodeURIComponent(JOHN)}%E9`]) {
        const res = await callApi(t, 'GET', path);
        expect(res.status, path).toBe(400);
        expect(res.body).toMatchObject({ code: 'invalid_payload', error: expect.stringContaining('not UTF-8') });
      }
      expect((await list('?q=100%25')).body.data.map((c: JsonBody) => c.name)).toEqual(['Jane 100% Doe']);
      expect((await list('?q=%4A%61ne')).body.data.map((c: JsonBody) => c.name)).toEqual(['Jane 100% Doe']);
    });
  });

  describe('tenancy', () => {
    let other: TestAccount;
    beforeAll(async () => {
      other = await t.newAccount(null);
    });

    it('hides one account’s contacts from another', async () => {
      const res = await callApi(t, 'GET', `/contacts/${encodeURIComponent(JOHN)}`, { key: other.apiKey });
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('not_found');
      expect((await list('?q=john', other.apiKey)).body.data).toEqual([]);
      expect((await list('?label=vip', other.apiKey)).body.data).toEqual([]);
    });

    it('gives each account its own contact for the same phone, read in its own region', async () => {
      await postWebhook(t, { contact: { phone: JOHN, name: 'Other John', labels: 'vip' } }, { token: other.webhookToken });
      const mine = await callApi(t, 'GET', `/contacts/${encodeURIComponent(JOHN)}`, { key: other.apiKey });
      expect(mine.body).toMatchObject({ name: 'Other John', conversations: [] });
      expect(phones((await list('?label=vip', other.apiKey)).body)).toEqual([JOHN]);
      // Without a region, a national number is not British.
      expect((await callApi(t, 'GET', '/contacts/07911123456', { key: other.apiKey })).status).toBe(404);
      expect((await callApi(t, 'GET', `/contacts/${encodeURIComponent(JOHN)}`)).body.name).toBe('John Smith');
    });

    it('needs an API key', async () => {
      expect((await list('', 'csk_nope')).status).toBe(401);
      expect((await callApi(t, 'GET', `/contacts/${encodeURIComponent(JOHN)}`, { key: 'csk_nope' })).status).toBe(401);
    });
  });
});

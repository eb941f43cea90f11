import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { callApi, createTestApp, postWebhook, testDatabases, type TestAccount, type TestApp } from '../helpers/app.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe.each(testDatabases())('API conversations on %s', (kind) => {
  let t: TestApp;
  let account: TestAccount;
  beforeAll(async () => {
    t = await createTestApp(kind);
  });
  afterAll(() => t.close());
  // A fresh account per test keeps contacts and phones from leaking between tests.
  beforeEach(async () => {
    account = await t.newAccount();
  });

  const api = (method: string, path: string, body?: unknown) => callApi(t, method, path, { key: account.apiKey, body });
  const contact = (phone: string) => api('GET', `/contacts/${encodeURIComponent(phone)}`);

  describe('POST /conversations', () => {
    it('opens a conversation and creates the contact it does not find', async () => {
      const res = await api('POST', '/conversations', { phone: '07911 123456', subject: 'Order 42' });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        id: expect.stringMatching(/^cnv_/),
        phone: '+447911123456',
        status: 'open',
        assignee: null,
        subject: 'Order 42',
        created_at: expect.stringMatching(ISO),
      });
      const created = await contact('+447911123456');
      expect(created.status).toBe(200);
      expect(created.body).toMatchObject({ name: null, labels: [], invite_requested: false });
      expect(created.body.conversations).toEqual([{ id: res.body.id, status: 'open', assignee: null }]);
    });

    it('joins a contact that exists, leaving it as it was', async () => {
      await postWebhook(t, { contact: { phone: '+447911123456', name: 'John', labels: 'vip' } }, { token: account.webhookToken });
      const res = await api('POST', '/conversations', { phone: '00447911123456' });
      expect(res.status).toBe(201);
      expect(res.body.subject).toBeNull();
      const existing = await contact('+447911123456');
      expect(existing.body).toMatchObject({ name: 'John', labels: ['vip'] });
      expect(existing.body.conversations.map((c: { id: string }) => c.id)).toEqual([res.body.id]);
      expect((await api('GET', '/contacts')).body.data).toHaveLength(1);
    });

    it('creates one contact when a webhook for the same new phone arrives at the same moment', async () => {
      const phone = '+447911123458';
      const [opened, hooked] = await Promise.all([
        api('POST', '/conversations', { phone }),
        postWebhook(t, { contact: { phone, name: 'Racer' } }, { token: account.webhookToken }),
      ]);
      expect(opened.status).toBe(201);
      expect(hooked.status).toBe(200);
      const list = await api('GET', '/contacts');
      expect(list.body.data.map((c: { phone: string }) => c.phone)).toEqual([phone]);
      expect((await contact(phone)).body).toMatchObject({ name: 'Racer', conversations: [{ id: opened.body.id }] });
    });

    it('takes the phone as a whole number too, as a webhook does', async () => {
      const res = await api('POST', '/conversations', { phone: 447911123456 });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.phone).toBe('+447911123456');
    });

    it('answers 422 invalid_phone for a number that is not valid', async () => {
      const res = await api('POST', '/conversations', { phone: '12345' });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('invalid_phone');
      expect(res.body.issues[0].path).toBe('phone');
      expect((await api('GET', '/contacts')).body.data).toEqual([]);
    });

    it.each([
      ['no phone', {}, 'phone', 'phone is required'],
      ['a phone that is not a string', { phone: ['+447911123456'] }, 'phone', 'phone must be a phone number as a string, or as a whole number'],
      ['a phone that is a number with a fraction', { phone: 447.911123456 }, 'phone', 'phone must be a phone number as a string, or as a whole number'],
      ['a subject over 200 characters', { phone: '+447911123456', subject: 's'.repeat(201) }, 'subject', 'subject must be at most 200 characters'],
    ])('refuses %s with 400 invalid_payload, saying what to send', async (_, body, path, error) => {
      const res = await api('POST', '/conversations', body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_payload');
      expect(res.body.issues[0].path).toBe(path);
      expect(res.body.error).toBe(error);
    });
  });

  describe('messages', () => {
    it('adds messages and shows them oldest first', async () => {
      const conversation = await api('POST', '/conversations', { phone: '+447911123456' });
      const empty = await api('GET', `/conversations/${conversation.body.id}`);
      expect(empty.status).toBe(200);
      expect(empty.body).toEqual({ ...conversation.body, messages: [] });

      const sent = [];
      for (const [direction, body] of [['inbound', 'Hi'], ['outbound', 'Hello, how can I help?'], ['inbound', 'x'.repeat(10_000)]]) {
        const res = await api('POST', `/conversations/${conversation.body.id}/messages`, { direction, body });
        expect(res.status).toBe(201);
        expect(res.body).toEqual({ id: expect.stringMatching(/^msg_/), direction, body, created_at: expect.stringMatching(ISO) });
        sent.push(res.body);
      }
      const full = await api('GET', `/conversations/${conversation.body.id}`);
      expect(full.body.messages).toEqual(sent);
    });

    it('shows the assignee a webhook set', async () => {
      await api('POST', '/agents', { email: 'agent@company.com' });
      const conversation = await api('POST', '/conversations', { phone: '+447911123456' });
      await postWebhook(t, { contact: { phone: '+447911123456' }, assignee: 'agent@company.com' }, { token: account.webhookToken });
      const res = await api('GET', `/conversations/${conversation.body.id}`);
      expect(res.body.assignee).toBe('agent@company.com');
    });

    it.each([
      ['an unknown direction', { direction: 'sideways', body: 'Hi' }, 'direction', 'direction must be one of "inbound" or "outbound"'],
      ['an empty body', { direction: 'inbound', body: '' }, 'body', 'body must not be empty'],
      ['a body over 10000 characters', { direction: 'inbound', body: 'x'.repeat(10_001) }, 'body', 'body must be at most 10000 characters'],
      ['no body', { direction: 'outbound' }, 'body', 'body is required'],
    ])('refuses %s with 400 invalid_payload, saying what to send', async (_, body, path, error) => {
      const conversation = await api('POST', '/conversations', { phone: '+447911123456' });
      const res = await api('POST', `/conversations/${conversation.body.id}/messages`, body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_payload');
      expect(res.body.issues[0].path).toBe(path);
      expect(res.body.error).toBe(error);
      expect((await api('GET', `/conversations/${conversation.body.id}`)).body.messages).toEqual([]);
    });

    it('answers 404 not_found for an unknown conversation', async () => {
      const get = await api('GET', '/conversations/cnv_doesnotexist');
      expect(get.status).toBe(404);
      expect(get.body.code).toBe('not_found');
      const post = await api('POST', '/conversations/cnv_doesnotexist/messages', { direction: 'inbound', body: 'Hi' });
      expect(post.status).toBe(404);
      expect(post.body.code).toBe('not_found');
    });

    it('is gone once a webhook deletes the contact', async () => {
      const conversation = await api('POST', '/conversations', { phone: '+447911123456' });
      await api('POST', `/conversations/${conversation.body.id}/messages`, { direction: 'inbound', body: 'Hi' });
      const deleted = await postWebhook(t, { delete_contact: '+447911123456' }, { token: account.webhookToken });
      expect(deleted.body.deleted).toEqual({ contact: true, conversations: 1, messages: 1 });
      expect((await api('GET', `/conversations/${conversation.body.id}`)).status).toBe(404);
    });
  });

  it('keeps another account away from this account’s contact, conversation and agent', async () => {
    const phone = '+447911123456';
    await api('POST', '/agents', { email: 'agent@company.com' });
    const conversation = await api('POST', '/conversations', { phone });
    await api('POST', `/conversations/${conversation.body.id}/messages`, { direction: 'inbound', body: 'Mine' });
    const other = await t.newAccount();
    const as = (method: string, path: string, body?: unknown) => callApi(t, method, path, { key: other.apiKey, body });

    const attempts = [
      await as('GET', `/contacts/${encodeURIComponent(phone)}`),
      await as('GET', `/conversations/${conversation.body.id}`),
      await as('POST', `/conversations/${conversation.body.id}/messages`, { direction: 'outbound', body: 'Not yours' }),
      await as('DELETE', '/agents/agent%40company.com'),
    ];
    expect(attempts.map((r) => [r.status, r.body.code])).toEqual(Array(4).fill([404, 'not_found']));
    expect((await as('GET', '/contacts')).body.data).toEqual([]);
    expect((await as('GET', '/agents')).body.data).toEqual([]);

    // Nothing of the owner's changed.
    const mine = await api('GET', `/conversations/${conversation.body.id}`);
    expect(mine.body.messages.map((m: { body: string }) => m.body)).toEqual(['Mine']);
    expect((await api('GET', '/agents')).body.data).toHaveLength(1);
    // A conversation the other account opens for the same phone is its own, with its own contact.
    const theirs = await as('POST', '/conversations', { phone });
    expect(theirs.status).toBe(201);
    expect((await contact(phone)).body.conversations.map((c: { id: string }) => c.id)).toEqual([conversation.body.id]);
  });

  it('needs an API key', async () => {
    const res = await callApi(t, 'POST', '/conversations', { key: 'csk_nope', body: { phone: '+447911123456' } });
    expect(res.status).toBe(401);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, createTestApp, postWebhook, testDatabases, type TestAccount, type TestApp } from '../helpers/app.js';

describe.each(testDatabases())('API agents on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(kind);
  });
  afterAll(() => t.close());

  /** Each test gets an account of its own, so lists hold only what the test made. */
  const fresh = () => t.newAccount();
  const as = (account: TestAccount) => ({ key: account.apiKey });

  it('creates an agent with a trimmed, lower-cased email', async () => {
    const res = await callApi(t, 'POST', '/agents', { body: { email: '  Ada@Company.COM ', name: 'Ada' } });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(['created_at', 'email', 'id', 'name']);
    expect(res.body).toMatchObject({ email: 'ada@company.com', name: 'Ada' });
    expect(res.body.id).toMatch(/^agt_/);
    expect(Number.isNaN(Date.parse(res.body.created_at))).toBe(false);
  });

  it('refuses a field it does not know (a misspelt name), naming it, and creates nothing', async () => {
    const account = await fresh();
    const res = await callApi(t, 'POST', '/agents', { ...as(account), body: { email: 'typo@company.com', nmae: 'Ada' } });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: 'the body holds a field not known here: nmae',
      code: 'invalid_payload',
      issues: [{ path: '(body)', message: 'holds a field not known here: nmae' }],
    });
    expect((await callApi(t, 'GET', '/agents', as(account))).body.data).toEqual([]);
  });

  it('takes an email with letters of any script, and a webhook assigns to it in any case', async () => {
    const account = await fresh();
    const res = await callApi(t, 'POST', '/agents', { ...as(account), body: { email: 'Jörg@Bücher.de' } });
    expect(res.status).toBe(201);
    expect(res.body.email).toBe('jörg@bücher.de');
    const assigned = await postWebhook(t, { contact: { phone: '+447400123987' }, assignee: 'JÖRG@BÜCHER.DE' }, { token: account.webhookToken });
    expect(assigned.status).toBe(200);
    expect(assigned.body.operation).toBe('upsert_assign');
  });

  it('creates an agent without a name', async () => {
    const res = await callApi(t, 'POST', '/agents', { body: { email: 'nameless@company.com' } });
    expect(res.status).toBe(201);
    expect(res.body.name).toBeNull();
  });

  it('answers 409 conflict for the same email in any case', async () => {
    const account = await fresh();
    expect((await callApi(t, 'POST', '/agents', { ...as(account), body: { email: 'bob@company.com' } })).status).toBe(201);
    const again = await callApi(t, 'POST', '/agents', { ...as(account), body: { email: 'BOB@Company.com', name: 'Other Bob' } });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('conflict');
    const list = await callApi(t, 'GET', '/agents', as(account));
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0].name).toBeNull();
  });

  it.each([
    ['no email', {}, 'email', 'email is required'],
    ['an invalid email', { email: 'not-an-email' }, 'email', 'email must be an email address'],
    ['an email over 320 characters', { email: `${'a'.repeat(320)}@x.com` }, 'email', 'email must be at most 320 characters'],
    ['a name over 200 characters', { email: 'long@x.com', name: 'n'.repeat(201) }, 'name', 'name must be at most 200 characters'],
    ['a name that is not a string', { email: 'num@x.com', name: 7 }, 'name', 'name must be a string'],
  ])('refuses %s with 400 invalid_payload, saying what to send', async (_, body, path, error) => {
    const res = await callApi(t, 'POST', '/agents', { body });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('invalid_payload');
    expect(res.body.issues.map((i: { path: string }) => i.path)).toContain(path);
    expect(res.body.error).toBe(error);
  });

  it('lists agents ordered by email', async () => {
    const account = await fresh();
    for (const email of ['zed@x.com', 'amy@x.com', 'moe@x.com']) {
      expect((await callApi(t, 'POST', '/agents', { ...as(account), body: { email } })).status).toBe(201);
    }
    const list = await callApi(t, 'GET', '/agents', as(account));
    expect(list.status).toBe(200);
    expect(list.body.data.map((a: { email: string }) => a.email)).toEqual(['amy@x.com', 'moe@x.com', 'zed@x.com']);
  });

  it('deletes an agent by URL-encoded email in any case, then 404s', async () => {
    const account = await fresh();
    await callApi(t, 'POST', '/agents', { ...as(account), body: { email: 'gone@company.com' } });
    await callApi(t, 'POST', '/agents', { ...as(account), body: { email: 'stays@company.com' } });
    const deleted = await callApi(t, 'DELETE', `/agents/${encodeURIComponent('Gone@Company.com')}`, as(account));
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBeNull();
    const list = await callApi(t, 'GET', '/agents', as(account));
    expect(list.body.data.map((a: { email: string }) => a.email)).toEqual(['stays@company.com']);

    const again = await callApi(t, 'DELETE', '/agents/gone%40company.com', as(account));
    expect(again.status).toBe(404);
    expect(again.body.code).toBe('not_found');
  });

  it('a blank email in the path is 400, not "no agent with email  in this account"', async () => {
    const account = await fresh();
    const blank = await callApi(t, 'DELETE', '/agents/%20%09', as(account));
    expect(blank.status).toBe(400);
    expect(blank.body).toEqual({ error: 'email must not be empty', code: 'invalid_payload', issues: [{ path: 'email', message: 'must not be empty' }] });
  });

  it('a method a path does not take is 405 with the methods it does, and changes nothing', async () => {
    const account = await fresh();
    const put = await callApi(t, 'PUT', '/agents', { ...as(account), body: { email: 'put@company.com' } });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD, POST');
    expect(put.body).toEqual({ error: 'PUT is not allowed here: use GET or POST', code: 'method_not_allowed' });
    // HEAD, which Allow names, is answered as GET is, without a body.
    const head = await callApi(t, 'HEAD', '/agents', as(account));
    expect([head.status, head.body]).toEqual([200, null]);
    const get = await callApi(t, 'GET', '/agents/put%40company.com', as(account));
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('DELETE');
    expect((await callApi(t, 'GET', '/agents', as(account))).body.data).toEqual([]);
    // Without a key the answer is 401 as for every API route: nothing is learnt about the routes.
    expect((await callApi(t, 'PUT', '/agents', { key: 'csk_wrong' })).status).toBe(401);
    expect((await callApi(t, 'GET', '/no-such-route', as(account))).status).toBe(404);
  });

  it('unassigns the deleted agent’s conversations', async () => {
    const account = await fresh();
    const phone = '+447911123456';
    await callApi(t, 'POST', '/agents', { ...as(account), body: { email: 'agent@company.com' } });
    const first = await callApi(t, 'POST', '/conversations', { ...as(account), body: { phone } });
    const second = await callApi(t, 'POST', '/conversations', { ...as(account), body: { phone } });
    const assigned = await postWebhook(t, { contact: { phone }, assignee: 'Agent@Company.com' }, { token: account.webhookToken });
    expect(assigned.body.assigned_conversations).toBe(2);
    const before = await callApi(t, 'GET', `/contacts/${encodeURIComponent(phone)}`, as(account));
    expect(before.body.conversations.map((c: { assignee: string }) => c.assignee)).toEqual(['agent@company.com', 'agent@company.com']);

    expect((await callApi(t, 'DELETE', '/agents/agent%40company.com', as(account))).status).toBe(204);

    const after = await callApi(t, 'GET', `/contacts/${encodeURIComponent(phone)}`, as(account));
    expect(after.body.conversations).toEqual([
      { id: first.body.id, status: 'open', assignee: null },
      { id: second.body.id, status: 'open', assignee: null },
    ]);
    const conversation = await callApi(t, 'GET', `/conversations/${first.body.id}`, as(account));
    expect(conversation.body.assignee).toBeNull();
    // The webhook now refuses the removed agent.
    const refused = await postWebhook(t, { contact: { phone }, assignee: 'agent@company.com' }, { token: account.webhookToken });
    expect(refused.body.code).toBe('unknown_assignee');
  });

  it('keeps each account’s agents to itself', async () => {
    const owner = await fresh();
    const other = await fresh();
    await callApi(t, 'POST', '/agents', { ...as(owner), body: { email: 'mine@company.com' } });

    expect((await callApi(t, 'GET', '/agents', as(other))).body.data).toEqual([]);
    const stolen = await callApi(t, 'DELETE', '/agents/mine%40company.com', as(other));
    expect(stolen.status).toBe(404);
    expect(stolen.body.code).toBe('not_found');
    expect((await callApi(t, 'GET', '/agents', as(owner))).body.data).toHaveLength(1);
    // The same email is free in another account.
    expect((await callApi(t, 'POST', '/agents', { ...as(other), body: { email: 'mine@company.com' } })).status).toBe(201);
  });

  it('needs an API key', async () => {
    for (const [method, path] of [['GET', '/agents'], ['POST', '/agents'], ['DELETE', '/agents/a%40b.com']] as const) {
      const res = await callApi(t, method, path, { key: 'csk_nope', body: method === 'POST' ? { email: 'a@b.com' } : undefined });
      expect(res.status).toBe(401);
    }
  });

  it('refuses a body over MAX_BODY_BYTES with 413, and one that is not JSON with 415', async () => {
    const big = await callApi(t, 'POST', '/agents', { body: { email: 'big@x.com', name: 'x'.repeat(t.config.MAX_BODY_BYTES) } });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('payload_too_large');
    const res = await t.app.request('/api/v1/agents', {
      method: 'POST',
      headers: { authorization: `Bearer ${t.account.apiKey}`, 'content-type': 'text/plain' },
      body: 'email=a@b.com',
    });
    expect(res.status).toBe(415);
  });
});

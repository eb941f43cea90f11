import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accounts } from '../../src/db/schema.js';
import { ADMIN_KEY, callApi, createTestApp, postWebhook, testDatabases, type JsonBody, type TestApp } from '../helpers/app.js';
import { uniquePhone } from '../helpers/fixtures.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe.each(testDatabases())('API accounts on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(kind);
  });
  afterAll(() => t.close());

  describe('POST /accounts (admin)', () => {
    it('creates an account whose webhook URL and API key work at once', async () => {
      const created = await callApi(t, 'POST', '/accounts', { key: ADMIN_KEY, body: { name: '  Acme ', default_region: 'gb' } });
      expect(created.status).toBe(201);
      const body = created.body;
      expect(Object.keys(body).sort()).toEqual(['api_key', 'default_region', 'id', 'name', 'webhook_token', 'webhook_url']);
      expect(body).toMatchObject({ name: 'Acme', default_region: 'GB' });
      expect(body.id).toMatch(/^acc_/);
      expect(body.webhook_url).toBe(`http://test.local/webhooks/${body.webhook_token}`);

      const me = await callApi(t, 'GET', '/account', { key: body.api_key });
      expect(me.status).toBe(200);
      expect(me.body.id).toBe(body.id);
      // The account's region is used: a national number is read as British.
      const hook = await postWebhook(t, { contact: { phone: '07911 123456' } }, { token: body.webhook_token });
      expect(hook.status).toBe(200);
      expect(hook.body.contact.phone).toBe('+447911123456');
    });

    it.each([
      ['absent', {}, null],
      ['null', { default_region: null }, null],
      ['lower-case', { default_region: 'us' }, 'US'],
    ])('takes default_region %s', async (_, extra, expected) => {
      const created = await callApi(t, 'POST', '/accounts', { key: ADMIN_KEY, body: { name: 'Region', ...extra } });
      expect(created.status).toBe(201);
      expect(created.body.default_region).toBe(expected);
    });

    it.each([
      ['no name', {}, 'name', 'name is required'],
      ['an empty name', { name: '   ' }, 'name', 'name must not be empty'],
      ['a name over 200 characters', { name: 'x'.repeat(201) }, 'name', 'name must be at most 200 characters'],
      ['a name that is not a string', { name: 42 }, 'name', 'name must be a string'],
      ['an unknown region', { name: 'A', default_region: 'XX' }, 'default_region', 'default_region must be a country code libphonenumber knows, like GB or US'],
      ['a three-letter region', { name: 'A', default_region: 'GBR' }, 'default_region', 'default_region must be a two-letter country code'],
    ])('refuses %s with 400 invalid_payload, saying what to send', async (_, body, path, error) => {
      const res = await callApi(t, 'POST', '/accounts', { key: ADMIN_KEY, body });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_payload');
      expect(res.body.issues.map((i: { path: string }) => i.path)).toContain(path);
      expect(res.body.error).toBe(error);
    });

    it('refuses an account API key, and no key at all', async () => {
      const withAccountKey = await callApi(t, 'POST', '/accounts', { body: { name: 'Nope' } });
      expect(withAccountKey.status).toBe(401);
      expect(withAccountKey.body.code).toBe('unauthorized');
      const res = await t.app.request('/api/v1/accounts', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Nope' }),
      });
      expect(res.status).toBe(401);
    });
  });

  describe('GET /account', () => {
    it('shows the calling account without secrets', async () => {
      const res = await callApi(t, 'GET', '/account');
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['created_at', 'default_region', 'id', 'name']);
      expect(res.body).toMatchObject({ id: t.account.id, name: 'test', default_region: 'GB' });
      expect(res.body.created_at).toMatch(ISO);
    });

    it.each([
      ['a wrong key', 'csk_wrong'],
      ['the admin key', ADMIN_KEY],
      ['the webhook token', undefined],
    ])('refuses %s with 401', async (_, key) => {
      const res = await callApi(t, 'GET', '/account', { key: key ?? t.account.webhookToken });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('unauthorized');
    });
  });

  describe('PATCH /account', () => {
    it('sets the default region of an account that had none: national numbers are read in it from the next delivery on', async () => {
      const other = await t.newAccount(null);
      const national = await postWebhook(t, { contact: { phone: '07911 123456' } }, { token: other.webhookToken });
      expect(national.body).toMatchObject({
        code: 'invalid_phone',
        issues: [{ path: 'contact.phone', message: 'is not a valid international number, and the account has no region to read a national one in: start it with + and the country code' }],
      });
      const changed = await callApi(t, 'PATCH', '/account', { key: other.apiKey, body: { default_region: 'gb' } });
      expect(changed.status).toBe(200);
      expect(changed.body).toMatchObject({ id: other.id, default_region: 'GB' });
      const read = await postWebhook(t, { contact: { phone: '07911 123456' } }, { token: other.webhookToken });
      expect(read.body.contact).toMatchObject({ phone: '+447911123456', created: true });
      const renamed = await callApi(t, 'PATCH', '/account', { key: other.apiKey, body: { name: '  Renamed  ' } });
      expect(renamed.body).toMatchObject({ name: 'Renamed', default_region: 'GB' });
      const cleared = await callApi(t, 'PATCH', '/account', { key: other.apiKey, body: { default_region: null } });
      expect(cleared.body).toMatchObject({ name: 'Renamed', default_region: null });
      expect((await callApi(t, 'GET', '/account', { key: other.apiKey })).body).toEqual(cleared.body);
      expect((await callApi(t, 'GET', '/account')).body).toMatchObject({ name: 'test', default_region: 'GB' });
    });

    it.each([
      ['nothing to change', {}, 'the body must hold name or default_region, or both'],
      ['an unknown region', { default_region: 'XX' }, undefined],
      ['an empty name', { name: ' ' }, undefined],
    ])('refuses %s with 400 and changes nothing', async (_, body, error) => {
      const res = await callApi(t, 'PATCH', '/account', { body });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_payload');
      if (error) expect(res.body.error).toBe(error);
      expect((await callApi(t, 'GET', '/account')).body).toMatchObject({ name: 'test', default_region: 'GB' });
    });
  });

  describe('GET /account/signing-secrets', () => {
    it('lists the ids and times of the secrets, oldest first, never the secrets; a removed one is gone', async () => {
      const other = await t.newAccount();
      expect((await callApi(t, 'GET', '/account/signing-secrets', { key: other.apiKey })).body).toEqual({ data: [] });
      const first = (await callApi(t, 'POST', '/account/signing-secrets', { key: other.apiKey })).body;
      const second = (await callApi(t, 'POST', '/account/signing-secrets', { key: other.apiKey })).body;
      const listed = await callApi(t, 'GET', '/account/signing-secrets', { key: other.apiKey });
      expect(listed.status).toBe(200);
      expect(listed.body.data.map((row: JsonBody) => row.id)).toEqual([first.id, second.id]);
      expect(Object.keys(listed.body.data[0]).sort()).toEqual(['created_at', 'id']);
      expect(listed.body.data[0].created_at).toMatch(ISO);
      expect(JSON.stringify(listed.body)).not.toContain('whsec_');
      expect((await callApi(t, 'DELETE', `/account/signing-secrets/${first.id}`, { key: other.apiKey })).status).toBe(204);
      expect((await callApi(t, 'GET', '/account/signing-secrets', { key: other.apiKey })).body.data.map((row: JsonBody) => row.id)).toEqual([second.id]);
    });
  });

  describe('POST /account/webhook-token/rotate', () => {
    it('gives a new token and the old one stops at once', async () => {
      const account = await t.newAccount();
      const before = await postWebhook(t, { contact: { phone: '+447911123457' } }, { token: account.webhookToken });
      expect(before.status).toBe(200);

      const rotated = await callApi(t, 'POST', '/account/webhook-token/rotate', { key: account.apiKey });
      expect(rotated.status).toBe(200);
      expect(Object.keys(rotated.body).sort()).toEqual(['webhook_token', 'webhook_url']);
      expect(rotated.body.webhook_token).not.toBe(account.webhookToken);
      expect(rotated.body.webhook_url).toBe(`http://test.local/webhooks/${rotated.body.webhook_token}`);

      const old = await postWebhook(t, { contact: { phone: '+447911123457' } }, { token: account.webhookToken });
      expect(old.status).toBe(401);
      expect(old.body.code).toBe('unauthorized');
      const fresh = await postWebhook(t, { contact: { phone: '+447911123457', name: 'Rotated' } }, { token: rotated.body.webhook_token });
      expect(fresh.status).toBe(200);
      expect(fresh.body.contact.name).toBe('Rotated');
      // The API key is untouched by a token rotation.
      expect((await callApi(t, 'GET', '/account', { key: account.apiKey })).status).toBe(200);
    });

    it('rotates on an empty form POST, as `curl -X POST -d ""` sends it', async () => {
      const account = await t.newAccount();
      const res = await t.app.request('/api/v1/account/webhook-token/rotate', {
        method: 'POST',
        headers: { authorization: `Bearer ${account.apiKey}`, 'content-type': 'application/x-www-form-urlencoded', 'content-length': '0' },
        body: '',
      });
      expect(res.status).toBe(200);
      expect((await postWebhook(t, { contact: { phone: '+447911123457' } }, { token: account.webhookToken })).status).toBe(401);
    });

    it('needs the account key', async () => {
      const res = await callApi(t, 'POST', '/account/webhook-token/rotate', { key: 'csk_nope' });
      expect(res.status).toBe(401);
    });
  });

  describe('API key rotation', () => {
    it('an account replaces its own key: the old one stops at once, the webhook token is untouched', async () => {
      const account = await t.newAccount();
      const rotated = await callApi(t, 'POST', '/account/api-key/rotate', { key: account.apiKey });
      expect(rotated.status).toBe(200);
      expect(Object.keys(rotated.body)).toEqual(['api_key']);
      expect(rotated.body.api_key).toMatch(/^csk_/);
      expect(rotated.body.api_key).not.toBe(account.apiKey);

      expect((await callApi(t, 'GET', '/account', { key: account.apiKey })).status).toBe(401);
      expect((await callApi(t, 'GET', '/account', { key: rotated.body.api_key })).body.id).toBe(account.id);
      expect((await postWebhook(t, { contact: { phone: uniquePhone() } }, { token: account.webhookToken })).status).toBe(200);
      // Only its hash is stored.
      const stored = await t.database.db.select({ hash: accounts.apiKeyHash }).from(accounts);
      expect(stored.map((row) => row.hash)).not.toContain(rotated.body.api_key);
    });

    it('an admin gives a lost key back by account id; another account is untouched', async () => {
      const [lost, other] = [await t.newAccount(), await t.newAccount()];
      const reissued = await callApi(t, 'POST', `/accounts/${lost.id}/api-key/rotate`, { key: ADMIN_KEY });
      expect(reissued.status).toBe(200);
      expect((await callApi(t, 'GET', '/account', { key: reissued.body.api_key })).body.id).toBe(lost.id);
      expect((await callApi(t, 'GET', '/account', { key: lost.apiKey })).status).toBe(401);
      expect((await callApi(t, 'GET', '/account', { key: other.apiKey })).status).toBe(200);
    });

    it.each([
      ['an account key on the admin route', (id: string, key: string) => callApi(t, 'POST', `/accounts/${id}/api-key/rotate`, { key }), 401],
      ['no admin key', (id: string) => callApi(t, 'POST', `/accounts/${id}/api-key/rotate`, { key: 'wrong-admin-key-0123456789' }), 401],
      ['an unknown account', () => callApi(t, 'POST', '/accounts/acc_nope/api-key/rotate', { key: ADMIN_KEY }), 404],
      ['a wrong account key', () => callApi(t, 'POST', '/account/api-key/rotate', { key: 'csk_nope' }), 401],
    ])('refuses %s, changing nothing', async (_, send, status) => {
      const account = await t.newAccount();
      expect((await send(account.id, account.apiKey)).status).toBe(status);
      expect((await callApi(t, 'GET', '/account', { key: account.apiKey })).status).toBe(200);
    });
  });

  describe('bodies', () => {
    const raw = (path: string, body: string, type = 'application/json') =>
      t.app.request(`/api/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': type }, body });

    it('refuses a body over MAX_BODY_BYTES with 413 payload_too_large', async () => {
      const res = await raw('/accounts', JSON.stringify({ name: 'x'.repeat(t.config.MAX_BODY_BYTES) }));
      expect(res.status).toBe(413);
      expect(((await res.json()) as { code: string }).code).toBe('payload_too_large');
    });

    it('refuses malformed JSON with 400 invalid_payload', async () => {
      const res = await raw('/accounts', '{"name": ');
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe('invalid_payload');
    });

    it.each(['', ' \n'])('refuses an empty body (%j) where one is needed, saying so', async (body) => {
      const res = await raw('/accounts', body);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ code: 'invalid_payload', error: 'the body is empty: send a JSON object' });
    });

    it('refuses malformed JSON on a route that reads no body, and does nothing', async () => {
      const account = await t.newAccount();
      const send = (path: string) =>
        t.app.request(`/api/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${account.apiKey}`, 'content-type': 'application/json' }, body: '{bad' });
      for (const path of ['/account/webhook-token/rotate', '/account/signing-secrets']) {
        const res = await send(path);
        expect(res.status, path).toBe(400);
        expect(((await res.json()) as { error: string }).error).toBe("the body is not valid JSON: expected property name or '}' at character 2");
      }
      // The token was not rotated, and no secret was added (the webhook needs no signature).
      const delivered = await postWebhook(t, { contact: { phone: uniquePhone() } }, { token: account.webhookToken });
      expect(delivered.status).toBe(200);
    });

    it.each([
      ['not UTF-8 (a Latin-1 é)', Buffer.from('{"name":"Ren\xe9"}', 'latin1'), 'the body is not UTF-8 text'],
      ['an unpaired surrogate', '{"name":"a\\ud800b"}', 'an unpaired UTF-16 surrogate'],
    ])('refuses a body holding text that is %s, rather than storing U+FFFD', async (_, body, message) => {
      const res = await raw('/accounts', body as string);
      expect(res.status).toBe(400);
      const answer = (await res.json()) as { code: string; error: string };
      expect(answer.code).toBe('invalid_payload');
      expect(answer.error).toContain(message);
    });

    it('refuses a body that is not JSON with 415 unsupported_media_type', async () => {
      const res = await raw('/accounts', 'name=Acme', 'application/x-www-form-urlencoded');
      expect(res.status).toBe(415);
      expect(((await res.json()) as { code: string }).code).toBe('unsupported_media_type');
    });
  });
});

describe('POST /accounts while ADMIN_API_KEY is unset', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite', { ADMIN_API_KEY: '' });
  });
  afterAll(() => t.close());

  it.each([
    ['the key the tests use elsewhere', ADMIN_KEY],
    ['an empty bearer', ''],
  ])('is refused with %s, and creates nothing', async (_, key) => {
    const before = await t.database.db.select({ id: accounts.id }).from(accounts);
    const res = await callApi(t, 'POST', '/accounts', { key, body: { name: 'Sneaky' } });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ code: 'unauthorized', error: 'admin routes are disabled: set ADMIN_API_KEY to enable them' });
    expect(await t.database.db.select({ id: accounts.id }).from(accounts)).toEqual(before);
  });
});


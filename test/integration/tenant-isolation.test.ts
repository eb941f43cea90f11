import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, createTestApp, postWebhook, testDatabases, type JsonBody, type TestAccount, type TestApp } from '../helpers/app.js';

/** Account A's objects, which account B's key must neither see nor change. */
interface Objects {
  phone: string;
  /** A's refused delivery that A could replay now (its agent exists since). */
  refusedPhone: string;
  agentEmail: string;
  conversationId: string;
  refusedId: string;
  appliedId: string;
  secretId: string;
}

const B_PHONE = '+447400999999';

type Route = [method: string, template: string, path: (a: Objects) => string, body?: unknown];

/** Every /api/v1 route that takes an id, phone or email, with A's object in place. */
const routes: Route[] = [
  ['DELETE', '/agents/{email}', (a) => `/agents/${encodeURIComponent(a.agentEmail)}`],
  ['GET', '/contacts/{phone}', (a) => `/contacts/${encodeURIComponent(a.phone)}`],
  ['GET', '/conversations/{id}', (a) => `/conversations/${a.conversationId}`],
  ['POST', '/conversations/{id}/messages', (a) => `/conversations/${a.conversationId}/messages`, { direction: 'outbound', body: 'from B' }],
  ['GET', '/deliveries/{id}', (a) => `/deliveries/${a.refusedId}`],
  ['GET', '/deliveries/{id}', (a) => `/deliveries/${a.appliedId}`],
  ['POST', '/deliveries/{id}/replay', (a) => `/deliveries/${a.refusedId}/replay`],
  ['DELETE', '/account/signing-secrets/{id}', (a) => `/account/signing-secrets/${a.secretId}`],
];

const ids = (body: JsonBody) => (body.data as { id: string }[]).map((row) => row.id);

describe.each(testDatabases())('tenant isolation on %s', (kind) => {
  let t: TestApp;
  let a: TestAccount;
  let b: TestAccount;
  let objects: Objects;
  let bDeliveries: string[];
  let before: JsonBody;

  const asA = (method: string, path: string, body?: unknown) => callApi(t, method, path, { key: a.apiKey, body });
  const asB = (method: string, path: string, body?: unknown) => callApi(t, method, path, { key: b.apiKey, body });

  /** Everything of A's that the routes above could reveal or change, as A sees it. */
  const snapshotOfA = async () => ({
    agents: (await asA('GET', '/agents')).body,
    contacts: (await asA('GET', '/contacts')).body,
    contact: (await asA('GET', `/contacts/${encodeURIComponent(objects.phone)}`)).body,
    refusedContact: (await asA('GET', `/contacts/${encodeURIComponent(objects.refusedPhone)}`)).status,
    conversation: (await asA('GET', `/conversations/${objects.conversationId}`)).body,
    deliveries: (await asA('GET', '/deliveries')).body,
    refused: (await asA('GET', `/deliveries/${objects.refusedId}`)).body,
  });

  beforeAll(async () => {
    t = await createTestApp(kind);
    a = t.account;
    b = await t.newAccount();
    const phone = '+447911123456';
    const refusedPhone = '+447911123457';
    const agentEmail = 'ada@a.example';

    const applied = await postWebhook(t, { contact: { phone, name: 'Alice of A', labels: 'vip' } }, { token: a.webhookToken });
    const refused = await postWebhook(t, { contact: { phone: refusedPhone }, assignee: agentEmail }, { token: a.webhookToken });
    expect(refused.body.code).toBe('unknown_assignee');
    expect((await asA('POST', '/agents', { email: agentEmail })).status).toBe(201);
    const conversation = await asA('POST', '/conversations', { phone });
    expect((await asA('POST', `/conversations/${conversation.body.id}/messages`, { direction: 'inbound', body: 'hello' })).status).toBe(201);

    // B has data of its own, so that its empty answers below are not just an empty account.
    expect((await postWebhook(t, { contact: { phone: B_PHONE, name: 'Bob of B' } }, { token: b.webhookToken })).status).toBe(200);
    await postWebhook(t, { contact: { phone: 'nope' } }, { token: b.webhookToken });
    await asB('POST', '/agents', { email: 'bob@b.example' });
    bDeliveries = ids((await asB('GET', '/deliveries')).body);

    // Last: with a signing secret, A's webhooks need signatures.
    const secret = await asA('POST', '/account/signing-secrets');
    expect(secret.status).toBe(201);

    objects = {
      phone,
      refusedPhone,
      agentEmail,
      conversationId: conversation.body.id,
      refusedId: refused.body.delivery_id,
      appliedId: applied.body.delivery_id,
      secretId: secret.body.id,
    };
    before = await snapshotOfA();
  });
  afterAll(() => t.close());

  it('covers every route of the API that takes an id, phone or email', () => {
    const doc = t.app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 'contact-sync', version: 'test' } });
    const documented = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
      path.includes('{') && path.startsWith('/api/v1/') && !path.startsWith('/api/v1/accounts/')
        ? Object.keys(item as object).map((method) => `${method.toUpperCase()} ${path.replace(/^\/api\/v1/, '')}`)
        : [],
    );
    expect(documented.length).toBeGreaterThanOrEqual(7);
    const covered = new Set(routes.map(([method, template]) => `${method} ${template}`));
    expect(documented.filter((route) => !covered.has(route))).toEqual([]);
  });

  it('answers 401 to every route of the API sent without a key, so no route is open by mistake', async () => {
    const doc = t.app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 'contact-sync', version: 'test' } });
    const documented = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
      path.startsWith('/api/v1/') ? Object.keys(item as object).map((method) => [method.toUpperCase(), path.replace(/\{[^}]+\}/g, 'x')] as const) : [],
    );
    expect(documented.length).toBeGreaterThanOrEqual(15);
    const answers = await Promise.all(
      documented.map(async ([method, path]) => {
        const res = await t.app.request(path, { method, ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}) });
        return `${method} ${path} ${res.status}`;
      }),
    );
    expect(answers).toEqual(documented.map(([method, path]) => `${method} ${path} 401`));
    expect(await snapshotOfA()).toEqual(before);
  });

  it("answers 401 to B's key, and A's own, on the admin route that takes an account id: only ADMIN_API_KEY opens it", async () => {
    for (const key of [b.apiKey, a.apiKey]) {
      expect((await callApi(t, 'POST', `/accounts/${a.id}/api-key/rotate`, { key })).status).toBe(401);
    }
    expect((await asA('GET', '/account')).status).toBe(200);
    expect(await snapshotOfA()).toEqual(before);
  });

  it.each(routes)("%s %s with B's key answers 404 and changes nothing of A's", async (method, _, path, body) => {
    const res = await asB(method, path(objects), body);
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('not_found');
    expect(await snapshotOfA()).toEqual(before);
    expect(ids((await asB('GET', '/deliveries')).body)).toEqual(bDeliveries);
  });

  it("lists none of A's rows to B", async () => {
    const contacts = await asB('GET', '/contacts');
    expect(contacts.body.data.map((c: JsonBody) => c.phone)).toEqual([B_PHONE]);
    expect((await asB('GET', `/contacts?q=${encodeURIComponent(objects.phone)}`)).body.data).toEqual([]);
    expect((await asB('GET', '/contacts?label=vip')).body.data).toEqual([]);
    expect((await asB('GET', '/agents')).body.data.map((agent: JsonBody) => agent.email)).toEqual(['bob@b.example']);
    expect((await asA('GET', '/account/signing-secrets')).body.data.map((secret: JsonBody) => secret.id)).toEqual([objects.secretId]);
    expect((await asB('GET', '/account/signing-secrets')).body.data).toEqual([]);

    const deliveries = ids((await asB('GET', '/deliveries')).body);
    expect(deliveries).toHaveLength(2);
    const ofA = ids(before.deliveries);
    expect(ofA).toContain(objects.refusedId);
    expect(deliveries.filter((id) => ofA.includes(id))).toEqual([]);
    expect(ids((await asB('GET', '/deliveries?status=refused')).body)).toEqual([bDeliveries[0]]);
  });

  it("leaves A's objects usable by A", async () => {
    expect((await asA('POST', `/deliveries/${objects.refusedId}/replay`)).body).toMatchObject({ status: 'applied', operation: 'upsert_assign' });
    expect((await asA('DELETE', `/account/signing-secrets/${objects.secretId}`)).status).toBe(204);
    expect((await asA('DELETE', `/agents/${encodeURIComponent(objects.agentEmail)}`)).status).toBe(204);
  });
});

import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { sign } from '../../src/http/signature.js';
import { laneKey } from '../../src/sync/phone-queue.js';
import { callApi, createTestApp, postWebhook, testDatabases, type TestApp } from '../helpers/app.js';
import { storedContact, uniquePhone } from '../helpers/fixtures.js';

const nowSeconds = () => String(Math.floor(Date.now() / 1000));

/** Standard Webhooks headers for `body`, signed with `secret`. */
function signed(secret: string, body: string, init: { id?: string; timestamp?: string } = {}) {
  const id = init.id ?? `msg_${Math.random().toString(36).slice(2)}`;
  const timestamp = init.timestamp ?? nowSeconds();
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${sign(secret, id, timestamp, new TextEncoder().encode(body))}` };
}

describe.each(testDatabases())('SPEC §2.5 signatures on %s', (kind) => {
  let t: TestApp;
  let secret: { id: string; secret: string };
  beforeAll(async () => {
    t = await createTestApp(kind);
  });
  afterAll(() => t.close());

  it('without signing secrets, unsigned deliveries are accepted', async () => {
    expect((await postWebhook(t, { contact: { phone: uniquePhone() } })).status).toBe(200);
  });

  it('POST /account/signing-secrets answers 201 with a whsec_ secret shown once', async () => {
    const res = await callApi(t, 'POST', '/account/signing-secrets');
    expect(res.status).toBe(201);
    expect(res.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    secret = res.body as typeof secret;
  });

  const refused: [string, (body: string) => Record<string, string>, string?][] = [
    ['no signature headers', () => ({})],
    ['a tampered body', (body) => signed(secret.secret, body.replace('}', ' }'))],
    ['a wrong secret', (body) => signed(`whsec_${Buffer.from('not the secret, 24 bytes').toString('base64')}`, body)],
    ['a stale timestamp', (body) => signed(secret.secret, body, { timestamp: String(Math.floor(Date.now() / 1000) - 301) })],
    ['a future timestamp', (body) => signed(secret.secret, body, { timestamp: String(Math.floor(Date.now() / 1000) + 301) })],
    ['a signature of the wrong length', (body) => ({ ...signed(secret.secret, body), 'webhook-signature': 'v1,c2hvcnQ=' })],
    ['invalid JSON with a bad signature (verified before parsing)', () => ({ 'webhook-id': 'x', 'webhook-timestamp': nowSeconds(), 'webhook-signature': 'v1,AAAA' }), '{not json'],
  ];

  it.each(refused)('%s → 401, nothing written', async (_name, headersFor, rawBody) => {
    const phone = uniquePhone();
    const body = rawBody ?? JSON.stringify({ contact: { phone, name: 'Signed?' } });
    const res = await postWebhook(t, body, { headers: headersFor(body) });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('unauthorized');
    expect(await storedContact(t, phone)).toBeNull();
  });

  it('a valid signature over the raw bytes is accepted', async () => {
    const phone = uniquePhone();
    const body = `{ "contact": { "phone": "${phone}", "name": "Signed" } }`;
    const res = await postWebhook(t, body, { headers: signed(secret.secret, body) });
    expect(res.status).toBe(200);
    expect((await storedContact(t, phone))?.name).toBe('Signed');
  });

  it('a payload in the query string is refused even with a valid signature, which covers only the (empty) body', async () => {
    const phone = uniquePhone();
    const query = `?phone=${encodeURIComponent(phone)}&name=Mallory`;
    for (const method of ['GET', 'POST']) {
      const res = await t.app.request(`/webhooks/${t.account.webhookToken}${query}`, { method, headers: signed(secret.secret, '') });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: string }).error).toContain('query string');
    }
    expect(await storedContact(t, phone)).toBeNull();
  });

  it('a captured signed delivery sent again is the same delivery, whatever Idempotency-Key is added to it', async () => {
    const phone = uniquePhone();
    const upsert = JSON.stringify({ contact: { phone, name: 'Captured' } });
    const captured = signed(secret.secret, upsert);
    const first = await postWebhook(t, upsert, { headers: captured });
    expect(first.body.status).toBe('applied');
    const erase = JSON.stringify({ delete_contact: phone });
    expect((await postWebhook(t, erase, { headers: signed(secret.secret, erase) })).body.status).toBe('applied');

    // The signature covers webhook-id, not Idempotency-Key: the signed id is the key.
    const replayed = await postWebhook(t, upsert, { headers: { ...captured, 'idempotency-key': 'chosen-by-whoever-replays-it' } });
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(replayed.body.delivery_id).toBe(first.body.delivery_id);
    expect(await storedContact(t, phone)).toBeNull();
  });

  it('rotation: a second secret, both accepted, then the first removed stops working', async () => {
    const second = (await callApi(t, 'POST', '/account/signing-secrets')).body as typeof secret;
    const body = JSON.stringify({ contact: { phone: uniquePhone() } });
    expect((await postWebhook(t, body, { headers: signed(secret.secret, body) })).status).toBe(200);
    expect((await postWebhook(t, body, { headers: signed(second.secret, body) })).status).toBe(200);
    expect((await callApi(t, 'DELETE', `/account/signing-secrets/${secret.id}`)).status).toBe(204);
    const next = JSON.stringify({ contact: { phone: uniquePhone() } });
    expect((await postWebhook(t, next, { headers: signed(secret.secret, next) })).status).toBe(401);
    expect((await postWebhook(t, next, { headers: signed(second.secret, next) })).status).toBe(200);
    secret = second;
  });

  it("another account's secret id is 404, and its deliveries need no signature", async () => {
    const other = await t.newAccount();
    expect((await callApi(t, 'DELETE', `/account/signing-secrets/${secret.id}`, { key: other.apiKey })).status).toBe(404);
    expect((await postWebhook(t, { contact: { phone: uniquePhone() } }, { token: other.webhookToken })).status).toBe(200);
  });

  it('with no secret left, signatures are no longer required', async () => {
    expect((await callApi(t, 'DELETE', `/account/signing-secrets/${secret.id}`)).status).toBe(204);
    expect((await callApi(t, 'DELETE', `/account/signing-secrets/${secret.id}`)).status).toBe(404);
    expect((await postWebhook(t, { contact: { phone: uniquePhone() } })).status).toBe(200);
  });
});

describe('SPEC §2.6 rate limit and request timeout', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite', { RATE_LIMIT_PER_MINUTE: '3', REQUEST_TIMEOUT_MS: '300' });
  });
  afterAll(() => t.close());

  it('429 rate_limited with Retry-After beyond the per-account limit; other accounts are not affected', async () => {
    for (let i = 0; i < 3; i++) expect((await postWebhook(t, { contact: { phone: uniquePhone() } })).status).toBe(200);
    const phone = uniquePhone();
    const res = await postWebhook(t, { contact: { phone } });
    expect(res.status).toBe(429);
    expect(res.body.code).toBe('rate_limited');
    expect(Number(res.headers.get('retry-after'))).toBe(20);
    expect(await storedContact(t, phone)).toBeNull();
    const other = await t.newAccount();
    expect((await postWebhook(t, { contact: { phone } }, { token: other.webhookToken })).status).toBe(200);
  });

  it('forged signatures cost the account nothing: its signed deliveries still get through', async () => {
    const signedAccount = await t.newAccount();
    const { secret } = (await callApi(t, 'POST', '/account/signing-secrets', { key: signedAccount.apiKey })).body as { secret: string };
    const forged = { 'webhook-id': 'msg_forged', 'webhook-timestamp': nowSeconds(), 'webhook-signature': 'v1,AAAA' };
    const bulk = (body: string, headers: Record<string, string>) =>
      t.app.request(`/webhooks/${signedAccount.webhookToken}/bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson', ...headers }, body });
    for (let i = 0; i < 5; i++) {
      expect((await postWebhook(t, { contact: { phone: uniquePhone() } }, { token: signedAccount.webhookToken, headers: forged })).status).toBe(401);
      expect((await bulk(`${JSON.stringify({ contact: { phone: uniquePhone() } })}\n`, forged)).status).toBe(401);
    }
    const body = JSON.stringify({ contact: { phone: uniquePhone() } });
    expect((await postWebhook(t, body, { token: signedAccount.webhookToken, headers: signed(secret, body) })).status).toBe(200);
    const lines = `${JSON.stringify({ contact: { phone: uniquePhone() } })}\n`;
    const res = await bulk(lines, signed(secret, lines));
    expect(res.status).toBe(200);
    expect((await res.text()).trim().split('\n').at(-1)).toContain('"applied":1');
    // The limit still holds for the account's own deliveries: two tokens spent, one left.
    expect((await postWebhook(t, body, { token: signedAccount.webhookToken, headers: signed(secret, body) })).status).toBe(200);
    expect((await postWebhook(t, body, { token: signedAccount.webhookToken, headers: signed(secret, body) })).status).toBe(429);
  });

  it('without signing secrets every request is charged once its account is known, also one refused before it is read (415)', async () => {
    const other = await t.newAccount();
    for (let i = 0; i < 3; i++) {
      const res = await t.app.request(`/webhooks/${other.webhookToken}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
      expect(res.status).toBe(415);
    }
    expect((await postWebhook(t, { contact: { phone: uniquePhone() } }, { token: other.webhookToken })).status).toBe(429);
  });

  it('a signed bulk request is refused with 429 before its body is read when the account has no token left', async () => {
    const other = await t.newAccount();
    const { secret } = (await callApi(t, 'POST', '/account/signing-secrets', { key: other.apiKey })).body as { secret: string };
    for (let i = 0; i < 3; i++) {
      const body = JSON.stringify({ contact: { phone: uniquePhone() } });
      expect((await postWebhook(t, body, { token: other.webhookToken, headers: signed(secret, body) })).status).toBe(200);
    }
    // A body that never ends: read to its end, the request would never be answered.
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull: (controller) => {
        pulled++;
        controller.enqueue(new TextEncoder().encode(`${JSON.stringify({ contact: { phone: uniquePhone() } })}\n`));
        return new Promise(() => {});
      },
    });
    const res = await t.app.request(`/webhooks/${other.webhookToken}/bulk`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', ...signed(secret, 'not read') },
      body: endless,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(429);
    expect(pulled).toBeLessThanOrEqual(1);
  });

  it('a replay through the API is a delivery under the same limit', async () => {
    const other = await t.newAccount();
    const refused = await postWebhook(t, { contact: { phone: uniquePhone() }, assignee: 'nobody@company.com' }, { token: other.webhookToken });
    expect(refused.status).toBe(422);
    const replay = () => callApi(t, 'POST', `/deliveries/${refused.body.delivery_id}/replay`, { key: other.apiKey });
    for (let i = 0; i < 2; i++) expect((await replay()).status).toBe(422);
    const limited = await replay();
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('rate_limited');
    const logged = (await callApi(t, 'GET', '/deliveries', { key: other.apiKey })).body as { data: unknown[] };
    expect(logged.data).toHaveLength(3);
  });

  it('a request that takes longer than REQUEST_TIMEOUT_MS gets 503 unavailable with Retry-After', async () => {
    const other = await t.newAccount();
    const phone = uniquePhone();
    let release!: () => void;
    const held = t.parts.queues.run(laneKey(other.id, phone), () => new Promise<void>((resolve) => (release = resolve)));
    const res = await postWebhook(t, { contact: { phone } }, { token: other.webhookToken });
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('unavailable');
    expect(res.headers.get('retry-after')).toBe('1');
    release();
    await held;
  });

  /**
   * The sender was told 503 (retry later): whatever it sends next must not be overtaken by the
   * delivery it was told about, once that one's turn comes. Each case holds up a different stage.
   */
  it.each([
    ['its phone\'s turn', (account: string, phone: string) => {
      let release!: () => void;
      const held = t.parts.queues.run(laneKey(account, phone), () => new Promise<void>((resolve) => (release = resolve)));
      return async () => (release(), await held);
    }],
    ['a transaction slot', () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const slots = Array.from({ length: t.parts.committer.concurrency }, (_, i) => t.parts.committer.submit(BigInt(-1 - i), { run: () => gate }));
      return async () => (release(), await Promise.all(slots));
    }],
  ])('a delivery answered 503 while it waited for %s is not applied afterwards', async (_stage, hold) => {
    const other = await t.newAccount();
    const phone = uniquePhone();
    const send = (labels: string) => postWebhook(t, { contact: { phone, labels }, overrideLabels: true }, { token: other.webhookToken });
    const release = hold(other.id, phone);
    expect((await send('a')).status).toBe(503);
    await release();
    // Sent after the 503, as a sender retrying with what it now holds would; it is the one applied.
    const next = await send('b');
    expect(next.body).toMatchObject({ status: 'applied', contact: { labels: ['b'], created: true } });
    expect((await storedContact(t, phone, other.id))?.labels).toEqual(['b']);
    const logged = await callApi(t, 'GET', '/deliveries', { key: other.apiKey });
    expect(logged.body.data.map((row: { id: string }) => row.id)).toEqual([next.body.delivery_id]);
  });

  it('a delivery dropped after its 503 is not logged as an unexpected error', async () => {
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const quick = createApp({ config: loadConfig({ REQUEST_TIMEOUT_MS: '300', LOG_LEVEL: 'info' }), database: t.database, logger });
    const other = await t.newAccount();
    const phone = uniquePhone();
    let release!: () => void;
    const held = quick.queues.run(laneKey(other.id, phone), () => new Promise<void>((resolve) => (release = resolve)));
    const send = () =>
      quick.app.request(`/webhooks/${other.webhookToken}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contact: { phone } }) });
    expect((await send()).status).toBe(503);
    release();
    await held;
    // Sent after: it runs once the dropped one has settled in the lane before it.
    expect((await send()).status).toBe(200);
    expect(lines.filter((line) => line.level >= 50).map((line) => line.msg)).toEqual([]);
  });

  /** A body that never ends: its sender went quiet after the first bytes. */
  const endless = () => new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(new TextEncoder().encode('{"a":')) });
  const slowly = (path: string, type: string) => t.app.request(path, { method: 'POST', headers: { 'content-type': type }, body: endless(), duplex: 'half' } as RequestInit);

  it.each(['/api/v1/accounts/bulk', '/api/v1/agents/bulk'])(
    'only the bulk route may take longer: a body that never ends on %s is 503 after REQUEST_TIMEOUT_MS',
    async (path) => {
      const res = await slowly(path, 'application/json');
      expect(res.status).toBe(503);
      expect(((await res.json()) as { code: string }).code).toBe('unavailable');
    },
  );

  it.each(['/ui/login', '/ui/x/bulk'])('a /ui request that times out (%s) is answered with a page, carrying the pages\' security headers', async (path) => {
    const res = await slowly(path, 'application/x-www-form-urlencoded');
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toContain('The request took too long; retry later');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe.each(testDatabases())('text PostgreSQL cannot store, on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(kind);
  });
  afterAll(() => t.close());

  it.each([
    ['an agent name', '/agents', { email: 'nul@company.com', name: 'a\u0000b' }],
    ['a conversation subject', '/conversations', { phone: '+447400777000', subject: 'a\u0000b' }],
  ])('a NUL in %s is 400 invalid_payload, not 500', async (_name, path, body) => {
    const res = await callApi(t, 'POST', path, { body });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('invalid_payload');
  });
});

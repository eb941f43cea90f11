import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, createTestApp, postWebhook, testDatabases, type TestApp } from '../helpers/app.js';
import { uniquePhone } from '../helpers/fixtures.js';
import { sleep } from '../helpers/process.js';

/** `json` as a body whose first byte arrives at once and the rest `lateMs` later. */
function lateBody(json: string, lateMs: number): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(json);
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(bytes.slice(0, 1));
      await sleep(lateMs);
      controller.enqueue(bytes.slice(1));
      controller.close();
    },
  });
}

describe.each(testDatabases())('API writes and REQUEST_TIMEOUT_MS on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(kind, { REQUEST_TIMEOUT_MS: '300' });
  });
  afterAll(() => t.close());

  const send = (method: string, path: string, body: ReadableStream<Uint8Array>) =>
    t.app.request(`/api/v1${path}`, { method, headers: { authorization: `Bearer ${t.account.apiKey}`, 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);

  it('a write whose body arrives after its 503 is not carried out: a retry makes no duplicate', async () => {
    const phone = uniquePhone();
    const answers = await Promise.all([
      send('POST', '/agents', lateBody(JSON.stringify({ email: 'late@company.com' }), 600)),
      send('POST', '/conversations', lateBody(JSON.stringify({ phone }), 600)),
      send('POST', '/account/signing-secrets', lateBody('{}', 600)),
    ]);
    expect(answers.map((res) => res.status)).toEqual([503, 503, 503]);
    // Well past when the bodies arrived, and with them the writes they asked for, had they been carried out.
    await sleep(1000);
    expect((await callApi(t, 'GET', '/agents')).body.data).toEqual([]);
    expect((await callApi(t, 'GET', `/contacts/${encodeURIComponent(phone)}`)).status).toBe(404);
    // No signing secret nobody has seen: unsigned deliveries are still taken.
    expect((await postWebhook(t, { contact: { phone: uniquePhone() } })).status).toBe(200);
  });

  it('a DELETE with a body that is not JSON is refused, not carried out', async () => {
    expect((await callApi(t, 'POST', '/agents', { body: { email: 'kept@company.com' } })).status).toBe(201);
    const remove = (type: string, body: string) =>
      t.app.request('/api/v1/agents/kept%40company.com', { method: 'DELETE', headers: { authorization: `Bearer ${t.account.apiKey}`, 'content-type': type }, body });
    const bad = await remove('application/json', '{bad');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'invalid_payload', error: "the body is not valid JSON: expected property name or '}' at character 2" });
    expect((await remove('text/plain', 'hello')).status).toBe(415);
    expect((await callApi(t, 'GET', '/agents')).body.data).toEqual([expect.objectContaining({ email: 'kept@company.com' })]);
  });
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('an API write that has begun, on PostgreSQL', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('postgres', { REQUEST_TIMEOUT_MS: '300' });
  });
  afterAll(() => t.close());

  it('is answered with its result when it ends after REQUEST_TIMEOUT_MS, not 503', async () => {
    // Another connection inserts the same agent and holds it uncommitted for 800 ms: the API's
    // insert, begun at once, waits for it, then goes ahead when it is rolled back.
    const other = postgres(t.databaseUrl!, { max: 1, onnotice: () => {} });
    let inserted!: () => void;
    const insertedOnce = new Promise<void>((resolve) => (inserted = resolve));
    const held = other
      .begin(async (tx) => {
        await tx`insert into agents (id, account_id, email) values ('agt_held', ${t.account.id}, 'held@company.com')`;
        inserted();
        await sleep(800);
        throw new Error('roll back');
      })
      .catch(() => undefined);
    try {
      await insertedOnce;
      const started = performance.now();
      const res = await callApi(t, 'POST', '/agents', { body: { email: 'held@company.com' } });
      expect(performance.now() - started).toBeGreaterThan(300);
      expect(res.status).toBe(201);
      expect((await callApi(t, 'GET', '/agents')).body.data).toEqual([expect.objectContaining({ email: 'held@company.com' })]);
    } finally {
      await held;
      await other.end();
    }
  });
});

import { Agent, request as httpRequest } from 'node:http';
import { count } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { contacts, deliveries } from '../../src/db/schema.js';
import { createTestApp, testDatabases, type TestApp } from '../helpers/app.js';
import { storedContact } from '../helpers/fixtures.js';
import { serveOverHttp } from '../helpers/net.js';

const ONE_MB = 1024 * 1024;

describe.each(testDatabases())('1 MB bodies against the default limit on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(kind);
  });
  afterAll(() => t.close());

  const rows = async () => ({
    contacts: (await t.database.db.select({ n: count() }).from(contacts))[0]!.n,
    deliveries: (await t.database.db.select({ n: count() }).from(deliveries))[0]!.n,
  });
  const body = JSON.stringify({ contact: { phone: '+447400888000', name: 'big' }, padding: 'x'.repeat(ONE_MB) });
  const chunked = () => {
    const bytes = new TextEncoder().encode(body);
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        // 64 KiB at a time, as a sender streaming without Content-Length would.
        const offset = (controller as unknown as { offset?: number }).offset ?? 0;
        if (offset >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(offset, offset + 65536));
        (controller as unknown as { offset: number }).offset = offset + 65536;
      },
    });
  };

  it.each([
    ['the webhook with Content-Length', () => ({ path: `/webhooks/${t.account.webhookToken}`, body: body as RequestInit['body'], key: undefined })],
    ['the webhook chunked', () => ({ path: `/webhooks/${t.account.webhookToken}`, body: chunked() as RequestInit['body'], key: undefined })],
    ['the API with Content-Length', () => ({ path: '/api/v1/agents', body: body as RequestInit['body'], key: t.account.apiKey })],
    ['the API chunked', () => ({ path: '/api/v1/agents', body: chunked() as RequestInit['body'], key: t.account.apiKey })],
  ])('%s: 413 and nothing written', async (_name, make) => {
    const before = await rows();
    const { path, body: sent, key } = make();
    const request = new Request(`http://test.local${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: sent,
      duplex: 'half',
    } as RequestInit);
    const res = await t.app.request(request);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe('payload_too_large');
    expect(await rows()).toEqual(before);
  });
});

describe('bodies over real HTTP, read straight from the socket', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof serveOverHttp>>;
  beforeAll(async () => {
    t = await createTestApp('pglite', { MAX_BODY_BYTES: '2000' });
    server = await serveOverHttp(t.app);
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });

  const inChunks = (text: string, size: number) => {
    const bytes = new TextEncoder().encode(text);
    let offset = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(offset, offset + size));
        offset += size;
      },
    });
  };
  const send = (body: RequestInit['body']) =>
    fetch(`${server.base}/webhooks/${t.account.webhookToken}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);

  it('a chunked body in many pieces is read whole', async () => {
    const phone = '+447400888001';
    const res = await send(inChunks(JSON.stringify({ contact: { phone, name: 'In pieces', labels: ['a', 'b'] }, pad: 'x'.repeat(500) }), 7));
    expect(res.status).toBe(200);
    expect((await storedContact(t, phone))?.name).toBe('In pieces');
  });

  /** A payload of exactly `bytes` bytes. */
  const sized = (phone: string, bytes: number) => {
    const bare = JSON.stringify({ contact: { phone }, pad: '' });
    return JSON.stringify({ contact: { phone }, pad: 'x'.repeat(bytes - bare.length) });
  };

  it('a body of exactly the limit is taken, chunked or with its Content-Length', async () => {
    expect((await send(inChunks(sized('+447400888003', 2000), 100))).status).toBe(200);
    expect((await send(sized('+447400888004', 2000))).status).toBe(200);
  });

  it.each([
    ['with Content-Length', () => sized('+447400888002', 2001)],
    ['chunked', () => inChunks(sized('+447400888002', 2001), 100)],
  ])('one byte too many %s: 413 and nothing written', async (_name, body) => {
    const res = await send(body());
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe('payload_too_large');
    expect(await storedContact(t, '+447400888002')).toBeNull();
  });

  /** POSTs on one kept-alive agent, as a client's pool sends them: the status and Connection header of each. */
  const post = (agent: Agent, path: string, body: string, key?: string) =>
    new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...(key ? { authorization: `Bearer ${key}` } : {}) };
      const req = httpRequest(`${server.base}${path}`, { method: 'POST', agent, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
      });
      req.on('error', reject);
      req.end(body);
    });

  it.each([
    ['the API', () => '/api/v1/conversations', () => JSON.stringify({ phone: '+447400888010' })],
    ['the webhook', () => `/webhooks/${t.account.webhookToken}`, () => JSON.stringify({ contact: { phone: '+447400888011' } })],
  ])('a 413 on %s closes its kept-alive connection, its body unread, so the requests after it are answered on another', async (_name, path, small) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const key = path().startsWith('/api') ? t.account.apiKey : undefined;
    const refused = await post(agent, path(), JSON.stringify({ pad: 'x'.repeat(300_000) }), key);
    expect(refused).toEqual({ status: 413, connection: 'close' });
    // A connection whose body was left unread is cut half a second later (@hono/node-server stops
    // draining it): a request the client sent on it in the meantime went unanswered.
    const until = performance.now() + 800;
    while (performance.now() < until) expect((await post(agent, path(), small(), key)).status).toBeLessThan(300);
    agent.destroy();
  });
});

describe('the request log', () => {
  it('has one line per request with route, status, account and duration, and no token, key, phone, email or body', async () => {
    const lines: string[] = [];
    const t = await createTestApp('pglite');
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const { app } = createApp({ config: loadConfig({}), database: t.database, logger });
    const phone = '+447400888001';
    await app.request(`/webhooks/${t.account.webhookToken}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contact: { phone, name: 'Secret Name' } }),
    });
    await app.request(`/api/v1/contacts/${encodeURIComponent(phone)}`, { headers: { authorization: `Bearer ${t.account.apiKey}` } });
    await app.request(`/webhooks/whk_wrong-token-value`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await app.request(`/webhooks/${t.account.webhookToken}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ delete_contact: phone, occurred_at: 'Secret Name' }),
    });
    // An email in the path, a request body, and a refusal that quotes it.
    const email = 'secret.agent@company.com';
    const api = { authorization: `Bearer ${t.account.apiKey}`, 'content-type': 'application/json' };
    await app.request('/api/v1/agents', { method: 'POST', headers: api, body: JSON.stringify({ email, name: 'Agent' }) });
    await app.request(`/api/v1/agents/${encodeURIComponent(email)}`, { method: 'DELETE', headers: api });
    await app.request(`/api/v1/agents/${encodeURIComponent(email)}`, { method: 'DELETE', headers: api });
    await app.request(`/webhooks/${t.account.webhookToken}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contact: { phone }, assignee: email }),
    });
    // A request id is kept when it has the form of one, and replaced when it carries anything else.
    const proxyId = '4f1c2b9e-8d3a-4c7e-9b21-0a5d6e7f8091';
    const ids = [];
    for (const sent of [proxyId, t.account.apiKey, `${phone} ${email}`]) {
      const res = await app.request('/healthz', { headers: { 'x-request-id': sent } });
      ids.push(res.headers.get('x-request-id'));
    }
    expect(ids[0]).toBe(proxyId);
    expect(ids.slice(1)).toEqual([expect.stringMatching(/^[0-9a-f-]{36}$/), expect.stringMatching(/^[0-9a-f-]{36}$/)]);
    // A replay is a delivery: its line names the operation too.
    const refused = (await (await app.request('/api/v1/deliveries?status=refused', { headers: api })).json()) as { data: { id: string }[] };
    const replay = await app.request(`/api/v1/deliveries/${refused.data[0]!.id}/replay`, { method: 'POST', headers: { authorization: api.authorization } });
    expect(replay.status).toBe(422);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.at(-1)).toMatchObject({ route: '/api/v1/deliveries/:id/replay', status: 422, operation: 'upsert_assign' });
    expect(entries.slice(8, 11).map((entry) => entry.requestId)).toEqual(ids);
    entries.splice(8);
    expect(entries).toHaveLength(8);
    expect(entries.slice(4).map((entry) => [entry.route, entry.status])).toEqual([
      ['/api/v1/agents', 201],
      ['/api/v1/agents/:email', 204],
      ['/api/v1/agents/:email', 404],
      ['/webhooks/:token', 422],
    ]);
    expect(entries[0]).toMatchObject({
      msg: 'request',
      requestId: expect.any(String),
      route: '/webhooks/:token',
      status: 200,
      account: t.account.id,
      operation: 'upsert',
      durationMs: expect.any(Number),
    });
    expect(entries[2]).toMatchObject({ route: '/webhooks/:token', status: 401 });
    // A refusal names the operation its payload asked for.
    expect(entries[3]).toMatchObject({ route: '/webhooks/:token', status: 400, account: t.account.id, operation: 'delete' });
    const log = lines.join('');
    for (const secret of [t.account.webhookToken, t.account.apiKey, 'whk_wrong-token-value', phone, 'Secret Name', 'secret.agent', encodeURIComponent(email)]) expect(log).not.toContain(secret);
    await t.close();
  });
});

import { count, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, rowsOf } from '../../src/db/client.js';
import { createAccount } from '../../src/db/queries/accounts.js';
import { loggable } from '../../src/log.js';
import { contacts, deliveries, idempotencyKeys } from '../../src/db/schema.js';
import { forgetStoredContact } from '../../src/sync/idempotency.js';
import { laneKey } from '../../src/sync/phone-queue.js';
import { callApi, createTestApp, postWebhook, testDatabases, type TestApp } from '../helpers/app.js';
import { storedContact, uniquePhone } from '../helpers/fixtures.js';

/** Holds the lane of one phone until released, so that a delivery for it is provably in flight. */
function holdLane(t: TestApp, phone: string) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held = t.parts.queues.run(laneKey(t.account.id, phone), () => gate);
  return { release: async () => (release(), await held) };
}

const countContacts = async (t: TestApp) => (await t.database.db.select({ n: count() }).from(contacts))[0]!.n;

describe.each(testDatabases())('SPEC §2.3–§2.4 responses on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(kind, { MAX_BODY_BYTES: '4096' });
  });
  afterAll(() => t.close());

  /** A delivery as the API's log shows it. */
  const logRow = async (id: string) => (await callApi(t, 'GET', `/deliveries/${id}`)).body;

  describe('401 unauthorized', () => {
    it.each([
      ['an unknown token', '/webhooks/whk_not-a-real-token'],
      ['a token far too long', `/webhooks/${'x'.repeat(5000)}`],
      ['no token', '/webhooks'],
      ['an empty token', '/webhooks/'],
      ['an unknown token and a trailing slash', '/webhooks/whk_not-a-real-token/'],
    ])('%s', async (_name, path) => {
      const res = await t.app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contact: { phone: uniquePhone() } }) });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ code: 'unauthorized', error: expect.any(String) });
    });

    it("another account's token writes to that account only", async () => {
      const other = await t.newAccount();
      const phone = uniquePhone();
      await postWebhook(t, { contact: { phone, name: 'Theirs' } }, { token: other.webhookToken });
      expect(await storedContact(t, phone)).toBeNull();
      expect((await storedContact(t, phone, other.id))?.name).toBe('Theirs');
    });
  });

  it('a slash after the token, as some tools add to a pasted URL, is the same webhook (and bulk) URL', async () => {
    const [phone, bulkPhone] = [uniquePhone(), uniquePhone()];
    const res = await t.app.request(`/webhooks/${t.account.webhookToken}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contact: { phone, name: 'Slash' } }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'applied' });
    expect((await storedContact(t, phone))?.name).toBe('Slash');
    const bulk = await t.app.request(`/webhooks/${t.account.webhookToken}/bulk/`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: `${JSON.stringify({ contact: { phone: bulkPhone, name: 'Bulk slash' } })}\n` });
    expect(bulk.status).toBe(200);
    expect((await bulk.text()).trim().split('\n').at(-1)).toContain('"applied":1');
    expect((await storedContact(t, bulkPhone))?.name).toBe('Bulk slash');
  });

  it('answers carry nosniff; webhook and API answers, success or error, are kept by no cache', async () => {
    const answers = [
      await t.app.request(`/webhooks/${t.account.webhookToken}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contact: { phone: uniquePhone() } }) }),
      await t.app.request('/webhooks/whk_not-a-real-token', { method: 'POST' }),
      await t.app.request(`/webhooks/${t.account.webhookToken}/bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: `${JSON.stringify({ contact: { phone: uniquePhone() } })}\n` }),
      await t.app.request('/api/v1/contacts', { headers: { authorization: `Bearer ${t.account.apiKey}` } }),
      await t.app.request('/api/v1/contacts/+447000000000', { headers: { authorization: `Bearer ${t.account.apiKey}` } }),
    ];
    // Read every body: the bulk answer streams its lines, and its commit must not outlive this test.
    await Promise.all(answers.map((res) => res.text()));
    expect(answers.map((res) => res.status)).toEqual([200, 401, 200, 200, 404]);
    for (const res of answers) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
    const health = await t.app.request('/healthz');
    expect(health.headers.get('x-content-type-options')).toBe('nosniff');
  });

  describe('413 payload_too_large', () => {
    const big = JSON.stringify({ contact: { phone: '+447400333444', name: 'x'.repeat(5000) } });

    it('with Content-Length, and nothing is written', async () => {
      const before = await countContacts(t);
      const res = await postWebhook(t, big);
      expect(res.status).toBe(413);
      expect(res.body.code).toBe('payload_too_large');
      expect(await countContacts(t)).toBe(before);
    });

    it('chunked (no Content-Length), and nothing is written', async () => {
      const before = await countContacts(t);
      const bytes = new TextEncoder().encode(big);
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 1000) controller.enqueue(bytes.slice(i, i + 1000));
          controller.close();
        },
      });
      const request = new Request(`http://test.local/webhooks/${t.account.webhookToken}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        duplex: 'half',
      } as RequestInit);
      expect(request.headers.get('content-length')).toBeNull();
      const res = await t.app.request(request);
      expect(res.status).toBe(413);
      expect(await countContacts(t)).toBe(before);
    });
  });

  describe('idempotency', () => {
    it('the same key and body get the stored answer again, applied once', async () => {
      const phone = uniquePhone();
      const key = `key-${phone}`;
      const first = await postWebhook(t, { contact: { phone, labels: 'one' } }, { headers: { 'idempotency-key': key } });
      expect(first.status).toBe(200);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      // Something else changes the contact in between: a replay must not re-apply the old delivery.
      await postWebhook(t, { contact: { phone, labels: 'two' }, overrideLabels: true });
      const again = await postWebhook(t, { contact: { phone, labels: 'one' } }, { headers: { 'idempotency-key': key } });
      expect(again.status).toBe(200);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body).toEqual(first.body);
      expect((await storedContact(t, phone))?.labels).toEqual(['two']);
    });

    it('judges a key\'s expiry by the database\'s clock alone: a process clock an hour fast still gets the stored answer', async () => {
      const phone = uniquePhone();
      const key = `clock-${phone}`;
      const first = await postWebhook(t, { contact: { phone, name: 'First' } }, { headers: { 'idempotency-key': key } });
      // Live for the database for 30 more minutes, expired for a process whose clock is an hour fast.
      await t.database.db.update(idempotencyKeys).set({ expiresAt: sql`now() + interval '30 minutes'` }).where(eq(idempotencyKeys.key, key));
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 60 * 60_000 });
      try {
        const again = await postWebhook(t, { contact: { phone, name: 'First' } }, { headers: { 'idempotency-key': key } });
        expect(again.status, JSON.stringify(again.body)).toBe(200);
        if (kind === 'postgres') {
          expect(again.headers.get('idempotent-replayed')).toBe('true');
          expect(again.body.delivery_id).toBe(first.body.delivery_id);
        } else {
          // PGlite runs in this process and reads its clock too: the key has expired for both.
          expect(again.headers.get('idempotent-replayed')).toBeNull();
          expect(again.body.delivery_id).not.toBe(first.body.delivery_id);
        }
      } finally {
        vi.useRealTimers();
      }
    });

    it('webhook-id is the key when Idempotency-Key is absent', async () => {
      const phone = uniquePhone();
      const first = await postWebhook(t, { contact: { phone } }, { headers: { 'webhook-id': `msg_${phone}` } });
      const again = await postWebhook(t, { contact: { phone } }, { headers: { 'webhook-id': `msg_${phone}` } });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body.delivery_id).toBe(first.body.delivery_id);
    });

    it.each(['', '  '])('an Idempotency-Key of %j counts as not sent: webhook-id is the key', async (blank) => {
      const phone = uniquePhone();
      const headers = { 'idempotency-key': blank, 'webhook-id': `msg_blank_${phone}` };
      const first = await postWebhook(t, { contact: { phone, name: 'A' } }, { headers });
      const again = await postWebhook(t, { contact: { phone, name: 'A' } }, { headers });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body.delivery_id).toBe(first.body.delivery_id);
      const other = await postWebhook(t, { contact: { phone, name: 'B' } }, { headers });
      expect(other.body.code).toBe('idempotency_key_reused');
      // Named as the header it came in.
      expect(other.body).toMatchObject({ error: 'this webhook-id was already used with a different body', issues: [{ path: 'webhook-id' }] });
      expect((await storedContact(t, phone))?.name).toBe('A');
    });

    it('the same key with another body is 422 idempotency_key_reused and applies nothing', async () => {
      const phone = uniquePhone();
      await postWebhook(t, { contact: { phone, name: 'A' } }, { headers: { 'idempotency-key': `reuse-${phone}` } });
      const res = await postWebhook(t, { contact: { phone, name: 'B' } }, { headers: { 'idempotency-key': `reuse-${phone}` } });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ code: 'idempotency_key_reused', error: 'this Idempotency-Key was already used with a different body', issues: [{ path: 'Idempotency-Key' }] });
      expect((await storedContact(t, phone))?.name).toBe('A');
      // Logged as what it asked for, like every refusal.
      expect(await logRow(res.body.delivery_id)).toMatchObject({ operation: 'upsert', phone: `+44*******${phone.slice(-3)}`, error_code: 'idempotency_key_reused' });
    });

    it('a reused key on a delivery that is refused as read too is logged with its operation and phone', async () => {
      const phone = uniquePhone();
      const headers = { 'idempotency-key': `reuse-bad-${phone}` };
      await postWebhook(t, { delete_contact: phone }, { headers });
      const res = await postWebhook(t, { delete_contact: phone, contact: { phone } }, { headers });
      expect(res.body.code).toBe('idempotency_key_reused');
      expect(await logRow(res.body.delivery_id)).toMatchObject({ operation: null, phone: `+44*******${phone.slice(-3)}` });
      const again = await postWebhook(t, { contact: { phone, email: 'not an email' } }, { headers });
      expect(again.body.code).toBe('idempotency_key_reused');
      expect(await logRow(again.body.delivery_id)).toMatchObject({ operation: 'upsert', phone: `+44*******${phone.slice(-3)}` });
    });

    it('a refused delivery is final too: the same key and body get the same 400', async () => {
      const first = await postWebhook(t, { contact: { name: 'no phone' } }, { headers: { 'idempotency-key': 'bad-once' } });
      const again = await postWebhook(t, { contact: { name: 'no phone' } }, { headers: { 'idempotency-key': 'bad-once' } });
      expect(first.status).toBe(400);
      expect(again.status).toBe(400);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body).toEqual(first.body);
    });

    it('keys belong to one account', async () => {
      const other = await t.newAccount();
      const phone = uniquePhone();
      await postWebhook(t, { contact: { phone } }, { headers: { 'idempotency-key': 'shared-key' } });
      const res = await postWebhook(t, { contact: { phone, name: 'Other' } }, { token: other.webhookToken, headers: { 'idempotency-key': 'shared-key' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('idempotent-replayed')).toBeNull();
    });

    it('409 idempotency_in_progress while the same key is being processed, with Retry-After', async () => {
      const phone = uniquePhone();
      const lane = holdLane(t, phone);
      const headers = { 'idempotency-key': `busy-${phone}` };
      const first = postWebhook(t, { contact: { phone } }, { headers });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = await postWebhook(t, { contact: { phone } }, { headers });
      expect(second.status).toBe(409);
      expect(second.body.code).toBe('idempotency_in_progress');
      expect(second.headers.get('retry-after')).toBe('1');
      await lane.release();
      expect((await first).status).toBe(200);
    });

    it('a key over 255 characters is 400', async () => {
      const res = await postWebhook(t, { contact: { phone: uniquePhone() } }, { headers: { 'idempotency-key': 'k'.repeat(256) } });
      expect(res.status).toBe(400);
    });
  });

  describe('without a key every operation is still idempotent in effect', () => {
    it.each([
      ['merge labels', (p: string) => ({ contact: { phone: p, labels: 'a, b' } })],
      ['override labels', (p: string) => ({ contact: { phone: p, labels: 'a' }, overrideLabels: true })],
      ['enhanced data', (p: string) => ({ contact: { phone: p, enhanced_data: { S: [{ text: 't', link: 'www.x.com' }] } } })],
      ['custom attributes', (p: string) => ({ contact: { phone: p, custom_attributes: { a: 1, b: null } } })],
      ['delete', (p: string) => ({ delete_contact: p })],
    ])('%s repeated is unchanged and leaves the same state', async (_name, payload) => {
      const phone = uniquePhone();
      await postWebhook(t, payload(phone));
      const state = await storedContact(t, phone);
      const again = await postWebhook(t, payload(phone));
      expect(again.body.status).toBe('unchanged');
      expect(await storedContact(t, phone)).toEqual(state);
    });
  });

  describe('a refusal names what reading the payload noticed', () => {
    it.each([
      ['a misspelt contact field', { contact: { Phone: '+447400111555', name: 'A' } }, 'contact.phone is required', ['contact.Phone: unknown key, ignored (did you mean phone?)']],
      ['a misspelt contact', { Contact: { phone: '+447400111555' } }, 'nothing to do: send contact (to upsert) or delete_contact (to delete)', ['Contact: unknown key, ignored (did you mean contact?)']],
      ['a contact field at the top level', { phone: '+447400111555', name: 'A' }, 'nothing to do: send contact (to upsert) or delete_contact (to delete)', ['phone: unknown key, ignored (phone is read inside contact)', 'name: unknown key, ignored (name is read inside contact)']],
      ['a blank field beside a bad one', { contact: { phone: '+447400111555', email: 'nope', extra: 1 }, assignee: '' }, 'contact.email must be an email address', ['contact.extra: unknown key, ignored', 'assignee: empty, taken as not sent']],
    ])('%s: the refusal carries the warnings', async (_, payload, error, warnings) => {
      const res = await postWebhook(t, payload);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'invalid_payload', error, warnings });
      expect(await storedContact(t, '+447400111555')).toBeNull();
    });

    it('a refusal that noticed nothing has no warnings; one refused at apply time keeps them too, and a replay of its key gets them again', async () => {
      const plain = await postWebhook(t, { contact: { phone: 'not a phone' } });
      expect(plain.status).toBe(422);
      expect(plain.body).not.toHaveProperty('warnings');
      const sent = { contact: { phone: uniquePhone(), nickname: 'Al' }, assignee: 'nobody@example.com' };
      const first = await postWebhook(t, sent, { headers: { 'Idempotency-Key': 'refusal-warnings' } });
      expect(first.status).toBe(422);
      expect(first.body).toMatchObject({ code: 'unknown_assignee', warnings: ['contact.nickname: unknown key, ignored'] });
      const again = await postWebhook(t, sent, { headers: { 'Idempotency-Key': 'refusal-warnings' } });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body).toEqual(first.body);
      // A plain upsert refused inside its batch (over 100 labels in all) too.
      const full = uniquePhone();
      await postWebhook(t, { contact: { phone: full, labels: Array.from({ length: 100 }, (_, i) => `l${i}`) } });
      const over = await postWebhook(t, { contact: { phone: full, labels: 'one-more', nickname: 'Al' } });
      expect(over.status).toBe(422);
      expect(over.body).toMatchObject({ code: 'limit_exceeded', warnings: ['contact.nickname: unknown key, ignored'] });
    });
  });

  describe('the delivery log', () => {
    it('records applied and refused deliveries; refused ones keep their payload, phones are masked', async () => {
      const phone = uniquePhone();
      const ok = await postWebhook(t, { contact: { phone } });
      const bad = await postWebhook(t, { contact: { phone, email: 'nope' } });
      const rows = await t.database.db.select().from(deliveries).where(eq(deliveries.accountId, t.account.id));
      const applied = rows.find((row) => row.id === ok.body.delivery_id);
      const refused = rows.find((row) => row.id === bad.body.delivery_id);
      expect(applied).toMatchObject({ status: 'applied', operation: 'upsert', errorCode: null, payload: null });
      expect(applied?.phoneMasked).toBe(`+44*******${phone.slice(-3)}`);
      expect(refused).toMatchObject({ status: 'refused', errorCode: 'invalid_payload', payload: JSON.stringify({ contact: { phone, email: 'nope' } }) });
    });
  });

  describe('bounded', () => {
    it('idle per-phone lanes are released', async () => {
      await Promise.all(Array.from({ length: 10 }, () => postWebhook(t, { contact: { phone: uniquePhone() } })));
      expect(t.parts.queues.lanesOpen).toBe(0);
      expect(t.parts.queues.depth).toBe(0);
    });
  });
});

describe('503 unavailable when the backlog is full', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite', { MAX_BACKLOG: '1' });
  });
  afterAll(() => t.close());

  it('answers 503 with Retry-After and applies nothing', async () => {
    const held = uniquePhone();
    const lane = holdLane(t, held);
    const phone = uniquePhone();
    const res = await postWebhook(t, { contact: { phone } });
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('unavailable');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    await lane.release();
    expect(await storedContact(t, phone)).toBeNull();
    expect((await postWebhook(t, { contact: { phone } })).status).toBe(200);
  });
});

describe('500 internal', () => {
  it('never carries internal details, and the log holds neither the query parameters nor the token', async () => {
    const lines: string[] = [];
    const database = await openDatabase({ dataDir: 'memory://' });
    const { account, webhookToken } = await createAccount(database.db, { name: 'x', defaultRegion: 'GB' });
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const { app } = createApp({ config: loadConfig({}), database, logger });
    await database.close();
    const phone = uniquePhone();
    const res = await app.request(`/webhooks/${webhookToken}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contact: { phone } }),
    });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'internal error', code: 'internal' });
    const log = lines.join('');
    expect(log).toContain('unexpected error');
    expect(log).not.toContain(webhookToken);
    expect(log).not.toContain('params:');
    expect(log).not.toContain(account.webhookTokenHash);
    expect(log).not.toContain(phone);
  });
});

describe('what an unexpected error logs', () => {
  it("a failed query: its SQLSTATE and frames, never its parameters or the database's message", async () => {
    const database = await openDatabase({ dataDir: 'memory://' });
    // A name with a line that looks like a stack frame, an email, and a time PostgreSQL refuses (and quotes).
    const failed = await database.db
      .execute(sql`select ${'Leaky\nat Lucinda Leakwell'}::text, ${'lucinda@example.org'}::text, ${'0000-01-01T00:00:00Z'}::timestamptz`)
      .catch((error: unknown) => error);
    await database.close();
    expect(failed).toBeInstanceOf(Error);
    const logged = loggable(failed);
    expect(logged.code).toBe('22008');
    expect(logged.stack).toMatch(/^\s+at /);
    const text = JSON.stringify(logged);
    for (const secret of ['Lucinda', 'lucinda@example.org', '0000-01-01', 'params']) expect(text).not.toContain(secret);
  });

  it('any other error: its type, message and frames', () => {
    const logged = loggable(new TypeError('cannot read x'));
    expect(logged).toMatchObject({ type: 'TypeError', message: 'cannot read x' });
    expect(logged.stack).toMatch(/^\s+at /);
  });
});

describe('while draining for shutdown', () => {
  it('new deliveries and API calls get 503 with Retry-After and Connection: close; /readyz is 503, /healthz 200', async () => {
    const t = await createTestApp('pglite');
    t.parts.readiness.draining = true;
    const phone = uniquePhone();
    const res = await postWebhook(t, { contact: { phone } });
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('unavailable');
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('connection')).toBe('close');
    expect((await t.app.request('/api/v1/account', { headers: { authorization: `Bearer ${t.account.apiKey}` } })).status).toBe(503);
    expect((await t.app.request('/readyz')).status).toBe(503);
    expect((await t.app.request('/healthz')).status).toBe(200);
    expect(await storedContact(t, phone)).toBeNull();
    await t.close();
  });
});

describe.each(testDatabases())('delete is final, on %s', (kind) => {
  it('a stored idempotent answer no longer hands the deleted contact back', async () => {
    const t = await createTestApp(kind);
    const phone = uniquePhone();
    const payload = { contact: { phone, name: 'Jane Secret', custom_attributes: { ssn: '123' } } };
    const first = await postWebhook(t, payload, { headers: { 'idempotency-key': 'k-delete' } });
    expect(first.body.contact.name).toBe('Jane Secret');
    expect((await postWebhook(t, { delete_contact: phone })).body.deleted.contact).toBe(true);
    const again = await postWebhook(t, payload, { headers: { 'idempotency-key': 'k-delete' } });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toMatchObject({ status: 'applied', delivery_id: first.body.delivery_id });
    expect(JSON.stringify(again.body)).not.toContain('Jane Secret');
    expect(JSON.stringify(again.body)).not.toContain(phone);
    await t.close();
  });

  it("finds the answers to strip by phone, through their index, not by reading the account's keys", async () => {
    const t = await createTestApp(kind);
    const { db } = t.database;
    // 2,000 stored answers, one phone each, with no statistics gathered (autovacuum may be off).
    await db.execute(sql`
      insert into idempotency_keys (account_id, key, fingerprint, response_body, expires_at)
      select ${t.account.id}, 'key-' || n, 'f', jsonb_build_object('status', 'applied', 'contact', jsonb_build_object('phone', '+4474000' || lpad(n::text, 5, '0'))), now() + interval '1 day'
      from generate_series(1, 2000) as n`);
    const strip = forgetStoredContact(db, t.account.id, '+447400000042');
    // EXPLAIN takes no parameters: they go in as literals.
    const query = strip.toSQL();
    const text = query.sql.replace(/\$(\d+)/g, (_, i: string) => `'${String(query.params[Number(i) - 1]).replaceAll("'", "''")}'`);
    const plan = rowsOf<Record<string, string>>(await db.execute(sql.raw(`explain ${text}`))).map((row) => row['QUERY PLAN']).join('\n');
    expect(plan).toContain('idempotency_keys_contact_phone_idx');

    await strip;
    const kept = await db.select({ n: count() }).from(idempotencyKeys).where(sql`${idempotencyKeys.responseBody} ? 'contact'`);
    expect(kept[0]!.n).toBe(1999);
    const [stripped] = await db.select({ body: idempotencyKeys.responseBody }).from(idempotencyKeys).where(eq(idempotencyKeys.key, 'key-42'));
    expect(stripped!.body).toEqual({ status: 'applied' });
    await t.close();
  });
});

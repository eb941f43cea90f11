import { Writable } from 'node:stream';
import { eq, sql } from 'drizzle-orm';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDatabase } from '../../src/db/client.js';
import { deliveries, idempotencyKeys, tombstones } from '../../src/db/schema.js';
import { phoneHash } from '../../src/sync/phone-key.js';
import { DELIVERY_RETENTION_MS, PURGE_BATCH, purgeExpired, startPurgeSchedule } from '../../src/sync/purge.js';
import { callApi, createTestApp, postWebhook, testDatabases, type TestApp } from '../helpers/app.js';
import { uniquePhone } from '../helpers/fixtures.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const ago = (ms: number) => new Date(Date.now() - ms);

/** A pino logger whose lines land in `lines`. */
function capturingLogger() {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each(testDatabases())('purge on %s', (kind) => {
  let t: TestApp;
  // A database per test: a purge acts on every account.
  beforeEach(async () => {
    t = await createTestApp(kind);
  });
  afterEach(() => t.close());

  const db = () => t.database.db;
  const keyNames = async () => (await db().select().from(idempotencyKeys)).map((row) => row.key).sort();
  const tombstoneHashes = async () => (await db().select().from(tombstones)).map((row) => row.phoneHash).sort();
  const delivery = async (id: string) => (await db().select().from(deliveries).where(eq(deliveries.id, id)))[0];
  const deliveryIds = async () => (await db().select({ id: deliveries.id }).from(deliveries)).map((row) => row.id).sort();

  it('removes exactly what has expired, and only that', async () => {
    const [oldKey, liveKey] = [
      await postWebhook(t, { contact: { phone: uniquePhone() } }, { headers: { 'Idempotency-Key': 'old' } }),
      await postWebhook(t, { contact: { phone: uniquePhone() } }, { headers: { 'Idempotency-Key': 'live' } }),
    ];
    const [gonePhone, keptPhone] = [uniquePhone(), uniquePhone()];
    await postWebhook(t, { delete_contact: gonePhone });
    await postWebhook(t, { delete_contact: keptPhone });
    const expiredRefusal = await postWebhook(t, { contact: { phone: 'nope' } });
    const keptRefusal = await postWebhook(t, { contact: { phone: 'still nope' } });

    await db().update(idempotencyKeys).set({ expiresAt: ago(1000) }).where(eq(idempotencyKeys.key, 'old'));
    await db().update(tombstones).set({ expiresAt: ago(1000) }).where(eq(tombstones.phoneHash, phoneHash(t.account.id, gonePhone)));
    await db().update(deliveries).set({ payloadExpiresAt: ago(1000) }).where(eq(deliveries.id, expiredRefusal.body.delivery_id));
    await db().update(deliveries).set({ receivedAt: ago(DELIVERY_RETENTION_MS + 1000) }).where(eq(deliveries.id, oldKey.body.delivery_id));
    await db().update(deliveries).set({ receivedAt: ago(29 * DAY_MS) }).where(eq(deliveries.id, liveKey.body.delivery_id));
    const before = await deliveryIds();
    const keptRefusalRow = await delivery(keptRefusal.body.delivery_id);

    expect(await purgeExpired(db())).toEqual({ idempotencyKeys: 1, tombstones: 1, payloads: 1, deliveries: 1 });

    expect(await keyNames()).toEqual(['live']);
    expect(await tombstoneHashes()).toEqual([phoneHash(t.account.id, keptPhone)]);
    expect(await deliveryIds()).toEqual(before.filter((id) => id !== oldKey.body.delivery_id));
    // The refused delivery stays in the log; only its payload goes, and the error told, which may quote it.
    expect(await delivery(expiredRefusal.body.delivery_id)).toMatchObject({
      status: 'refused',
      errorCode: 'invalid_phone',
      errorMessage: null,
      payload: null,
      payloadContentType: null,
      payloadExpiresAt: null,
    });
    expect(await delivery(keptRefusal.body.delivery_id)).toEqual(keptRefusalRow);
    expect(keptRefusalRow?.payload).toBe(JSON.stringify({ contact: { phone: 'still nope' } }));
    expect(keptRefusalRow?.errorMessage).toBe(keptRefusal.body.error);

    expect(await purgeExpired(db())).toEqual({ idempotencyKeys: 0, tombstones: 0, payloads: 0, deliveries: 0 });
  });

  it('measures expiry against the time it is given', async () => {
    await postWebhook(t, { contact: { phone: uniquePhone() } }, { headers: { 'Idempotency-Key': 'k' } });
    await postWebhook(t, { delete_contact: uniquePhone() });
    const refused = await postWebhook(t, { contact: { phone: 'nope' } });
    const expiresAt = (await delivery(refused.body.delivery_id))!.payloadExpiresAt!;

    // Keys live 72 hours, payloads 7 days (exactly at their expiry they go), tombstones and the log 30 days.
    expect(await purgeExpired(db(), new Date(expiresAt.getTime() - 1))).toEqual({ idempotencyKeys: 1, tombstones: 0, payloads: 0, deliveries: 0 });
    expect(await purgeExpired(db(), expiresAt)).toEqual({ idempotencyKeys: 0, tombstones: 0, payloads: 1, deliveries: 0 });
    expect(await purgeExpired(db(), new Date(Date.now() + 29 * DAY_MS))).toEqual({ idempotencyKeys: 0, tombstones: 0, payloads: 0, deliveries: 0 });
    expect(await purgeExpired(db(), new Date(Date.now() + 31 * DAY_MS))).toEqual({ idempotencyKeys: 0, tombstones: 1, payloads: 0, deliveries: 3 });
    expect(await deliveryIds()).toEqual([]);
  });

  it('keeps an idempotency key 72 hours, a refused payload 7 days and a tombstone 30 days from when they are written', async () => {
    const phone = uniquePhone();
    const sentAt = Date.now();
    await postWebhook(t, { contact: { phone } }, { headers: { 'Idempotency-Key': 'lifetime' } });
    await postWebhook(t, { delete_contact: phone });
    const refused = await postWebhook(t, { contact: { phone: 'nope' } });
    const [key] = await db().select({ expiresAt: idempotencyKeys.expiresAt }).from(idempotencyKeys).where(eq(idempotencyKeys.key, 'lifetime'));
    const [tombstone] = await db().select({ expiresAt: tombstones.expiresAt }).from(tombstones).where(eq(tombstones.phoneHash, phoneHash(t.account.id, phone)));
    const lifetime = (expiresAt: Date | null | undefined) => Math.round((expiresAt!.getTime() - sentAt) / 60_000) / 60;
    expect(lifetime(key?.expiresAt)).toBe(72);
    expect(lifetime((await delivery(refused.body.delivery_id))?.payloadExpiresAt)).toBe(7 * 24);
    expect(lifetime(tombstone?.expiresAt)).toBe(30 * 24);
  });

  /** Runs `body` with this process's clock (not the database's, on PostgreSQL) `hours` ahead. */
  async function clockAhead<T>(hours: number, body: () => Promise<T>): Promise<T> {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + hours * 60 * 60_000 });
    try {
      return await body();
    } finally {
      vi.useRealTimers();
    }
  }

  // PGlite runs in this process and reads its clock too: there the two clocks are one.
  it("judges a key's expiry by the database's clock: a process clock 73 hours fast purges no live key", async () => {
    await postWebhook(t, { contact: { phone: uniquePhone() } }, { headers: { 'Idempotency-Key': 'live' } });
    const purged = await clockAhead(73, () => purgeExpired(db()));
    expect(purged.idempotencyKeys).toBe(kind === 'postgres' ? 0 : 1);
    expect(await keyNames()).toEqual(kind === 'postgres' ? ['live'] : []);
  });

  it("writes a key's expiry by the database's clock: 72 hours from the database's now, whatever the process's", async () => {
    await clockAhead(1, () => postWebhook(t, { contact: { phone: uniquePhone() } }, { headers: { 'Idempotency-Key': 'fast' } }));
    const [row] = await db()
      .select({ hoursLeft: sql<number>`round(extract(epoch from ${idempotencyKeys.expiresAt} - now()) / 3600)::int` })
      .from(idempotencyKeys)
      .where(eq(idempotencyKeys.key, 'fast'));
    expect(row?.hoursLeft).toBe(kind === 'postgres' ? 72 : 73);
  });

  it(`goes on past one batch of ${PURGE_BATCH} rows until nothing expired is left`, async () => {
    const rows = 2 * PURGE_BATCH + 1;
    await db().execute(sql`insert into idempotency_keys (account_id, key, fingerprint, response_body, expires_at)
      select ${t.account.id}, 'k' || g, 'f', '{}'::jsonb, now() - interval '1 hour' from generate_series(1, ${rows}) g`);
    expect((await purgeExpired(db())).idempotencyKeys).toBe(rows);
    expect(await keyNames()).toEqual([]);
  });

  it('leaves the API showing a purged payload as gone', async () => {
    const refused = await postWebhook(t, { contact: { phone: 'nope' } });
    await db().update(deliveries).set({ payloadExpiresAt: ago(1) }).where(eq(deliveries.id, refused.body.delivery_id));
    await purgeExpired(db());
    const shown = await callApi(t, 'GET', `/deliveries/${refused.body.delivery_id}`);
    expect(shown.body).toMatchObject({ status: 'refused', error_code: 'invalid_phone', payload_kept: false, payload: null });
    expect((await callApi(t, 'POST', `/deliveries/${refused.body.delivery_id}/replay`)).status).toBe(409);
  });

  it('runs on a schedule until stopped, logging what it purged', async () => {
    await postWebhook(t, { contact: { phone: uniquePhone() } }, { headers: { 'Idempotency-Key': 'first' } });
    await db().update(idempotencyKeys).set({ expiresAt: ago(1000) });
    const { logger, lines } = capturingLogger();
    const stop = startPurgeSchedule(db(), logger, 20);
    await until(async () => (await keyNames()).length === 0);
    await stop();
    expect(lines.find((line) => line.msg === 'purged expired rows')?.purged).toMatchObject({ idempotencyKeys: 1 });

    await postWebhook(t, { contact: { phone: uniquePhone() } }, { headers: { 'Idempotency-Key': 'second' } });
    await db().update(idempotencyKeys).set({ expiresAt: ago(1000) });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await keyNames()).toEqual(['second']);
  });
});

describe('purge schedule', () => {
  it('logs a failed run and keeps going, never throwing', async () => {
    const database = await openDatabase({ dataDir: 'memory://' });
    await database.close();
    const { logger, lines } = capturingLogger();
    const stop = startPurgeSchedule(database.db, logger, 10);
    await until(() => lines.filter((line) => line.msg === 'purge failed').length >= 2);
    await stop();
    expect(lines[0]).toMatchObject({ level: 50, msg: 'purge failed', error: { type: 'Error', message: 'PGlite is closed', stack: expect.stringMatching(/^\s+at /) } });
  });
});

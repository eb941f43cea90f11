import { eq, inArray, sql } from 'drizzle-orm';
import pino from 'pino';
import postgres from 'postgres';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/client.js';
import { recordDelivery } from '../../src/db/queries/deliveries.js';
import { deliveries } from '../../src/db/schema.js';
import { NotApplied } from '../../src/sync/errors.js';
import { GroupCommitter } from '../../src/sync/group-commit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, createTestApp, postWebhook, testDatabases, type TestApp } from '../helpers/app.js';
import { addAgent, storedContact, uniquePhone } from '../helpers/fixtures.js';

/** Holds the committer's only slots, so that everything sent meanwhile queues into one batch. */
function holdCommitter(t: TestApp) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const slots = Array.from({ length: t.parts.committer.concurrency }, (_, i) => t.parts.committer.submit(BigInt(-1 - i), { run: () => gate }));
  return async () => {
    release();
    await Promise.all(slots);
  };
}

describe.each(testDatabases())('group commit on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(kind);
  });
  afterAll(() => t.close());

  it('applies waiting deliveries for different phones in one transaction; a bad one fails alone', async () => {
    await addAgent(t, 'batch.agent@company.com');
    const taken = uniquePhone();
    await postWebhook(t, { contact: { phone: taken, external_id: 'batch-ext' } });
    const good = Array.from({ length: 12 }, () => uniquePhone());
    const [unknownAgent, externalIdClash, badLabels] = [uniquePhone(), uniquePhone(), uniquePhone()];
    const before = { ...t.parts.committer.stats };
    const release = holdCommitter(t);
    const sends = [
      ...good.map((phone, i) => postWebhook(t, { contact: { phone, name: `Good ${i}`, labels: ['batch', `n${i}`] }, assignee: i % 2 ? 'batch.agent@company.com' : undefined })),
      postWebhook(t, { contact: { phone: unknownAgent, name: 'No agent' }, assignee: 'nobody@company.com' }),
      postWebhook(t, { contact: { phone: externalIdClash, external_id: 'batch-ext' } }),
      postWebhook(t, { contact: { phone: badLabels, labels: Array.from({ length: 60 }, (_, i) => `x${i}`) } }).then(() =>
        postWebhook(t, { contact: { phone: badLabels, labels: Array.from({ length: 60 }, (_, i) => `y${i}`) } }),
      ),
    ];
    await new Promise((resolve) => setTimeout(resolve, 200));
    await release();
    const answers = await Promise.all(sends);

    expect(answers.slice(0, 12).map((a) => a.status)).toEqual(Array(12).fill(200));
    expect(answers[12]!.body.code).toBe('unknown_assignee');
    expect(answers[13]!.body.code).toBe('external_id_taken');
    expect(answers[14]!.body.code).toBe('limit_exceeded');
    for (const [i, phone] of good.entries()) expect((await storedContact(t, phone))?.labels).toEqual(['batch', `n${i}`]);
    expect(await storedContact(t, unknownAgent)).toBeNull();
    expect(await storedContact(t, externalIdClash)).toBeNull();
    expect((await storedContact(t, badLabels))?.labels).toHaveLength(60);
    // Batching did happen: fewer transactions than deliveries, and one carried several of them.
    const batches = t.parts.committer.stats.batches - before.batches;
    const deliveries = t.parts.committer.stats.deliveries - before.deliveries;
    expect(batches).toBeLessThan(deliveries);
    expect(t.parts.committer.stats.largest).toBeGreaterThanOrEqual(10);
    // The refusals were rolled back to their savepoints: the batch itself never had to be retried.
    expect(t.parts.committer.stats.retriedAlone).toBe(before.retriedAlone);
  });

  it('a batch that fails as a whole is rolled back, then each of its deliveries is applied on its own, once', async () => {
    // The label exists beforehand, so that the deliveries have nothing to do before their batch.
    await postWebhook(t, { contact: { phone: uniquePhone(), labels: 'retried' } });
    // The first statement writing several deliveries' log rows fails: that batch is rolled back as a whole.
    await t.database.db.execute(sql`create sequence fail_once_seq`);
    await t.database.db.execute(sql.raw(`create function fail_once() returns trigger language plpgsql as $$
      begin
        if (select count(*) from inserted) > 1 and nextval('fail_once_seq') = 1 then raise exception 'this batch fails'; end if;
        return null;
      end $$`));
    await t.database.db.execute(sql`create trigger fail_once after insert on deliveries referencing new table as inserted for each statement execute function fail_once()`);
    try {
      const phones = Array.from({ length: 6 }, () => uniquePhone());
      const before = { ...t.parts.committer.stats };
      const release = holdCommitter(t);
      const sends = phones.map((phone, i) => postWebhook(t, { contact: { phone, name: `Alone ${i}`, labels: 'retried' } }));
      await new Promise((resolve) => setTimeout(resolve, 200));
      await release();
      const answers = await Promise.all(sends);

      expect(answers.map((a) => [a.status, a.body.status]), JSON.stringify(answers[0]!.body)).toEqual(Array(6).fill([200, 'applied']));
      // All six in the failed batch on PostgreSQL; on PGlite the first goes alone (the held
      // transaction holds its one connection, so the others are still being read).
      expect(t.parts.committer.stats.retriedAlone - before.retriedAlone).toBeGreaterThanOrEqual(5);
      for (const [i, phone] of phones.entries()) expect(await storedContact(t, phone)).toMatchObject({ name: `Alone ${i}`, labels: ['retried'] });
      const ids = answers.map((a) => a.body.delivery_id as string);
      expect(await t.database.db.select({ status: deliveries.status }).from(deliveries).where(inArray(deliveries.id, ids))).toEqual(Array(6).fill({ status: 'applied' }));
    } finally {
      await t.database.db.execute(sql`drop trigger fail_once on deliveries`);
    }

    // A bulk group that fails as a whole is tried again line by line, in line order: lines for one
    // phone tried side by side could commit in any order, and an older line end as the contact.
    await t.database.db.execute(sql`alter sequence fail_once_seq restart`);
    await t.database.db.execute(sql`create trigger fail_once after insert on deliveries referencing new table as inserted for each statement execute function fail_once()`);
    try {
      const phone = uniquePhone();
      const before = t.parts.committer.stats.retriedAlone;
      // Each line adds its label: a line's answer holds the labels of its own line and those before it, no other.
      const body = Array.from({ length: 10 }, (_, i) => `${JSON.stringify({ contact: { phone, labels: `v${i}` } })}\n`).join('');
      const res = await t.app.request(`/webhooks/${t.account.webhookToken}/bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
      const lines = (await res.text()).trim().split('\n').map((line) => JSON.parse(line) as Record<string, any>);
      const upTo = (i: number) => Array.from({ length: i + 1 }, (_, j) => `v${j}`);
      expect(lines.slice(0, 10).map((line) => line.contact?.labels)).toEqual(Array.from({ length: 10 }, (_, i) => upTo(i)));
      expect(t.parts.committer.stats.retriedAlone - before).toBe(10);
      expect((await storedContact(t, phone))?.labels).toEqual(upTo(9));
    } finally {
      await t.database.db.execute(sql`drop trigger fail_once on deliveries`);
    }
  });

  it('a delivery recorded again under its id keeps its first log row: no 500 for a duplicate id', async () => {
    // A guard: a delivery is tried again only once its first transaction is known not to have
    // committed (commit-lost.pg.test.ts), but a second row under one id must never fail a batch.
    const first = await postWebhook(t, { contact: { phone: uniquePhone(), name: 'Once' } });
    const [row] = await t.database.db.select().from(deliveries).where(eq(deliveries.id, first.body.delivery_id));
    const again = { id: row!.id, accountId: row!.accountId, operation: 'upsert', phoneMasked: row!.phoneMasked, status: 'unchanged' as const, errorCode: null, errorMessage: null, durationMs: 1, idempotencyKey: null, replayOf: null };
    await t.parts.committer.submit(-42n, { run: (tx) => recordDelivery(tx, again) });
    const [kept] = await t.database.db.select().from(deliveries).where(eq(deliveries.id, first.body.delivery_id));
    expect(kept!.status).toBe('applied');
  });

  it('a delivery with an idempotency key keeps its place in its phone\'s order: one sent after it does not overtake it', async () => {
    for (let round = 0; round < 5; round++) {
      const phone = uniquePhone();
      const keyed = postWebhook(t, { contact: { phone, name: 'first' } }, { headers: { 'idempotency-key': `order-${phone}` } });
      const plain = postWebhook(t, { contact: { phone, name: 'second' } });
      const [a, b] = await Promise.all([keyed, plain]);
      expect([a.body.contact.name, b.body.contact.name]).toEqual(['first', 'second']);
      expect((await storedContact(t, phone))?.name).toBe('second');
    }
  });

  // Each hot phone is sent to in turn (the lane's own one-at-a-time order is test/unit/phone-queue.test.ts).
  it('gets every answer and the final state right on 10 phones sent to in turn, while other phones\' deliveries batch around them', async () => {
    const hot = Array.from({ length: 10 }, () => uniquePhone());
    const sendInOrder = async (phone: string) => {
      for (let i = 0; i < 15; i++) {
        const res = await postWebhook(t, { contact: { phone, labels: [`v${i}`] }, overrideLabels: true });
        expect(res.body.contact.labels).toEqual([`v${i}`]);
      }
    };
    const background = Array.from({ length: 60 }, () => postWebhook(t, { contact: { phone: uniquePhone(), labels: 'noise' } }));
    await Promise.all([...hot.map(sendInOrder), ...background]);
    for (const phone of hot) expect((await storedContact(t, phone))?.labels).toEqual(['v14']);
  });
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('no answer before its commit, on PostgreSQL', () => {
  let t: TestApp;
  let observer: postgres.Sql;
  beforeAll(async () => {
    t = await createTestApp('postgres');
    observer = postgres(t.databaseUrl!, { max: 2 });
  });
  afterAll(async () => {
    await observer.end();
    await t.close();
  });

  it('every 200 is visible to another connection the moment it arrives', async () => {
    const phones = Array.from({ length: 200 }, () => uniquePhone());
    const misses: string[] = [];
    await Promise.all(
      phones.map(async (phone) => {
        const res = await postWebhook(t, { contact: { phone, name: 'Committed' } });
        expect(res.status).toBe(200);
        const rows = await observer`select name from contacts where phone = ${phone}`;
        if (rows[0]?.name !== 'Committed') misses.push(phone);
      }),
    );
    expect(misses).toEqual([]);
    expect(t.parts.committer.stats.largest).toBeGreaterThan(1);
  });
});

describe('transactions applying deliveries at once', () => {
  it('on PGlite, one, whatever MAX_TRANSACTIONS says', async () => {
    const t = await createTestApp('pglite', { MAX_TRANSACTIONS: '6' });
    try {
      expect(t.parts.committer.concurrency).toBe(1);
    } finally {
      await t.close();
    }
  });

  it.skipIf(!process.env.TEST_DATABASE_URL)('on PostgreSQL, MAX_TRANSACTIONS (default 4), never more than the pool less two', async () => {
    // The test apps' pool has 10 connections.
    for (const [env, expected] of [[{}, 4], [{ MAX_TRANSACTIONS: '2' }, 2], [{ MAX_TRANSACTIONS: '50' }, 8]] as const) {
      const t = await createTestApp('postgres', env);
      try {
        expect(t.parts.committer.concurrency).toBe(expected);
      } finally {
        await t.close();
      }
    }
  });

  it.skipIf(!process.env.TEST_DATABASE_URL)('on PostgreSQL, a MAX_TRANSACTIONS the pool cannot give is named in a warning at start', async () => {
    const scratch = await createScratchDatabase();
    const database = await openDatabase({ url: scratch.url, poolSize: 10 });
    const logged: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
    try {
      createApp({ config: loadConfig({ MAX_TRANSACTIONS: '8' }), database, logger });
      expect(logged).toEqual([]);
      createApp({ config: loadConfig({ MAX_TRANSACTIONS: '50' }), database, logger });
      expect(logged).toEqual([expect.objectContaining({ level: 40, maxTransactions: 50, dbPoolSize: 10, running: 8, msg: expect.stringContaining('MAX_TRANSACTIONS') })]);
      // A pool of one: the default 4 becomes 1, said too.
      logged.length = 0;
      const single = await openDatabase({ url: scratch.url, poolSize: 1 });
      try {
        createApp({ config: loadConfig({}), database: single, logger });
        expect(logged).toEqual([expect.objectContaining({ level: 40, maxTransactions: 4, dbPoolSize: 1, running: 1 })]);
      } finally {
        await single.close();
      }
    } finally {
      await database.close();
      await scratch.drop();
    }
  });
});

describe('work whose sender stopped waiting', () => {
  it('is neither run nor batched once its signal has aborted, and is answered NotApplied', async () => {
    const database = await openDatabase({ dataDir: 'memory://' });
    try {
      const committer = new GroupCommitter(database.db, { concurrency: 1, maxBatch: 10 });
      const aborted = AbortSignal.abort();
      let ran = false;
      await expect(committer.submit(1n, { run: async () => ((ran = true), 'ran'), signal: aborted })).rejects.toBeInstanceOf(NotApplied);
      expect(ran).toBe(false);
      let concluded = false;
      const job = {
        accountId: 'acc_none',
        operation: { kind: 'upsert' as const, phone: '+447400999999', overrideLabels: false, inviteNewContacts: false },
        added: new Map(),
        conclude: () => {
          concluded = true;
          throw new Error('must not be concluded');
        },
      };
      await expect(committer.submit(2n, { batched: job, signal: aborted })).rejects.toBeInstanceOf(NotApplied);
      expect(concluded).toBe(false);
    } finally {
      await database.close();
    }
  });
});

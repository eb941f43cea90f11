import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, postWebhook, type TestApp } from '../helpers/app.js';
import { storedContact, uniquePhone } from '../helpers/fixtures.js';
import { sleep } from '../helpers/process.js';

describe.skipIf(!process.env.TEST_DATABASE_URL)('a statement PostgreSQL cancels', () => {
  let t: TestApp;
  let other: postgres.Sql;
  beforeAll(async () => {
    t = await createTestApp('postgres');
    other = postgres(t.databaseUrl!, { max: 2, onnotice: () => {} });
  });
  afterAll(async () => {
    await other.end();
    await t.close();
  });

  /** Cancels the first statement of the app's that waits for a lock, as an operator's pg_cancel_backend (or statement_timeout) would. */
  async function cancelTheWaiter(): Promise<void> {
    for (let tries = 0; tries < 200; tries += 1) {
      const [row] = await other`
        select pid from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`;
      if (row) {
        await other`select pg_cancel_backend(${row.pid})`;
        return;
      }
      await sleep(20);
    }
    throw new Error('no statement came to wait for the lock');
  }

  it('answers 503 with Retry-After, not 500, and leaves the contact as it was', async () => {
    const phone = uniquePhone();
    expect((await postWebhook(t, { contact: { phone, name: 'Before' } })).status).toBe(200);

    // Another connection holds the contact's row, so the delivery's update waits until it is cancelled.
    let locked!: () => void;
    const lockedOnce = new Promise<void>((resolve) => (locked = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const holder = other.begin(async (tx) => {
      await tx`select id from contacts where phone = ${phone} for update`;
      locked();
      await released;
    });
    await lockedOnce;

    const delivery = postWebhook(t, { contact: { phone, name: 'After' } });
    await cancelTheWaiter();
    const answer = await delivery;
    release();
    await holder;

    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('1');
    expect(answer.body).toMatchObject({ code: 'unavailable' });
    expect((await storedContact(t, phone))?.name).toBe('Before');
    // The sender's retry applies it, once.
    expect((await postWebhook(t, { contact: { phone, name: 'After' } })).body).toMatchObject({ status: 'applied' });
    expect((await storedContact(t, phone))?.name).toBe('After');
  });
});

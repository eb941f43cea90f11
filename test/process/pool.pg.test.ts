import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createScratchDatabase } from '../helpers/app.js';
import { killAllServices, postJson, startService } from '../helpers/process.js';

/**
 * The pool's connections are opened at start, before the port opens, so that a burst arriving first
 * does not wait on (or time out opening) connections while the thread is busy with it.
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('the connection pool at start', () => {
  const dropAfter: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await killAllServices();
    // In the order pushed: a database before the role that owns it.
    for (const drop of dropAfter.splice(0)) await drop();
  });
  afterAll(killAllServices);

  /** The service's connections to the scratch database, as PostgreSQL sees them. */
  const connections = async (databaseUrl: string) => {
    const admin = postgres(process.env.TEST_DATABASE_URL!, { max: 1, onnotice: () => {} });
    try {
      const [row] = await admin<{ count: number }[]>`
        select count(*)::int as count from pg_stat_activity
        where datname = ${new URL(databaseUrl).pathname.slice(1)} and application_name = 'contact-sync'`;
      return row!.count;
    } finally {
      await admin.end();
    }
  };

  it('every connection of DB_POOL_SIZE, and the lookups connection, is open once the service is ready', async () => {
    const scratch = await createScratchDatabase();
    dropAfter.push(scratch.drop);
    await startService({ databaseUrl: scratch.url, env: { DB_POOL_SIZE: '6' } });
    expect(await connections(scratch.url)).toBe(7);
  }, 60_000);

  it('a database allowing fewer connections than DB_POOL_SIZE: the start goes on with a warning, the lookups have their connection, and a delivery is applied', async () => {
    const scratch = await createScratchDatabase();
    dropAfter.push(scratch.drop);
    // A role that owns the database (so it can migrate it) and may hold 3 connections at once.
    const role = `cs_pool_${randomBytes(4).toString('hex')}`;
    const admin = postgres(scratch.url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create role ${role} login connection limit 3`);
    await admin.unsafe(`alter database ${new URL(scratch.url).pathname.slice(1)} owner to ${role}`);
    await admin.end();
    dropAfter.push(async () => {
      const base = postgres(process.env.TEST_DATABASE_URL!, { max: 1, onnotice: () => {} });
      await base.unsafe(`drop role if exists ${role}`);
      await base.end();
    });
    const asRole = new URL(scratch.url);
    asRole.username = role;

    const service = await startService({ databaseUrl: asRole.toString(), env: { DB_POOL_SIZE: '6' } });
    expect(await connections(scratch.url)).toBe(3);
    const warning = service
      .output()
      .stdout.split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; err?: { code?: string }; poolSize?: number })
      .find((line) => line.msg?.startsWith('could not open every connection'));
    expect(warning).toMatchObject({ poolSize: 6, err: { code: '53300' } });

    // Ready means both the pool and the lookups answered; a delivery goes to a connection opened.
    // (A burst needing more than the database allows is answered 503 for those: see the README.)
    const answer = await postJson(service.webhookUrl, { contact: { phone: '+447400900001', name: 'Pooled' } });
    expect(answer).toMatchObject({ status: 200, body: { status: 'applied' } });
  }, 60_000);
});

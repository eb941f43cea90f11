import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase } from '../helpers/app.js';
import { killAllServices, postJson, sleep, startService, type ServiceProcess } from '../helpers/process.js';
import { checkAcknowledged, loadPhone, startLoad, summarise } from './load.js';

/**
 * README "Database faults": the service's connections cut again and again while they reconnect
 * (a failover, an administrator's pg_terminate_backend). The process keeps running and recovers
 * by itself, webhook token lookups included, and nothing acknowledged is lost.
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('connections cut under load (real process)', () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let admin: postgres.Sql;

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    admin = postgres(process.env.TEST_DATABASE_URL!, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await killAllServices();
    await admin?.end();
    await scratch?.drop();
  });

  /** Twelve API reads at once and a delivery, all answered: every connection of both pools works again. */
  async function serving(service: ServiceProcess): Promise<boolean> {
    const reads = Array.from({ length: 12 }, (_, i) =>
      fetch(`${service.baseUrl}/api/v1/contacts/${encodeURIComponent(loadPhone(i, 0))}`, { headers: { authorization: `Bearer ${service.credentials.apiKey}` } }).then((res) => res.status),
    );
    const delivery = postJson(service.webhookUrl, { contact: { phone: '+447400999001', name: 'After the cuts' } }, {}, 5000).then((res) => res.status);
    const statuses = await Promise.all([...reads, delivery]);
    return statuses.every((status) => status === 200 || status === 404);
  }

  it('every 50 ms for 2 s: the process lives on, serves again by itself, and keeps what it acknowledged', async () => {
    const service = await startService({ databaseUrl: scratch.url });
    const load = startLoad({ senders: 16, targets: () => [service.webhookUrl] });
    await load.untilAcknowledged(200);

    const database = new URL(scratch.url).pathname.slice(1);
    for (let cut = 0; cut < 40; cut++) {
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${database} and application_name = 'contact-sync'`;
      await sleep(50);
    }
    expect(service.exitStatus(), service.output().stderr).toBeUndefined();

    await load.untilAcknowledged(load.acknowledged().length + 200);
    const sent = await load.stop();
    // A connection cut while connecting may take up to connect_timeout (5 s) to be given up.
    const deadline = performance.now() + 15_000;
    while (!(await serving(service))) {
      expect(performance.now(), 'still refusing 15 s after the cuts').toBeLessThan(deadline);
      await sleep(500);
    }
    expect((await fetch(`${service.baseUrl}/readyz`)).status).toBe(200);
    expect(service.exitStatus(), service.output().stderr).toBeUndefined();
    expect(service.output().stdout).not.toContain('"level":50');

    const check = await checkAcknowledged(service, sent);
    console.info(`connections cut: ${sent.length} sent ${summarise(sent)}, ${check.phones} phones checked`);
    expect(check.missing).toEqual([]);
    expect(check.outOfOrder).toEqual([]);
    expect(await service.stop('SIGTERM')).toBe(0);
  }, 90_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase } from '../helpers/app.js';
import { killAllServices, startService } from '../helpers/process.js';
import { checkAcknowledged, startLoad, summarise } from './load.js';

/**
 * SPEC §2.4 "ack after commit": a crash (SIGKILL, no drain) under the load of 32 senders loses
 * nothing the senders were told was applied.
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('SIGKILL under load (real process)', () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;

  beforeAll(async () => {
    scratch = await createScratchDatabase();
  });
  afterAll(async () => {
    await killAllServices();
    await scratch?.drop();
  });

  it('after a restart every acknowledged delivery is stored', async () => {
    const service = await startService({ databaseUrl: scratch.url });
    const load = startLoad({ senders: 32, targets: () => [service.webhookUrl] });
    await load.untilAcknowledged(300);

    const killedAt = performance.now();
    await service.kill();
    expect((await service.exited).signal).toBe('SIGKILL');
    const sent = await load.stop();
    // Sent before the kill and never answered: the crash really came mid-load.
    const cutOff = sent.filter((d) => d.status === 'error' && d.startedAt < killedAt).length;

    const restarted = await startService({ databaseUrl: scratch.url, credentials: service.credentials });
    const check = await checkAcknowledged(restarted, sent);
    console.info(`SIGKILL: ${sent.length} sent ${summarise(sent)}, ${cutOff} cut off in flight, ${check.phones} phones checked`);
    expect(check.acknowledged).toBeGreaterThanOrEqual(300);
    expect(cutOff).toBeGreaterThan(0);
    expect(check.missing).toEqual([]);
    expect(check.outOfOrder).toEqual([]);
    expect(await restarted.stop('SIGTERM')).toBe(0);
  }, 90_000);
});

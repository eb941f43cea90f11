import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase } from '../helpers/app.js';
import { killAllServices, sleep, startService, type ServiceProcess } from '../helpers/process.js';
import { checkAcknowledged, startLoad, summarise } from './load.js';

/**
 * SPEC §6: on SIGTERM the service drains and exits 0, and nothing acknowledged is lost. 32 senders
 * keep sending through the signal; after a restart on the same database every delivery that got a
 * 200 is there, in acknowledgement order per phone.
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('SIGTERM under load (real process)', () => {
  const SHUTDOWN_TIMEOUT_MS = 10_000;
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;

  beforeAll(async () => {
    scratch = await createScratchDatabase();
  });
  afterAll(async () => {
    await killAllServices();
    await scratch?.drop();
  });

  it('exits 0 mid-load, and after a restart every acknowledged delivery is stored', async () => {
    const service = await startService({ databaseUrl: scratch.url, env: { SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) } });
    let target = service.webhookUrl;
    const load = startLoad({ senders: 32, targets: () => [target] });
    await load.untilAcknowledged(300);

    const signalledAt = performance.now();
    const code = await service.stop('SIGTERM');
    const drainMs = performance.now() - signalledAt;
    const ackedBeforeExit = load.acknowledged().length;
    expect(code, service.output().stderr).toBe(0);
    // SHUTDOWN_TIMEOUT_MS (10 s here) for the drain, then at most 5 s to close the database.
    expect(drainMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 5000);

    // The senders go on against the stopped port until the new process is up, then against it.
    const restarted: ServiceProcess = await startService({ databaseUrl: scratch.url, credentials: service.credentials });
    expect(restarted.output().stdout).not.toMatch(/API key/);
    target = restarted.webhookUrl;
    await load.untilAcknowledged(ackedBeforeExit + 100);
    const sent = await load.stop();

    const check = await checkAcknowledged(restarted, sent);
    console.info(`SIGTERM: exit ${code} ${drainMs.toFixed(0)} ms after the signal; ${sent.length} sent ${summarise(sent)}, ${ackedBeforeExit} acknowledged before exit, ${check.phones} phones checked`);
    expect(check.missing).toEqual([]);
    expect(check.outOfOrder).toEqual([]);
    expect(check.acknowledged).toBeGreaterThan(ackedBeforeExit);
    expect(await restarted.stop('SIGTERM')).toBe(0);
  }, 90_000);

  it('answers a request sent on a kept-alive connection just after the signal (503, Connection: close) rather than resetting it', async () => {
    const own = await createScratchDatabase();
    const service = await startService({ databaseUrl: own.url, env: { LOG_LEVEL: 'info' } });
    const url = new URL(service.webhookUrl);
    const request = (body: string) =>
      `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const payload = (i: number) => JSON.stringify({ contact: { phone: `+4474008${String(i).padStart(5, '0')}` } });
    // Connections as a client's pool keeps them: one delivery answered on each, then idle.
    const sockets = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const socket = connect(service.port, '127.0.0.1');
        await once(socket, 'connect');
        const reader = answers(socket);
        socket.write(request(payload(i)));
        expect(await reader.next()).toMatch(/^HTTP\/1\.1 200 /);
        return { socket, reader };
      }),
    );
    const exited = service.stop('SIGTERM');
    // Sent once it drains (it says so), within the second its idle connections are kept for.
    while (!service.output().stdout.includes('"msg":"draining"')) await sleep(5);
    for (const [i, { socket }] of sockets.entries()) socket.write(request(payload(100 + i)));
    for (const { reader } of sockets) {
      const answer = await reader.next();
      expect(answer).toMatch(/^HTTP\/1\.1 503 /);
      expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    }
    expect(await exited, service.output().stderr).toBe(0);
    await own.drop();
  }, 60_000);

  it('ignores a second SIGTERM while draining: a bulk upload still in progress finishes with its summary, then exit 0', async () => {
    const own = await createScratchDatabase();
    const service = await startService({ databaseUrl: own.url, env: { SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) } });
    const lines = 30;
    let sentLines = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sentLines === lines) return controller.close();
        await sleep(50);
        controller.enqueue(new TextEncoder().encode(`${JSON.stringify({ contact: { phone: `+4474009${String(sentLines).padStart(5, '0')}` } })}\n`));
        sentLines++;
      },
    });
    const answer = fetch(`${service.webhookUrl}/bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body, duplex: 'half' } as RequestInit).then((res) => res.text());
    while (sentLines < 5) await sleep(20);

    const exited = service.stop('SIGTERM');
    await sleep(300);
    expect(service.exitStatus(), 'still draining when the second signal comes').toBeUndefined();
    process.kill(service.pid, 'SIGTERM');
    expect(await exited, service.output().stderr).toBe(0);
    const results = (await answer).trim().split('\n');
    expect(results).toHaveLength(lines + 1);
    expect(JSON.parse(results.at(-1)!)).toEqual({ summary: { lines, applied: lines, unchanged: 0, stale: 0, failed: 0 } });
    await own.drop();
  }, 60_000);

  it('stops with the `npm start` the README gives: a SIGTERM to npm reaches the service, which drains and closes its port', async () => {
    const own = await createScratchDatabase();
    const service = await startService({ databaseUrl: own.url, npmStart: true, env: { LOG_LEVEL: 'info' } });
    expect(await service.stop('SIGTERM'), service.output().stderr).toBe(0);
    expect(service.output().stdout).toMatch(/"msg":"draining"[\s\S]*"msg":"stopped"/);
    const answered = await fetch(`${service.baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
      () => true,
      () => false,
    );
    expect(answered, 'the service still answers after npm exited').toBe(false);
    await own.drop();
  }, 60_000);
});

/**
 * The answers that come back on a raw socket, one at a time: each is its head and a body of the
 * Content-Length it names. What was read when the socket ended or failed is answered instead
 * (`''` for nothing), so a reset shows as a failed match rather than a hang.
 */
function answers(socket: Socket): { next(): Promise<string> } {
  let buffered = '';
  let ended = false;
  const waiting: (() => void)[] = [];
  const wake = () => waiting.splice(0).forEach((resolve) => resolve());
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => ((buffered += chunk), wake()));
  socket.on('error', () => {});
  socket.on('close', () => ((ended = true), wake()));
  return {
    async next() {
      for (;;) {
        const headEnd = buffered.indexOf('\r\n\r\n');
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(buffered.slice(0, headEnd))?.[1] ?? 0);
        if (headEnd >= 0 && buffered.length >= headEnd + 4 + length) {
          const answer = buffered.slice(0, headEnd + 4 + length);
          buffered = buffered.slice(answer.length);
          return answer;
        }
        if (ended) return buffered;
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
    },
  };
}

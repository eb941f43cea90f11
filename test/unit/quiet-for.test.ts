import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { quietFor } from '../../src/http/bulk-body.js';

/**
 * The thread busy past the limit (parsing other requests' lines) while data arrives: the timer is
 * due before the data is read. Silence is judged after the loop has read what came in meanwhile.
 */
describe('quietFor', () => {
  it('takes data that arrived while the thread was busy past the limit for data, not silence', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    const [socket] = await accepted;

    const silence = quietFor(50);
    const data = once(socket, 'data').then(() => 'data' as const);
    const outcome = Promise.race([data, silence.passed.then(() => 'silence' as const)]);
    client.write('a line\n');
    const busyUntil = performance.now() + 200; // the thread busy: the data arrives, the timer falls due
    while (performance.now() < busyUntil);
    expect(await outcome).toBe('data');
    silence.cancel();

    client.destroy();
    socket.destroy();
    server.close();
  });

  it('settles once the time has passed with nothing, and never once cancelled', async () => {
    const silence = quietFor(20);
    await expect(Promise.race([silence.passed.then(() => 'passed'), new Promise((resolve) => setTimeout(() => resolve('late'), 500))])).resolves.toBe('passed');
    const cancelled = quietFor(20);
    cancelled.cancel();
    await expect(Promise.race([cancelled.passed.then(() => 'passed'), new Promise((resolve) => setTimeout(() => resolve('never'), 100))])).resolves.toBe('never');
  });
});

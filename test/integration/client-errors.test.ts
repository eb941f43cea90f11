import { connect } from 'node:net';
import type { Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveApp } from '../../src/http/server.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

/** What Node refuses before any route sees the request gets the one JSON error body too. */
describe('requests Node refuses itself', () => {
  const REQUEST_TIMEOUT_MS = 500;
  let t: TestApp;
  let server: Server;
  let base: string;
  beforeAll(async () => {
    t = await createTestApp('pglite');
    server = serveApp(t.app, { port: 0, hostname: '127.0.0.1', requestTimeoutMs: REQUEST_TIMEOUT_MS });
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await t.close();
  });

  /** Writes `raw` on a connection of its own and reads what comes back until the server closes it. */
  const exchange = async (raw: string) => {
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    socket.write(raw);
    await once(socket, 'close');
    return answer;
  };

  it('a GET delivery whose query string is over 16 KiB: 431 with the JSON body, nothing applied', async () => {
    const res = await fetch(`${base}/webhooks/${t.account.webhookToken}?phone=%2B447400123123&name=${'x'.repeat(20_000)}`);
    expect(res.status).toBe(431);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ error: 'the URL and headers are larger than 16 KiB: send a long payload in a POST body', code: 'payload_too_large' });
    const contact = await fetch(`${base}/api/v1/contacts/%2B447400123123`, { headers: { authorization: `Bearer ${t.account.apiKey}` } });
    expect(contact.status).toBe(404);
  });

  it('bytes that are not HTTP: 400 with the JSON body, and the connection closed', async () => {
    const answer = await exchange('NOT HTTP AT ALL\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(answer).toMatch(/\r\nConnection: close\r\n/);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ error: 'the request is not valid HTTP', code: 'invalid_payload' });
  });

  it('headers that never finish (a slow-headers attack): 408 with the JSON body once REQUEST_TIMEOUT_MS has passed, and the connection closed', async () => {
    const started = Date.now();
    const answer = await exchange(`POST /webhooks/${t.account.webhookToken} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS);
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(answer).toMatch(/\r\nConnection: close\r\n/);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ error: 'the request did not arrive in time; send it again', code: 'unavailable' });
  });

  it('a connection that sends nothing: the same 408 once REQUEST_TIMEOUT_MS has passed, and closed', async () => {
    const started = Date.now();
    const answer = await exchange('');
    expect(Date.now() - started).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS);
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });
});

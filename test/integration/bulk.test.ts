import { request } from 'node:http';
import { connect } from 'node:net';
import postgres from 'postgres';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/client.js';
import { createAccount } from '../../src/db/queries/accounts.js';
import { CREDENTIALS_RECHECK_MS, MAX_BULK_REQUESTS, MAX_BULK_REQUESTS_PER_ACCOUNT, MAX_BULK_SPOOLS } from '../../src/routes/bulk.js';
import { AheadBudget, applyBulk, Signal } from '../../src/sync/bulk.js';
import { Deliverer, type DeliveryObserver } from '../../src/sync/deliver.js';
import type { NdjsonLine } from '../../src/webhook/ndjson.js';
import { lockKey } from '../../src/sync/phone-key.js';
import { sign } from '../../src/http/signature.js';
import { callApi, createTestApp, postWebhook, testDatabases, type TestApp } from '../helpers/app.js';
import { addAgent, storedContact, uniquePhone } from '../helpers/fixtures.js';
import { serveOverHttp } from '../helpers/net.js';
import { sleep } from '../helpers/process.js';

type Line = Record<string, any>;

/** Bulk is about streaming, so it is driven over real HTTP. */
describe.each(testDatabases())('SPEC §2.7 bulk on %s', (kind) => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof serveOverHttp>>;
  let base: string;

  beforeAll(async () => {
    t = await createTestApp(kind, { MAX_BODY_BYTES: '2048' });
    server = await serveOverHttp(t.app);
    base = server.base;
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });

  const bulk = async (body: BodyInitLike, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}/webhooks/${t.account.webhookToken}/bulk`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', ...headers },
      body: body as RequestInit['body'],
      duplex: 'half',
    } as RequestInit);
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), lines: text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) };
  };

  it('answers one result per line in line order, then a summary; a bad line fails alone', async () => {
    const [a, b] = [uniquePhone(), uniquePhone()];
    await addAgent(t, 'bulk.agent@company.com');
    const body = [
      JSON.stringify({ contact: { phone: a, name: 'A', labels: 'one' } }),
      '',
      JSON.stringify({ contact: { phone: 'not a phone' } }),
      '{not json',
      JSON.stringify({ contact: { phone: b, name: 'B' }, assignee: 'nobody@company.com' }),
      JSON.stringify({ contact: { phone: a, labels: 'two' } }),
      JSON.stringify({ contact: { phone: a, name: 'A' } }),
      JSON.stringify({ contact: { phone: b, name: 'B' }, assignee: 'bulk.agent@company.com' }),
      JSON.stringify({ contact: { phone: a, labels: 'x'.repeat(3000) } }),
      JSON.stringify({ delete_contact: uniquePhone() }),
    ].join('\n');
    const res = await bulk(body);
    expect(res.status).toBe(200);
    expect(res.type).toContain('application/x-ndjson');
    const results = res.lines.slice(0, -1);
    expect(results.map((r) => r.line)).toEqual([1, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(results.map((r) => r.status ?? r.code)).toEqual(['applied', 'invalid_phone', 'invalid_payload', 'unknown_assignee', 'applied', 'unchanged', 'applied', 'invalid_payload', 'unchanged']);
    expect(results[0]!.delivery_id).toMatch(/^dlv_/);
    expect(results[2]).toMatchObject({ line: 4, error: "the line is not valid JSON: expected property name or '}' at character 2" });
    expect(res.lines.at(-1)).toEqual({ summary: { lines: 9, applied: 3, unchanged: 2, stale: 0, failed: 4 } });
    expect((await storedContact(t, a))?.labels).toEqual(['one', 'two']);
    expect((await storedContact(t, b))?.name).toBe('B');
  });

  it('reads up to line 1,000,000 and refuses the line after it, applying nothing of it', async () => {
    const [phone, past] = [uniquePhone(), uniquePhone()];
    const body = `${'\n'.repeat(999_999)}${JSON.stringify({ contact: { phone } })}\n${JSON.stringify({ contact: { phone: past } })}\n`;
    const { lines } = await bulk(body);
    expect(lines[0]).toMatchObject({ line: 1_000_000, status: 'applied' });
    expect(lines[1]).toMatchObject({ line: 1_000_001, code: 'limit_exceeded' });
    expect(await storedContact(t, past)).toBeNull();
  });

  it('an empty body is 400, not an answer of no lines', async () => {
    const res = await bulk('');
    expect(res.status).toBe(400);
    expect(res.lines).toEqual([{ error: 'the body is empty: send one JSON payload per line', code: 'invalid_payload' }]);
  });

  it('an empty chunked body (its length unknown until it ends) is the same 400', async () => {
    // fetch turns an empty stream into Content-Length: 0, so the request is written by hand:
    // chunked, and ended with no chunk, as curl -T - sends an empty file.
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${base}/webhooks/${t.account.webhookToken}/bulk`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' },
      });
      req.on('response', (answer) => {
        let text = '';
        answer.setEncoding('utf8').on('data', (part: string) => (text += part));
        answer.on('end', () => resolve({ status: answer.statusCode!, text }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toEqual({ error: 'the body is empty: send one JSON payload per line', code: 'invalid_payload' });
  });

  it('a line that is not UTF-8 fails alone, and nothing of it is stored', async () => {
    const [a, b] = [uniquePhone(), uniquePhone()];
    const body = Buffer.concat([
      Buffer.from(`${JSON.stringify({ contact: { phone: a, name: 'Before' } })}\n`),
      Buffer.from(`${JSON.stringify({ contact: { phone: b, name: 'José' } })}\n`, 'latin1'),
      Buffer.from(`${JSON.stringify({ contact: { phone: a, name: 'After' } })}\n`),
    ]);
    const res = await bulk(Uint8Array.from(body) as unknown as BodyInitLike);
    expect(res.lines.slice(0, -1).map((r) => r.status ?? r.code)).toEqual(['applied', 'invalid_payload', 'applied']);
    expect(res.lines[1]!.error).toBe('line 2 is not UTF-8 text: send it encoded as UTF-8');
    expect((await storedContact(t, a))?.name).toBe('After');
    expect(await storedContact(t, b)).toBeNull();
  });

  it('applies lines for the same phone in line order among many phones', async () => {
    const hot = uniquePhone();
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) {
      lines.push(JSON.stringify({ contact: { phone: hot, labels: [`v${i}`] }, overrideLabels: true }));
      lines.push(JSON.stringify({ contact: { phone: uniquePhone(), labels: 'bulk' } }));
    }
    const res = await bulk(lines.join('\n') + '\n');
    const hotResults = res.lines.filter((r) => r.contact?.phone === hot);
    expect(hotResults.map((r) => r.contact.labels[0])).toEqual(Array.from({ length: 300 }, (_, i) => `v${i}`));
    expect(res.lines.at(-1)).toEqual({ summary: { lines: 600, applied: 600, unchanged: 0, stale: 0, failed: 0 } });
    expect((await storedContact(t, hot))?.labels).toEqual(['v299']);
  });

  it('keeps line order per phone across groups, with groups of other phones in between', async () => {
    const hot = [uniquePhone(), uniquePhone()];
    // 2,400 lines: more than two groups of 1,000; the hot phones are in the first and the last.
    const lines = Array.from({ length: 2400 }, (_, i) => {
      const phone = i < 20 || i >= 2380 ? hot[i % 2]! : uniquePhone();
      return JSON.stringify({ contact: { phone, labels: [`v${i}`] }, overrideLabels: true });
    });
    const res = await bulk(lines.join('\n'));
    expect(res.lines.at(-1)).toEqual({ summary: { lines: 2400, applied: 2400, unchanged: 0, stale: 0, failed: 0 } });
    const results = res.lines.slice(0, -1);
    expect(results.map((r) => r.line)).toEqual(lines.map((_, i) => i + 1));
    // Each answer shows its own line's change, and each phone ends with its last line's.
    expect(results.every((r) => r.contact.labels[0] === `v${r.line - 1}`)).toBe(true);
    expect((await storedContact(t, hot[0]!))?.labels).toEqual(['v2398']);
    expect((await storedContact(t, hot[1]!))?.labels).toEqual(['v2399']);
  });

  it('streams: a request sent in small chunks is answered line by line', async () => {
    const phones = Array.from({ length: 50 }, () => uniquePhone());
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        for (const phone of phones) {
          const text = `${JSON.stringify({ contact: { phone, name: 'Streamed' } })}\n`;
          controller.enqueue(encoder.encode(text.slice(0, 10)));
          controller.enqueue(encoder.encode(text.slice(10)));
        }
        controller.close();
      },
    });
    const res = await bulk(body);
    expect(res.lines).toHaveLength(51);
    expect(res.lines.at(-1)?.summary.applied).toBe(50);
  });

  it.each(['application/ndjson', 'application/jsonl', 'application/json-lines', 'application/x-jsonlines', 'Application/X-NDJSON; charset=utf-8'])('takes the lines sent as %s', async (type) => {
    const res = await bulk(`${JSON.stringify({ contact: { phone: uniquePhone() } })}\n`, { 'content-type': type });
    expect(res.status).toBe(200);
    expect(res.lines.at(-1)).toEqual({ summary: { lines: 1, applied: 1, unchanged: 0, stale: 0, failed: 0 } });
  });

  it.each([
    ['an unknown token', (_: TestApp) => `/webhooks/whk_nope/bulk`, 'application/x-ndjson', 401],
    ['another content type', (t2: TestApp) => `/webhooks/${t2.account.webhookToken}/bulk`, 'application/json', 415],
  ])('%s is refused before anything is applied', async (_name, path, type, status) => {
    const phone = uniquePhone();
    const res = await fetch(`${base}${path(t)}`, { method: 'POST', headers: { 'content-type': type }, body: JSON.stringify({ contact: { phone } }) });
    expect(res.status).toBe(status);
    expect(await storedContact(t, phone)).toBeNull();
  });

  it.each([
    ['its token is rotated', '/account/webhook-token/rotate', /^the webhook token was rotated while this upload was open: the lines answered above were applied, the rest was not read/],
    ['its account adds a first signing secret', '/account/signing-secrets', /^the account requires signatures since this upload began: the lines answered above were applied/],
  ])('an upload kept open after %s stops at its next line with an unauthorized line, its earlier lines applied', async (_name, change, error) => {
    const account = await t.newAccount();
    const phone = uniquePhone();
    const encoder = new TextEncoder();
    let upload!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (controller) => void (upload = controller) });
    const send = (labels: string) => upload.enqueue(encoder.encode(`${JSON.stringify({ contact: { phone, labels } })}\n`));
    send('before');
    const res = await fetch(`${base}/webhooks/${account.webhookToken}/bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body, duplex: 'half' } as RequestInit);
    const answer = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let first = '';
    while (!first.includes('\n')) first += (await answer.read()).value;
    expect(JSON.parse(first)).toMatchObject({ line: 1, status: 'applied' });
    expect((await callApi(t, 'POST', change, { key: account.apiKey })).status).toBeLessThan(300);
    await sleep(CREDENTIALS_RECHECK_MS + 100);
    send('after');
    upload.close();
    let rest = '';
    for (let part = await answer.read(); !part.done; part = await answer.read()) rest += part.value;
    const lines = rest.trim().split('\n').map((line) => JSON.parse(line) as Line);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ code: 'unauthorized', error: expect.stringMatching(error) });
    expect((await storedContact(t, phone, account.id))?.labels).toEqual(['before']);
  });

  it('with signing secrets, the whole body must be signed; a bad signature applies nothing', async () => {
    const other = await t.newAccount();
    const secret = (await callApi(t, 'POST', '/account/signing-secrets', { key: other.apiKey })).body.secret as string;
    const phone = uniquePhone();
    const body = `${JSON.stringify({ contact: { phone, name: 'Signed bulk' } })}\n`;
    const id = 'msg_bulk';
    const timestamp = String(Math.floor(Date.now() / 1000));
    const url = `${base}/webhooks/${other.webhookToken}/bulk`;
    const send = (signature: string) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-ndjson', 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature }, body });
    const bad = await send(`v1,${sign(secret, id, timestamp, new TextEncoder().encode(body + ' '))}`);
    expect(bad.status).toBe(401);
    expect(await storedContact(t, phone, other.id)).toBeNull();
    const good = await send(`v1,${sign(secret, id, timestamp, new TextEncoder().encode(body))}`);
    expect(good.status).toBe(200);
    expect((await good.text()).trim().split('\n')).toHaveLength(2);
    expect((await storedContact(t, phone, other.id))?.name).toBe('Signed bulk');
  });
});

type BodyInitLike = string | ReadableStream<Uint8Array>;

describe('bulk under a full backlog, and a signed body over MAX_BULK_BYTES', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof serveOverHttp>>;
  let base: string;
  beforeAll(async () => {
    t = await createTestApp('pglite', { MAX_BACKLOG: '2', MAX_BULK_BYTES: '4096' });
    server = await serveOverHttp(t.app);
    base = server.base;
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });

  it('is not refused for a full webhook backlog (bulk lines do not take the phone lanes), and keeps line order per phone', async () => {
    const hot = uniquePhone();
    const lines = Array.from({ length: 120 }, (_, i) =>
      JSON.stringify(i % 2 ? { contact: { phone: hot, labels: [`v${i}`] }, overrideLabels: true } : { contact: { phone: uniquePhone() } }),
    );
    const res = await fetch(`${base}/webhooks/${t.account.webhookToken}/bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: lines.join('\n') });
    const out = (await res.text()).trim().split('\n').map((line) => JSON.parse(line) as Line);
    expect(out.at(-1)).toEqual({ summary: { lines: 120, applied: 120, unchanged: 0, stale: 0, failed: 0 } });
    expect((await storedContact(t, hot))?.labels).toEqual(['v119']);
  });

  it('a signed body over MAX_BULK_BYTES is 413 before anything is applied', async () => {
    const secret = (await callApi(t, 'POST', '/account/signing-secrets')).body.secret as string;
    const phone = uniquePhone();
    const body = `${JSON.stringify({ contact: { phone } })}\n${'{"contact":{"phone":"+447400000000"}}\n'.repeat(200)}`;
    const timestamp = String(Math.floor(Date.now() / 1000));
    const res = await fetch(`${base}/webhooks/${t.account.webhookToken}/bulk`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', 'webhook-id': 'm1', 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${sign(secret, 'm1', timestamp, new TextEncoder().encode(body))}` },
      body,
    });
    expect(res.status).toBe(413);
    expect(await storedContact(t, phone)).toBeNull();
  });
});

describe('bulk groups that share a phone, on PGlite', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof serveOverHttp>>;
  beforeAll(async () => {
    t = await createTestApp('pglite');
    server = await serveOverHttp(t.app);
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });

  it('a later group for a phone is not applied before an earlier one, held behind the only transaction', async () => {
    const phone = uniquePhone();
    await postWebhook(t, { contact: { phone: uniquePhone(), labels: 'known' } });
    const encoder = new TextEncoder();
    let push!: (text: string) => void;
    let end!: () => void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        push = (text) => controller.enqueue(encoder.encode(text));
        end = () => controller.close();
      },
    });
    const answer = fetch(`${server.base}/webhooks/${t.account.webhookToken}/bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body, duplex: 'half' } as RequestInit);
    push(`${JSON.stringify({ contact: { phone: uniquePhone() } })}\n`);
    const reader = (await answer).body!.getReader();
    // Line 1 answered: the request is admitted and applying.
    await reader.read();
    // Hold PGlite's one transaction: line 2's group waits behind it, and line 3's must wait for line 2's.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held = t.parts.committer.submit(-99n, { run: () => gate });
    await sleep(50);
    push(`${JSON.stringify({ contact: { phone, labels: [`fresh-${phone}`] }, overrideLabels: true })}\n`);
    await sleep(100);
    push(`${JSON.stringify({ contact: { phone, labels: ['known'] }, overrideLabels: true })}\n`);
    await sleep(100);
    release();
    await held;
    end();
    while (!(await reader.read()).done);
    expect((await storedContact(t, phone))?.labels).toEqual(['known']);
  });
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('bulk groups that share a phone, on PostgreSQL', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof serveOverHttp>>;
  let locker: postgres.Sql;
  beforeAll(async () => {
    t = await createTestApp('postgres');
    server = await serveOverHttp(t.app);
    locker = postgres(t.databaseUrl!, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await locker.end();
    await server.close();
    await t.close();
  });

  it('a later group waits for an earlier one that shares a phone, even while that one waits for another phone', async () => {
    const hot = uniquePhone();
    // A phone whose lock sorts before the hot one's: the first group waits on it before it locks the hot phone.
    let blocked = uniquePhone();
    while (lockKey(t.account.id, blocked) > lockKey(t.account.id, hot)) blocked = uniquePhone();
    await locker`select pg_advisory_lock(${lockKey(t.account.id, blocked).toString()}::bigint)`;

    const encoder = new TextEncoder();
    let release!: () => void;
    const secondPart = new Promise<void>((resolve) => (release = resolve));
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        const line = (payload: unknown) => encoder.encode(`${JSON.stringify(payload)}\n`);
        // One chunk: the two lines form one group.
        controller.enqueue(encoder.encode(`${JSON.stringify({ contact: { phone: hot, labels: ['first'] }, overrideLabels: true })}\n${JSON.stringify({ contact: { phone: blocked, name: 'Blocked' } })}\n`));
        await secondPart;
        controller.enqueue(line({ contact: { phone: hot, labels: ['third'] }, overrideLabels: true }));
        controller.close();
      },
    });
    const answered = fetch(`${server.base}/webhooks/${t.account.webhookToken}/bulk`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body,
      duplex: 'half',
    } as RequestInit).then((res) => res.text());

    // The first two lines are a group by now, waiting for the blocked phone; the third forms the next group.
    await new Promise((resolve) => setTimeout(resolve, 300));
    release();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await locker`select pg_advisory_unlock(${lockKey(t.account.id, blocked).toString()}::bigint)`;

    const results = (await answered).trim().split('\n').map((l) => JSON.parse(l) as Line);
    expect(results.slice(0, -1).map((r) => r.contact.labels)).toEqual([['first'], [], ['third']]);
    expect((await storedContact(t, hot))?.labels).toEqual(['third']);
  });
});

/** A bulk request to the in-process app, its body streamed. */
const postBulk = (t: TestApp, body: string | ReadableStream<Uint8Array>, token = t.account.webhookToken) =>
  t.app.request(`/webhooks/${token}/bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body, duplex: 'half' } as RequestInit);
const bulkLine = (name?: string) => `${JSON.stringify({ contact: { phone: uniquePhone(), name } })}\n`;
const summaryOf = async (res: Response) => (await res.text()).trim().split('\n').at(-1);

/** `count` bulk requests that have each sent one line and hold their slots until closed. */
const openBulkRequests = (t: TestApp, count: number, token: string, closers: (() => void)[]) =>
  Promise.all(
    Array.from({ length: count }, (_, i) =>
      postBulk(
        t,
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(bulkLine(`Open ${i}`)));
            closers.push(() => controller.close());
          },
        }),
        token,
      ),
    ),
  );

describe('bulk requests at once', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite');
  });
  afterAll(() => t.close());

  const send = (body: string | ReadableStream<Uint8Array>, token = t.account.webhookToken) => postBulk(t, body, token);
  const refusedBusy = async (res: Response) => {
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    const body = (await res.json()) as { code: string; error: string };
    expect(body.code).toBe('unavailable');
    return body.error;
  };

  it(`beyond ${MAX_BULK_REQUESTS} being applied, a new one gets 503 with Retry-After rather than memory; once they end, bulk works again`, async () => {
    const closers: (() => void)[] = [];
    const accounts = await Promise.all(Array.from({ length: MAX_BULK_REQUESTS / MAX_BULK_REQUESTS_PER_ACCOUNT }, () => t.newAccount()));
    const responses = (await Promise.all(accounts.map((account) => openBulkRequests(t, MAX_BULK_REQUESTS_PER_ACCOUNT, account.webhookToken, closers)))).flat();
    expect(responses.map((r) => r.status)).toEqual(Array(MAX_BULK_REQUESTS).fill(200));

    expect(await refusedBusy(await send(bulkLine()))).toContain(`${MAX_BULK_REQUESTS} bulk requests are being applied`);

    for (const close of closers) close();
    for (const res of responses) expect(await summaryOf(res)).toContain('"applied":1');
    const after = await send(bulkLine());
    expect(after.status).toBe(200);
    expect(await summaryOf(after)).toContain('"applied":1');
  });

  it(`one account applies at most ${MAX_BULK_REQUESTS_PER_ACCOUNT} at once: beyond that it gets 503, while another account still gets a slot`, async () => {
    const closers: (() => void)[] = [];
    const busy = await t.newAccount();
    const responses = await openBulkRequests(t, MAX_BULK_REQUESTS_PER_ACCOUNT, busy.webhookToken, closers);
    expect(responses.map((r) => r.status)).toEqual(Array(MAX_BULK_REQUESTS_PER_ACCOUNT).fill(200));

    expect(await refusedBusy(await send(bulkLine(), busy.webhookToken))).toContain('of this account');
    const other = await send(bulkLine());
    expect(other.status).toBe(200);
    expect(await summaryOf(other)).toContain('"applied":1');

    for (const close of closers) close();
    for (const res of responses) expect(await summaryOf(res)).toContain('"applied":1');
    const again = await send(bulkLine(), busy.webhookToken);
    expect(again.status).toBe(200);
    expect(await summaryOf(again)).toContain('"applied":1');
  });

  it('two accounts holding their slots with uploads kept open (a line, then nothing) leave other accounts room', async () => {
    const closers: (() => void)[] = [];
    const holders = await Promise.all([t.newAccount(), t.newAccount()]);
    const open = (await Promise.all(holders.map((account) => openBulkRequests(t, MAX_BULK_REQUESTS_PER_ACCOUNT, account.webhookToken, closers)))).flat();
    expect(open.map((res) => res.status)).toEqual(Array(2 * MAX_BULK_REQUESTS_PER_ACCOUNT).fill(200));
    const other = await postBulk(t, bulkLine(), (await t.newAccount()).webhookToken);
    expect(other.status).toBe(200);
    expect(await summaryOf(other)).toContain('"applied":1');
    for (const close of closers) close();
    for (const res of open) await res.text();
  });

  it(`spools at most ${MAX_BULK_SPOOLS} signed bodies at once (each may take MAX_BULK_BYTES of disk); an unsigned request still gets a slot`, async () => {
    const closers: (() => void)[] = [];
    const signed = await Promise.all(Array.from({ length: MAX_BULK_SPOOLS / MAX_BULK_REQUESTS_PER_ACCOUNT + 1 }, () => t.newAccount()));
    for (const account of signed) expect((await callApi(t, 'POST', '/account/signing-secrets', { key: account.apiKey })).status).toBe(201);
    const timestamp = String(Math.floor(Date.now() / 1000));
    // Well-formed headers, a body that never ends: spooled until it does, its signature unchecked.
    // `read` settles once the service has read its first line, when its spool slot is taken.
    const spooling = (token: string, id: string) => {
      let reading!: () => void;
      const read = new Promise<void>((resolve) => (reading = resolve));
      const answer = t.app.request(`/webhooks/${token}/bulk`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': 'v1,AAAA' },
        body: new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(bulkLine()));
            closers.push(() => controller.close());
          },
          pull: () => reading(),
        }),
        duplex: 'half',
      } as RequestInit);
      return { answer, read };
    };
    const held = signed.slice(0, -1).flatMap((account, a) => Array.from({ length: MAX_BULK_REQUESTS_PER_ACCOUNT }, (_, i) => spooling(account.webhookToken, `held-${a}-${i}`)));
    await Promise.all(held.map(({ read }) => read));
    const refused = await spooling(signed.at(-1)!.webhookToken, 'one-more').answer;
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { error: string }).error).toBe(`${MAX_BULK_SPOOLS} signed bulk requests are being received; retry shortly`);
    const unsigned = await postBulk(t, bulkLine(), (await t.newAccount()).webhookToken);
    expect(unsigned.status).toBe(200);
    expect(await summaryOf(unsigned)).toContain('"applied":1');
    for (const close of closers) close();
    for (const res of await Promise.all(held.map(({ answer }) => answer))) expect(res.status).toBe(401);
  });

  /** A bulk request's lines applied as the route applies them, with the budget given. */
  const unobserved: DeliveryObserver = { observe: (run) => run(() => {}) };
  const applyDirectly = (lines: AsyncIterable<NdjsonLine>, budget: AheadBudget) =>
    applyBulk(new Deliverer(t.database.db, t.parts.queues, t.parts.committer, unobserved), { id: t.account.id, name: 'test', defaultRegion: 'GB' }, lines, 10_000, budget);

  /**
   * The lines a bulk request has read and not yet answered take room in a budget all bulk requests
   * share, which bounds their memory whatever their number: while it is full, a request reads its
   * next line only once it has answered every line it read.
   */
  it('when full, a request reads one line at a time; given room, it reads ahead again', async () => {
    const budget = new AheadBudget({ lines: 1000, chars: 1_000_000 });
    for (let i = 0; i < 1000; i++) budget.take(10); // held by another request
    let read = 0;
    let answered = 0;
    let mostAhead = 0;
    const lines = (async function* () {
      for (let line = 1; line <= 200; line++) {
        mostAhead = Math.max(mostAhead, read - answered);
        if (line === 101) {
          expect(mostAhead).toBe(1);
          budget.give(1000, 10_000); // the other request is answered
        }
        read++;
        yield { line, text: JSON.stringify({ contact: { phone: uniquePhone() } }) };
      }
    })();
    for await (const results of applyDirectly(lines, budget)) {
      for (const result of results) expect(result).toMatchObject({ body: { status: 'applied' } });
      answered += results.length;
    }
    expect(answered).toBe(200);
    expect(mostAhead).toBeGreaterThan(1);
  });

  it('a request cut short gives back its share of the budget', async () => {
    const budget = new AheadBudget();
    // 1,500 lines at once: a first group of 1,000, and a second read ahead of its answers.
    const lines = (async function* () {
      for (let line = 1; line <= 1500; line++) yield { line, text: JSON.stringify({ contact: { phone: uniquePhone() } }) };
    })();
    for await (const results of applyDirectly(lines, budget)) {
      expect(results).toHaveLength(1000);
      expect(budget.inUse.lines).toBeGreaterThan(0);
      break; // the reader of the answer gone
    }
    expect(budget.inUse).toEqual({ lines: 0, chars: 0 });
  });

  it('with many requests open, each holds at most its share, so that a few read slowly cannot take it all', async () => {
    /** How many lines one request held read and unanswered at most, for 3,000 lines sent at once. */
    const mostHeld = async (budget: AheadBudget) => {
      let read = 0;
      let answered = 0;
      let most = 0;
      const lines = (async function* () {
        for (let line = 1; line <= 3000; line++) {
          most = Math.max(most, read - answered);
          read++;
          yield { line, text: JSON.stringify({ contact: { phone: uniquePhone() } }) };
        }
      })();
      for await (const results of applyDirectly(lines, budget)) answered += results.length;
      return most;
    };
    expect(await mostHeld(new AheadBudget())).toBeGreaterThan(1000);
    const crowded = new AheadBudget();
    for (let i = 0; i < 16; i++) crowded.join(new Signal()); // 16 other requests open
    expect(crowded.share).toBe(1000);
    expect(await mostHeld(crowded)).toBeLessThanOrEqual(1000);
  });
});

describe('a bulk request refused for a full slot', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite', { RATE_LIMIT_PER_MINUTE: '3' });
  });
  afterAll(() => t.close());

  it('costs no token of the rate limit', async () => {
    const send = (body: string) => postBulk(t, body);
    const closers: (() => void)[] = [];
    const open = await openBulkRequests(t, MAX_BULK_REQUESTS_PER_ACCOUNT, t.account.webhookToken, closers);
    expect(open.map((res) => res.status)).toEqual([200, 200]);
    const busy = await send(bulkLine());
    expect(busy.status).toBe(503);
    await busy.body?.cancel();
    for (const close of closers) close();
    for (const res of open) await res.text();
    // Two tokens spent on the two requests applied; the third is still there for this one.
    const after = await send(bulkLine());
    expect(after.status).toBe(200);
    expect(await summaryOf(after)).toContain('"applied":1');
    const limited = await send(bulkLine());
    expect(limited.status).toBe(429);
    await limited.body?.cancel();
  });
});

describe('a bulk upload that stalls', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite', { REQUEST_TIMEOUT_MS: '300' });
  });
  afterAll(() => t.close());

  it('is cut off after REQUEST_TIMEOUT_MS without a byte: its answers so far, an error line, and its slot back', async () => {
    const encoder = new TextEncoder();
    const send = (body: string | ReadableStream<Uint8Array>, token = t.account.webhookToken) => postBulk(t, body, token);
    // Every slot taken (each account's share) by a sender that sent a line and then nothing more.
    const accounts = await Promise.all(Array.from({ length: MAX_BULK_REQUESTS / MAX_BULK_REQUESTS_PER_ACCOUNT }, () => t.newAccount()));
    const stalled = await Promise.all(
      Array.from({ length: MAX_BULK_REQUESTS }, (_, i) =>
        send(
          new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(encoder.encode(`${JSON.stringify({ contact: { phone: uniquePhone() } })}\n`)) }),
          accounts[i % accounts.length]!.webhookToken,
        ),
      ),
    );
    const started = performance.now();
    for (const res of stalled) {
      const lines = (await res.text()).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines).toEqual([
        expect.objectContaining({ line: 1, status: 'applied' }),
        { error: 'the upload sent nothing for 300 ms and was cut off; the lines answered above were applied, send the rest again', code: 'unavailable' },
      ]);
    }
    expect(performance.now() - started).toBeLessThan(5000);
    const after = await send(`${JSON.stringify({ contact: { phone: uniquePhone() } })}\n`);
    expect(after.status).toBe(200);
    expect((await after.text()).trim().split('\n').at(-1)).toContain('"applied":1');
  });

  it('is refused with 503 when it sends nothing at all for REQUEST_TIMEOUT_MS, and gives its slot back', async () => {
    const silent = () => postBulk(t, new ReadableStream<Uint8Array>({ start: () => {} }));
    const refused = await Promise.all(Array.from({ length: MAX_BULK_REQUESTS_PER_ACCOUNT }, silent));
    for (const res of refused) {
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await res.json()).toEqual({ error: 'the upload sent nothing for 300 ms and was cut off; nothing of it was applied, send it again', code: 'unavailable' });
    }
    const after = await postBulk(t, `${JSON.stringify({ contact: { phone: uniquePhone() } })}\n`);
    expect(after.status).toBe(200);
    expect((await after.text()).trim().split('\n').at(-1)).toContain('"applied":1');
  });

  it('signed, stalling while it is spooled, is refused with 503 + Retry-After saying that nothing of it was applied, as nothing was', async () => {
    const account = await t.newAccount();
    const { secret } = (await callApi(t, 'POST', '/account/signing-secrets', { key: account.apiKey })).body as { secret: string };
    const phone = uniquePhone();
    const line = new TextEncoder().encode(`${JSON.stringify({ contact: { phone } })}\n`);
    const [id, timestamp] = ['msg_stalled', String(Math.floor(Date.now() / 1000))];
    const headers = { 'content-type': 'application/x-ndjson', 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${sign(secret, id, timestamp, line)}` };
    // One line, then nothing: the body never ends, so its signature is never checked.
    const body = new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(line) });
    const res = await t.app.request(`/webhooks/${account.webhookToken}/bulk`, { method: 'POST', headers, body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toEqual({ error: 'the upload sent nothing for 300 ms and was cut off; nothing of it was applied, send it again', code: 'unavailable' });
    expect((await callApi(t, 'GET', `/contacts/${encodeURIComponent(phone)}`, { key: account.apiKey })).status).toBe(404);
  });
});

describe('a bulk answer that is not read', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<typeof serveOverHttp>>;
  beforeAll(async () => {
    t = await createTestApp('pglite', { REQUEST_TIMEOUT_MS: '300' });
    server = await serveOverHttp(t.app);
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });

  it('is cut off once the reader takes none of it for REQUEST_TIMEOUT_MS, and its slot is freed', async () => {
    // Every answer line carries the contact, 100 items of 1.5 KB: 200 lines answer 30 MB, more than
    // the sockets' buffers hold.
    const phone = uniquePhone();
    const items = Array.from({ length: 100 }, (_, i) => ({ text: `${i}`.padEnd(500, 'x'), description: 'd'.repeat(1000) }));
    expect((await postWebhook(t, { contact: { phone, enhanced_data: { Big: items } } })).status).toBe(200);
    const piece = `${JSON.stringify({ contact: { phone } })}\n`.repeat(20);
    const pieces = 10;
    const { port } = new URL(server.base);
    // Both of the account's slots, taken by senders that never read a byte of the answer. The
    // lines come in pieces, a tenth of a second apart, so that their answers are written in as
    // many pieces, each waiting for the reader once the sockets' buffers are full.
    const sockets = Array.from({ length: MAX_BULK_REQUESTS_PER_ACCOUNT }, () => {
      const socket = connect(Number(port), '127.0.0.1');
      // The service may cut it off while pieces are still being written here: a reset, as expected.
      socket.on('error', () => {});
      socket.pause();
      socket.write(`POST /webhooks/${t.account.webhookToken}/bulk HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${Buffer.byteLength(piece) * pieces}\r\n\r\n`);
      return socket;
    });
    for (let i = 0; i < pieces; i++) {
      for (const socket of sockets) socket.write(piece);
      await sleep(100);
    }
    try {
      // Once the service has cut them off, a third request of the account finds a slot free.
      const started = performance.now();
      const third = async () => {
        for (;;) {
          const res = await fetch(`${server.base}/webhooks/${t.account.webhookToken}/bulk`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-ndjson' },
            body: `${JSON.stringify({ contact: { phone: uniquePhone() } })}\n`,
          });
          if (res.status !== 503 || performance.now() - started > 10_000) return res;
          await res.arrayBuffer();
          await sleep(100);
        }
      };
      const after = await third();
      expect(after.status).toBe(200);
      expect((await after.text()).trim().split('\n').at(-1)).toContain('"applied":1');
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  }, 30_000);
});

describe('a bulk upload that keeps sending', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite', { REQUEST_TIMEOUT_MS: '300' });
  });
  afterAll(() => t.close());

  // Signed, so that nothing is answered before the last byte: a request timeout would cut it off.
  it.each(['/bulk', '/bulk/'])('is not cut off by REQUEST_TIMEOUT_MS however long it takes (%s, signed)', async (path) => {
    const account = await t.newAccount();
    const { secret } = (await callApi(t, 'POST', '/account/signing-secrets', { key: account.apiKey })).body as { secret: string };
    const lines = Array.from({ length: 10 }, () => `${JSON.stringify({ contact: { phone: uniquePhone() } })}\n`);
    const encoder = new TextEncoder();
    const [id, timestamp] = ['msg_slow', String(Math.floor(Date.now() / 1000))];
    const signature = `v1,${sign(secret, id, timestamp, encoder.encode(lines.join('')))}`;
    // A line every 100 ms for 1 s: never idle for 300 ms, but three times longer than that in all.
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        for (const line of lines) {
          controller.enqueue(encoder.encode(line));
          await sleep(100);
        }
        controller.close();
      },
    });
    const headers = { 'content-type': 'application/x-ndjson', 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature };
    const res = await t.app.request(`/webhooks/${account.webhookToken}${path}`, { method: 'POST', headers, body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(200);
    expect((await res.text()).trim().split('\n').at(-1)).toContain('"applied":10');
  });
});

describe('a bulk upload that breaks off', () => {
  it('keeps the answers sent, ends with an error line instead of the summary, and logs through the logger', async () => {
    const logged: string[] = [];
    const database = await openDatabase({ dataDir: 'memory://' });
    const { webhookToken } = await createAccount(database.db, { name: 'x', defaultRegion: 'GB' });
    const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(line) });
    const { app } = createApp({ config: loadConfig({}), database, logger });
    const consoleError = vi.spyOn(console, 'error');
    const phone = uniquePhone();
    let breakOff!: () => void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`${JSON.stringify({ contact: { phone, name: 'Before' } })}\n`));
        breakOff = () => controller.error(new Error('aborted'));
      },
    });
    const res = await app.request(`/webhooks/${webhookToken}/bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body, duplex: 'half' } as RequestInit);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('\n')) text += decoder.decode((await reader.read()).value);
    breakOff();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value);
    await database.close();

    const lines = text.trim().split('\n').map((line) => JSON.parse(line) as Line);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ line: 1, status: 'applied' });
    expect(lines[1]).toEqual({ error: 'internal error', code: 'internal' });
    expect(consoleError).not.toHaveBeenCalled();
    consoleError.mockRestore();
    const log = logged.join('');
    expect(log).toContain('bulk upload broke off');
    expect(log).not.toContain('bulk request finished');
    expect(log).not.toContain(phone);
    expect(log).not.toContain(webhookToken);
  });

  it('one that finishes is logged once more at its end, with its counts and whole duration', async () => {
    const logged: Record<string, unknown>[] = [];
    const database = await openDatabase({ dataDir: 'memory://' });
    const { webhookToken } = await createAccount(database.db, { name: 'x', defaultRegion: 'GB' });
    const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
    const { app } = createApp({ config: loadConfig({}), database, logger });
    const body = [{ contact: { phone: uniquePhone() } }, { contact: { phone: 'nope' } }].map((line) => JSON.stringify(line)).join('\n');
    const res = await app.request(`/webhooks/${webhookToken}/bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    await res.text();
    await database.close();
    const finished = logged.filter((line) => line.msg === 'bulk request finished');
    const request = logged.find((line) => line.msg === 'request');
    expect(finished).toEqual([expect.objectContaining({ requestId: request!.requestId, lines: 2, applied: 1, failed: 1, durationMs: expect.any(Number) })]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, postWebhook, testDatabases, type TestApp } from '../helpers/app.js';
import { uniquePhone } from '../helpers/fixtures.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition, samples only. */
function parseSamples(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`not a sample: ${line}`);
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k!, v!]));
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

async function scrape(t: TestApp | { app: TestApp['app'] }) {
  const res = await t.app.request('/metrics');
  const text = await res.text();
  const samples = parseSamples(text);
  /** The value of the sample with exactly these labels, or undefined. */
  const value = (name: string, labels: Record<string, string> = {}) =>
    samples.find((s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  return { res, text, samples, value };
}

describe.each(testDatabases())('GET /metrics on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(kind, { MAX_BACKLOG: '2' });
  });
  afterAll(() => t.close());

  it('counts each delivery once by operation and status, and times it', async () => {
    const phone = uniquePhone();
    const sent = [
      await postWebhook(t, { contact: { phone, name: 'Ann' } }, { headers: { 'Idempotency-Key': 'metrics-1' } }),
      await postWebhook(t, { contact: { phone, name: 'Ann' } }, { headers: { 'Idempotency-Key': 'metrics-1' } }),
      await postWebhook(t, { contact: { phone, name: 'Ann' } }),
      await postWebhook(t, { contact: { phone: 'not a phone' } }),
      await postWebhook(t, { nothing: 'to do' }),
      await postWebhook(t, { contact: { phone }, assignee: 'nobody@example.com' }),
      await postWebhook(t, { delete_contact: phone }),
    ];
    expect(sent.map((s) => [s.status, s.body.status ?? s.body.code])).toEqual([
      [200, 'applied'],
      [200, 'applied'],
      [200, 'unchanged'],
      [422, 'invalid_phone'],
      [400, 'invalid_payload'],
      [422, 'unknown_assignee'],
      [200, 'applied'],
    ]);
    expect(sent[1]!.headers.get('idempotent-replayed')).toBe('true');

    const { res, value } = await scrape(t);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const deliveries = (operation: string, status: string) => value('contact_sync_deliveries_total', { operation, status });
    expect(deliveries('upsert', 'applied')).toBe(1);
    expect(deliveries('upsert', 'replayed')).toBe(1);
    expect(deliveries('upsert', 'unchanged')).toBe(1);
    // A refusal counts under the operation its keys asked for; without one, under unknown.
    expect(deliveries('upsert', 'refused')).toBe(1);
    expect(deliveries('unknown', 'refused')).toBe(1);
    expect(deliveries('upsert_assign', 'refused')).toBe(1);
    expect(deliveries('delete', 'applied')).toBe(1);
    expect(deliveries('delete', 'refused')).toBeUndefined();

    const count = (operation: string) => value('contact_sync_delivery_duration_seconds_count', { operation });
    expect([count('upsert'), count('unknown'), count('upsert_assign'), count('delete')]).toEqual([4, 1, 1, 1]);
    expect(value('contact_sync_delivery_duration_seconds_bucket', { operation: 'upsert', le: '+Inf' })).toBe(4);
    expect(value('contact_sync_delivery_duration_seconds_bucket', { operation: 'upsert', le: '0.001' })).toBeDefined();
    expect(value('contact_sync_delivery_duration_seconds_bucket', { operation: 'upsert', le: '5' })).toBe(4);
    expect(value('contact_sync_delivery_duration_seconds_sum', { operation: 'upsert' })).toBeGreaterThan(0);
  });

  it('shows queue depth, lanes and in-flight while deliveries wait, and the error answer when the backlog is full', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // Two tasks on one lane fill the backlog (MAX_BACKLOG=2): the first runs, the second waits behind it.
    const running = t.parts.queues.run('metrics-test-lane', () => gate);
    const waiting = t.parts.queues.run('metrics-test-lane', async () => {});
    const full = await postWebhook(t, { contact: { phone: uniquePhone() } });
    expect(full.status).toBe(503);

    const during = await scrape(t);
    expect(during.value('contact_sync_queue_depth')).toBe(2);
    expect(during.value('contact_sync_queue_lanes')).toBe(1);
    // Its operation was read before the backlog refused it: the error counts under it.
    expect(during.value('contact_sync_deliveries_total', { operation: 'upsert', status: 'error' })).toBe(1);
    expect(during.value('contact_sync_deliveries_total', { operation: 'unknown', status: 'error' })).toBeUndefined();

    release();
    await Promise.all([running, waiting]);
    // In flight: inside a group-commit transaction (the scrape itself needs no database).
    // Every transaction slot held, and one batch more waiting for one: the pool is saturated.
    const { committer } = t.parts;
    let finish!: () => void;
    const held = new Promise<void>((resolve) => (finish = resolve));
    const applying = Array.from({ length: committer.concurrency + 1 }, (_, i) => committer.submitGroup([{ lockKey: BigInt(i + 1), work: { run: () => held } }])[0]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const saturated = await scrape(t);
    expect(saturated.value('contact_sync_in_flight')).toBe(committer.concurrency);
    expect(saturated.value('contact_sync_db_transactions', { state: 'running' })).toBe(committer.concurrency);
    expect(saturated.value('contact_sync_db_transactions', { state: 'waiting' })).toBe(1);
    finish();
    await Promise.all(applying);
    const after = await scrape(t);
    expect(after.value('contact_sync_db_transactions', { state: 'running' })).toBe(0);
    expect(after.value('contact_sync_db_transactions', { state: 'waiting' })).toBe(0);
    expect(after.value('contact_sync_queue_depth')).toBe(0);
    expect(after.value('contact_sync_queue_lanes')).toBe(0);
    expect(after.value('contact_sync_in_flight')).toBe(0);
  });

  it('counts a webhook answered 503 before its payload was read (shutdown, a body too slow) as unknown/error', async () => {
    const before = (await scrape(t)).value('contact_sync_deliveries_total', { operation: 'unknown', status: 'error' }) ?? 0;
    t.parts.readiness.draining = true;
    try {
      expect((await postWebhook(t, { contact: { phone: uniquePhone() } })).status).toBe(503);
    } finally {
      t.parts.readiness.draining = false;
    }
    const slow = await createTestApp(kind, { REQUEST_TIMEOUT_MS: '100' });
    try {
      const neverEnds = new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(new TextEncoder().encode('{"contact":')) });
      const res = await slow.app.request(`/webhooks/${slow.account.webhookToken}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: neverEnds, duplex: 'half' } as RequestInit);
      expect(res.status).toBe(503);
      expect((await scrape(slow)).value('contact_sync_deliveries_total', { operation: 'unknown', status: 'error' })).toBe(1);
    } finally {
      await slow.close();
    }
    const after = await scrape(t);
    expect(after.value('contact_sync_deliveries_total', { operation: 'unknown', status: 'error' })).toBe(before + 1);
    // The API and the pages are not deliveries.
    t.parts.readiness.draining = true;
    try {
      expect((await t.app.request('/api/v1/account', { headers: { authorization: `Bearer ${t.account.apiKey}` } })).status).toBe(503);
    } finally {
      t.parts.readiness.draining = false;
    }
    expect((await scrape(t)).value('contact_sync_deliveries_total', { operation: 'unknown', status: 'error' })).toBe(before + 1);
  });

  it('reports the configured pool size, explains the missing live counts, and includes the Node metrics', async () => {
    const { text, value } = await scrape(t);
    expect(value('contact_sync_db_pool_size', { driver: kind })).toBe(t.database.concurrency);
    expect(text).toMatch(/# HELP contact_sync_db_pool_size .*exposes no live pool counts/);
    for (const name of ['contact_sync_deliveries_total', 'contact_sync_delivery_duration_seconds', 'contact_sync_queue_depth', 'contact_sync_queue_lanes', 'contact_sync_in_flight']) {
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
    }
    expect(text).toMatch(/^# TYPE contact_sync_delivery_duration_seconds histogram$/m);
    expect(value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it('keeps one registry per app: another app starts from zero', async () => {
    const other = await createTestApp(kind);
    try {
      await postWebhook(other, { contact: { phone: uniquePhone() } });
      const mine = await scrape(t);
      const theirs = await scrape(other);
      expect(theirs.value('contact_sync_deliveries_total', { operation: 'upsert', status: 'applied' })).toBe(1);
      expect(mine.value('contact_sync_deliveries_total', { operation: 'upsert', status: 'applied' })).toBe(1);
      expect(theirs.value('contact_sync_deliveries_total', { operation: 'delete', status: 'applied' })).toBeUndefined();
    } finally {
      await other.close();
    }
  });

  it('shows the bulk lines read and not yet answered, which the bulk requests share', async () => {
    expect((await scrape(t)).value('contact_sync_bulk_ahead_lines')).toBe(0);
    t.parts.bulkBudget.take(1234);
    try {
      expect((await scrape(t)).value('contact_sync_bulk_ahead_lines')).toBe(1);
    } finally {
      t.parts.bulkBudget.give(1, 1234);
    }
  });

  it('counts bulk lines, but keeps them out of the latency histogram (a line waits for its group)', async () => {
    const before = await scrape(t);
    const applied = (scraped: typeof before) => scraped.value('contact_sync_deliveries_total', { operation: 'upsert', status: 'applied' }) ?? 0;
    const timed = (scraped: typeof before) => scraped.value('contact_sync_delivery_duration_seconds_count', { operation: 'upsert' }) ?? 0;
    const lines = Array.from({ length: 3 }, () => JSON.stringify({ contact: { phone: uniquePhone() } })).join('\n');
    const res = await t.app.request(`/webhooks/${t.account.webhookToken}/bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: lines });
    expect((await res.text()).trim().split('\n').at(-1)).toContain('"applied":3');
    const after = await scrape(t);
    expect(applied(after) - applied(before)).toBe(3);
    expect(timed(after)).toBe(timed(before));
  });
});

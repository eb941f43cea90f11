import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, postWebhook, testDatabases, type JsonBody, type TestAccount, type TestApp } from '../helpers/app.js';
import { addAgent, storedContact, uniquePhone } from '../helpers/fixtures.js';

const AGENT = 'batch.eq@company.com';
const LABELS = ['a', 'b', 'C', 'c', 'vip'];

const PHONES = 3;

/**
 * One line for phone number `p` (of three), written `#p` and replaced by a fresh phone at each
 * execution, so that a shrunk case does not find what an earlier one left. Every kind of delivery,
 * the plain upserts (batched together) most often.
 */
const line = () =>
  fc.integer({ min: 0, max: PHONES - 1 }).chain((p) => {
    const phone = `#${p}`;
    const labels = fc.subarray(LABELS, { minLength: 1 });
    return fc.oneof(
      { weight: 4, arbitrary: labels.map((l) => ({ contact: { phone, labels: l } })) },
      { weight: 2, arbitrary: labels.map((l) => ({ contact: { phone, labels: l }, overrideLabels: true })) },
      { weight: 2, arbitrary: labels.map((l) => ({ contact: { phone }, removeLabels: l })) },
      { weight: 2, arbitrary: fc.constantFrom('Ann', 'Bob', null).map((name) => ({ contact: { phone, name } })) },
      { weight: 2, arbitrary: fc.constantFrom([{ text: 'one' }], [{ text: 'two', link: 'https://example.com' }], []).map((items) => ({ contact: { phone, enhanced_data: { Orders: items } } })) },
      { weight: 1, arbitrary: fc.constantFrom('gold', null).map((tier) => ({ contact: { phone, custom_attributes: { tier } } })) },
      { weight: 1, arbitrary: fc.constant({ contact: { phone, labels: Array.from({ length: 60 }, (_, i) => `many-${i}`) } }) },
      { weight: 1, arbitrary: fc.constant({ delete_contact: phone }) },
      { weight: 1, arbitrary: fc.constant({ contact: { phone, name: 'Assigned' }, assignee: AGENT }) },
      { weight: 1, arbitrary: fc.constantFrom('ext-shared', `ext-${p}`).map((id) => ({ contact: { phone, external_id: id } })) },
      { weight: 1, arbitrary: fc.constant({ contact: { phone: 'not a phone', name: 'x' } }) },
    );
  });

/** An answer without what differs between two deliveries of the same change: its id and line. */
const comparable = ({ delivery_id: _id, line: _line, ...rest }: JsonBody) => rest;

describe.each(testDatabases())('a batch answers and ends as one delivery at a time would, on %s', (kind) => {
  let t: TestApp;
  let reference: TestAccount;
  beforeAll(async () => {
    t = await createTestApp(kind);
    reference = await t.newAccount('GB');
    await addAgent(t, AGENT);
    await addAgent(t, AGENT, reference.id);
  });
  afterAll(() => t.close());

  it('bulk lines (one transaction, several per phone) against the same deliveries sent one by one with idempotency keys (one at a time, each in its own statements)', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(line(), { minLength: 1, maxLength: 25 }), async (lines) => {
          run += 1;
          const phones = Array.from({ length: PHONES }, () => uniquePhone());
          const payloads = lines.map((payload) => JSON.stringify(payload).replace(/"#(\d)"/g, (_, p: string) => JSON.stringify(phones[Number(p)])));
          const res = await t.app.request(`/webhooks/${t.account.webhookToken}/bulk`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-ndjson' },
            body: payloads.join('\n'),
          });
          expect(res.status).toBe(200);
          const batched = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as JsonBody).slice(0, -1);

          const oneByOne: JsonBody[] = [];
          for (const [i, payload] of payloads.entries()) {
            const answer = await postWebhook(t, payload, { token: reference.webhookToken, headers: { 'idempotency-key': `eq-${kind}-${run}-${i}` } });
            oneByOne.push(answer.body);
          }

          expect(batched.map((b) => b.line)).toEqual(payloads.map((_, i) => i + 1));
          expect(batched.map(comparable)).toEqual(oneByOne.map(comparable));
          for (const phone of phones) expect(await storedContact(t, phone)).toEqual(await storedContact(t, phone, reference.id));
        }),
      { numRuns: 40 },
    );
  });
});

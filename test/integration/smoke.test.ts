import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, postWebhook, type TestApp } from '../helpers/app.js';

describe('smoke', () => {
  let t: TestApp;
  beforeAll(async () => { t = await createTestApp('pglite'); });
  afterAll(() => t.close());
  it('upserts', async () => {
    const r = await postWebhook(t, { contact: { phone: '+447911123456', name: 'John Smith', labels: 'subscriber, trialing' }, overrideLabels: 'true', inviteNewContacts: 'true' });
    console.log(JSON.stringify(r.body));
    const r2 = await postWebhook(t, { contact: { phone: '+447911123456', name: 'John Smith', enhanced_data: { 'Outstanding payments': [{ text: 'INV-2812381_456', description: 'Since 13 Aug 2024', link: 'www.google.com' }] } } });
    console.log(JSON.stringify(r2.body));
    const r3 = await postWebhook(t, { contact: { phone: '+447911123456' }, assignee: 'agent@company.com' });
    console.log(r3.status, JSON.stringify(r3.body));
    const r4 = await postWebhook(t, { delete_contact: '+447911123456' });
    console.log(JSON.stringify(r4.body));
    expect(r.status).toBe(200);
  });
});

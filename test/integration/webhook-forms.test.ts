import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, postWebhook, testDatabases, type TestApp } from '../helpers/app.js';
import { addAgent, addConversations, assigneesOf, storedContact, uniquePhone } from '../helpers/fixtures.js';

const PHONE = '+447400111222';

/** Polser's four examples from SPEC §2.1, byte for byte, with a real number for the X's. */
const polser = {
  upsert: `{ "contact": { "phone": "+44XXXXXXXXX", "name": "John Smith", "labels": "subscriber, trialing" },
  "overrideLabels": "true", "inviteNewContacts": "true" }`,
  enhanced: `{ "contact": { "phone": "+44XXXXXXXXX", "name": "John Smith",
    "enhanced_data": { "Outstanding payments": [
      { "text": "INV-2812381_456", "description": "Since 13 Aug 2024", "link": "www.google.com" } ] } } }`,
  delete: `{ "delete_contact": "+44XXXXXXXXX" }`,
  assign: `{ "contact": { "phone": "+44XXXXXXXXX" }, "assignee": "agent@company.com" }`,
};
const withPhone = (text: string) => text.replace('+44XXXXXXXXX', PHONE);

describe.each(testDatabases())('SPEC §2.1 payload forms on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(kind);
  });
  afterAll(() => t.close());

  describe("Polser's examples, in order", () => {
    it('upsert with overrideLabels and inviteNewContacts', async () => {
      const res = await postWebhook(t, withPhone(polser.upsert));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        status: 'applied',
        operation: 'upsert',
        delivery_id: expect.stringMatching(/^dlv_/),
        contact: { phone: PHONE, name: 'John Smith', labels: ['subscriber', 'trialing'], created: true, invite_requested: true },
        assigned_conversations: 0,
        warnings: [],
      });
    });

    it('the same again is unchanged', async () => {
      const res = await postWebhook(t, withPhone(polser.upsert));
      expect(res.body).toMatchObject({ status: 'unchanged', contact: { created: false, labels: ['subscriber', 'trialing'] } });
    });

    it('enhanced data lands as a section, the link with https://', async () => {
      const res = await postWebhook(t, withPhone(polser.enhanced));
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('applied');
      expect(res.body.contact.enhanced_data).toEqual({
        'Outstanding payments': [{ text: 'INV-2812381_456', description: 'Since 13 Aug 2024', link: 'https://www.google.com' }],
      });
      expect(res.body.contact.labels).toEqual(['subscriber', 'trialing']);
    });

    it('assign to an agent', async () => {
      await addAgent(t, 'agent@company.com');
      await addConversations(t, PHONE, 2, 3);
      const res = await postWebhook(t, withPhone(polser.assign));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'applied', operation: 'upsert_assign', assigned_conversations: 2 });
    });

    it('delete removes the contact with its conversations and messages', async () => {
      const res = await postWebhook(t, withPhone(polser.delete));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'applied', operation: 'delete', deleted: { contact: true, conversations: 2, messages: 6 } });
      expect(await storedContact(t, PHONE)).toBeNull();
    });

    it('deleting again is unchanged with contact: false', async () => {
      const res = await postWebhook(t, withPhone(polser.delete));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'unchanged', operation: 'delete', contact: false, deleted: { contact: false, conversations: 0, messages: 0 } });
    });
  });

  const send = (init: { method?: string; query?: string; type?: string; body?: string }) =>
    t.app.request(`/webhooks/${t.account.webhookToken}${init.query ? `?${init.query}` : ''}`, {
      method: init.method ?? 'POST',
      headers: init.type ? { 'content-type': init.type } : {},
      body: init.body,
    });

  /** Each form on a phone of its own, so that each one's name and labels are its own work. */
  const forms: { name: string; init: (phone: string) => Parameters<typeof send>[0] }[] = [
    { name: 'form fields', init: (p) => ({ type: 'application/x-www-form-urlencoded', body: `phone=${encodeURIComponent(p)}&name=Form+Person&labels=a%2C+b` }) },
    { name: 'form fields with contact[phone]', init: (p) => ({ type: 'application/x-www-form-urlencoded', body: `contact%5Bphone%5D=${encodeURIComponent(p)}&name=Form+Person&labels=a,b` }) },
    { name: 'form field payload holding JSON', init: (p) => ({ type: 'application/x-www-form-urlencoded; charset=utf-8', body: `payload=${encodeURIComponent(`{"contact":{"phone":"${p}","name":"Form Person","labels":["a","b"]}}`)}` }) },
    { name: 'GET query string', init: (p) => ({ method: 'GET', query: `phone=${encodeURIComponent(p)}&name=Form%20Person&labels=a,b` }) },
    { name: 'GET query with payload', init: (p) => ({ method: 'GET', query: `payload=${encodeURIComponent(`{"contact":{"phone":"${p}","name":"Form Person","labels":"a, b"}}`)}` }) },
    { name: 'POST with the fields in the query and no body', init: (p) => ({ query: `phone=${encodeURIComponent(p)}&name=Form+Person&labels=a&labels=b` }) },
    { name: 'POST with the fields in the query and an empty form body (curl -d "")', init: (p) => ({ type: 'application/x-www-form-urlencoded', body: '', query: `phone=${encodeURIComponent(p)}&name=Form+Person&labels=a&labels=b` }) },
    { name: 'POST with the fields in the query, no body, and a JSON Content-Type', init: (p) => ({ type: 'application/json', query: `phone=${encodeURIComponent(p)}&name=Form+Person&labels=a,b` }) },
    { name: 'JSON with a charset', init: (p) => ({ type: 'application/json; charset=utf-8', body: `{"contact":{"phone":"${p}","name":"Form Person","labels":"a,b"}}` }) },
  ];

  it.each(forms)('$name creates the contact with its name and labels', async ({ init }) => {
    const phone = uniquePhone();
    const res = await send(init(phone));
    const body = (await res.json()) as Record<string, any>;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.contact).toMatchObject({ phone, name: 'Form Person', labels: ['a', 'b'], created: true });
    expect(await storedContact(t, phone)).toMatchObject({ name: 'Form Person', labels: ['a', 'b'] });
  });

  it('flat form fields cover every operation: overrideLabels, inviteNewContacts, delete and assignee', async () => {
    const form = 'application/x-www-form-urlencoded';
    const phone = uniquePhone();
    const q = encodeURIComponent(phone);
    await send({ type: form, body: `phone=${q}&labels=a,b` });
    const override = await send({ type: form, body: `phone=${q}&labels=only&overrideLabels=TRUE` });
    expect(((await override.json()) as any).contact.labels).toEqual(['only']);
    const invited = uniquePhone();
    await send({ type: form, body: `phone=${encodeURIComponent(invited)}&inviteNewContacts=1` });
    expect((await storedContact(t, invited))?.invite_requested).toBe(true);
    await addAgent(t, 'form.agent@company.com');
    const assign = await send({ type: form, body: `phone=${q}&assignee=form.agent%40company.com` });
    expect(((await assign.json()) as any).operation).toBe('upsert_assign');
    const del = await send({ method: 'GET', query: `delete_contact=${q}` });
    expect(((await del.json()) as any).deleted.contact).toBe(true);
    expect(await storedContact(t, phone)).toBeNull();
  });

  it('overrideLabels and removeLabels are read at the level they are sent at, as in JSON', async () => {
    const form = 'application/x-www-form-urlencoded';
    const phone = uniquePhone();
    const q = encodeURIComponent(phone);
    await send({ type: form, body: `phone=${q}&labels=a,b,c` });
    const replaced = await send({ type: form, body: `contact[phone]=${q}&contact[labels]=x,y&contact[overrideLabels]=true` });
    expect(((await replaced.json()) as any).contact.labels).toEqual(['x', 'y']);
    const removed = await send({ type: form, body: `contact[phone]=${q}&contact[removeLabels]=x` });
    expect(((await removed.json()) as any).contact.labels).toEqual(['y']);
    // Flat, they are top-level fields: beside a delete they are ignored with a warning, as in JSON.
    const deleted = await send({ type: form, body: `delete_contact=${q}&removeLabels=y` });
    const body = (await deleted.json()) as any;
    expect(deleted.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ operation: 'delete', deleted: { contact: true }, warnings: ['removeLabels: ignored by delete_contact'] });
  });

  // +2031234567 is a Cairo number; read without its + in region GB, 2031234567 is a London one.
  it.each([
    ['a query string', () => ({ method: 'GET', query: 'phone=+2031234567&name=Cairo' })],
    ['a form body', () => ({ type: 'application/x-www-form-urlencoded', body: 'contact[phone]=+2031234567&name=Cairo' })],
    ['a payload field', () => ({ type: 'application/x-www-form-urlencoded', body: 'payload={"contact":{"phone":"+2031234567","name":"Cairo"}}' })],
    // After a tel: too (audit S11): tel: 2031234567 was read as the London number, without a word.
    ['a tel: link in a form body', () => ({ type: 'application/x-www-form-urlencoded', body: 'contact[phone]=tel:+2031234567&name=Cairo' })],
    ['a tel: link in a query string', () => ({ method: 'GET', query: 'phone=TEL:+2031234567&name=Cairo' })],
  ])('a phone whose + was not encoded, in %s, keeps its +, with a warning', async (_, init) => {
    const res = await send(init() as Parameters<typeof send>[0]);
    const body = (await res.json()) as any;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.contact.phone).toBe('+2031234567');
    expect(body.warnings).toEqual(['contact.phone: its + arrived as a space (form encoding reads + so) and was read as +; send it as %2B']);
    expect(await storedContact(t, '+442031234567')).toBeNull();
  });

  it('a phone that is only valid without a + is still read in the region, and a delete gets its + back too', async () => {
    const national = await send({ method: 'GET', query: 'phone=+07400222390&name=Spaced' });
    expect(((await national.json()) as any).contact).toMatchObject({ phone: '+447400222390' });
    const del = await send({ method: 'GET', query: 'delete_contact=+2031234567' });
    expect((await del.json()) as any).toMatchObject({ operation: 'delete', warnings: [expect.stringMatching(/^delete_contact: its \+ arrived as a space/)] });
    expect(await storedContact(t, '+2031234567')).toBeNull();
  });

  it('an email or assignee whose + was not encoded keeps its +, with a warning; a name keeps its space', async () => {
    const phone = uniquePhone();
    await addAgent(t, 'agent+sales@company.com');
    const [conversation] = await addConversations(t, phone, 1);
    const res = await send({ method: 'GET', query: `phone=${encodeURIComponent(phone)}&name=John+Smith&email=john+crm@example.com&assignee=agent+sales@company.com` });
    const body = (await res.json()) as any;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ operation: 'upsert_assign', contact: { name: 'John Smith', email: 'john+crm@example.com' }, assigned_conversations: 1 });
    expect(body.warnings).toEqual([
      'contact.email: its + arrived as a space (form encoding reads + so) and was read as +; send it as %2B',
      'assignee: its + arrived as a space (form encoding reads + so) and was read as +; send it as %2B',
    ]);
    expect(await storedContact(t, phone)).toMatchObject({ email: 'john+crm@example.com' });
    expect(await assigneesOf(t, [conversation!])).toEqual([expect.stringMatching(/^agt_/)]);
  });

  it.each([
    ['an ISO time', '2026-01-01T11:00:00+01:00', '2026-01-01T10:00:00+01:00'],
    ["PostgreSQL's text form", '2026-01-01 11:00:00+01', '2026-01-01 10:00:00.5+0100'],
  ])('an occurred_at (%s) whose + was not encoded keeps its +, with a warning: the offset still counts', async (_, newer, older) => {
    const phone = uniquePhone();
    const q = encodeURIComponent(phone);
    expect((await send({ method: 'GET', query: `phone=${q}&name=New&occurred_at=${encodeURIComponent(newer)}` })).status).toBe(200);
    // Written with a bare +, as a tool that does not encode it sends it.
    const res = await send({ method: 'GET', query: `phone=${q}&name=Old&occurred_at=${older.replace(' ', '%20')}` });
    const body = (await res.json()) as any;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ status: 'stale', warnings: ['occurred_at: its + arrived as a space (form encoding reads + so) and was read as +; send it as %2B'] });
    expect(await storedContact(t, phone)).toMatchObject({ name: 'New' });
  });

  it('an email with a space that no + would mend is still refused, and nothing is stored', async () => {
    const phone = uniquePhone();
    const res = await send({ type: 'application/x-www-form-urlencoded', body: `phone=${encodeURIComponent(phone)}&email=john+smith` });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).issues).toEqual([{ path: 'contact.email', message: 'must be an email address' }]);
    expect(await storedContact(t, phone)).toBeNull();
  });

  it('a JSON body sent as form fields (curl -d without -H) is told to say application/json, and nothing is stored', async () => {
    const phone = uniquePhone();
    const res = await send({ type: 'application/x-www-form-urlencoded', body: ` {"contact":{"phone":"${phone}","name":"John Smith"}}` });
    expect(res.status).toBe(400);
    expect((await res.json()) as any).toMatchObject({
      code: 'invalid_payload',
      error: 'the body is JSON, sent as form fields (Content-Type: application/x-www-form-urlencoded, what curl -d sends): send it with Content-Type: application/json',
    });
    expect(await storedContact(t, phone)).toBeNull();
  });

  it('a delete beside a contact whose every field is blank (a form tool sends its unmapped fields) is applied, with a warning', async () => {
    const phone = uniquePhone();
    await send({ method: 'GET', query: `phone=${encodeURIComponent(phone)}&name=Gone` });
    const res = await send({ type: 'application/x-www-form-urlencoded', body: `delete_contact=${encodeURIComponent(phone)}&phone=&name=+&labels=&contact[email]=` });
    const body = (await res.json()) as any;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ operation: 'delete', deleted: { contact: true }, warnings: ['contact: every field empty, taken as not sent'] });
    expect(await storedContact(t, phone)).toBeNull();
    const named = await send({ type: 'application/x-www-form-urlencoded', body: `delete_contact=${encodeURIComponent(phone)}&name=Someone` });
    expect(named.status).toBe(400);
  });

  it('a compressed body (Content-Encoding) is refused with 415 for what it is, on the webhook, bulk and the API; identity is no coding', async () => {
    const phone = uniquePhone();
    const json = JSON.stringify({ contact: { phone, name: 'Zipped' } });
    const post = (path: string, type: string, encoding: string, body: RequestInit['body']) =>
      t.app.request(path, { method: 'POST', headers: { 'content-type': type, 'content-encoding': encoding, authorization: `Bearer ${t.account.apiKey}` }, body });
    const hook = `/webhooks/${t.account.webhookToken}`;
    for (const [path, type, body] of [
      [hook, 'application/json', gzipSync(json)],
      [`${hook}/bulk`, 'application/x-ndjson', gzipSync(`${json}\n`)],
      ['/api/v1/agents', 'application/json', gzipSync(JSON.stringify({ email: 'zipped@company.com', name: 'Z' }))],
    ] as const) {
      const res = await post(path, type, ' GZip', body);
      expect(res.status, path).toBe(415);
      expect(await res.json()).toEqual({ code: 'unsupported_media_type', error: 'the body is compressed (Content-Encoding): send it uncompressed' });
    }
    expect(await storedContact(t, phone)).toBeNull();
    const plain = await post(hook, 'application/json', 'identity', json);
    expect(plain.status).toBe(200);
    expect(await storedContact(t, phone)).toMatchObject({ name: 'Zipped' });
  });

  it('query fields sent beside a body are not read, and the answer says so', async () => {
    const phone = uniquePhone();
    const res = await send({ query: 'assignee=late%40company.com&labels=fromquery', type: 'application/json', body: JSON.stringify({ contact: { phone, name: 'Q' } }) });
    const body = (await res.json()) as Record<string, any>;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ operation: 'upsert', contact: { labels: [] } });
    expect(body.warnings).toEqual(['assignee: in the query string beside a body, not read', 'labels: in the query string beside a body, not read']);
  });

  it('a field name the answer quotes is kept storable: a NUL in it is written \\u0000, and a keyed delivery is applied', async () => {
    const phone = uniquePhone();
    const res = await t.app.request(`/webhooks/${t.account.webhookToken}?%00x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `nul-name-${phone}` },
      body: JSON.stringify({ contact: { phone } }),
    });
    const body = (await res.json()) as Record<string, any>;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.warnings).toEqual(['\\u0000x: in the query string beside a body, not read']);
    expect(await storedContact(t, phone)).not.toBeNull();
  });

  it('fields beside a payload field are not read, and the answer says so', async () => {
    const payload = encodeURIComponent('{"contact":{"phone":"+447400222335","name":"From Payload"}}');
    const res = await send({ type: 'application/x-www-form-urlencoded', body: `payload=${payload}&name=From+Field&assignee=x%40y.co&name=Again` });
    const body = (await res.json()) as Record<string, any>;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ operation: 'upsert', contact: { name: 'From Payload' } });
    expect(body.warnings).toEqual([
      'name: ignored beside the payload field, which holds the whole delivery',
      'assignee: ignored beside the payload field, which holds the whole delivery',
    ]);
  });

  it('HEAD applies nothing: 405 with Allow, and no contact', async () => {
    const res = await send({ method: 'HEAD', query: 'phone=%2B447400222336&name=Head' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, POST');
    expect(await storedContact(t, '+447400222336')).toBeNull();
    const get = await send({ method: 'GET', query: 'phone=%2B447400222336&name=Head' });
    expect(get.status).toBe(200);
  });

  it('PUT, PATCH or DELETE on a webhook URL: 405 with Allow, nothing applied; no 404 repeats the token', async () => {
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      const res = await send({ method, type: 'application/json', body: '{"contact":{"phone":"+447400222337","name":"Put"}}' });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, POST');
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toEqual({ error: `${method} is not allowed here: use GET or POST`, code: 'method_not_allowed' });
    }
    expect(await storedContact(t, '+447400222337')).toBeNull();
    const token = t.account.webhookToken;
    for (const path of [`/webhooks/${token}/nothing`, `//webhooks/${token}`, `/WEBHOOKS/${token}`, `/x/${token}`]) {
      const unknown = await t.app.request(path, { method: 'POST' });
      expect(unknown.status, path).toBe(404);
      expect(await unknown.text(), path).not.toContain(token.slice(4));
    }
  });

  it('flat fields: an unknown field is a warning', async () => {
    const res = await send({ method: 'GET', query: 'phone=%2B447400222334&utm_source=crm' });
    expect(((await res.json()) as any).warnings).toEqual(['utm_source: unknown key, ignored']);
  });

  it('a field sent twice with the same value (phone and contact[phone], as a tool maps it) is read once, with a warning', async () => {
    const phone = uniquePhone();
    const q = encodeURIComponent(phone);
    const res = await send({ type: 'application/x-www-form-urlencoded', body: `phone=${q}&contact%5Bphone%5D=${q}&name=Twice&name=Twice` });
    const body = (await res.json()) as Record<string, any>;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.contact).toMatchObject({ phone, name: 'Twice' });
    expect(body.warnings).toEqual([
      'contact.phone: sent 2 times (as phone and contact[phone]) with the same value, read once',
      'contact.name: sent 2 times with the same value, read once',
    ]);
  });

  it.each([
    ['a name', (q: string) => `phone=${q}&name=Ann&name=Bob`, 'contact.name is sent 2 times with different values: send it once'],
    ['a phone under both its names', (q: string) => `phone=${q}&contact%5Bphone%5D=%2B447400999111`, 'contact.phone is sent 2 times (as phone and contact[phone]) with different values: send it once'],
    ['an assignee', (q: string) => `phone=${q}&assignee=a%40x.co&assignee=b%40x.co`, 'assignee is sent 2 times with different values: send it once'],
    ['the payload field', (q: string) => `payload=${encodeURIComponent(`{"contact":{"phone":"${decodeURIComponent(q)}"}}`)}&payload=%7B%7D`, 'payload is sent 2 times with different values: send it once'],
  ])('%s sent twice with different values is refused (400), naming the field, and nothing is stored', async (_, form, error) => {
    const phone = uniquePhone();
    const res = await send({ type: 'application/x-www-form-urlencoded', body: form(encodeURIComponent(phone)) });
    const body = (await res.json()) as Record<string, any>;
    expect(res.status, JSON.stringify(body)).toBe(400);
    expect(body).toMatchObject({ code: 'invalid_payload', error });
    expect(await storedContact(t, phone)).toBeNull();
  });

  it('labels sent twice are still a list', async () => {
    const phone = uniquePhone();
    const res = await send({ method: 'GET', query: `phone=${encodeURIComponent(phone)}&labels=a&contact%5Blabels%5D=b&labels=a` });
    expect(((await res.json()) as any).contact.labels).toEqual(['a', 'b']);
  });

  it.each([
    ['form fields sent as JSON', 'phone=%2B447911123488&name=Ann', 'the body is form fields (name=value&…), not JSON: send it with Content-Type: application/x-www-form-urlencoded, or send a JSON object'],
    ['a trailing comma', '{"contact":{"phone":"+447911123488"},}', 'the body is not valid JSON: expected double-quoted property name at character 38'],
    ['single quotes', "{'contact':{}}", "the body is not valid JSON: expected property name or '}' at character 2"],
    ['a string cut short', '{"contact":{"phone":"+4479', 'the body is not valid JSON: unterminated string at character 27'],
    ['a body cut short', '{"contact":', 'the body is not valid JSON: it ends too soon'],
    ['a bare word', 'hello', 'the body is not valid JSON'],
  ])('JSON that cannot be read (%s) is told where and why, without quoting it back', async (_, body, error) => {
    const res = await send({ type: 'application/json', body });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'invalid_payload', error });
  });

  it('an empty JSON body, or one of spaces, is told it is empty, as the API tells it, rather than that it is not JSON', async () => {
    for (const body of ['', ' \n']) {
      const res = await send({ type: 'application/json', body });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'invalid_payload', error: 'the body is empty: send a JSON object' });
    }
  });

  const refused: { name: string; init: Parameters<typeof send>[0]; status: number; code: string }[] = [
    { name: 'a raw NUL byte', init: { type: 'application/json', body: '\u0000' }, status: 400, code: 'invalid_payload' },
    { name: 'a NUL in a key', init: { type: 'application/json', body: '{"contact":{"phone":"+447400222333"},"a\\u0000":1}' }, status: 400, code: 'invalid_payload' },
    { name: 'malformed JSON', init: { type: 'application/json', body: '{"contact": {' }, status: 400, code: 'invalid_payload' },
    { name: 'a JSON array', init: { type: 'application/json', body: '[{"contact":{"phone":"+447400222333"}}]' }, status: 400, code: 'invalid_payload' },
    { name: 'JSON null', init: { type: 'application/json', body: 'null' }, status: 400, code: 'invalid_payload' },
    { name: 'an empty JSON object', init: { type: 'application/json', body: '{}' }, status: 400, code: 'invalid_payload' },
    { name: 'payload field that is not JSON', init: { type: 'application/x-www-form-urlencoded', body: 'payload=nope' }, status: 400, code: 'invalid_payload' },
    { name: 'GET with nothing', init: { method: 'GET' }, status: 400, code: 'invalid_payload' },
    { name: 'text/plain', init: { type: 'text/plain', body: '{"contact":{"phone":"+447400222333"}}' }, status: 415, code: 'unsupported_media_type' },
    { name: 'no content type with a body', init: { body: '{"contact":{"phone":"+447400222333"}}' }, status: 415, code: 'unsupported_media_type' },
    { name: 'multipart', init: { type: 'multipart/form-data; boundary=x', body: '--x--' }, status: 415, code: 'unsupported_media_type' },
  ];

  it.each(refused)('$name → $status $code', async ({ init, status, code }) => {
    const res = await send(init);
    expect(res.status).toBe(status);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.code).toBe(code);
    expect(body.error).toEqual(expect.any(String));
  });

  describe('which operation the keys choose', () => {
    it.each([
      ['delete_contact with contact', { delete_contact: PHONE, contact: { phone: PHONE } }],
      ['delete_contact with assignee', { delete_contact: PHONE, assignee: 'a@b.co' }],
      ['assignee alone', { assignee: 'a@b.co' }],
      ['none of them', { name: 'x' }],
      ['contact that is not an object', { contact: 'x' }],
    ])('%s is 400 invalid_payload', async (_name, payload) => {
      const res = await postWebhook(t, payload);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_payload');
      expect(res.body.issues?.[0]?.path).toEqual(expect.any(String));
    });

    it('delete_contact with an invalid phone is 422 invalid_phone', async () => {
      const res = await postWebhook(t, { delete_contact: 'not a phone' });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ code: 'invalid_phone', error: 'delete_contact is not a valid phone number' });
    });
  });

  describe('text that is not UTF-8 is refused, not stored as U+FFFD', () => {
    const send = (body: Uint8Array | string, type: string) =>
      t.app.request(`/webhooks/${t.account.webhookToken}`, { method: 'POST', headers: { 'content-type': type }, body });
    const latin1 = (text: string) => Uint8Array.from(Buffer.from(text, 'latin1'));

    it.each([
      ['a JSON body with a Latin-1 é', () => send(latin1('{"contact":{"phone":"+447400111301","name":"José"}}'), 'application/json'), '+447400111301', 'the body is not UTF-8'],
      ['a form body with a Latin-1 é', () => send(latin1('phone=%2B447400111302&name=José'), 'application/x-www-form-urlencoded'), '+447400111302', 'the body is not UTF-8'],
      ['a form field percent-encoding a Latin-1 é', () => send('phone=%2B447400111303&name=Jos%E9', 'application/x-www-form-urlencoded'), '+447400111303', 'the form fields hold percent-encoded bytes that are not UTF-8'],
      ['a query string percent-encoding a Latin-1 é', () => t.app.request(`/webhooks/${t.account.webhookToken}?phone=%2B447400111304&name=Jos%E9`), '+447400111304', 'the query string holds'],
    ])('%s: 400, nothing applied', async (_, sent, phone, message) => {
      const res = await sent();
      expect(res.status).toBe(400);
      const body = (await res.json()) as { code: string; error: string };
      expect(body.code).toBe('invalid_payload');
      expect(body.error).toContain(message);
      expect(await storedContact(t, phone)).toBeNull();
    });

    it('percent-encoded UTF-8 and a literal % that escapes nothing still work', async () => {
      const res = await send('phone=%2B447400111305&name=Jos%C3%A9+100%', 'application/x-www-form-urlencoded');
      expect(res.status).toBe(200);
      expect((await storedContact(t, '+447400111305'))?.name).toBe('José 100%');
    });
  });
});

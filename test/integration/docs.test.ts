import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, createTestApp, postWebhook, type JsonBody, type TestApp } from '../helpers/app.js';
import { uniquePhone } from '../helpers/fixtures.js';

const root = new URL('../../', import.meta.url);
const packageVersion = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { version: string }).version;

/** The API routes as written in src/routes/api, read from the source rather than from the generator. */
function declaredApiRoutes(): string[] {
  const folder = new URL('src/routes/api/', root);
  return readdirSync(folder)
    .filter((file) => file.endsWith('.ts'))
    .flatMap((file) => [...readFileSync(new URL(file, folder), 'utf8').matchAll(/method:\s*'(\w+)',\s*path:\s*'([^']+)'/g)])
    .map(([, method, path]) => `${method} /api/v1${path}`)
    .sort();
}

/** The routes under /accounts take ADMIN_API_KEY; the others an account's key. */
const isAdminRoute = (path: string) => /^\/api\/v1\/accounts(\/|$)/.test(path);
const WEBHOOK_ERROR_STATUSES = ['400', '401', '408', '409', '413', '415', '422', '429', '431', '500', '503'];
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** As hono/html escapes text and attribute values. */
const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

describe('OpenAPI document and reference page', () => {
  let t: TestApp;
  let doc: JsonBody;
  const schemaRef = (name: string) => `#/components/schemas/${name}`;
  const component = (ref: string) => doc.components.schemas[ref.replace('#/components/schemas/', '')] as JsonBody;
  const operations = () =>
    Object.entries(doc.paths as Record<string, JsonBody>).flatMap(([path, item]) =>
      METHODS.filter((method) => item[method]).map((method) => ({ path, method, op: item[method] as JsonBody })),
    );

  beforeAll(async () => {
    t = await createTestApp('pglite');
    const res = await t.app.request('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    doc = JSON.parse(await res.text()) as JsonBody;
  });
  afterAll(() => t.close());

  describe('GET /openapi.json', () => {
    it('is OpenAPI 3.1 named after the service, with the package version', () => {
      expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
      expect(doc.info).toMatchObject({ title: 'contact-sync', version: packageVersion });
    });

    it('lists exactly the /api/v1 routes declared in src/routes/api, with their prefix', () => {
      const declared = declaredApiRoutes();
      expect(declared.length).toBeGreaterThanOrEqual(15);
      const documented = operations()
        .filter(({ path }) => path.startsWith('/api/v1/'))
        .map(({ method, path }) => `${method} ${path}`)
        .sort();
      expect(documented).toEqual(declared);
      expect(Object.keys(doc.paths).filter((path) => !path.startsWith('/api/v1/') && !path.startsWith('/webhooks/'))).toEqual(['/healthz', '/readyz', '/metrics']);
    });

    it('gives every API route its bearer scheme and a 401 with the error body', () => {
      expect(doc.components.securitySchemes).toMatchObject({ apiKey: { type: 'http', scheme: 'bearer' }, adminKey: { type: 'http', scheme: 'bearer' } });
      for (const { path, method, op } of operations().filter(({ path }) => path.startsWith('/api/v1/'))) {
        expect(op.security, `${method} ${path}`).toEqual([isAdminRoute(path) ? { adminKey: [] } : { apiKey: [] }]);
        expect(op.responses['401']?.content['application/json'].schema, `${method} ${path}`).toEqual({ $ref: schemaRef('Error') });
      }
    });

    it('lists the refusals every API route really gives: 400/413/415 for a body, 400 for an over-long path parameter', async () => {
      const missing: string[] = [];
      for (const { path, method, op } of operations().filter(({ path }) => path.startsWith('/api/v1/'))) {
        const key = isAdminRoute(path) ? ADMIN_KEY : t.account.apiKey;
        const check = async (param: string, status: number, body?: { type: string; text: string }) => {
          const headers = { authorization: `Bearer ${key}`, ...(body ? { 'content-type': body.type } : {}) };
          const res = await t.app.request(path.replace(/\{\w+\}/g, param), { method: method.toUpperCase(), headers, body: body?.text });
          expect(res.status, `${method} ${path} answers ${status}`).toBe(status);
          if (!op.responses[String(status)]) missing.push(`${method} ${path} ${status}`);
        };
        if (path.includes('{')) await check('x'.repeat(1000), 400);
        if (method === 'get') continue;
        await check('x', 400, { type: 'application/json', text: '{bad' });
        await check('x', 415, { type: 'application/x-www-form-urlencoded', text: 'a=b' });
        await check('x', 413, { type: 'application/json', text: JSON.stringify({ pad: 'x'.repeat(300_000) }) });
      }
      expect(missing).toEqual([]);
    });

    it('lists on every API route what any request may be answered: 500, and 503 with Retry-After', () => {
      for (const { path, method, op } of operations().filter(({ path }) => path.startsWith('/api/v1/'))) {
        expect(op.responses['500']?.content['application/json'].schema, `${method} ${path}`).toEqual({ $ref: schemaRef('Error') });
        expect(op.responses['503']?.headers, `${method} ${path}`).toHaveProperty('Retry-After');
      }
    });

    it('documents the operations routes, without a credential, as they answer', async () => {
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        const op = doc.paths[path].get as JsonBody;
        expect(op, path).toMatchObject({ tags: ['operations'], security: [] });
        expect((await t.app.request(path)).status, path).toBe(200);
      }
      expect(doc.paths['/readyz'].get.responses['503'].description).toMatch(/draining.*database unreachable/);
      t.parts.readiness.draining = true;
      try {
        expect(await (await t.app.request('/readyz')).json()).toEqual({ status: 'draining' });
      } finally {
        t.parts.readiness.draining = false;
      }
    });

    it('describes every error response with a body holding error and code (the health checks answer a status of their own)', () => {
      for (const { path, method, op } of operations().filter(({ op }) => !op.tags?.includes('operations'))) {
        for (const [status, response] of Object.entries(op.responses as Record<string, JsonBody>)) {
          if (Number(status) < 400) continue;
          const ref = response.content?.['application/json']?.schema?.$ref as string | undefined;
          expect(ref, `${method} ${path} ${status}`).toBeDefined();
          const schema = component(ref!);
          const properties = { ...schema.properties, ...(schema.allOf ?? []).reduce((all: JsonBody, part: JsonBody) => ({ ...all, ...(part.$ref ? component(part.$ref).properties : part.properties) }), {}) };
          expect(Object.keys(properties), `${method} ${path} ${status}`).toEqual(expect.arrayContaining(['error', 'code']));
        }
      }
    });

    it('documents POST /webhooks/{token} with JSON and form bodies and every status of SPEC §2.3', () => {
      const post = doc.paths['/webhooks/{token}'].post as JsonBody;
      expect(post.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'token', in: 'path', required: true })]));
      expect(post.parameters.map((p: JsonBody) => p.name)).toEqual(expect.arrayContaining(['idempotency-key', 'webhook-id', 'webhook-timestamp', 'webhook-signature']));
      // Optional: a POST without a body is read from its query string.
      expect(post.requestBody.required).toBe(false);
      expect(post.requestBody.content['application/json'].schema).toEqual({ $ref: schemaRef('WebhookPayload') });
      expect(post.requestBody.content['application/json'].examples.upsert.value.contact.labels).toBe('subscriber, trialing');
      expect(post.requestBody.content['application/x-www-form-urlencoded'].schema).toEqual({ $ref: schemaRef('WebhookFields') });
      expect(Object.keys(component(schemaRef('WebhookPayload')).properties).sort()).toEqual(
        ['assignee', 'contact', 'delete_contact', 'inviteNewContacts', 'occurred_at', 'overrideLabels', 'removeLabels'].sort(),
      );
      expect(component(schemaRef('WebhookContact')).required).toEqual(['phone']);
      expect(Object.keys(post.responses).sort()).toEqual(['200', ...WEBHOOK_ERROR_STATUSES].sort());
      expect(post.responses['200'].content['application/json'].schema).toEqual({ $ref: schemaRef('WebhookResult') });
      for (const status of WEBHOOK_ERROR_STATUSES) {
        expect(post.responses[status].content['application/json'].schema).toEqual({ $ref: schemaRef('WebhookError') });
      }
      expect(post.responses['422'].description).toMatch(/invalid_phone, unknown_assignee, external_id_taken, idempotency_key_reused, limit_exceeded/);
      for (const status of ['409', '429', '503']) expect(post.responses[status].headers).toHaveProperty('Retry-After');
      // What Node refuses itself is documented with the code its body carries.
      expect(post.responses['408'].description).toMatch(/^unavailable: .*REQUEST_TIMEOUT_MS/);
      expect(post.responses['431'].description).toMatch(/^payload_too_large: .*16 KiB/);
      // A refusal is stored under its key too, and replayed as a success is.
      for (const status of ['200', '400', '422']) expect(post.responses[status].headers, status).toHaveProperty('Idempotent-Replayed');
      expect(post.security).toEqual([]);
    });

    it('documents GET /webhooks/{token} with the flat fields as query parameters', () => {
      const get = doc.paths['/webhooks/{token}'].get as JsonBody;
      const query = get.parameters.filter((p: JsonBody) => p.in === 'query').map((p: JsonBody) => p.name);
      expect(query).toEqual(expect.arrayContaining(['payload', 'phone', 'contact[phone]', 'name', 'labels', 'overrideLabels', 'delete_contact', 'assignee', 'occurred_at']));
      expect(Object.keys(get.responses).sort()).toEqual(['200', ...WEBHOOK_ERROR_STATUSES].sort());
    });

    it('documents POST /webhooks/{token}/bulk with NDJSON both ways, and what refuses a request as a whole', async () => {
      const bulk = doc.paths['/webhooks/{token}/bulk'].post as JsonBody;
      expect(bulk.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'token', in: 'path', required: true })]));
      // Every name the route takes NDJSON under.
      expect(Object.keys(bulk.requestBody.content)).toEqual(['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/json-lines', 'application/x-jsonlines']);
      expect(Object.keys(bulk.responses).sort()).toEqual(['200', '400', '401', '408', '413', '415', '429', '431', '500', '503']);
      expect(bulk.responses['200'].content['application/x-ndjson'].schema.anyOf).toEqual([{ $ref: schemaRef('WebhookBulkLine') }, { $ref: schemaRef('WebhookBulkSummary') }, { $ref: schemaRef('WebhookBulkEnd') }]);
      // The line that ends a request early is an error body: what the stalled-upload test receives.
      expect(doc.components.schemas.WebhookBulkEnd.required).toEqual(['error', 'code']);
      expect(bulk.responses['503'].description).toMatch(/16 bulk requests \(2 of the account.s, 4 signed ones being spooled\)/);
      expect(bulk.security).toEqual([]);

      // What a real request answers: a result line, a refused line, the summary.
      const res = await t.app.request(`/webhooks/${t.account.webhookToken}/bulk`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: `${JSON.stringify({ contact: { phone: uniquePhone() } })}\n${JSON.stringify({ contact: { phone: 'nope' } })}\n`,
      });
      const [applied, refused, summary] = (await res.text()).trim().split('\n').map((line) => JSON.parse(line) as JsonBody);
      const line = component(schemaRef('WebhookBulkLine')).allOf as JsonBody[];
      expect(line).toEqual(expect.arrayContaining([expect.objectContaining({ properties: { line: expect.objectContaining({ type: 'integer' }) } })]));
      expect(Object.keys(applied!)).toEqual(expect.arrayContaining(['line', ...component(schemaRef('WebhookUpsertResult')).required]));
      expect(Object.keys(refused!)).toEqual(expect.arrayContaining(['line', 'delivery_id', ...component(schemaRef('Error')).required]));
      expect(Object.keys(summary!.summary).sort()).toEqual(Object.keys(component(schemaRef('WebhookBulkSummary')).properties.summary.properties).sort());
    });

    it('has no $ref to a schema it does not define', () => {
      const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map(([, ref]) => ref!);
      expect(refs.length).toBeGreaterThan(20);
      for (const ref of new Set(refs)) expect(component(ref), ref).toBeDefined();
    });

    it('matches what the webhook really answers', async () => {
      const phone = uniquePhone();
      const key = { headers: { 'Idempotency-Key': `docs-${phone}` } };
      const upsert = await postWebhook(t, { contact: { phone, name: 'Ann', labels: 'a' } }, key);
      const removal = await postWebhook(t, { delete_contact: phone });
      const refusal = await postWebhook(t, { contact: { phone: 'not a phone' } });
      // Replayed once its contact is deleted, the upsert's answer comes back without the contact.
      const replay = await postWebhook(t, { contact: { phone, name: 'Ann', labels: 'a' } }, key);
      expect([upsert.status, removal.status, refusal.status, replay.status]).toEqual([200, 200, 422, 200]);
      expect(replay.body.contact).toBeUndefined();
      const check = (body: JsonBody, name: string) => {
        const schema = component(schemaRef(name));
        const properties = schema.properties ?? Object.assign({}, ...schema.allOf.map((part: JsonBody) => (part.$ref ? component(part.$ref).properties : part.properties)));
        expect(Object.keys(properties), name).toEqual(expect.arrayContaining(Object.keys(body)));
        expect(Object.keys(body), name).toEqual(expect.arrayContaining(schema.required ?? []));
      };
      check(upsert.body, 'WebhookUpsertResult');
      check(replay.body, 'WebhookUpsertResult');
      check(upsert.body.contact, 'WebhookContactResult');
      check(removal.body, 'WebhookDeleteResult');
      check(refusal.body, 'WebhookError');
    });
  });

  describe('GET /docs', () => {
    let page: string;
    let res: Response;
    beforeAll(async () => {
      res = await t.app.request('/docs');
      page = await res.text();
    });

    it('is an HTML page that nothing outside the service can feed', () => {
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
      expect(page).toMatch(/^<!doctype html>/i);
    });

    it('lists every path and method of the document, with its summary', () => {
      for (const { path, method, op } of operations()) {
        expect(page).toContain(`<span class="method ${method}">${method}</span> <code>${escapeHtml(path)}</code>`);
        expect(page).toContain(escapeHtml(op.summary));
      }
      for (const name of Object.keys(doc.components.schemas)) expect(page).toContain(`id="schema-${name}"`);
    });

    it('shows parameters, request bodies and responses', () => {
      expect(page).toContain('<code>contact[phone]</code>');
      expect(page).toContain('<code>application/x-www-form-urlencoded</code>');
      expect(page).toContain('<code>422</code>');
      expect(page).toContain('unknown_assignee');
    });

    it('loads nothing from anywhere: every link and source is on this page or this service', () => {
      const targets = [...page.matchAll(/\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?([^"'\s>]*)/gi)].map(([, target]) => target!);
      expect(targets.length).toBeGreaterThan(10);
      for (const target of targets) expect(target, target).toMatch(/^(#|\/(?!\/))/);
      expect(page).not.toMatch(/<script|@import|url\(|<link|<iframe|<img/i);
    });

    it('escapes what it shows', () => {
      expect(page).toContain('v1,&lt;base64 HMAC-SHA256');
      expect(page).not.toContain('<base64');
      expect(page).toContain('&quot;delete_contact&quot;: &quot;+447911123456&quot;');
    });
  });

  describe('the service root', () => {
    it('sends a browser to the pages', async () => {
      const res = await t.app.request('/', { headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe('/ui');
    });

    it('tells anything else where things are, and each place it names answers', async () => {
      const res = await t.app.request('/', { headers: { accept: '*/*' } });
      expect(res.status).toBe(200);
      const index = (await res.json()) as Record<string, string>;
      expect(index.service).toBe('contact-sync');
      for (const key of ['docs', 'openapi', 'health', 'ready', 'metrics']) {
        const path = index[key]!;
        expect((await t.app.request(path)).status, path).toBe(200);
      }
      expect((await t.app.request(index.pages!)).status).toBe(303);
      expect(index.api).toMatch(/^\/api\/v1 /);
    });
  });
});

import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { contacts, deliveries, uiSessions } from '../../src/db/schema.js';
import { safeHref } from '../../src/ui/links.js';
import { callApi, createTestApp, postWebhook, testDatabases, type TestAccount, type TestApp } from '../helpers/app.js';
import { uniquePhone } from '../helpers/fixtures.js';

const ORIGIN = 'http://localhost';
const HOSTILE = '<img src=x onerror="window.__xss=1">';

/** What a browser keeps between requests: cookies, by name. */
class Visitor {
  readonly cookies = new Map<string, string>();
  constructor(private readonly t: TestApp) {}

  async request(path: string, init: { method?: string; form?: Record<string, string>; origin?: string | null; base?: string; referer?: string } = {}) {
    const headers: Record<string, string> = init.referer ? { referer: init.referer } : {};
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    if (init.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const origin = init.origin === undefined ? (init.base ?? ORIGIN) : init.origin;
    if (init.method === 'POST' && origin !== null) headers.origin = origin;
    const res = await this.t.app.request(`${init.base ?? ORIGIN}${path}`, {
      method: init.method ?? 'GET',
      headers,
      body: init.form ? new URLSearchParams(init.form).toString() : undefined,
    });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const [name, value] = pair!.split('=') as [string, string];
      if (value === '' || /max-age=0/i.test(cookie)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: res.status, headers: res.headers, html: await res.text() };
  }

  post(path: string, form: Record<string, string>, init: { origin?: string | null; base?: string; referer?: string } = {}) {
    return this.request(path, { method: 'POST', form, ...init });
  }

  /** The login form, then the key; answers the POST. */
  async logIn(apiKey: string) {
    const page = await this.request('/ui/login');
    return this.post('/ui/login', { _csrf: csrfOf(page.html), api_key: apiKey });
  }

  /** The CSRF token from a signed-in page. */
  async csrf(path = '/ui/contacts') {
    return csrfOf((await this.request(path)).html);
  }
}

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const hrefsOf = (html: string) => [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!.replaceAll('&amp;', '&'));

describe.each(testDatabases())('web pages on %s', (kind) => {
  let t: TestApp;
  let account: TestAccount;
  let visitor: Visitor;
  beforeAll(async () => {
    t = await createTestApp(kind);
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    account = await t.newAccount();
    visitor = new Visitor(t);
  });
  const webhook = (payload: unknown) => postWebhook(t, payload, { token: account.webhookToken });
  const signedIn = async () => {
    expect((await visitor.logIn(account.apiKey)).status).toBe(303);
    return visitor;
  };

  describe('login', () => {
    it('shows a form with one password field named api_key, with the security headers', async () => {
      const res = await visitor.request('/ui/login');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.html).toMatch(/^<!doctype html>/);
      expect(res.html.match(/<input[^>]*type="password"[^>]*>/g)).toEqual([expect.stringContaining('name="api_key"')]);
      expect(res.headers.get('content-security-policy')).toBe(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('same-origin');
    });

    it('refuses a wrong key with 401 and the form again, setting no session', async () => {
      const res = await visitor.logIn('csk_not-a-real-key');
      expect(res.status).toBe(401);
      expect(res.html).toContain('That API key is not valid.');
      expect(res.html).toContain('name="api_key"');
      expect(visitor.cookies.has('cs_session')).toBe(false);
      expect((await visitor.request('/ui/contacts')).status).toBe(303);
    });

    it('accepts the right key: an HttpOnly, SameSite, /ui-scoped session cookie that is not the key, then 303 to the contacts', async () => {
      const res = await visitor.logIn(account.apiKey);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/ui/contacts');
      const cookie = res.headers.getSetCookie().find((c) => c.startsWith('cs_session='))!;
      expect(cookie).toMatch(/; HttpOnly/);
      expect(cookie).toMatch(/; SameSite=Lax/);
      expect(cookie).toMatch(/; Path=\/ui(;|$)/);
      expect(cookie).not.toMatch(/; Secure/);
      expect(cookie).not.toContain(account.apiKey);
      expect(visitor.cookies.get('cs_session')).not.toContain(account.apiKey.slice(4));
      // Only a hash of the session token is stored.
      const [row] = await t.database.db.select().from(uiSessions).where(eq(uiSessions.accountId, account.id));
      expect(row!.idHash).toMatch(/^[0-9a-f]{64}$/);
      expect(row!.idHash).not.toBe(visitor.cookies.get('cs_session'));
      expect((await visitor.request('/ui/contacts')).status).toBe(200);
    });

    it('marks the cookie Secure when the request came over https', async () => {
      const page = await visitor.request('/ui/login', { base: 'https://localhost' });
      const res = await visitor.post('/ui/login', { _csrf: csrfOf(page.html), api_key: account.apiKey }, { base: 'https://localhost' });
      expect(res.status).toBe(303);
      expect(res.headers.getSetCookie().find((c) => c.startsWith('cs_session='))).toMatch(/; Secure/);
    });

    it('sends a visitor already signed in from the form to the contacts', async () => {
      await signedIn();
      const res = await visitor.request('/ui/login');
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/ui/contacts');
    });

    it('ends every session of the account when its API key is rotated, as the key may have leaked', async () => {
      await signedIn();
      const other = await t.newAccount();
      const bystander = new Visitor(t);
      expect((await bystander.logIn(other.apiKey)).status).toBe(303);
      expect((await visitor.request('/ui/contacts')).status).toBe(200);

      expect((await callApi(t, 'POST', '/account/api-key/rotate', { key: account.apiKey })).status).toBe(200);
      const after = await visitor.request('/ui/contacts');
      expect(after.status).toBe(303);
      expect(after.headers.get('location')).toMatch(/^\/ui\/login/);
      expect((await bystander.request('/ui/contacts')).status).toBe(200);
    });
  });

  describe('without a session', () => {
    it.each(['/ui', '/ui/contacts', '/ui/contacts/%2B447400000001', '/ui/deliveries?status=refused', '/ui/no-such-page'])(
      'GET %s redirects to the login form, which leads back to it',
      async (path) => {
        const res = await visitor.request(path);
        expect(res.status).toBe(303);
        expect(res.headers.get('location')).toBe(`/ui/login?${new URLSearchParams({ next: path })}`);
        expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
        const form = await visitor.request(res.headers.get('location')!);
        expect(form.html).toContain(`name="next" value="${path.replaceAll('&', '&amp;')}"`);
        expect(form.html).not.toContain('session has ended');
        const login = await visitor.post('/ui/login', { _csrf: csrfOf(form.html), api_key: account.apiKey, next: path });
        expect(login.headers.get('location')).toBe(path);
      },
    );

    it.each(['https://evil.example/', '//evil.example/ui/', '/\\evil.example', '/api/v1/account', '/uix', 'javascript:alert(1)', '/ui/../..//evil.example', '/ui/..//evil.example/ui', '/ui/../api/v1/account', '/ui/./login'])('never leads anywhere but a page: next=%s goes to the contacts', async (next) => {
      const form = await visitor.request(`/ui/login?${new URLSearchParams({ next })}`);
      expect(form.html).not.toContain('name="next"');
      const login = await visitor.post('/ui/login', { _csrf: csrfOf(form.html), api_key: account.apiKey, next });
      expect(login.headers.get('location')).toBe('/ui/contacts');
    });

    it('a made-up or expired session cookie is refused and cleared, and the form says the session has ended', async () => {
      visitor.cookies.set('cs_session', 'uis_made-up');
      const res = await visitor.request('/ui/contacts');
      expect(res.status).toBe(303);
      expect(visitor.cookies.has('cs_session')).toBe(false);
      expect((await visitor.request(res.headers.get('location')!)).html).toContain('Your session has ended. Sign in again to go on.');

      await signedIn();
      await t.database.db.update(uiSessions).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(uiSessions.accountId, account.id));
      const expired = await visitor.request('/ui/deliveries');
      expect(expired.headers.get('location')).toBe('/ui/login?next=%2Fui%2Fdeliveries&ended=1');
    });

    it('POSTs redirect too, replay applies nothing, and the form says the form was not acted on', async () => {
      const refused = await webhook({ contact: { phone: 'nope' } });
      await signedIn();
      const token = await visitor.csrf('/ui/deliveries');
      await t.database.db.update(uiSessions).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(uiSessions.accountId, account.id));
      const res = await visitor.post(`/ui/deliveries/${refused.body.delivery_id}/replay`, { _csrf: token }, { referer: `${ORIGIN}/ui/deliveries?status=refused` });
      expect(res.status).toBe(303);
      // Back to the page the form was on, as the browser's Referer names it.
      expect(res.headers.get('location')).toBe('/ui/login?next=%2Fui%2Fdeliveries%3Fstatus%3Drefused&ended=form');
      expect((await visitor.request(res.headers.get('location')!)).html).toContain('so the form you sent was not acted on');
      expect(await t.database.db.select().from(deliveries).where(eq(deliveries.accountId, account.id))).toHaveLength(1);
    });

    it('serves the stylesheet', async () => {
      const res = await visitor.request('/ui/style.css');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/css; charset=utf-8');
      expect(res.html).toContain('@media (max-width: 640px)');
    });
  });

  describe('logout', () => {
    it('ends the session: a copy of the old cookie no longer opens any page', async () => {
      await signedIn();
      const copied = visitor.cookies.get('cs_session')!;
      const res = await visitor.post('/ui/logout', { _csrf: await visitor.csrf() });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/ui/login');
      expect(res.headers.getSetCookie().find((c) => c.startsWith('cs_session='))).toMatch(/Max-Age=0/);
      expect(visitor.cookies.has('cs_session')).toBe(false);

      const thief = new Visitor(t);
      thief.cookies.set('cs_session', copied);
      const after = await thief.request('/ui/contacts');
      expect(after.status).toBe(303);
      expect(after.headers.get('location')).toBe('/ui/login?next=%2Fui%2Fcontacts&ended=1');
      expect(await t.database.db.select().from(uiSessions).where(eq(uiSessions.accountId, account.id))).toHaveLength(0);
    });

    it('leads to the login form as any logout does once the session has ended, not to "sign in and send it again"', async () => {
      await signedIn();
      const token = await visitor.csrf();
      await t.database.db.update(uiSessions).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(uiSessions.accountId, account.id));
      const res = await visitor.post('/ui/logout', { _csrf: token }, { referer: `${ORIGIN}/ui/contacts` });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/ui/login');
      expect(visitor.cookies.has('cs_session')).toBe(false);
      expect((await visitor.request('/ui/login')).html).not.toContain('not acted on');
    });

    it('ends only that session', async () => {
      await signedIn();
      const other = new Visitor(t);
      await other.logIn(account.apiKey);
      await visitor.post('/ui/logout', { _csrf: await visitor.csrf() });
      expect((await other.request('/ui/contacts')).status).toBe(200);
    });
  });

  describe('CSRF', () => {
    it('refuses a logout without the token (403) and the session lives on', async () => {
      await signedIn();
      const res = await visitor.post('/ui/logout', {});
      expect(res.status).toBe(403);
      expect(res.html).toContain('Form refused');
      expect((await visitor.request('/ui/contacts')).status).toBe(200);
    });

    it('refuses a token from another session', async () => {
      await signedIn();
      const other = new Visitor(t);
      await other.logIn(account.apiKey);
      expect((await visitor.post('/ui/logout', { _csrf: await other.csrf() })).status).toBe(403);
    });

    it('refuses a login without the token, or with one not matching its cookie (403)', async () => {
      await visitor.request('/ui/login');
      expect((await visitor.post('/ui/login', { api_key: account.apiKey })).status).toBe(403);
      expect((await visitor.post('/ui/login', { api_key: account.apiKey, _csrf: 'guessed-token-guessed-token-guessed' })).status).toBe(403);
      expect(visitor.cookies.has('cs_session')).toBe(false);
    });

    it('refuses a form posted from another site even with the right token (Origin check)', async () => {
      await signedIn();
      const token = await visitor.csrf();
      const res = await visitor.post('/ui/logout', { _csrf: token }, { origin: 'https://evil.example' });
      expect(res.status).toBe(403);
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect((await visitor.post('/ui/logout', { _csrf: token }, { origin: null })).status).toBe(403);
      expect((await visitor.request('/ui/contacts')).status).toBe(200);
    });

    it('answers a form body that cannot be read (broken multipart) with a 400 page, signed in or not', async () => {
      await signedIn();
      const broken = (path: string, cookie?: string) =>
        t.app.request(`${ORIGIN}${path}`, {
          method: 'POST',
          headers: { origin: ORIGIN, 'content-type': 'multipart/form-data; boundary=zzz', ...(cookie ? { cookie } : {}) },
          body: '--zzz\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\nno end',
        });
      const cookie = [...visitor.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
      for (const res of [await broken('/ui/logout', cookie), await broken('/ui/login')]) {
        expect(res.status).toBe(400);
        expect(await res.text()).toContain('could not be read');
      }
      expect((await visitor.request('/ui/contacts')).status).toBe(200);
    });

    it('answers a form over 16 KiB with a 413 page that closes its connection, the body being left unread', async () => {
      const res = await t.app.request(`${ORIGIN}/ui/login`, {
        method: 'POST',
        headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
        body: `api_key=${'k'.repeat(20_000)}`,
      });
      expect(res.status).toBe(413);
      expect(res.headers.get('connection')).toBe('close');
      expect(await res.text()).toContain('The form sent more than this page accepts.');
    });

    it('refuses a replay without the token, replaying nothing', async () => {
      await signedIn();
      const refused = await webhook({ contact: { phone: 'nope' } });
      expect((await visitor.post(`/ui/deliveries/${refused.body.delivery_id}/replay`, {})).status).toBe(403);
      expect(await t.database.db.select().from(deliveries).where(eq(deliveries.accountId, account.id))).toHaveLength(1);
    });
  });

  describe('contacts', () => {
    it('/ui/ with its slash leads to the pages as /ui does', async () => {
      await signedIn();
      for (const path of ['/ui', '/ui/']) {
        const res = await visitor.request(path);
        expect(res.status, path).toBe(303);
        expect(res.headers.get('location'), path).toBe('/ui/contacts');
      }
    });

    it('links a contact back to the list as it was left (search, label, page), and only to the contact list', async () => {
      const phone = uniquePhone();
      await webhook({ contact: { phone, name: 'Back Link', labels: 'returning' } });
      await signedIn();
      const list = '/ui/contacts?q=Back+Link&label=returning';
      const { html } = await visitor.request(list);
      const profile = `/ui/contacts/${encodeURIComponent(phone)}?${new URLSearchParams({ list })}`;
      expect(html).toContain(`href="${profile.replaceAll('&', '&amp;')}"`);
      expect((await visitor.request(profile)).html).toContain(`<a href="${list.replaceAll('&', '&amp;')}">← Contacts</a>`);
      // From the unfiltered list, the plain link; a list= that is not the contact list is not followed.
      expect((await visitor.request('/ui/contacts')).html).toContain(`href="/ui/contacts/${encodeURIComponent(phone)}"`);
      for (const other of ['/ui/deliveries', 'https://evil.example/ui/contacts', '//evil.example/ui/contacts', '/ui/contacts/../deliveries']) {
        const res = await visitor.request(`/ui/contacts/${encodeURIComponent(phone)}?${new URLSearchParams({ list: other })}`);
        expect(res.html, other).toContain('<a href="/ui/contacts">← Contacts</a>');
      }
    });

    it('keeps the longest search the form takes in the back link, and through a sign-in', async () => {
      const phone = uniquePhone();
      const [name, label] = ['日'.repeat(200), 'ü'.repeat(100)];
      await webhook({ contact: { phone, name, labels: [label] } });
      await signedIn();
      const list = `/ui/contacts?${new URLSearchParams({ q: name, label })}`;
      const profile = `/ui/contacts/${encodeURIComponent(phone)}?${new URLSearchParams({ list })}`;
      expect((await visitor.request(list)).html).toContain(`href="${profile.replaceAll('&', '&amp;')}"`);
      expect((await visitor.request(profile)).html).toContain(`<a href="${list.replaceAll('&', '&amp;')}">← Contacts</a>`);
      await t.database.db.update(uiSessions).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(uiSessions.accountId, account.id));
      const away = await visitor.request(profile);
      expect(new URL(away.headers.get('location')!, ORIGIN).searchParams.get('next')).toBe(profile);
    });

    it('lists, searches by name, phone, email and external id, and filters by label', async () => {
      const [a, b] = [uniquePhone(), uniquePhone()];
      await webhook({ contact: { phone: a, name: 'Ann Archer', email: 'ann@example.com', external_id: 'crm-1', labels: 'VIP, trial' } });
      await webhook({ contact: { phone: b, name: 'Bob Baker', labels: 'trial' } });
      await signedIn();
      const names = async (query: string) => {
        const { html } = await visitor.request(`/ui/contacts${query}`);
        return ['Ann Archer', 'Bob Baker'].filter((name) => html.includes(name));
      };
      expect(await names('')).toEqual(['Ann Archer', 'Bob Baker']);
      expect(await names('?q=archer')).toEqual(['Ann Archer']);
      expect(await names(`?q=${encodeURIComponent(b)}`)).toEqual(['Bob Baker']);
      expect(await names('?q=ann%40example')).toEqual(['Ann Archer']);
      expect(await names('?q=crm-1')).toEqual(['Ann Archer']);
      expect(await names('?label=vip')).toEqual(['Ann Archer']);
      expect(await names('?label=trial&q=bob')).toEqual(['Bob Baker']);

      // Latin-1 escapes are refused, as on the API, not searched for as U+FFFD.
      const latin1 = await visitor.request('/ui/contacts?q=Ann%E9');
      expect(latin1.status).toBe(400);
      expect(latin1.html).toContain('percent-encoded bytes that are not UTF-8');
      // A NUL, which PostgreSQL text cannot hold, is the API's refusal told as a sentence.
      const nul = await visitor.request('/ui/contacts?q=Ann%00');
      expect(nul.status).toBe(400);
      expect(nul.html).toContain('<p>The request holds text PostgreSQL cannot store');

      const { html } = await visitor.request('/ui/contacts');
      expect(hrefsOf(html)).toContain(`/ui/contacts/${encodeURIComponent(a)}`);
      expect(html).toContain('<a class="chip" href="/ui/contacts?label=VIP">VIP</a>');
    });

    it('pages with next links on the API’s cursor', async () => {
      const phones = Array.from({ length: 52 }, () => uniquePhone());
      for (const phone of phones) await webhook({ contact: { phone, labels: 'bulk' } });
      await signedIn();
      const first = await visitor.request('/ui/contacts?label=bulk');
      const next = hrefsOf(first.html).find((href) => href.includes('cursor='))!;
      expect(next).toMatch(/^\/ui\/contacts\?label=bulk&cursor=/);
      // Newest first: the first page holds the last 50 sent, the second the first two.
      const shown = (html: string) => phones.filter((p) => html.includes(p)).sort((a, b) => html.indexOf(a) - html.indexOf(b));
      expect(shown(first.html)).toEqual(phones.slice(2).reverse());
      const second = await visitor.request(next);
      expect(shown(second.html)).toEqual(phones.slice(0, 2).reverse());
      expect(hrefsOf(second.html).some((href) => href.includes('cursor='))).toBe(false);
      expect(hrefsOf(second.html)).toContain('/ui/contacts?label=bulk');
      expect((await visitor.request('/ui/contacts?cursor=bm9wZQ')).status).toBe(400);
    });

    it('pages back with a previous link: from the third page to the second, from the second to the first', async () => {
      const phones = Array.from({ length: 102 }, () => uniquePhone());
      for (const phone of phones) await webhook({ contact: { phone, labels: 'paged back' } });
      await signedIn();
      const link = (html: string, rel: string) => html.match(new RegExp(`<a href="([^"]*)" rel="${rel}">`))?.[1]?.replaceAll('&amp;', '&');
      const first = await visitor.request('/ui/contacts?label=paged+back');
      expect(link(first.html, 'prev')).toBeUndefined();
      const secondHref = link(first.html, 'next')!;
      const second = await visitor.request(secondHref);
      const thirdHref = link(second.html, 'next')!;
      const third = await visitor.request(thirdHref);
      // Newest first: 102 make pages of 50, 50 and 2.
      expect(phones.filter((phone) => third.html.includes(phone))).toEqual(phones.slice(0, 2));
      expect(link(third.html, 'prev')).toBe(secondHref);
      expect(third.html).toContain('⇤ First page');
      // From the second page the previous one is the first: one link to it, not two.
      expect(link(second.html, 'prev')).toBe('/ui/contacts?label=paged+back');
      expect(second.html).not.toContain('First page');
      // The last page's contacts deleted before its link is followed: the page is empty, not the account.
      for (const phone of phones.slice(0, 2)) await webhook({ delete_contact: phone });
      const emptied = await visitor.request(thirdHref);
      expect(emptied.html).toContain('Nothing on this page: the list ends before it.');
      expect(emptied.html).not.toContain('No contacts yet');
    });

    it('shows the profile: details, labels as chips, sections with their items, attributes, conversations with their assignee', async () => {
      const phone = uniquePhone();
      await callApi(t, 'POST', '/agents', { key: account.apiKey, body: { email: 'agent@company.com', name: 'Agent' } });
      await callApi(t, 'POST', '/conversations', { key: account.apiKey, body: { phone, subject: 'Billing question' } });
      await webhook({
        contact: {
          phone,
          name: 'John Smith',
          email: 'john@example.com',
          external_id: 'crm-42',
          labels: 'subscriber, trialing',
          custom_attributes: { seats: 3, plan: 'gold', 'Account manager': 'Ann' },
          enhanced_data: {
            'Outstanding payments': [{ text: 'INV-2812381_456', description: 'Since 13 Aug 2024', link: 'www.google.com' }],
            Orders: [{ text: 'A-1' }, { text: 'A-2', link: 'mailto:orders@example.com' }],
          },
        },
        assignee: 'agent@company.com',
      });
      await signedIn();
      const res = await visitor.request(`/ui/contacts/${encodeURIComponent(phone)}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      for (const text of ['John Smith', phone, 'john@example.com', 'crm-42', 'Outstanding payments', 'INV-2812381_456', 'Since 13 Aug 2024', 'Orders', 'A-1', 'A-2', 'agent@company.com', 'Billing question']) {
        expect(res.html).toContain(text);
      }
      expect(res.html).toContain('<a class="chip" href="/ui/contacts?label=subscriber">subscriber</a>');
      // Attributes by name, whatever order jsonb keeps them in (shortest key first).
      expect(res.html).toMatch(/<dt>Account manager<\/dt><dd>Ann<\/dd><dt>plan<\/dt><dd>gold<\/dd><dt>seats<\/dt><dd>3<\/dd>/);
      expect(res.html).toContain('<a class="text" href="https://www.google.com" target="_blank" rel="noopener noreferrer">INV-2812381_456<span class="visually-hidden"> (opens in a new tab)</span></a>');
      // A mailto or tel link hands over to another app: a new tab for it would stay behind empty.
      expect(res.html).toContain('<a class="text" href="mailto:orders@example.com" rel="noopener noreferrer">A-2</a>');
      // Any accepted form of the phone finds the contact.
      expect((await visitor.request(`/ui/contacts/${encodeURIComponent(`0${phone.slice(3)}`)}`)).status).toBe(200);
      expect((await visitor.request('/ui/contacts/%2B447400999999')).status).toBe(404);
      // Two sections: no links to them, the page is short.
      expect(res.html).not.toContain('aria-label="On this page"');
    });

    it('starts a profile of many sections with links to each and to what follows them', async () => {
      const phone = uniquePhone();
      const titles = ['Orders', 'Invoices', 'Tickets', 'Notes <b>'];
      await webhook({ contact: { phone, enhanced_data: Object.fromEntries(titles.map((title) => [title, [{ text: `${title} item` }]])) } });
      await signedIn();
      const { html } = await visitor.request(`/ui/contacts/${encodeURIComponent(phone)}`);
      const nav = html.match(/<nav class="jump card" aria-label="On this page">[^]*?<\/nav>/)![0];
      const targets = [...nav.matchAll(/href="#([^"]+)">([^<]*)</g)].map(([, id, text]) => [id, text]);
      expect(targets).toEqual([...titles.map((title, i) => [`section-${i + 1}`, title.replace('<', '&lt;').replace('>', '&gt;')]), ['custom-attributes', 'Custom attributes'], ['conversations', 'Conversations']]);
      for (const [id] of targets) expect(html).toContain(`id="${id}"`);
    });

    it('escapes a hostile name, labels, section and attribute text everywhere', async () => {
      const phone = uniquePhone();
      await webhook({
        contact: {
          phone,
          name: HOSTILE,
          email: 'x@example.com',
          external_id: '"><script>alert(1)</script>',
          labels: ['<b>bold</b>'],
          custom_attributes: { '<i>key</i>': '</dd><script>alert(2)</script>' },
          enhanced_data: { '<script>alert(3)</script>': [{ text: '<svg onload=alert(4)>', description: '<iframe src=//evil>', link: 'https://e.com/"onmouseover="alert(5)' }] },
        },
      });
      await signedIn();
      for (const path of ['/ui/contacts', `/ui/contacts/${encodeURIComponent(phone)}`]) {
        const { html } = await visitor.request(path);
        expect(html).not.toMatch(/<(img|script|svg|iframe|b|i)[\s>]/);
        expect(html).not.toContain('"onmouseover');
        expect(html).toContain('&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;');
      }
      const { html } = await visitor.request(`/ui/contacts/${encodeURIComponent(phone)}`);
      expect(html).toContain('<title>&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt; · contact-sync</title>');
      expect(html).toContain('&lt;script&gt;alert(3)&lt;/script&gt;');
      expect(html).toContain('&lt;/dd&gt;&lt;script&gt;alert(2)&lt;/script&gt;');
    });

    it('renders only http(s), mailto and tel links as href, whatever is in the database', async () => {
      const phone = uniquePhone();
      await webhook({ contact: { phone, name: 'Links' } });
      const links = [
        'javascript:alert(1)',
        ' JaVaScRiPt:alert(1)',
        'java\tscript:alert(1)',
        'data:text/html,<script>alert(1)</script>',
        'vbscript:msgbox(1)',
        'ftp://files.example.com',
        '//evil.example',
        'www.google.com',
        'https://example.com/a?b=1&c=2',
        'http://example.org',
        'mailto:someone@example.com',
        'tel:+447911123456',
      ];
      // Written straight to the table: the webhook would refuse the bad ones, the page must not trust that.
      await t.database.db
        .update(contacts)
        .set({ enhancedData: [{ title: 'Links', items: links.map((link, i) => ({ text: `item ${i}`, link })) }] })
        .where(eq(contacts.phone, phone));
      await signedIn();
      const { html } = await visitor.request(`/ui/contacts/${encodeURIComponent(phone)}`);
      // The page's own links (its pages, the skip link to its content) aside.
      const rendered = hrefsOf(html).filter((href) => !href.startsWith('/ui/') && href !== '#main');
      expect(rendered).toEqual(['https://www.google.com', 'https://example.com/a?b=1&c=2', 'http://example.org', 'mailto:someone@example.com', 'tel:+447911123456']);
      expect(html).toContain('<span class="text">item 0</span><span class="link">javascript:alert(1)</span>');
      expect(html).toContain('data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;');
    });

    it('shows no other account’s contact', async () => {
      const phone = uniquePhone();
      await webhook({ contact: { phone, name: 'Mine' } });
      const other = await t.newAccount();
      const stranger = new Visitor(t);
      await stranger.logIn(other.apiKey);
      expect((await stranger.request(`/ui/contacts/${encodeURIComponent(phone)}`)).status).toBe(404);
      expect((await stranger.request('/ui/contacts')).html).not.toContain('Mine');
    });
  });

  describe('deliveries', () => {
    it('shows the log newest first, the refused one highlighted with its error code and a Replay button', async () => {
      const phone = uniquePhone();
      const applied = await webhook({ contact: { phone } });
      const refused = await webhook({ contact: { phone }, assignee: 'nobody@company.com' });
      expect(refused.status).toBe(422);
      await signedIn();
      const { html, status } = await visitor.request('/ui/deliveries');
      expect(status).toBe(200);
      expect(html.indexOf(refused.body.delivery_id)).toBeLessThan(html.indexOf(applied.body.delivery_id));
      const row = html.slice(html.indexOf(`<tr class="refused" id="${refused.body.delivery_id}">`));
      expect(row).toMatch(/^<tr class="refused"/);
      const refusedRow = row.slice(0, row.indexOf('</tr>'));
      expect(refusedRow).toContain('unknown_assignee');
      // The error its sender was told, naming what was wrong, while the payload is kept; then the code's general meaning.
      expect(refusedRow).toContain('no agent with email nobody@company.com in this account');
      await t.database.db.update(deliveries).set({ payloadExpiresAt: new Date(Date.now() - 1000) }).where(eq(deliveries.id, refused.body.delivery_id));
      const later = (await visitor.request('/ui/deliveries')).html;
      const expiredRow = later.slice(later.indexOf(`id="${refused.body.delivery_id}"`));
      expect(expiredRow.slice(0, expiredRow.indexOf('</tr>'))).toContain('No active agent');
      expect(later).not.toContain('nobody@company.com');
      expect(refusedRow).toContain(`action="/ui/deliveries/${refused.body.delivery_id}/replay"`);
      // The buttons' column has a header a screen reader reads.
      expect(html).toContain('<th><span class="visually-hidden">Replay</span></th>');
      expect(html).toContain(`<tr id="${applied.body.delivery_id}">`);
      // Only the refused one can be replayed.
      expect(html.match(/\/replay"/g)).toHaveLength(1);
      expect((await visitor.request('/ui/deliveries?status=applied')).html).not.toContain(refused.body.delivery_id);
      // What Replay does is said beside the buttons, and only where there is one.
      const replayNote = 'Replay applies a refused delivery&#39;s kept payload now, as a new delivery';
      expect(html).toContain(replayNote);
      expect((await visitor.request('/ui/deliveries?status=applied')).html).not.toContain(replayNote);
    });

    it('pages back with a previous link, keeping the status filter', async () => {
      const own = await t.newAccount();
      const reader = new Visitor(t);
      await reader.logIn(own.apiKey);
      const ids: string[] = [];
      for (let i = 0; i < 102; i++) ids.push((await postWebhook(t, { contact: { phone: 'not a phone' } }, { token: own.webhookToken })).body.delivery_id as string);
      const link = (html: string, rel: string) => html.match(new RegExp(`<a href="([^"]*)" rel="${rel}">`))?.[1]?.replaceAll('&amp;', '&');
      const first = await reader.request('/ui/deliveries?status=refused');
      expect(link(first.html, 'prev')).toBeUndefined();
      const secondHref = link(first.html, 'next')!;
      const second = await reader.request(secondHref);
      const third = await reader.request(link(second.html, 'next')!);
      expect(ids.filter((id) => third.html.includes(`id="${id}"`))).toEqual(ids.slice(0, 2));
      expect(link(third.html, 'prev')).toBe(secondHref);
      expect(link(second.html, 'prev')).toBe('/ui/deliveries?status=refused');
      expect(second.html).not.toContain('First page');
    });

    it('answers a status it does not know with a 400 page naming the statuses, as the API does', async () => {
      await signedIn();
      const res = await visitor.request('/ui/deliveries?status=failed');
      expect(res.status).toBe(400);
      expect(res.html).toContain('Deliveries can be shown by status applied, unchanged, stale, refused, or all of them.');
      expect((await visitor.request('/ui/deliveries?status=')).status).toBe(200);
    });

    it('replays a refused delivery through the form, after the cause is fixed, and says what happened', async () => {
      const phone = uniquePhone();
      await callApi(t, 'POST', '/conversations', { key: account.apiKey, body: { phone } });
      const refused = await webhook({ contact: { phone, name: 'Replayed' }, assignee: 'late@company.com' });
      await signedIn();
      const token = await visitor.csrf('/ui/deliveries');

      const again = await visitor.post(`/ui/deliveries/${refused.body.delivery_id}/replay`, { _csrf: token });
      expect(again.status).toBe(303);
      const refusedAgain = await visitor.request(again.headers.get('location')!);
      expect(refusedAgain.html).toMatch(/class="flash bad"[^]*refused again[^]*unknown_assignee[^]*no agent with email late@company.com in this account/);

      expect((await callApi(t, 'POST', '/agents', { key: account.apiKey, body: { email: 'late@company.com', name: 'Late' } })).status).toBe(201);
      const res = await visitor.post(`/ui/deliveries/${refused.body.delivery_id}/replay`, { _csrf: token });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toMatch(/^\/ui\/deliveries\?replayed=dlv_[0-9a-z]+$/);
      // From the list of refused ones, the list of refused ones again; each button names its delivery.
      const filtered = await visitor.request('/ui/deliveries?status=refused');
      expect(filtered.html).toContain(`name="status" value="refused"`);
      expect(filtered.html).toContain(`aria-label="Replay ${refusedAgain.html.match(/Replayed as <code>(dlv_[0-9a-z]+)/)![1]}"`);
      const fromFiltered = await visitor.post(`/ui/deliveries/${refused.body.delivery_id}/replay`, { _csrf: token, status: 'refused' });
      expect(fromFiltered.headers.get('location')).toMatch(/^\/ui\/deliveries\?status=refused&replayed=dlv_[0-9a-z]+$/);
      // From a later page, that page again; a cursor these pages never gave out is dropped.
      const cursor = (await callApi(t, 'GET', '/deliveries?status=refused&limit=1', { key: account.apiKey })).body.next_cursor as string;
      const laterPage = await visitor.request(`/ui/deliveries?status=refused&cursor=${encodeURIComponent(cursor)}`);
      expect(laterPage.status).toBe(200);
      expect(laterPage.html).toContain(`<input type="hidden" name="cursor" value="${cursor}"/>`);
      const fromLater = await visitor.post(`/ui/deliveries/${refused.body.delivery_id}/replay`, { _csrf: token, status: 'refused', cursor });
      expect(new URL(fromLater.headers.get('location')!, ORIGIN).searchParams.get('cursor')).toBe(cursor);
      const madeUp = await visitor.post(`/ui/deliveries/${refused.body.delivery_id}/replay`, { _csrf: token, status: 'refused', cursor: 'made-up' });
      expect(madeUp.headers.get('location')).toMatch(/^\/ui\/deliveries\?status=refused&replayed=dlv_[0-9a-z]+$/);
      const page = await visitor.request(res.headers.get('location')!);
      const newId = new URL(res.headers.get('location')!, ORIGIN).searchParams.get('replayed')!;
      expect(page.html).toContain(`Replayed as <code>${newId}</code>: <strong>applied</strong>`);
      // The original's row says it was handled, and how, after the flash is gone; the replay names it.
      const later = await visitor.request('/ui/deliveries?status=refused');
      const originalRow = later.html.match(new RegExp(`<tr class="refused" id="${refused.body.delivery_id}">[^]*?</tr>`))![0];
      // Replayed four times: the last one is shown (unchanged, as the first one applied it).
      const latest = (await callApi(t, 'GET', `/deliveries/${refused.body.delivery_id}`, { key: account.apiKey })).body.replayed_as;
      expect(latest.status).toBe('unchanged');
      expect(originalRow).toContain(`Replayed as <code>${latest.id}</code>: <span class="status unchanged">unchanged</span>`);
      expect(originalRow).toContain(`aria-label="Replay again ${refused.body.delivery_id}"`);
      expect((await visitor.request('/ui/deliveries')).html).toMatch(new RegExp(`id="${newId}">[^]*?replay of <code>${refused.body.delivery_id}</code>`));
      const contact = await callApi(t, 'GET', `/contacts/${encodeURIComponent(phone)}`, { key: account.apiKey });
      expect(contact.body.name).toBe('Replayed');
      expect(contact.body.conversations[0].assignee).toBe('late@company.com');
    });

    it('says so when there is nothing to replay, and 404s another account’s delivery', async () => {
      const applied = await webhook({ contact: { phone: uniquePhone() } });
      await signedIn();
      const res = await visitor.post(`/ui/deliveries/${applied.body.delivery_id}/replay`, { _csrf: await visitor.csrf() });
      expect(res.headers.get('location')).toBe('/ui/deliveries?replay=gone');
      expect((await visitor.request('/ui/deliveries?replay=gone')).html).toContain('Nothing to replay');

      const other = await t.newAccount();
      const theirs = await postWebhook(t, { contact: { phone: 'nope' } }, { token: other.webhookToken });
      expect((await visitor.post(`/ui/deliveries/${theirs.body.delivery_id}/replay`, { _csrf: await visitor.csrf() })).status).toBe(404);
      // A replayed= id from another account shows nothing, nor one of this account's that is no replay.
      expect((await visitor.request(`/ui/deliveries?replayed=${theirs.body.delivery_id}`)).html).not.toContain('Replayed as');
      expect((await visitor.request(`/ui/deliveries?replayed=${applied.body.delivery_id}`)).html).not.toContain('Replayed as');
    });
  });
});

describe('a replay from the page is a delivery under the rate limit', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('pglite', { RATE_LIMIT_PER_MINUTE: '2' });
  });
  afterAll(() => t.close());

  it('beyond the limit it is answered 429 with Retry-After, and nothing is replayed', async () => {
    const refused = await postWebhook(t, { contact: { phone: uniquePhone() }, assignee: 'nobody@company.com' });
    expect(refused.status).toBe(422);
    const visitor = new Visitor(t);
    await visitor.logIn(t.account.apiKey);
    const token = await visitor.csrf('/ui/deliveries');
    expect((await visitor.post(`/ui/deliveries/${refused.body.delivery_id}/replay`, { _csrf: token })).status).toBe(303);
    const limited = await visitor.post(`/ui/deliveries/${refused.body.delivery_id}/replay`, { _csrf: token });
    expect(limited.status).toBe(429);
    // One token every 30 s: how long is left of that depends on how long the test took so far.
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(30);
    expect(limited.html).toContain('Too many deliveries for this account');
    const logged = (await callApi(t, 'GET', '/deliveries?status=refused')).body as { data: unknown[] };
    expect(logged.data).toHaveLength(2);
  });
});

describe('safeHref', () => {
  it.each([
    ['https://www.google.com', 'https://www.google.com'],
    ['www.google.com', 'https://www.google.com'],
    ['example.com/path?q=1', 'https://example.com/path?q=1'],
    ['HTTP://EXAMPLE.COM', 'HTTP://EXAMPLE.COM'],
    ['mailto:a@b.co', 'mailto:a@b.co'],
    ['tel:+447911123456', 'tel:+447911123456'],
    ['javascript:alert(1)', undefined],
    ['JAVASCRIPT:alert(1)', undefined],
    ['\u0001javascript:alert(1)', undefined],
    ['data:text/html,hi', undefined],
    ['file:///etc/passwd', undefined],
    ['https://exa mple.com', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%j → %j', (link, href) => {
    expect(safeHref(link)).toBe(href);
  });
});

import type { Context } from 'hono';
import { csrf } from 'hono/csrf';
import { createMiddleware } from 'hono/factory';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { AppEnv } from '../http/auth.js';
import { ApiError } from '../http/errors.js';
import { CSRF_FIELD, sessionCsrfToken, tokensMatch } from './csrf.js';
import { MessagePage } from './pages/message.js';
import { renderPage } from './render.js';
import { clearSessionCookie, findSessionAccount, sessionToken, type CookiePolicy } from './session.js';

export type UiEnv = { Variables: AppEnv['Variables'] & { sessionToken: string; csrfToken: string } };

const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** On every /ui response, redirects and errors included (`nosniff` is on every answer, in app.ts). */
export const securityHeaders = createMiddleware(async (c, next) => {
  await next();
  c.res.headers.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  c.res.headers.set('Referrer-Policy', 'same-origin');
});

export function cookiePolicy(config: Pick<Config, 'PUBLIC_URL'>) {
  const publishedOverHttps = config.PUBLIC_URL?.startsWith('https:') === true;
  return (c: Context): CookiePolicy => ({ secure: publishedOverHttps || new URL(c.req.url).protocol === 'https:' });
}

/**
 * A form may be posted from this origin only: the one the request reached, or PUBLIC_URL's when a
 * proxy in front changes the scheme or host. A refusal is an HTTPException(403) the UI's onError renders.
 */
export function sameOriginForms(config: Pick<Config, 'PUBLIC_URL'>) {
  const published = config.PUBLIC_URL ? new URL(config.PUBLIC_URL).origin : undefined;
  return csrf({ origin: (origin, c) => origin === new URL(c.req.url).origin || origin === published });
}

const PUBLIC_PATHS = new Set(['/ui/login', '/ui/style.css', '/ui/favicon.svg']);

/**
 * Every /ui page but the login form, the stylesheet and the icon needs a live session; without one the
 * browser is sent to the login form. A POST must also carry the session's CSRF token.
 */
export function requireSession(db: Db, policyOf: (c: Context) => CookiePolicy) {
  return createMiddleware<UiEnv>(async (c, next) => {
    if (PUBLIC_PATHS.has(c.req.path)) return next();
    const token = sessionToken(c);
    const account = token ? await findSessionAccount(db, token) : undefined;
    if (!token || !account) {
      if (token) clearSessionCookie(c, policyOf(c));
      // Signing out of a session that has ended already is done: the login form, as after any logout.
      if (c.req.method === 'POST' && c.req.path === '/ui/logout') return c.redirect('/ui/login', 303);
      return c.redirect(loginHref(c, token !== undefined), 303);
    }
    const csrfToken = sessionCsrfToken(token);
    if (c.req.method === 'POST' && !tokensMatch(csrfToken, (await readForm(c))[CSRF_FIELD])) {
      const message = 'This form was refused: it carried no valid security token. Reload the page and try again.';
      return renderPage(c, MessagePage({ title: 'Form refused', message, csrfToken }), 403);
    }
    c.set('account', account);
    c.set('sessionToken', token);
    c.set('csrfToken', csrfToken);
    await next();
  });
}

/**
 * The login form, leading back to where the visitor was: the page asked for, or for a form sent
 * (whose action cannot simply be repeated) the page it was sent from. `ended` says why: a session
 * that ended (`1`), or one that ended under a form that was therefore not acted on (`form`).
 */
function loginHref(c: Context, hadSession: boolean): string {
  const isGet = c.req.method === 'GET';
  const url = new URL(c.req.url);
  const next = pagePath(isGet ? url.pathname + url.search : refererPath(c));
  const params = new URLSearchParams(next ? { next } : {});
  if (!isGet) params.set('ended', 'form');
  else if (hadSession) params.set('ended', '1');
  return params.size ? `/ui/login?${params}` : '/ui/login';
}

function refererPath(c: Context): string | undefined {
  const referer = c.req.header('referer');
  if (!referer || !URL.canParse(referer)) return undefined;
  const url = new URL(referer);
  return url.origin === new URL(c.req.url).origin ? url.pathname + url.search : undefined;
}

/**
 * The longest page path followed: a contact list searched for 200 characters of CJK (9 characters
 * each, percent-encoded) with a 100-character label, inside a profile's `?list=` and again inside
 * the login form's `next`, stays below it.
 */
const MAX_PAGE_PATH = 8192;

/**
 * `value` when it is a path to one of these pages (never elsewhere, never the login form), else
 * undefined. Judged as the browser will resolve it: `/ui/../..//evil.com` leads to `//evil.com`.
 */
export function pagePath(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_PAGE_PATH || !/^\/ui(\/|\?|$)/.test(value) || !/^[\x21-\x7e]*$/.test(value)) return undefined;
  const base = 'http://page.invalid';
  const url = new URL(value, base);
  const path = url.pathname + url.search;
  return url.origin === base && /^\/ui(\/|\?|$)/.test(path) && !/^\/ui\/login(\/|\?|$)/i.test(path) ? path : undefined;
}

/** The form a page posted; a body that cannot be read as one (a broken multipart body) is refused with 400. */
export async function readForm(c: Context): Promise<Record<string, string | File | (string | File)[]>> {
  try {
    return await c.req.parseBody();
  } catch {
    throw new ApiError('invalid_payload', 'The form sent could not be read. Reload the page and try again.');
  }
}

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { CookiePolicy } from './session.js';

/**
 * Two layers on every POST form. hono's `csrf()` refuses a form whose Origin (or Sec-Fetch-Site)
 * is not this site; and each form carries a token in this hidden field that another site cannot
 * read. Signed in, the token is derived from the session token (bound to the session, nothing
 * stored); on the login form there is no session yet, so the token is double-submitted: the same
 * random value in a cookie and in the form.
 */
export const CSRF_FIELD = '_csrf';
const LOGIN_CSRF_COOKIE = 'cs_login_csrf';
const LOGIN_CSRF_TTL_SECONDS = 60 * 60;

export const sessionCsrfToken = (sessionToken: string): string =>
  createHmac('sha256', sessionToken).update('contact-sync /ui csrf').digest('base64url');

/** Constant time whatever the inputs: both sides are hashed to the same length first. */
export function tokensMatch(expected: string, sent: unknown): boolean {
  if (typeof sent !== 'string' || sent === '' || expected === '') return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(expected), digest(sent));
}

/** The login form's token: the one already in the cookie, else a new one set now. */
export function loginCsrfToken(c: Context, policy: CookiePolicy): string {
  const existing = getCookie(c, LOGIN_CSRF_COOKIE);
  if (existing && /^[A-Za-z0-9_-]{32,64}$/.test(existing)) return existing;
  const token = randomBytes(24).toString('base64url');
  setCookie(c, LOGIN_CSRF_COOKIE, token, { path: '/ui', httpOnly: true, sameSite: 'Strict', secure: policy.secure, maxAge: LOGIN_CSRF_TTL_SECONDS });
  return token;
}

export function loginCsrfValid(c: Context, form: Record<string, unknown>): boolean {
  const cookie = getCookie(c, LOGIN_CSRF_COOKIE);
  return cookie !== undefined && tokensMatch(cookie, form[CSRF_FIELD]);
}

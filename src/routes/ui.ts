import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { findAccountByApiKey } from '../db/queries/accounts.js';
import { findContactView, listContacts, previousContactsPage, searchFor } from '../db/queries/contact-views.js';
import { DELIVERY_STATUSES, findDelivery, isDeliveryStatus, listDeliveries, previousDeliveriesPage } from '../db/queries/deliveries.js';
import { ContactCursor, DeliveryCursor, encodeContactCursor, encodeDeliveryCursor } from '../http/cursors.js';
import { answerFor } from '../http/on-error.js';
import type { Deliverer } from '../sync/deliver.js';
import { logOperation } from '../http/request.js';
import { chargeRateLimit, type RateLimiter } from '../http/rate-limit.js';
import { replayDelivery } from '../sync/replay-delivery.js';
import { loginCsrfToken, loginCsrfValid } from '../ui/csrf.js';
import { cookiePolicy, pagePath, readForm, requireSession, sameOriginForms, type UiEnv } from '../ui/middleware.js';
import { ContactProfilePage } from '../ui/pages/contact-profile.js';
import { ContactsPage } from '../ui/pages/contacts.js';
import { DeliveriesPage, type ReplayFlash } from '../ui/pages/deliveries.js';
import { LoginPage } from '../ui/pages/login.js';
import { MessagePage } from '../ui/pages/message.js';
import { renderPage } from '../ui/render.js';
import { endSession, findSessionAccount, sessionToken, setSessionCookie, startSession, clearSessionCookie } from '../ui/session.js';
import { STYLESHEET } from '../ui/style.js';
import { FAVICON_SVG } from '../ui/favicon.js';
import { urlEscapesAreUtf8 } from '../text.js';
import { normalisePhone } from '../webhook/phone.js';

export interface UiDeps {
  config: Pick<Config, 'PUBLIC_URL'>;
  db: Db;
  deliverer: Deliverer;
  /** The webhooks' per-account limit: a replay is a delivery too. */
  rateLimiter: RateLimiter;
  logger: Logger;
}

const PAGE_SIZE = 50;
/** Forms here hold a key, a token or a search: a few hundred bytes. */
const MAX_FORM_BYTES = 16 * 1024;

const message = (c: Context<UiEnv>, status: 400 | 403 | 404 | 413, title: string, text: string) =>
  renderPage(c, MessagePage({ title, message: text, csrfToken: c.get('csrfToken') }), status);

const sentence = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/**
 * A page's error, as a page: also for one met outside the pages' own routes (the request's
 * deadline, at the app), which app.ts hands here for /ui paths.
 */
export function pageErrors(logger: Logger) {
  // Any page's context: a refused form, or the app's own deadline, comes before the session is read.
  return (error: Error, c: Context) => {
    const csrfToken: string | undefined = c.get('csrfToken');
    if (error instanceof HTTPException && error.status === 403) {
      return renderPage(c, MessagePage({ title: 'Form refused', message: 'This form was not sent from this site’s own pages, so it was refused.', csrfToken }), 403);
    }
    const answer = answerFor(logger, error, { requestId: c.get('requestId') });
    if (answer.retryAfterSeconds !== undefined) c.header('Retry-After', String(answer.retryAfterSeconds));
    // The API's messages begin lower-case, to follow a field's name; on a page they are a sentence.
    const text = answer.status !== 500 ? sentence(answer.message) : 'Something went wrong on our side; try again.';
    return renderPage(c, MessagePage({ title: 'Could not show this page', message: text, csrfToken }), answer.status);
  };
}

/** The web pages (SPEC §4): server-rendered, no script, behind a session cookie. */
export function uiRoutes({ config, db, deliverer, rateLimiter, logger }: UiDeps) {
  const ui = new Hono<UiEnv>();
  const policyOf = cookiePolicy(config);

  ui.use(
    bodyLimit({
      maxSize: MAX_FORM_BYTES,
      onError: (c) => {
        // Its body left unread, the connection is cut half a second later: the browser had better not send on it again (as errorResponse says).
        c.header('Connection', 'close');
        return message(c, 413, 'Too large', 'The form sent more than this page accepts.');
      },
    }),
  );
  ui.use(sameOriginForms(config));
  ui.use(requireSession(db, policyOf));
  // As the API: `?q=Jos%E9` (Latin-1) would be searched for as something else.
  ui.use(async (c, next) => {
    if (!urlEscapesAreUtf8(c.req.url)) return message(c, 400, 'Not a readable address', 'The address holds percent-encoded bytes that are not UTF-8 text; search again from the search box.');
    await next();
  });
  ui.onError(pageErrors(logger));

  ui.get('/style.css', (c) => {
    c.header('Cache-Control', 'public, max-age=3600');
    return c.body(STYLESHEET, 200, { 'Content-Type': 'text/css; charset=utf-8' });
  });

  ui.get('/favicon.svg', (c) => {
    c.header('Cache-Control', 'public, max-age=86400');
    return c.body(FAVICON_SVG, 200, { 'Content-Type': 'image/svg+xml' });
  });

  ui.get('/login', async (c) => {
    const next = pagePath(c.req.query('next'));
    const token = sessionToken(c);
    if (token && (await findSessionAccount(db, token))) return c.redirect(next ?? '/ui/contacts', 303);
    const ended = c.req.query('ended');
    const notice = ended === 'form' ? 'form_not_done' : ended === '1' ? 'session_ended' : undefined;
    return renderPage(c, LoginPage({ csrfToken: loginCsrfToken(c, policyOf(c)), notice, next }));
  });

  ui.post('/login', async (c) => {
    const form = await readForm(c);
    const policy = policyOf(c);
    const next = pagePath(form.next);
    const again = (error: string, status: 401 | 403) => renderPage(c, LoginPage({ csrfToken: loginCsrfToken(c, policy), error, next }), status);
    if (!loginCsrfValid(c, form)) return again('The form had expired. Please sign in again.', 403);
    const key = typeof form.api_key === 'string' ? form.api_key.trim() : '';
    const account = key ? await findAccountByApiKey(db, key) : undefined;
    if (!account) return again('That API key is not valid.', 401);
    // A new token at every sign-in, so a token planted before it (session fixation) never becomes valid.
    const previous = sessionToken(c);
    if (previous) await endSession(db, previous);
    const session = await startSession(db, account.id);
    setSessionCookie(c, policy, session.token, session.expiresAt);
    return c.redirect(next ?? '/ui/contacts', 303);
  });

  ui.post('/logout', async (c) => {
    await endSession(db, c.get('sessionToken'));
    clearSessionCookie(c, policyOf(c));
    return c.redirect('/ui/login', 303);
  });

  ui.get('/', (c) => c.redirect('/ui/contacts', 303));

  ui.get('/contacts', async (c) => {
    const account = c.get('account');
    const q = (c.req.query('q') ?? '').trim().slice(0, 200);
    const label = (c.req.query('label') ?? '').trim().slice(0, 100);
    const cursor = optional(ContactCursor, c.req.query('cursor'));
    if (cursor === INVALID) return message(c, 400, 'Not a page', 'This page link is not one these pages gave out; start again from the first page.');
    const filters = { search: q ? searchFor(q, account.defaultRegion) : undefined, label: label || undefined, limit: PAGE_SIZE };
    const { items, more } = await listContacts(db, account.id, { ...filters, beforeId: cursor });
    const href = (page: { cursor?: string }) => pageHref('/ui/contacts', { q, label, ...page });
    const [first, last] = [items.at(0), items.at(-1)];
    // Past the first page, the page before this one: the contacts just newer than its first.
    const previous = cursor !== undefined && first ? await previousContactsPage(db, account.id, filters, first.contact.id) : undefined;
    return renderPage(
      c,
      ContactsPage({
        csrfToken: c.get('csrfToken'),
        q,
        label,
        items,
        nextHref: more && last ? href({ cursor: encodeContactCursor(last.contact.id) }) : undefined,
        previousHref: previous && href(previous.beforeId === undefined ? {} : { cursor: encodeContactCursor(previous.beforeId) }),
        firstHref: cursor !== undefined ? href({}) : undefined,
        listHref: href({ cursor: c.req.query('cursor') }),
      }),
    );
  });

  ui.get('/contacts/:phone', async (c) => {
    const account = c.get('account');
    const phone = normalisePhone(c.req.param('phone').slice(0, 64), account.defaultRegion);
    const view = phone ? await findContactView(db, account.id, phone) : undefined;
    if (!view) return message(c, 404, 'No such contact', 'There is no contact with this phone in this account.');
    // Back to the list as it was left (its search, label and page), when the link came from it.
    const list = pagePath(c.req.query('list'));
    const listHref = list && new URL(list, 'http://page.invalid').pathname === '/ui/contacts' ? list : '/ui/contacts';
    return renderPage(c, ContactProfilePage({ csrfToken: c.get('csrfToken'), view, listHref }));
  });

  ui.get('/deliveries', async (c) => {
    const accountId = c.get('account').id;
    const requested = c.req.query('status') ?? '';
    const status = isDeliveryStatus(requested) ? requested : undefined;
    if (requested && !status) return message(c, 400, 'Not a status', `Deliveries can be shown by status ${DELIVERY_STATUSES.join(', ')}, or all of them.`);
    const sentCursor = c.req.query('cursor');
    const cursor = optional(DeliveryCursor, sentCursor);
    if (cursor === INVALID) return message(c, 400, 'Not a page', 'This page link is not one these pages gave out; start again from the first page.');
    const [{ items, more }, flash] = await Promise.all([
      listDeliveries(db, accountId, { status, limit: PAGE_SIZE, after: cursor }),
      replayFlash(db, accountId, c.req.query('replayed'), c.req.query('replay')),
    ]);
    const href = (page: { cursor?: string }) => pageHref('/ui/deliveries', { status: status ?? '', ...page });
    const [first, last] = [items.at(0), items.at(-1)];
    // Past the first page, the page before this one: the deliveries just newer than its first.
    const previous = cursor !== undefined && first ? await previousDeliveriesPage(db, accountId, { status, limit: PAGE_SIZE }, { receivedAt: first.receivedAtExact, id: first.id }) : undefined;
    return renderPage(
      c,
      DeliveriesPage({
        csrfToken: c.get('csrfToken'),
        status: status ?? '',
        cursor: cursor === undefined ? undefined : sentCursor,
        items,
        now: new Date(),
        flash,
        nextHref: more && last ? href({ cursor: encodeDeliveryCursor(last.receivedAtExact, last.id) }) : undefined,
        previousHref: previous && href(previous.after ? { cursor: encodeDeliveryCursor(previous.after.receivedAt, previous.after.id) } : {}),
        firstHref: cursor !== undefined ? href({}) : undefined,
      }),
    );
  });

  ui.post('/deliveries/:id/replay', async (c) => {
    const id = c.req.param('id').slice(0, 100);
    chargeRateLimit(rateLimiter, c.get('account').id);
    const result = await replayDelivery(db, deliverer, c.get('account'), id, c.get('deadline'));
    // Back to the list as it was filtered, on the page the replay was sent from.
    const form = await readForm(c);
    const status = isDeliveryStatus(form.status) ? form.status : undefined;
    const cursor = typeof form.cursor === 'string' && optional(DeliveryCursor, form.cursor) !== INVALID ? form.cursor : undefined;
    switch (result.kind) {
      case 'not_found':
        return message(c, 404, 'No such delivery', 'There is no delivery with this id in this account.');
      case 'payload_gone':
        return c.redirect(pageHref('/ui/deliveries', { status, cursor, replay: 'gone' }), 303);
      case 'delivered':
        logOperation(c, result.outcome);
        return c.redirect(pageHref('/ui/deliveries', { status, cursor, replayed: result.outcome.body.delivery_id }), 303);
    }
  });

  ui.all('*', (c) => message(c, 404, 'Not found', 'There is no page here.'));
  return ui;
}

const INVALID = Symbol('invalid');

/** A query parameter through the API's own schema: absent, valid, or not one this app gave out. */
function optional<T>(schema: { safeParse(input: unknown): { success: true; data: T } | { success: false } }, value: string | undefined): T | undefined | typeof INVALID {
  if (value === undefined || value === '') return undefined;
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : INVALID;
}

const pageHref = (path: string, params: Record<string, string | undefined>) => {
  const search = new URLSearchParams(Object.entries(params).filter((entry): entry is [string, string] => !!entry[1]));
  return search.size ? `${path}?${search}` : path;
};

/** The result of a replay, read back from the log by the new delivery's id (only this account's). */
async function replayFlash(db: Db, accountId: string, replayed: string | undefined, replay: string | undefined): Promise<ReplayFlash | undefined> {
  if (replay === 'gone') return { kind: 'gone' };
  if (!replayed || replayed.length > 100) return undefined;
  const row = await findDelivery(db, accountId, replayed);
  // Only a replay: an id of any other delivery in the URL says nothing was replayed.
  return row?.replayOf ? { kind: 'replayed', id: row.id, status: row.status, errorCode: row.errorCode, errorMessage: row.errorMessage } : undefined;
}

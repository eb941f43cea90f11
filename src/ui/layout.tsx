import type { Child } from 'hono/jsx';
import { CSRF_FIELD } from './csrf.js';

export type NavItem = 'contacts' | 'deliveries';

export interface LayoutProps {
  title: string;
  /** Signed in: the nav and the log-out form, which needs the session's CSRF token. */
  csrfToken?: string;
  current?: NavItem;
  /** A page of wide rows (the delivery log's eight columns): the whole width of a large screen. */
  wide?: boolean;
  children?: Child;
}

export function Layout({ title, csrfToken, current, wide, children }: LayoutProps) {
  const here = (item: NavItem) => (current === item ? 'page' : undefined);
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · contact-sync`}</title>
        <link rel="stylesheet" href="/ui/style.css" />
        <link rel="icon" href="/ui/favicon.svg" type="image/svg+xml" />
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/ui/contacts">contact-sync</a>
          {csrfToken !== undefined && (
            <nav>
              <a href="/ui/contacts" aria-current={here('contacts')}>Contacts</a>
              <a href="/ui/deliveries" aria-current={here('deliveries')}>Deliveries</a>
              <form method="post" action="/ui/logout" class="inline">
                <CsrfField token={csrfToken} />
                <button type="submit" class="link">Log out</button>
              </form>
            </nav>
          )}
        </header>
        <main id="main" tabindex={-1} class={wide ? 'wide' : undefined}>
          {children}
        </main>
      </body>
    </html>
  );
}

export const CsrfField = ({ token }: { token: string }) => <input type="hidden" name={CSRF_FIELD} value={token} />;

export const Chips = ({ labels, linked }: { labels: string[]; linked?: boolean }) => (
  <ul class="chips">
    {labels.map((label) => (
      <li>{linked ? <a class="chip" href={`/ui/contacts?${new URLSearchParams({ label })}`}>{label}</a> : <span class="chip">{label}</span>}</li>
    ))}
  </ul>
);

/** `2024-08-13 09:30:12 UTC`: the pages run no script, so times are shown in UTC rather than guessed local. */
export const Time = ({ at }: { at: Date }) => (
  <time datetime={at.toISOString()}>
    <span>{at.toISOString().slice(0, 10)}</span> <span>{`${at.toISOString().slice(11, 19)} UTC`}</span>
  </time>
);

/** A contact's page; `listHref`, the contact list it is opened from, which its back link returns to. */
export const profileHref = (phone: string, listHref?: string) =>
  `/ui/contacts/${encodeURIComponent(phone)}${listHref && listHref !== '/ui/contacts' ? `?${new URLSearchParams({ list: listHref })}` : ''}`;

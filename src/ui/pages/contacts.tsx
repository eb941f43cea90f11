import type { ContactWithLabels } from '../../db/queries/contact-views.js';
import { Chips, Layout, profileHref } from '../layout.js';

export interface ContactsPageProps {
  csrfToken: string;
  q: string;
  label: string;
  items: ContactWithLabels[];
  /** The next page's URL, when there is one. */
  nextHref?: string;
  /** The page before this one, when there is one. */
  previousHref?: string;
  /** Past the first page: a way back to it. */
  firstHref?: string;
  /** This page's own URL, which a contact's back link returns to. */
  listHref: string;
}

export function ContactsPage({ csrfToken, q, label, items, nextHref, previousHref, firstHref, listHref }: ContactsPageProps) {
  const filtered = q !== '' || label !== '';
  return (
    <Layout title="Contacts" csrfToken={csrfToken} current="contacts">
      <h1>Contacts</h1>
      <form method="get" action="/ui/contacts" class="filters" role="search">
        <div>
          <label for="q">Search</label>
          <input id="q" name="q" type="search" value={q} maxlength={200} placeholder="Phone, name, email or external id" />
        </div>
        <div>
          <label for="label">Label</label>
          <input id="label" name="label" type="text" value={label} maxlength={100} />
        </div>
        <button type="submit">Search</button>
        {filtered && <a href="/ui/contacts">Clear</a>}
      </form>
      {items.length === 0 ? (
        <p class="muted">{firstHref ? 'Nothing on this page: the list ends before it.' : filtered ? 'No contact matches.' : 'No contacts yet: they appear here as webhooks arrive.'}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Phone</th>
              <th>Email</th>
              <th>External id</th>
              <th>Labels</th>
            </tr>
          </thead>
          <tbody>
            {items.map(({ contact, labels }) => (
              <tr>
                <td data-label="Name" class="sent">
                  <a href={profileHref(contact.phone, listHref)}>{contact.name ?? '(no name)'}</a>
                </td>
                <td data-label="Phone">
                  <a href={profileHref(contact.phone, listHref)}>{contact.phone}</a>
                </td>
                <td data-label="Email" class="sent email">{contact.email ?? <span class="muted">—</span>}</td>
                <td data-label="External id" class="sent">{contact.externalId ?? <span class="muted">—</span>}</td>
                <td data-label="Labels">
                  <Chips labels={labels} linked />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager nextHref={nextHref} previousHref={previousHref} firstHref={firstHref} />
    </Layout>
  );
}

/** Links to the first page (unless it is the previous one), the previous and the next. */
export const Pager = ({ nextHref, previousHref, firstHref }: { nextHref?: string; previousHref?: string; firstHref?: string }) =>
  nextHref || previousHref || firstHref ? (
    <nav class="pager" aria-label="Pages">
      {firstHref && firstHref !== previousHref && <a href={firstHref}>⇤ First page</a>}
      {previousHref && (
        <a href={previousHref} rel="prev">
          ← Previous page
        </a>
      )}
      {nextHref && (
        <a href={nextHref} rel="next">
          Next page →
        </a>
      )}
    </nav>
  ) : null;

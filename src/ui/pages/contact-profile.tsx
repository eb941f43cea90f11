import type { ContactView } from '../../db/queries/contact-views.js';
import type { StoredItem, StoredSection } from '../../db/schema.js';
import { Chips, Layout, Time } from '../layout.js';
import { isWebLink, linkLabel, safeHref } from '../links.js';

/** More enhanced-data sections than this, and the page starts with links to each, and to what comes after them. */
const JUMP_AFTER_SECTIONS = 3;

/** `listHref`: the contact list the page was opened from, as it was left. */
export function ContactProfilePage({ csrfToken, view, listHref }: { csrfToken: string; view: ContactView; listHref: string }) {
  const { contact, labels, conversations } = view;
  // By name: jsonb keeps keys shortest first, an order no one sent them in.
  const attributes = Object.entries(contact.customAttributes).sort(([a], [b]) => a.localeCompare(b, 'en'));
  const email = contact.email ? safeHref(`mailto:${contact.email}`) : undefined;
  return (
    <Layout title={contact.name ?? contact.phone} csrfToken={csrfToken} current="contacts">
      <p class="muted">
        <a href={listHref}>← Contacts</a>
      </p>
      <h1>{contact.name ?? '(no name)'}</h1>
      {labels.length > 0 && <Chips labels={labels} linked />}

      <h2>Details</h2>
      <dl class="facts card">
        <dt>Phone</dt>
        <dd>{contact.phone}</dd>
        <dt>Email</dt>
        <dd>{contact.email ? email ? <a href={email}>{contact.email}</a> : contact.email : <span class="muted">none</span>}</dd>
        <dt>External id</dt>
        <dd>{contact.externalId ?? <span class="muted">none</span>}</dd>
        {contact.inviteRequested && (
          <>
            <dt>Invite</dt>
            <dd>requested</dd>
          </>
        )}
        <dt>Created</dt>
        <dd>
          <Time at={contact.createdAt} />
        </dd>
        <dt>Updated</dt>
        <dd>
          <Time at={contact.updatedAt} />
        </dd>
      </dl>

      {contact.enhancedData.length > JUMP_AFTER_SECTIONS && (
        <nav class="jump card" aria-label="On this page">
          <ul>
            {contact.enhancedData.map((section, i) => (
              <li>
                <a href={`#section-${i + 1}`}>{section.title}</a>
              </li>
            ))}
            <li>
              <a href="#custom-attributes">Custom attributes</a>
            </li>
            <li>
              <a href="#conversations">Conversations</a>
            </li>
          </ul>
        </nav>
      )}

      {contact.enhancedData.length > 0 && (
        <>
          <h2>Enhanced data</h2>
          <div class="blocks">
            {contact.enhancedData.map((section, i) => (
              <SectionBlock section={section} id={`section-${i + 1}`} />
            ))}
          </div>
        </>
      )}

      <h2 id="custom-attributes">Custom attributes</h2>
      {attributes.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <dl class="facts card">
          {attributes.map(([key, value]) => (
            <>
              <dt>{key}</dt>
              <dd>{String(value)}</dd>
            </>
          ))}
        </dl>
      )}

      <h2 id="conversations">Conversations</h2>
      {conversations.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Conversation</th>
              <th>Subject</th>
              <th>Status</th>
              <th>Assignee</th>
            </tr>
          </thead>
          <tbody>
            {conversations.map((conversation) => (
              <tr>
                <td data-label="Conversation">
                  <code>{conversation.id}</code>
                </td>
                <td data-label="Subject" class="sent">{conversation.subject ?? <span class="muted">—</span>}</td>
                <td data-label="Status">{conversation.status}</td>
                <td data-label="Assignee" class="sent email">{conversation.assignee ?? <span class="muted">unassigned</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}

const SectionBlock = ({ section, id }: { section: StoredSection; id: string }) => (
  <section class="card" id={id}>
    <h3>{section.title}</h3>
    <ul class="items">
      {section.items.map((item) => (
        <SectionItem item={item} />
      ))}
    </ul>
  </section>
);

/**
 * The item's text is the link; a link that is not http(s), mailto or tel stays text. Web links open
 * in a new tab; mailto and tel hand over to another app, and a new tab would stay behind empty.
 */
function SectionItem({ item }: { item: StoredItem }) {
  const href = safeHref(item.link);
  const newTab = href !== undefined && isWebLink(href);
  return (
    <li>
      {href ? (
        <a class="text" href={href} target={newTab ? '_blank' : undefined} rel="noopener noreferrer">
          {item.text}
          {newTab && <span class="visually-hidden"> (opens in a new tab)</span>}
        </a>
      ) : (
        <span class="text">{item.text}</span>
      )}
      {item.description && <span class="description">{item.description}</span>}
      {href ? <span class="link">{linkLabel(href)}</span> : item.link && <span class="link">{item.link}</span>}
    </li>
  );
}

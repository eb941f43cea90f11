import { createRoute, z } from '@hono/zod-openapi';
import type { Db } from '../../db/client.js';
import { findContactView, listContacts, searchFor, type ContactWithLabels } from '../../db/queries/contact-views.js';
import { sectionsObject } from '../../db/queries/contacts.js';
import { ContactCursor, encodeContactCursor } from '../../http/cursors.js';
import { ApiError } from '../../http/errors.js';
import { createRouter } from '../../http/router.js';
import { normalisePhone } from '../../webhook/phone.js';
import { PageLimit, apiKeySecurity, emptyAsAbsent, errorResponses, iso, jsonResponse } from './schemas.js';

const ListQuery = z.object({
  q: z.string().trim().max(200).optional().openapi({ description: 'Phone (any form, or some of its digits), name, email or external id' }),
  label: z.string().trim().max(100).optional().openapi({ description: 'Only contacts with this label, whatever its case' }),
  limit: PageLimit,
  cursor: z.preprocess(emptyAsAbsent, ContactCursor.optional()).openapi({ type: 'string', maxLength: 64, description: 'next_cursor from the previous page' }),
});

const SectionItem = z.object({ text: z.string(), description: z.string().optional(), link: z.string().optional() });

const ContactFields = {
  phone: z.string().openapi({ example: '+447911123456' }),
  name: z.string().nullable(),
  email: z.string().nullable(),
  external_id: z.string().nullable(),
  labels: z.array(z.string()),
  enhanced_data: z.record(z.string(), z.array(SectionItem)),
  custom_attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  invite_requested: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
};

const ContactListItem = z.object(ContactFields).openapi('ContactListItem');

const Contact = z
  .object({
    ...ContactFields,
    conversations: z.array(z.object({ id: z.string(), status: z.enum(['open', 'closed']), assignee: z.string().nullable() })),
  })
  .openapi('Contact');

const ContactPage = z.object({ data: z.array(ContactListItem), next_cursor: z.string().nullable() }).openapi('ContactPage');

const listContactsRoute = createRoute({
  method: 'get',
  path: '/contacts',
  tags: ['contacts'],
  summary: 'Search contacts, in pages, newest first',
  security: apiKeySecurity,
  request: { query: ListQuery },
  responses: { 200: jsonResponse(ContactPage, 'One page of contacts'), ...errorResponses(400, 401) },
});

const getContactRoute = createRoute({
  method: 'get',
  path: '/contacts/{phone}',
  tags: ['contacts'],
  summary: 'One contact, with its conversations',
  security: apiKeySecurity,
  request: {
    params: z.object({
      phone: z.string().max(64).openapi({ param: { name: 'phone', in: 'path' }, example: '+447911123456', description: 'In any accepted form (URL-encoded in the path: + is %2B)' }),
    }),
  },
  responses: { 200: jsonResponse(Contact, 'The contact'), ...errorResponses(400, 401, 404) },
});

const contactJson = ({ contact, labels }: ContactWithLabels) => ({
  phone: contact.phone,
  name: contact.name,
  email: contact.email,
  external_id: contact.externalId,
  labels,
  enhanced_data: sectionsObject(contact.enhancedData),
  custom_attributes: contact.customAttributes,
  invite_requested: contact.inviteRequested,
  created_at: iso(contact.createdAt),
  updated_at: iso(contact.updatedAt),
});

export function contactRoutes(deps: { db: Db }) {
  return createRouter()
    .openapi(listContactsRoute, async (c) => {
      const { q, label, limit, cursor } = c.req.valid('query');
      const account = c.get('account');
      const { items, more } = await listContacts(deps.db, account.id, {
        search: q ? searchFor(q, account.defaultRegion) : undefined,
        label: label || undefined,
        limit,
        beforeId: cursor,
      });
      const last = items.at(-1);
      return c.json({ data: items.map(contactJson), next_cursor: more && last ? encodeContactCursor(last.contact.id) : null }, 200);
    })
    .openapi(getContactRoute, async (c) => {
      const account = c.get('account');
      const phone = normalisePhone(c.req.valid('param').phone, account.defaultRegion);
      const view = phone ? await findContactView(deps.db, account.id, phone) : undefined;
      if (!view) throw new ApiError('not_found', 'no contact with this phone in this account');
      return c.json({ ...contactJson(view), conversations: view.conversations.map(({ id, status, assignee }) => ({ id, status, assignee })) }, 200);
    });
}

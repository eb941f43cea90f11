import { createRoute, z } from '@hono/zod-openapi';
import type { Db } from '../../db/client.js';
import {
  addMessage,
  findConversation,
  listMessages,
  type ConversationView,
  type MessageRow,
} from '../../db/queries/conversations.js';
import { ApiError } from '../../http/errors.js';
import { createRouter } from '../../http/router.js';
import { openConversation } from '../../sync/open-conversation.js';
import { PhoneInput } from '../../webhook/payload.js';
import { normalisePhone } from '../../webhook/phone.js';
import { apiKeySecurity, errorResponses, iso, jsonBody, jsonResponse } from './schemas.js';

const NewConversationBody = z.strictObject({
  // zod's own meta: PhoneInput is built before @hono/zod-openapi extends zod.
  phone: PhoneInput.meta({ example: '+447911123456', description: 'In any form a webhook accepts (a string, or a whole number)' }),
  subject: z.string().trim().max(200).nullable().optional(),
});

const NewMessageBody = z.strictObject({
  direction: z.enum(['inbound', 'outbound']),
  body: z.string().min(1).max(10_000),
});

const Message = z
  .object({ id: z.string(), direction: z.enum(['inbound', 'outbound']), body: z.string(), created_at: z.string() })
  .openapi('Message');

const conversationFields = {
  id: z.string(),
  phone: z.string(),
  status: z.enum(['open', 'closed']),
  subject: z.string().nullable(),
  assignee: z.string().nullable().openapi({ description: "The assigned agent's email" }),
  created_at: z.string(),
};
const Conversation = z.object(conversationFields).openapi('Conversation');
const ConversationWithMessages = z.object({ ...conversationFields, messages: z.array(Message) }).openapi('ConversationWithMessages');

const IdParam = z.object({ id: z.string().max(64).openapi({ param: { name: 'id', in: 'path' }, example: 'cnv_…' }) });

const createConversationRoute = createRoute({
  method: 'post',
  path: '/conversations',
  tags: ['conversations'],
  summary: 'Open a conversation with a phone, creating the contact if it has none',
  security: apiKeySecurity,
  request: { body: jsonBody(NewConversationBody) },
  responses: { 201: jsonResponse(Conversation, 'The conversation'), ...errorResponses(400, 401, 413, 415, 422) },
});

const getConversationRoute = createRoute({
  method: 'get',
  path: '/conversations/{id}',
  tags: ['conversations'],
  summary: 'A conversation with its messages, oldest first',
  security: apiKeySecurity,
  request: { params: IdParam },
  responses: { 200: jsonResponse(ConversationWithMessages, 'The conversation'), ...errorResponses(400, 401, 404) },
});

const addMessageRoute = createRoute({
  method: 'post',
  path: '/conversations/{id}/messages',
  tags: ['conversations'],
  summary: 'Record a message in a conversation',
  security: apiKeySecurity,
  request: { params: IdParam, body: jsonBody(NewMessageBody) },
  responses: { 201: jsonResponse(Message, 'The message'), ...errorResponses(400, 401, 404, 413, 415) },
});

const conversationJson = (c: ConversationView) => ({
  id: c.id,
  phone: c.phone,
  status: c.status,
  subject: c.subject,
  assignee: c.assignee,
  created_at: iso(c.createdAt),
});

const messageJson = (m: MessageRow) => ({ id: m.id, direction: m.direction, body: m.body, created_at: iso(m.createdAt) });

const notFound = () => new ApiError('not_found', 'no conversation with this id in this account');

export function conversationRoutes(deps: { db: Db }) {
  return createRouter()
    .openapi(createConversationRoute, async (c) => {
      const body = c.req.valid('json');
      const account = c.get('account');
      const phone = normalisePhone(body.phone, account.defaultRegion);
      if (!phone) throw new ApiError('invalid_phone', 'phone is not a valid phone number', [{ path: 'phone', message: 'not a valid phone number' }]);
      const row = await openConversation(deps.db, account.id, phone, body.subject || null);
      return c.json(conversationJson({ ...row, phone, assignee: null }), 201);
    })
    .openapi(getConversationRoute, async (c) => {
      const accountId = c.get('account').id;
      const conversation = await findConversation(deps.db, accountId, c.req.valid('param').id);
      if (!conversation) throw notFound();
      const messages = await listMessages(deps.db, conversation.id);
      return c.json({ ...conversationJson(conversation), messages: messages.map(messageJson) }, 200);
    })
    .openapi(addMessageRoute, async (c) => {
      const message = await addMessage(deps.db, c.get('account').id, c.req.valid('param').id, c.req.valid('json'));
      if (!message) throw notFound();
      return c.json(messageJson(message), 201);
    });
}

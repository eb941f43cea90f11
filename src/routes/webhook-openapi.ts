import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { MAX_HEADER_KIB, NODE_STATUS_CODES } from '../http/client-error.js';
import { codeToStatus, type ErrorCode } from '../http/errors.js';
import { SIGNATURE_TOLERANCE_SECONDS } from '../http/signature.js';
import { IDEMPOTENCY_HOURS } from '../sync/idempotency.js';
import type { ContactSummary } from '../sync/upsert-contact.js';
import type { SameKeys } from '../types.js';
import { ContactPayload, MAX_CONTACT_DATA_BYTES, MAX_CUSTOM_ATTRIBUTES, MAX_LABEL_LENGTH, MAX_LABELS, MAX_LABELS_TEXT_LENGTH, MAX_SECTION_ITEMS, MAX_SECTIONS, WebhookPayload } from '../webhook/payload.js';
import { ErrorSchema, RefusalWarnings, retryAfter } from './api/schemas.js';
import { MAX_BULK_REQUESTS, MAX_BULK_REQUESTS_PER_ACCOUNT, MAX_BULK_SPOOLS, NDJSON_TYPES } from './bulk.js';

/*
 * The webhook handler reads raw bytes (size limit and signature before parsing), so it is not an
 * `openapi()` route; its contract is registered here, for the document only. The body schemas are the
 * ones the handler validates with, so the document cannot drift from them; descriptions are added on copies.
 */

type Notes<S> = Record<keyof S, string>;

/**
 * Copies of the fields with a description each; the `Record` fails to compile when a field is added
 * undocumented. zod's own `.meta()`, not `.openapi()`: these schemas may be built before
 * @hono/zod-openapi extends zod, and the generator reads both.
 */
function described<S extends Record<string, z.ZodType>>(shape: S, notes: Notes<S>): Record<string, z.ZodType> {
  return Object.fromEntries(Object.entries(shape).map(([key, schema]) => [key, schema.meta({ description: notes[key as keyof S] })]));
}

const boolish = '`true`/`false`, `"true"`/`"false"` (any case), `1`/`0`';

/** The limit enhanced data and custom attributes share on the contact. */
const dataBudget = `Enhanced data and custom attributes together hold at most ${MAX_CONTACT_DATA_BYTES / 1024} KiB of JSON on the contact after merging (else 422 limit_exceeded, unless the delivery makes them smaller).`;

const contactNotes: Notes<typeof ContactPayload.shape> = {
  phone: 'Required. Normalised to E.164; digits without `+` or `00` are read in the account’s region first. Not a valid number: 422 invalid_phone.',
  name: 'Sets the name; absent leaves it; `null` or `""` clears it.',
  email: 'Stored and searchable; `null` or `""` clears it.',
  external_id: 'The contact’s id in the CRM, unique in the account: held by another phone’s contact is 422 external_id_taken.',
  labels: `Comma-separated string or list; trimmed, empty ones dropped; a label is one label whatever its case. At most ${MAX_LABELS} different labels of at most ${MAX_LABEL_LENGTH} characters each, and ${MAX_LABELS} on the contact after merging (else 422 limit_exceeded). Added to the contact’s labels unless overrideLabels.`,
  overrideLabels: `${boolish}. True: the labels become exactly \`labels\` (\`""\` or \`[]\` clears them).`,
  removeLabels: 'Like labels: these are removed, after any added.',
  enhanced_data:
    '`{ "Section": [item, …] }` or a list of such objects. A section sent replaces that section; `[]` removes it; sections not sent are kept. Links: http(s), mailto:, tel: or scheme-less (www.x.com); any other scheme is 400. ' +
    `At most ${MAX_SECTIONS} sections with items (also on the contact after merging), and as many again sent as \`[]\` to remove them; titles of at most 200 characters, ${MAX_SECTION_ITEMS} items each. ${dataBudget}`,
  custom_attributes: `Shallow merge; \`null\` removes the key. At most ${MAX_CUSTOM_ATTRIBUTES} keys with values (also on the contact after merging), and as many again sent as \`null\`; names of at most 100 characters; text values at most 1000 characters. ${dataBudget}`,
};

const WebhookContact = z.object(described(ContactPayload.shape, contactNotes)).openapi('WebhookContact');

const payloadNotes: Notes<typeof WebhookPayload.shape> = {
  contact: 'Upserts this contact (with assignee: then assigns its conversations, atomically).',
  delete_contact: 'Deletes the contact with this phone, its conversations, messages, labels and data. Not combinable with contact or assignee.',
  assignee: 'Email of an active agent of the account (any case); every conversation of the contact is assigned to them. No such agent: 422 unknown_assignee and nothing is applied.',
  overrideLabels: `Polser's place for contact.overrideLabels: ${boolish}.`,
  removeLabels: 'Polser-style top-level place for contact.removeLabels.',
  inviteNewContacts: `${boolish}. A new contact is marked invite_requested (no message is sent).`,
  occurred_at: 'ISO 8601 with a zone (Z, +01:00, +0100 or +01; T or a space before the time), or epoch milliseconds. A delivery older than the last one applied to the phone, or than its deletion, is not applied (status stale).',
};

const WebhookBody = z
  .object({ ...described(WebhookPayload.shape, payloadNotes), contact: WebhookContact.optional().openapi({ description: payloadNotes.contact }) })
  .openapi('WebhookPayload', { description: 'One delivery is one operation: delete_contact, contact with assignee, or contact. Unknown keys are ignored and listed in warnings.' });

const text = (max: number, description: string) => z.string().max(max).optional().openapi({ description });

/** Form fields and GET query parameters: the JSON document in `payload`, or flat fields. */
const FlatFields = z
  .object({
    // Bounded by the body (MAX_BODY_BYTES, which is configured), not by a length of its own.
    payload: z.string().optional().openapi({ description: 'The whole JSON document (as the JSON body), within MAX_BODY_BYTES; when present the other fields are not read, and warnings names them.' }),
    phone: text(64, 'contact.phone. Every contact field may also be sent as contact[field], overrideLabels and removeLabels too (they are then the contact’s, as in JSON).'),
    'contact[phone]': text(64, 'Same as phone.'),
    name: text(200, 'contact.name'),
    email: text(320, 'contact.email'),
    external_id: text(200, 'contact.external_id'),
    labels: text(MAX_LABELS_TEXT_LENGTH, 'contact.labels: comma-separated, or the field repeated (or labels[]) for a list.'),
    removeLabels: text(MAX_LABELS_TEXT_LENGTH, 'The top-level removeLabels, like labels.'),
    // No length of their own: spaces around the value are dropped (` true ` is read).
    overrideLabels: z.string().optional().openapi({ description: boolish }),
    inviteNewContacts: z.string().optional().openapi({ description: boolish }),
    assignee: text(320, 'Agent email'),
    delete_contact: text(64, 'Phone of the contact to delete'),
    occurred_at: text(64, 'ISO 8601 with a zone, or epoch milliseconds'),
  })
  .openapi('WebhookFields');

/** What an upsert answers of its contact: documents `ContactSummary`, and fails to compile when that gains a field this lacks. */
const ContactResult = z.object({
  phone: z.string().openapi({ example: '+447911123456' }),
  name: z.string().nullable(),
  email: z.string().nullable(),
  external_id: z.string().nullable(),
  labels: z.array(z.string()),
  enhanced_data: z.record(z.string(), z.array(z.object({ text: z.string(), description: z.string().optional(), link: z.string().optional() }))),
  custom_attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  invite_requested: z.boolean(),
  created: z.boolean().openapi({ description: 'Whether this delivery created the contact' }),
}).openapi('WebhookContactResult') satisfies z.ZodType<ContactSummary>;
/** And no field of its own, nor one of `ContactSummary`'s (an optional one) left out. */
const contactResultKeys: SameKeys<z.infer<typeof ContactResult>, ContactSummary> = true;
void contactResultKeys;

const resultFields = {
  status: z.enum(['applied', 'unchanged', 'stale']).openapi({ description: 'applied: something changed; unchanged: a repeat that changed nothing; stale: older than what was applied' }),
  delivery_id: z.string().openapi({ example: 'dlv_…' }),
  warnings: z.array(z.string()).openapi({ description: 'Keys that were ignored' }),
};

const UpsertResult = z
  .object({
    ...resultFields,
    operation: z.enum(['upsert', 'upsert_assign']),
    contact: ContactResult.nullable()
      .openapi({ description: 'null only when stale and the contact does not exist; left out of an answer replayed under its idempotency key once the contact has been deleted' })
      .optional(),
    assigned_conversations: z.number().int(),
  })
  .openapi('WebhookUpsertResult');

const DeleteResult = z
  .object({
    ...resultFields,
    operation: z.literal('delete'),
    contact: z.boolean().openapi({
      description: 'Whether the phone has a contact: true when it was deleted, and when the delete is stale and the contact is kept (deleted.contact is then false); deleting a phone with none is 200 unchanged',
    }),
    deleted: z.object({ contact: z.boolean(), conversations: z.number().int(), messages: z.number().int() }),
  })
  .openapi('WebhookDeleteResult');

const WebhookResult = z.union([UpsertResult, DeleteResult]).openapi('WebhookResult');

const WebhookError = ErrorSchema.extend({
  delivery_id: z.string().optional().openapi({ description: 'For refusals recorded in the delivery log (400, 422)' }),
  warnings: RefusalWarnings,
}).openapi('WebhookError');

const whenRefused: Partial<Record<number, string>> = {
  400: 'malformed JSON, wrong types, missing phone, ambiguous operation, forbidden link scheme',
  401: 'unknown, rotated or missing token; bad or stale signature',
  409: 'the same idempotency key is being processed right now; retry after Retry-After',
  413: 'body over MAX_BODY_BYTES, chunked bodies included',
  415: 'a content type other than JSON or form-urlencoded',
  422: 'well-formed but cannot be applied; nothing of it was applied',
  429: 'the account’s rate limit; retry after Retry-After',
  500: 'unexpected; carries no details; retry later',
  503: 'draining for shutdown, database unreachable, or backlog full; retry after Retry-After',
};

/** What Node refuses before any route sees the request, answered with the same body (http/client-error.ts). */
const refusedByNode: Record<keyof typeof NODE_STATUS_CODES, string> = {
  408: 'the request line and headers did not all arrive within REQUEST_TIMEOUT_MS; the connection is closed',
  431: `the URL and headers are over ${MAX_HEADER_KIB} KiB (a GET delivery with a long query string: send it as a POST body)`,
};

/** Before its answer starts streaming, a bulk request is refused as a whole only for these; a bad line fails alone, in the answer. */
const bulkRefused = (maxBulkBytes: number): Partial<Record<number, string>> => ({
  ...refusedByNode,
  400: 'empty body',
  401: whenRefused[401],
  413: `a signed body over MAX_BULK_BYTES (${maxBulkBytes} bytes here), which is spooled to be verified before anything is applied`,
  415: `a content type other than ${NDJSON_TYPES[0]} (or ${NDJSON_TYPES.slice(1).join(', ')})`,
  429: whenRefused[429],
  500: whenRefused[500],
  503: `${MAX_BULK_REQUESTS} bulk requests (${MAX_BULK_REQUESTS_PER_ACCOUNT} of the account's, ${MAX_BULK_SPOOLS} signed ones being spooled) are already open, draining for shutdown, or database unreachable; retry after Retry-After`,
});

/** API-only codes the webhook never answers with. */
const NOT_FROM_WEBHOOK: ReadonlySet<ErrorCode> = new Set(['not_found', 'conflict']);

const replayed = { 'Idempotent-Replayed': { description: '`true` when this is the stored answer to an earlier delivery with the same key', schema: { type: 'string' as const } } };

/** The refusals, each with its codes; with `keyed`, the 400 and 422 a key stores and replays carry Idempotent-Replayed as a 200 does. */
function errorResponses(refused: Partial<Record<number, string>>, { keyed = false } = {}) {
  return Object.fromEntries(
    Object.entries(refused).map(([status, detail]) => {
      const node = (NODE_STATUS_CODES as Partial<Record<string, ErrorCode>>)[status];
      const codes = node ? [node] : (Object.keys(codeToStatus) as ErrorCode[]).filter((code) => String(codeToStatus[code]) === status && !NOT_FROM_WEBHOOK.has(code));
      const headers = ['409', '429', '503'].includes(status) ? retryAfter : keyed && ['400', '422'].includes(status) ? replayed : undefined;
      return [
        status,
        {
          description: `${codes.join(', ')}: ${detail}`,
          ...(headers ? { headers } : {}),
          content: { 'application/json': { schema: WebhookError } },
        },
      ];
    }),
  );
}

const phone = '+447911123456';
const examples = {
  upsert: { summary: 'Upsert with labels (Polser)', value: { contact: { phone, name: 'John Smith', labels: 'subscriber, trialing' }, overrideLabels: 'true', inviteNewContacts: 'true' } },
  enhanced: {
    summary: 'Enhanced data (Polser)',
    value: { contact: { phone, name: 'John Smith', enhanced_data: { 'Outstanding payments': [{ text: 'INV-2812381_456', description: 'Since 13 Aug 2024', link: 'www.google.com' }] } } },
  },
  delete: { summary: 'Delete (Polser)', value: { delete_contact: phone } },
  assign: { summary: 'Upsert and assign (Polser)', value: { contact: { phone }, assignee: 'agent@company.com' } },
};

const headerParams = z.object({
  'idempotency-key': text(
    255,
    `Deduplicates retries for ${IDEMPOTENCY_HOURS} hours; a repeat gets the stored answer with Idempotent-Replayed: true. Falls back to webhook-id; not used when the account has signing secrets, where the signed webhook-id is the key.`,
  ),
  'webhook-id': text(255, 'Standard Webhooks message id; required, with the two below, when the account has signing secrets'),
  'webhook-timestamp': text(12, `Unix seconds; within ±${SIGNATURE_TOLERANCE_SECONDS / 60} minutes`),
  'webhook-signature': text(4096, '`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, space-separated for several'),
});

const tokenParam = z.object({
  token: z.string().max(256).openapi({ param: { name: 'token', in: 'path' }, description: 'The account’s secret webhook token' }),
});

const BulkLine = z
  .union([WebhookResult, WebhookError])
  .and(z.object({ line: z.number().int().openapi({ description: 'The input line this answers, from 1 (empty lines keep their number)' }) }))
  .openapi('WebhookBulkLine', { description: 'The result of one input line, as the webhook answers it (a refusal is the error body) plus its line number' });

const BulkSummary = z
  .object({
    summary: z.object({
      lines: z.number().int(),
      applied: z.number().int(),
      unchanged: z.number().int(),
      stale: z.number().int(),
      failed: z.number().int(),
    }),
  })
  .openapi('WebhookBulkSummary', { description: 'The last line of a request that ended; when the upload ends early, a WebhookBulkEnd line takes its place' });

const BulkEnd = ErrorSchema.openapi('WebhookBulkEnd', {
  description:
    'The last line of a request that ended early, in place of the summary: code unavailable when the upload sent nothing for REQUEST_TIMEOUT_MS and was cut off, unauthorized when its token was rotated (or the account added its first signing secret, the upload unsigned) while it was open, internal when it broke off. ' +
    'The lines answered before it were applied; send the rest again.',
});

const bulkBody = `{"contact":{"phone":"${phone}","name":"John Smith","labels":"subscriber"}}\n{"delete_contact":"+447911123457"}\n`;

/** Registers `POST` and `GET /webhooks/{token}` and `POST /webhooks/{token}/bulk` in the app's OpenAPI registry. */
export function registerWebhookDocs(app: Pick<OpenAPIHono, 'openAPIRegistry'>, options: { maxBodyBytes: number; maxBulkBytes: number }): void {
  const responses = {
    200: {
      description: 'Applied, unchanged or stale; sent only after commit',
      headers: replayed,
      content: { 'application/json': { schema: WebhookResult } },
    },
    ...errorResponses({ ...whenRefused, ...refusedByNode, 413: `${whenRefused[413]} (${options.maxBodyBytes} bytes here)` }, { keyed: true }),
  };
  const common = { tags: ['webhooks'], security: [] };
  app.openAPIRegistry.registerPath({
    ...common,
    method: 'post',
    path: '/webhooks/{token}',
    summary: 'Deliver one contact operation (upsert, upsert and assign, or delete)',
    description: 'Applied exactly once, one phone at a time, and answered after commit. Only 2xx means applied; 4xx but 409/429 will not succeed if retried.',
    request: {
      params: tokenParam,
      headers: headerParams,
      body: {
        // A POST without a body is read from its query string, as a GET is.
        required: false,
        description: 'The payload as JSON or form fields. Without a body, the query string is read instead, as for GET.',
        content: {
          'application/json': { schema: WebhookBody, examples },
          'application/x-www-form-urlencoded': { schema: FlatFields },
        },
      },
    },
    responses,
  });
  app.openAPIRegistry.registerPath({
    ...common,
    method: 'get',
    path: '/webhooks/{token}',
    summary: 'Deliver one contact operation from query parameters',
    description: 'The same as POST, with the payload as query parameters (flat fields or payload=<JSON>).',
    request: { params: tokenParam, headers: headerParams, query: FlatFields },
    responses,
  });
  app.openAPIRegistry.registerPath({
    ...common,
    method: 'post',
    path: '/webhooks/{token}/bulk',
    summary: 'Deliver up to 1,000,000 operations as NDJSON, one payload per line',
    description:
      'Streamed both ways: one result per input line, in input order, then a summary line. Lines for the same phone apply in line order; a bad line fails alone and is in the delivery log. ' +
      `Each line at most ${options.maxBodyBytes} bytes. Not idempotent as a whole: sending a request again applies its lines again. With signing secrets, the signature covers the whole body.`,
    request: {
      params: tokenParam,
      headers: headerParams.pick({ 'webhook-id': true, 'webhook-timestamp': true, 'webhook-signature': true }),
      body: {
        required: true,
        // The other names tools send NDJSON under are taken too; one schema for them all.
        content: Object.fromEntries(NDJSON_TYPES.map((type) => [type, { schema: z.string().openapi({ description: 'One WebhookPayload JSON object per line', example: bulkBody }) }])),
      },
    },
    responses: {
      200: {
        description: 'NDJSON: one WebhookBulkLine per input line, in order, then one WebhookBulkSummary (or WebhookBulkEnd); each line is sent once its transaction has committed',
        content: { 'application/x-ndjson': { schema: z.union([BulkLine, BulkSummary, BulkEnd]) } },
      },
      ...errorResponses(bulkRefused(options.maxBulkBytes)),
    },
  });
}

import { z } from '@hono/zod-openapi';
import { codeToStatus, type ErrorCode } from '../../http/errors.js';
import { EMAIL_PATTERN } from '../../webhook/payload.js';

export const ErrorSchema = z
  .object({
    error: z.string().openapi({ example: 'email must be an email address' }),
    code: z.enum(Object.keys(codeToStatus) as [ErrorCode, ...ErrorCode[]]),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Error');

/** A refused delivery's warnings (webhook and replay answers). */
export const RefusalWarnings = z
  .array(z.string())
  .optional()
  .openapi({ description: 'What reading the payload noticed before refusing it, such as an unknown (misspelt) key; absent when nothing' });

const errorDescriptions: Record<number, string> = {
  400: 'invalid_payload: the request does not match the schema',
  401: 'unauthorized: missing or wrong bearer key',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'cannot be applied as sent',
  429: 'rate_limited: the account’s limit on deliveries (a replay is one); retry after Retry-After',
  500: 'internal: an unexpected error, never with details',
  503: 'unavailable: draining for shutdown, database unreachable, or not answered within REQUEST_TIMEOUT_MS (a write answered so was not carried out); retry after Retry-After',
};

/** The header a 409, 429 or 503 may carry. */
export const retryAfter = { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' as const } } };

/** What any route may answer, whatever it does. */
const ALWAYS = [500, 503] as const;

/** The error responses a route can give, and those any can (ALWAYS), for the OpenAPI document; every one has the same body. */
export function errorResponses<S extends number>(...statuses: S[]) {
  return Object.fromEntries(
    [...new Set<number>([...statuses, ...ALWAYS])].map((status) => [
      status,
      {
        description: errorDescriptions[status] ?? 'error',
        ...(status === 429 || status === 503 ? { headers: retryAfter } : {}),
        content: { 'application/json': { schema: ErrorSchema } },
      },
    ]),
  ) as Record<S | (typeof ALWAYS)[number], { description: string; content: { 'application/json': { schema: typeof ErrorSchema } } }>;
}

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

/** Security requirements, named after the schemes `apiRoutes` registers. */
export const apiKeySecurity = [{ apiKey: [] }];
export const adminSecurity = [{ adminKey: [] }];

export const iso = (date: Date) => date.toISOString();

/** Agents are matched case-insensitively, so their emails are kept lower-cased. */
export const AgentEmail = z.string().trim().toLowerCase().max(320).pipe(z.email({ pattern: EMAIL_PATTERN, error: 'must be an email address' }));

/** An empty query parameter (`?limit=`, `?status=`) means one not sent, as an empty `q=` does. */
export const emptyAsAbsent = (value: unknown) => (value === '' ? undefined : value);

const LIMIT = 'must be a whole number from 1 to 200';

/** `limit` of a paginated list: 50 unless sent; written in digits (not `1e2`, `0x10` or ` 10`). */
export const PageLimit = z
  .preprocess(
    emptyAsAbsent,
    z
      .string({ error: LIMIT })
      .regex(/^\d{1,9}$/, { error: LIMIT })
      .transform(Number)
      .pipe(z.number().min(1, { error: LIMIT }).max(200, { error: LIMIT }))
      .default(50),
  )
  .openapi({ type: 'integer', minimum: 1, maximum: 200, default: 50 });

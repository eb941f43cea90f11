/**
 * What a refusal's code means, for the log page. The log keeps the code, not the sentence the
 * sender was answered with (it may quote personal data), so the page explains the code.
 */
const REFUSAL_TEXT: Record<string, string> = {
  invalid_payload: 'The payload was malformed, missed the phone, had a field of the wrong type or a forbidden link.',
  invalid_phone: 'The phone is not a valid number.',
  unknown_assignee: 'No active agent in this account has the assignee’s email: add the agent, then replay.',
  external_id_taken: 'Another contact already holds this external id.',
  limit_exceeded: 'Over a limit: too many labels, sections, items or custom attributes.',
  idempotency_key_reused: 'The idempotency key was used before with another body.',
};

export const refusalText = (code: string | null): string => (code ? (REFUSAL_TEXT[code] ?? '') : '');

import type { RefusalCode } from '../webhook/refusal.js';

/**
 * What a refusal's code means, for the log page: shown beside the sentence the sender was answered
 * with while the log keeps it (it may quote personal data, so it goes with the payload), and alone
 * after that.
 */
const REFUSAL_TEXT: Record<RefusalCode, string> = {
  invalid_payload: 'The payload was malformed, missed the phone, had a field of the wrong type or a forbidden link.',
  invalid_phone: 'The phone is not a valid number.',
  unknown_assignee: 'No active agent in this account has the assignee’s email: add the agent, then send the delivery again.',
  external_id_taken: 'Another contact already holds this external id.',
  limit_exceeded: 'Over a limit: too many labels, sections, items or custom attributes.',
  idempotency_key_reused: 'The idempotency key was used before with another body.',
};

/** The log's `error_code` is text: a code this version does not know (or none) has no explanation. */
export const refusalText = (code: string | null): string => (code !== null && Object.hasOwn(REFUSAL_TEXT, code) ? REFUSAL_TEXT[code as RefusalCode] : '');

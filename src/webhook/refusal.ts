import type { FieldIssue } from '../zod-issues.js';
import type { OperationName } from './operation.js';

export type RefusalCode =
  | 'invalid_payload'
  | 'invalid_phone'
  | 'unknown_assignee'
  | 'external_id_taken'
  | 'limit_exceeded'
  | 'idempotency_key_reused';

/** What a refused delivery was about, as far as its payload could be read: for the delivery log. */
export interface RefusalSubject {
  operation: OperationName | null;
  /** E.164, when the payload's phone was a valid number. */
  phone: string | null;
}

/**
 * A delivery that is well understood but cannot be applied as sent. Retrying it will not help;
 * nothing of it has been written.
 */
export class Refusal extends Error {
  /** Set where the refusal is met while reading a payload whose operation or phone could be read. */
  subject?: RefusalSubject;
  /** What reading the payload noticed before it was refused (an unknown key, a misspelt field): the sender's likeliest mistake. */
  warnings?: string[];

  constructor(
    readonly code: RefusalCode,
    message: string,
    readonly issues?: FieldIssue[],
  ) {
    super(message);
  }
}

export type RefusalCode =
  | 'invalid_payload'
  | 'invalid_phone'
  | 'unknown_assignee'
  | 'external_id_taken'
  | 'limit_exceeded'
  | 'idempotency_key_reused';

export interface RefusalIssue {
  path: string;
  message: string;
}

/**
 * A delivery that is well understood but cannot be applied as sent. Retrying it will not help;
 * nothing of it has been written.
 */
export class Refusal extends Error {
  constructor(
    readonly code: RefusalCode,
    message: string,
    readonly issues?: RefusalIssue[],
  ) {
    super(message);
  }
}

/** The per-phone backlog is full; the sender should retry later. */
export class Overloaded extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('too many deliveries waiting');
  }
}

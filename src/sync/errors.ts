/** What a delivery whose sender has stopped waiting (answered 503) settles with, instead of being applied. */
export class NotApplied extends Error {
  constructor() {
    super('not applied: its request had already been answered 503 for taking too long');
  }
}

/** The same idempotency key is being processed right now in this process; the sender should retry shortly. */
export class IdempotencyInProgress extends Error {}

/** The per-phone backlog is full; the sender should retry later. */
export class Overloaded extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('too many deliveries waiting');
  }
}

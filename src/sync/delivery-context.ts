import { boundedWarnings, operationName, refusalSubject, toOperation, type Operation } from '../webhook/operation.js';
import { readPayload, sentText, type RawDelivery, type ReadPayload } from '../webhook/read-payload.js';
import { Refusal, type RefusalSubject } from '../webhook/refusal.js';
import { newId } from '../ids.js';
import { fingerprintOf } from './idempotency.js';

/*
 * A delivery as the Deliverer takes it and carries it from arrival to answer, and how its payload
 * is read into an operation (or a refusal).
 */

export interface Account {
  id: string;
  name: string;
  defaultRegion: string | null;
}

/** The header an idempotency key came in, to name it when the key is refused. */
export type KeyHeader = 'Idempotency-Key' | 'webhook-id';

export interface DeliveryInput {
  account: Account;
  raw: RawDelivery;
  idempotencyKey?: string;
  keyHeader?: KeyHeader;
  /** Aborts when the sender has been answered 503 for taking too long: the delivery is then dropped if it has not been applied yet. */
  signal?: AbortSignal;
  /** A replay's: the refused delivery whose kept payload this is, named in the log. */
  replayOf?: string;
}

export interface DeliveryContext {
  id: string;
  started: number;
  account: Account;
  raw: RawDelivery;
  key: string | undefined;
  keyHeader: KeyHeader;
  signal: AbortSignal | undefined;
  /** Of what was sent; only with a key, to tell the same delivery from another one under that key. */
  fingerprint: string;
  replayOf: string | undefined;
}

export const newContext = ({ account, raw, idempotencyKey: key, keyHeader = 'Idempotency-Key', signal, replayOf }: DeliveryInput): DeliveryContext => ({
  id: newId('dlv'),
  started: performance.now(),
  account,
  raw,
  key,
  keyHeader,
  signal,
  fingerprint: key === undefined ? '' : fingerprintOf(raw.kind, sentText(raw)),
  replayOf,
});

export function parse(ctx: DeliveryContext): { operation: Operation; warnings: string[] } | Refusal {
  let sent: ReadPayload | undefined;
  try {
    sent = readPayload(ctx.raw);
    if (sent.refusal) {
      sent.refusal.subject = refusalSubject(sent.payload, ctx.account.defaultRegion);
      throw sent.refusal;
    }
    const read = toOperation(sent.payload, ctx.account.defaultRegion);
    return { operation: read.operation, warnings: boundedWarnings([...read.warnings, ...sent.warnings]) };
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    // Told with the refusal: `contact.Phone: unknown key` beside `contact.phone is required`.
    error.warnings = boundedWarnings([...(error.warnings ?? []), ...(sent?.warnings ?? [])]);
    return error;
  }
}

/** The operation and phone a refused delivery's log row shows: its operation's, or what its payload showed of them. */
export function subject(operation: Operation | undefined, refusal: Refusal): RefusalSubject {
  if (operation) return { operation: operationName(operation), phone: operation.phone };
  return refusal.subject ?? { operation: null, phone: null };
}

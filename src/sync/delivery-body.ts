import type { DeleteResult } from './delete-contact.js';
import type { FieldIssue } from '../zod-issues.js';
import type { Refusal, RefusalCode } from '../webhook/refusal.js';
import type { UpsertResult } from './upsert-contact.js';
import type { OperationName } from '../webhook/operation.js';

/** A delivery's answer when it was applied, found unchanged, or stale (SPEC §2.3); kept as is under its idempotency key. */
export type SuccessBody = {
  status: 'applied' | 'unchanged' | 'stale';
  operation: OperationName;
  delivery_id: string;
  warnings: string[];
} & (
  | { contact: UpsertResult['contact']; assigned_conversations: number }
  | { deleted: DeleteResult['deleted']; contact: boolean }
);

export interface RefusalBody {
  error: string;
  code: RefusalCode;
  issues?: FieldIssue[];
  delivery_id: string;
  /** As a success's, when reading the payload noticed anything. */
  warnings?: string[];
}

export type DeliveryBody = SuccessBody | RefusalBody;

/**
 * An upsert's answer as its idempotency key keeps it once the contact has been deleted: without the
 * contact (`forgetStoredContact`), so that a replay does not hand the deleted contact back.
 */
type ForgottenContactBody = Omit<Extract<SuccessBody, { assigned_conversations: number }>, 'contact'>;

/** What a sender is answered: a replayed answer (`replayed`) may lack its contact. */
export type AnswerBody = DeliveryBody | ForgottenContactBody;

export interface DeliveryOutcome {
  body: AnswerBody;
  /** The stored answer to an earlier delivery with the same idempotency key. */
  replayed: boolean;
  /** A refusal's operation, when the payload was read that far (a refusal body does not carry it). */
  operation?: OperationName;
}

/** The operation a delivery was: its answer's, or for a refusal what its payload asked for (none when it asked for none). */
export const operationOfOutcome = ({ body, operation }: DeliveryOutcome): OperationName | undefined => ('operation' in body ? body.operation : operation);

export const refusalBody = (deliveryId: string, refusal: Refusal): RefusalBody => ({
  error: refusal.message,
  code: refusal.code,
  ...(refusal.issues ? { issues: refusal.issues } : {}),
  delivery_id: deliveryId,
  ...(refusal.warnings?.length ? { warnings: refusal.warnings } : {}),
});

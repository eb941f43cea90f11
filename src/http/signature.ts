import { createHmac, timingSafeEqual } from 'node:crypto';

/** Standard Webhooks: how far a `webhook-timestamp` may be from now, either way. */
export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;
const MAX_SIGNATURE_HEADER_LENGTH = 4096;

export interface SignedHeaders {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/** `whsec_<base64>` → the HMAC key bytes. */
function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

export function sign(secret: string, id: string, timestamp: string, body: Uint8Array): string {
  return createHmac('sha256', secretKey(secret)).update(`${id}.${timestamp}.`).update(body).digest('base64');
}

/**
 * Verifies Standard Webhooks headers over the raw body bytes, before anything is parsed: HMAC-SHA256
 * of `id.timestamp.body`, any `v1,` signature in the header against any of the account's secrets
 * (so secrets can be rotated), compared in constant time, the timestamp within ±5 minutes.
 */
export function verifySignature(secrets: string[], headers: SignedHeaders, body: Uint8Array, nowSeconds = Date.now() / 1000): SignatureCheck {
  const verifier = signatureVerifier(secrets, headers, nowSeconds);
  verifier.update(body);
  return verifier.verify();
}

/** The same check fed chunk by chunk, for a body streamed to disk rather than held in memory. */
export function signatureVerifier(secrets: string[], headers: SignedHeaders, nowSeconds = Date.now() / 1000) {
  const hmacs = secrets.map((secret) => createHmac('sha256', secretKey(secret)).update(`${headers.id}.${headers.timestamp}.`));
  return {
    /** Header problems are known before any byte is read. */
    headerProblem: (): SignatureCheck => checkHeaders(headers, nowSeconds),
    update(chunk: Uint8Array): void {
      for (const hmac of hmacs) hmac.update(chunk);
    },
    verify(): SignatureCheck {
      const headerCheck = checkHeaders(headers, nowSeconds);
      if (!headerCheck.ok) return headerCheck;
      const sent = headers
        .signature!.split(' ')
        .filter((part) => part.startsWith('v1,'))
        .map((part) => Buffer.from(part.slice(3), 'base64'));
      for (const hmac of hmacs) {
        const expected = hmac.digest();
        // Lengths first: timingSafeEqual throws on unequal lengths, and a length says nothing secret.
        if (sent.some((candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected))) return { ok: true };
      }
      return { ok: false, reason: 'no webhook-signature matches a signing secret of this account' };
    },
  };
}

function checkHeaders({ id, timestamp, signature }: SignedHeaders, nowSeconds: number): SignatureCheck {
  if (!id || !timestamp || !signature) return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature header' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'webhook-timestamp must be seconds since the epoch' };
  if (Math.abs(nowSeconds - Number(timestamp)) > SIGNATURE_TOLERANCE_SECONDS) {
    return { ok: false, reason: `webhook-timestamp is more than ${SIGNATURE_TOLERANCE_SECONDS / 60} minutes from now` };
  }
  if (signature.length > MAX_SIGNATURE_HEADER_LENGTH) return { ok: false, reason: 'webhook-signature is too long' };
  return { ok: true };
}

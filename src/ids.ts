import { createHash, randomBytes } from 'node:crypto';

/** Random bytes for ids, drawn from the system 4 KiB at a time rather than 8 bytes per id. */
const pool = { bytes: Buffer.alloc(0), used: 0 };

/** `dlv_…`: time-ordered (so ids sort by creation) with 64 random bits. */
export function newId(prefix: string): string {
  if (pool.used + 8 > pool.bytes.length) {
    pool.bytes = randomBytes(4096);
    pool.used = 0;
  }
  const random = pool.bytes.toString('hex', pool.used, (pool.used += 8));
  return `${prefix}_${Date.now().toString(36).padStart(9, '0')}${random}`;
}

/** A credential: 192 random bits, base64url, with a prefix that says what it is. */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

/** Credentials are stored and looked up only by this hash. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

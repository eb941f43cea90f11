import { z } from 'zod';
import { isRegion, REGION_MESSAGE } from './webhook/phone.js';

/** A whole number written in digits (`1e3`, `0x10` and spaces are refused, not read as something else), within its range. */
const integer = (fallback: number, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number written in digits')
    .transform(Number)
    .pipe(z.number().min(min).max(max))
    .default(fallback);

/** Whether the driver can read the URL's user and password: a bare % there would stop it with a stack. */
function decodesUserAndPassword(url: string): boolean {
  try {
    const { username, password } = new URL(url);
    decodeURIComponent(username);
    decodeURIComponent(password);
    return true;
  } catch {
    return false;
  }
}

const ConfigSchema = z.object({
  PORT: integer(3000, 0, 65535),
  HOST: z.string().min(1).default('0.0.0.0'),
  /**
   * Base URL the service is reached at: printed in webhook URLs, and, when TLS ends at a proxy in
   * front, what makes session cookies Secure and the origin page forms may be posted from.
   */
  PUBLIC_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
    .refine((url) => !new URL(url).username && !new URL(url).password, 'must not carry a user or password: it is printed, logged and handed out in webhook URLs')
    // Read off the text: URL parses an empty query or fragment (`https://x/?`) as none.
    .refine((url) => !/[?#]/.test(url), 'must be a base URL, without a query or fragment: webhook paths are appended to it')
    .transform((url) => url.replace(/\/+$/, ''))
    .optional(),
  DATABASE_URL: z
    .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' })
    .refine(decodesUserAndPassword, 'its user and password must be percent-encoded (a % is written %25)')
    .optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  DB_POOL_SIZE: integer(10, 1, 200),
  ADMIN_API_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Region for the `default` account created on first start (ISO 3166 alpha-2). */
  DEFAULT_REGION: z
    .string()
    .regex(/^[A-Za-z]{2}$/, 'must be a two-letter country code')
    .transform((r) => r.toUpperCase())
    .refine(isRegion, REGION_MESSAGE)
    .optional(),
  MAX_BODY_BYTES: integer(256 * 1024, 1024, 64 * 1024 * 1024),
  /** A signed bulk body is spooled to disk before its signature can be checked: at most this much. */
  MAX_BULK_BYTES: integer(1024 * 1024 * 1024, 1024, 64 * 1024 * 1024 * 1024),
  RATE_LIMIT_PER_MINUTE: integer(6000, 1, 10_000_000),
  REQUEST_TIMEOUT_MS: integer(30_000, 100, 600_000),
  SHUTDOWN_TIMEOUT_MS: integer(25_000, 0, 600_000),
  /** Deliveries accepted but not yet answered; beyond this new ones get 503. */
  MAX_BACKLOG: integer(10_000, 1, 10_000_000),
  /** Most webhook deliveries applied in one transaction (group commit); 1 turns batching off. Bulk lines go in groups of up to 1,000 whatever it is. */
  MAX_BATCH: integer(64, 1, 1000),
  /**
   * Transactions applying deliveries at once, per instance (at most DB_POOL_SIZE − 2; 1 on PGlite).
   * Fewer, larger batches cost the database less per delivery: raise it only while PostgreSQL has
   * cores to spare.
   */
  MAX_TRANSACTIONS: integer(4, 1, 200),
  /** How often expired idempotency keys, tombstones, kept payloads and old deliveries are removed. */
  PURGE_INTERVAL_MS: integer(15 * 60_000, 1000, 24 * 60 * 60_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {}

/** The only reader of process.env. Throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "not set", as `FOO= npm start` suggests.
  const parsed = ConfigSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, value]) => value !== '')));
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

export function publicUrl(config: Config): string {
  return config.PUBLIC_URL ?? `http://localhost:${config.PORT}`;
}

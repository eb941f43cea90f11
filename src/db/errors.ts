/** The driver's own error: drizzle wraps it as its `cause`. */
export function driverError(error: unknown): (Error & { code?: unknown; constraint_name?: unknown; constraint?: unknown }) | undefined {
  if (!(error instanceof Error)) return undefined;
  return error.cause instanceof Error ? error.cause : error;
}

/** The driver's SQLSTATE (or network code), also when drizzle wrapped the driver's error as its `cause`. */
export function sqlState(error: unknown): string | undefined {
  const code = driverError(error)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** unique_violation on the named constraint or index (postgres.js names it `constraint_name`, PGlite `constraint`). */
export function isUniqueViolation(error: unknown, constraint: string): boolean {
  const driver = driverError(error);
  return sqlState(error) === '23505' && (driver?.constraint_name ?? driver?.constraint) === constraint;
}

/** A SQLSTATE, as PostgreSQL's own errors carry (the driver's network errors carry names such as ECONNREFUSED). */
export const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The database could not be reached or would not let us in: refused connection, unknown host, bad password, no such database or role. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'CONNECT_TIMEOUT', '28P01', '28000', '3D000']);
export const isUnreachable = (code: string) => UNREACHABLE.has(code);

/** A migration PostgreSQL refused; its message says which, why, and what to do. */
export class MigrationFailed extends Error {}

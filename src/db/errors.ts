/** The driver's SQLSTATE (or network code), also when drizzle wrapped the driver's error as its `cause`. */
export function sqlState(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const cause = error.cause instanceof Error ? error.cause : error;
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** unique_violation on the named constraint or index. */
export function isUniqueViolation(error: unknown, constraint: string): boolean {
  if (sqlState(error) !== '23505') return false;
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const name = (cause as { constraint_name?: unknown; constraint?: unknown }).constraint_name ?? (cause as { constraint?: unknown }).constraint;
  return name === constraint;
}

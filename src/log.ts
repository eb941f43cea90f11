import { ConfigError } from './config.js';
import { DataDirInUse, DataDirUnusable } from './db/data-dir-lock.js';
import { driverError, isUnreachable, MigrationFailed, SQLSTATE, sqlState } from './db/errors.js';

/**
 * What of an unexpected error may be logged: the driver's error under drizzle's wrapper (whose
 * message carries the query's parameters: phones, names, bodies), by type and code, and the
 * stack's frames. The message is left out when it is PostgreSQL's (it has a SQLSTATE), which may
 * quote a value; the routine that raised it is logged instead. The driver's own messages
 * ("connection closed") are kept. The frames are read after the message, so that no line of the
 * message passes for one.
 */
export function loggable(error: unknown): { type: string; message?: string; code?: string; routine?: string; stack?: string } {
  if (!(error instanceof Error)) return { type: typeof error };
  const shown = driverError(error)!;
  const code = sqlState(error);
  const fromPostgres = code !== undefined && SQLSTATE.test(code);
  const carriesParameters = shown.message.startsWith('Failed query:');
  const routine = (shown as { routine?: unknown }).routine;
  return {
    type: shown.name,
    ...(fromPostgres || carriesParameters ? {} : { message: shown.message }),
    ...(code === undefined ? {} : { code }),
    ...(fromPostgres && typeof routine === 'string' ? { routine } : {}),
    stack: framesOf(error),
  };
}

/** The `at …` lines of the stack, read after the message, which may span lines of its own. */
function framesOf(error: Error): string | undefined {
  const { stack, message } = error;
  const end = stack?.indexOf(message) ?? -1;
  if (stack === undefined || end < 0) return undefined;
  const frames = stack.slice(end + message.length).split('\n').filter((line) => line.trimStart().startsWith('at '));
  return frames.length > 0 ? frames.join('\n') : undefined;
}

/**
 * Why the service (or `db:migrate`) could not start, for stderr: a refusal that says what to do as
 * it is, a database that cannot be reached by its message and what to check, anything else with
 * its stack.
 */
export function startFailure(error: unknown): string {
  if (error instanceof ConfigError || error instanceof DataDirInUse || error instanceof DataDirUnusable || error instanceof MigrationFailed) return error.message;
  const code = sqlState(error);
  if (error instanceof Error && code !== undefined && isUnreachable(code)) return `the database cannot be reached or refused us (${code}: ${driverError(error)!.message}): check DATABASE_URL`;
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

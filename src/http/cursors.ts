import { z } from '@hono/zod-openapi';

/*
 * The page cursors the API's lists (next_cursor) and the pages' links hand out: opaque to callers,
 * and refused unless they are exactly what was given out.
 */

const MAX_CURSOR_ID = Number.MAX_SAFE_INTEGER;
export const encodeContactCursor = (id: number) => Buffer.from(String(id)).toString('base64url');

/** Opaque to callers; inside, the id of the last contact of the previous page. */
export const ContactCursor = z
  .string()
  .max(64)
  .transform((cursor, ctx) => {
    const text = Buffer.from(cursor, 'base64url').toString('utf8');
    const id = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
    // Re-encoding catches characters the base64 decoder silently skips.
    if (!(id <= MAX_CURSOR_ID) || encodeContactCursor(id) !== cursor) {
      ctx.issues.push({ code: 'custom', input: cursor, message: 'is not a cursor this API gave out; use next_cursor as returned' });
      return z.NEVER;
    }
    return id;
  });

const CURSOR_TEXT = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z),(dlv_[0-9a-z]{1,64})$/;
export const encodeDeliveryCursor = (receivedAt: string, id: string) => Buffer.from(`${receivedAt},${id}`).toString('base64url');

/**
 * `Date.parse` rolls 30 February over to March; PostgreSQL refuses it. Only a time that survives
 * the round trip is real, and only from year 1: PostgreSQL reads no year 0.
 */
const isRealTime = (text: string) => {
  const date = new Date(Date.parse(text));
  return !Number.isNaN(date.getTime()) && date.getUTCFullYear() >= 1 && date.toISOString().slice(0, 19) === text.slice(0, 19);
};

/** Opaque to callers; inside, the time (to the microsecond) and id of the last delivery of the previous page. */
export const DeliveryCursor = z
  .string()
  .max(200)
  .transform((cursor, ctx) => {
    const match = CURSOR_TEXT.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
    // Re-encoding catches characters the base64 decoder silently skips.
    if (!match || !isRealTime(match[1]!) || encodeDeliveryCursor(match[1]!, match[2]!) !== cursor) {
      ctx.issues.push({ code: 'custom', input: cursor, message: 'is not a cursor this API gave out; use next_cursor as returned' });
      return z.NEVER;
    }
    return { receivedAt: match[1]!, id: match[2]! };
  });

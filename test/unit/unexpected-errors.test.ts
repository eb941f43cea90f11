import { DrizzleQueryError } from 'drizzle-orm/errors';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { answerFor } from '../../src/http/on-error.js';
import { loggable } from '../../src/log.js';

describe('unexpected errors', () => {
  it("a drizzle 'Failed query' error logs neither its query's parameters nor its message", () => {
    const text = JSON.stringify(loggable(new DrizzleQueryError('select $1, $2', ['+447911123456', 'lucinda@example.org'])));
    for (const kept of ['+447911123456', 'lucinda@example.org', 'params']) expect(text).not.toContain(kept);
  });

  it.each(['40P01', '40001'])('a transaction that lost a deadlock or serialization conflict (%s) is 503 with Retry-After, not 500', (code) => {
    const answer = answerFor(pino({ level: 'silent' }), Object.assign(new Error('deadlock detected'), { code }), {});
    expect(answer).toMatchObject({ status: 503, code: 'unavailable', retryAfterSeconds: 1 });
  });
});

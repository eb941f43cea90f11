import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { describeZodError, type FieldIssue } from '../zod-issues.js';
import type { AppEnv } from './auth.js';
import { ApiError, errorResponse } from './errors.js';

/** A router whose request validation failures answer with the one error body. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return;
      const { message, issues } = describeZodError(result.error);
      const repeated = result.target === 'query' ? repeatedQueryIssues(c, issues) : [];
      if (repeated.length > 0) return errorResponse(c, new ApiError('invalid_payload', `${repeated[0]!.path} ${repeated[0]!.message}`, repeated));
      return errorResponse(c, new ApiError('invalid_payload', message, issues));
    },
  });
}

/**
 * A query parameter that takes one value and was given several (`?label=a&label=b`) reaches the
 * schema as a list, which zod words as "must be a string": the sender is told what happened instead.
 */
function repeatedQueryIssues(c: Context, issues: FieldIssue[]): FieldIssue[] {
  return issues.flatMap(({ path }) => {
    const given = c.req.queries(path)?.length ?? 0;
    return given > 1 ? [{ path, message: `is given ${given} times: give it once` }] : [];
  });
}

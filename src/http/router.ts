import { OpenAPIHono } from '@hono/zod-openapi';
import { describeZodError } from '../zod-issues.js';
import type { AppEnv } from './auth.js';
import { ApiError, errorResponse } from './errors.js';

/** A router whose request validation failures answer with the one error body. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return;
      const { message, issues } = describeZodError(result.error);
      return errorResponse(c, new ApiError('invalid_payload', message, issues));
    },
  });
}

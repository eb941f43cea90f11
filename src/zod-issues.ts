import type { z } from 'zod';

export interface FieldIssue {
  path: string;
  message: string;
}

/** zod issues as `{ path: "contact.labels[2]", message }`, and one sentence for the first. */
export function describeZodError(error: z.ZodError): { message: string; issues: FieldIssue[] } {
  const issues = error.issues.map((issue) => ({
    path: issue.path.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`)).join('') || '(body)',
    message: issue.message,
  }));
  const first = issues[0] ?? { path: '(body)', message: 'is invalid' };
  const joiner = /^[A-Z]/.test(first.message) ? ': ' : ' ';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return { message: `${first.path}${joiner}${first.message}${more}`, issues };
}

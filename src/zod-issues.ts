import type { z } from 'zod';

export interface FieldIssue {
  path: string;
  message: string;
}

/** zod issues as `{ path: "contact.labels[2]", message }`, and one sentence for the first. */
export function describeZodError(error: z.ZodError): { message: string; issues: FieldIssue[] } {
  const issues = error.issues.flatMap(innermost).map((issue) => ({
    path: issue.path.map((part, i) => (typeof part === 'number' ? `[${part}]` : part === '' ? '[""]' : i === 0 ? String(part) : `.${String(part)}`)).join('') || '(body)',
    message: issue.message,
  }));
  const first = issues[0] ?? { path: '(body)', message: 'is invalid' };
  const joiner = /^[A-Z]/.test(first.message) ? ': ' : ' ';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return { message: `${first.path}${joiner}${first.message}${more}`, issues };
}

/**
 * The issues that say what is wrong. A record key that fails is reported by what its own schema
 * says of it, at the key. A value that matches none of a union's forms is reported by the form it
 * got furthest into: an object of sections with a `javascript:` link is told about the link, not
 * that it is neither an object nor a list. A value of a form's type that breaks that form's limit
 * (101 labels as a list) is told about the limit. When every form stopped at the value's type (a
 * string where an object or a list belongs), the union's own message says what it takes.
 */
function innermost(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code === 'invalid_key' && issue.issues.length > 0) return issue.issues.map((inner) => ({ ...inner, path: issue.path }));
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [issue];
  const depth = (issues: z.core.$ZodIssue[]) => Math.max(0, ...issues.map((inner) => inner.path.length));
  const furthest = issue.errors.reduce((best, branch) => (depth(branch) > depth(best) ? branch : best));
  const ofItsType = issue.errors.find((branch) => branch.length > 0 && branch.every((inner) => inner.code !== 'invalid_type'));
  const chosen = depth(furthest) > 0 ? furthest : ofItsType;
  if (!chosen) return [issue];
  return chosen.flatMap((inner) => innermost({ ...inner, path: [...issue.path, ...inner.path] }));
}

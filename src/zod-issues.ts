import { z } from 'zod';

export interface FieldIssue {
  path: string;
  message: string;
}

/** At most this many issues are listed (the sentence counts them all), as warnings are: 25,000 bad values in a 224 KB body were a 2.4 MB answer. */
const MAX_ISSUES = 50;

/** zod issues as `{ path: "contact.labels[2]", message }`, the first MAX_ISSUES of them, and one sentence for the first. */
export function describeZodError(error: z.ZodError): { message: string; issues: FieldIssue[] } {
  const issues = error.issues.flatMap(innermost).map((issue) => ({
    path: issue.path.map((part, i) => (typeof part === 'number' ? `[${part}]` : part === '' ? '[""]' : i === 0 ? String(part) : `.${String(part)}`)).join('') || '(body)',
    message: issue.message,
  }));
  const first = issues[0] ?? { path: '(body)', message: 'is invalid' };
  // An issue of the whole body is said of it: `the body holds a field not known here: nmae`.
  const subject = first.path === '(body)' ? 'the body' : first.path;
  const joiner = /^[A-Z]/.test(first.message) ? ': ' : ' ';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return { message: `${subject}${joiner}${first.message}${more}`, issues: issues.slice(0, MAX_ISSUES) };
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

const quoted = (values: readonly unknown[]) => {
  const each = values.map((value) => JSON.stringify(value) ?? String(value));
  return each.length === 1 ? each[0]! : `${each.slice(0, -1).join(', ')} or ${each.at(-1)}`;
};

const TYPE_NAMES: Partial<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  record: 'an object',
  array: 'a list',
  tuple: 'a list',
};

/**
 * zod's own wording for the issues a schema gives no message of its own ("Invalid input: expected
 * string, received undefined"), said as the service says everything else: after the field's path,
 * what to send. Issues it does not word keep zod's message.
 */
function fieldMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'is required';
      const name = TYPE_NAMES[issue.expected];
      return name && `must be ${name}`;
    }
    case 'too_small':
      if (issue.origin === 'string') return Number(issue.minimum) === 1 ? 'must not be empty' : `must be at least ${issue.minimum} characters`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must hold at least ${issue.minimum} ${Number(issue.minimum) === 1 ? 'item' : 'items'}`;
      if (issue.origin === 'number' || issue.origin === 'int') return `must be ${issue.inclusive === false ? 'more than' : 'at least'} ${issue.minimum}`;
      return undefined;
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must hold at most ${issue.maximum} items`;
      if (issue.origin === 'number' || issue.origin === 'int') return `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${issue.maximum}`;
      return undefined;
    case 'invalid_value':
      return issue.values.length === 1 ? `must be ${quoted(issue.values)}` : `must be one of ${quoted(issue.values)}`;
    case 'invalid_format':
      return issue.format === 'email' ? 'must be an email address' : undefined;
    case 'unrecognized_keys':
      return `holds ${issue.keys.length === 1 ? 'a field' : 'fields'} not known here: ${issue.keys.length > 10 ? `${issue.keys.slice(0, 10).join(', ')} and ${issue.keys.length - 10} more` : issue.keys.join(', ')}`;
    default:
      return undefined;
  }
}

// Set where the messages are read, so that every schema parsed in this process words them alike.
z.config({ customError: fieldMessage });

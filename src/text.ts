/** Text as PostgreSQL can store it, checked wherever bytes or JSON come in: webhooks, bulk lines and API bodies. */

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes as UTF-8 text, or undefined when they are not UTF-8 (a Latin-1 é, say), rather than U+FFFD in their place. */
export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Whether the bytes that %XX escapes stand for are UTF-8. URLSearchParams turns `%E9` (Latin-1 é)
 * into U+FFFD without a word, and hono leaves it as the three characters `%E9`: either way a search
 * or a field would quietly hold something other than what was meant.
 */
export function escapesAreUtf8(text: string): boolean {
  if (!text.includes('%')) return true;
  const parts = text.split(/(%[0-9A-Fa-f]{2})/).map((part, i) => (i % 2 === 1 ? Buffer.from(part.slice(1), 'hex') : Buffer.from(part, 'utf8')));
  return utf8Text(Buffer.concat(parts)) !== undefined;
}

/** Whether a request URL's path and query, as sent (URL keeps their escapes), escape UTF-8 only. */
export function urlEscapesAreUtf8(url: string): boolean {
  const { pathname, search } = new URL(url);
  return escapesAreUtf8(pathname + search);
}

/**
 * Whether `text` holds more than `max` characters, counted as zod's `max` counts them: by code
 * point, so that an emoji (two UTF-16 code units) is one, as it is to the sender.
 */
export function longerThan(text: string, max: number): boolean {
  return text.length > max && [...text].length > max;
}

const MAX_DEPTH = 32;
/** A UTF-16 surrogate without its other half: PostgreSQL's json rejects it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * What PostgreSQL text and jsonb cannot hold, in values or keys: U+0000 and lone surrogates. Walked
 * without recursion, and refused past MAX_DEPTH levels: no field of a delivery nests that deep.
 */
export function unstorableText(payload: unknown): string | undefined {
  const stack: [unknown, number][] = [[payload, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return 'a NUL character (\\u0000)';
      if (LONE_SURROGATE.test(value)) return 'an unpaired UTF-16 surrogate';
    } else if (typeof value === 'object' && value !== null) {
      if (depth >= MAX_DEPTH) return `values nested more than ${MAX_DEPTH} levels deep`;
      for (const [key, inner] of Object.entries(value)) stack.push([key, depth + 1], [inner, depth + 1]);
    }
  }
  return undefined;
}

/**
 * What JSON.parse found wrong, to follow "is not valid JSON": where it stopped (a character count
 * from 1) and what it found wrong there, as V8 words it (`: expected ',' or '}' after property value
 * at character 14`, `: unterminated string at character 27`). Said only where V8's message quotes
 * none of the text, which may hold anything.
 */
export function jsonFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : '';
  if (message === 'Unexpected end of JSON input') return ': it ends too soon';
  const at = / in JSON at position (\d+)/.exec(message);
  if (!at) return '';
  const problem = message.slice(0, at.index);
  const said = /^[A-Z][^"'\n]{0,99}$|^Expected [^"\n]{1,100}$/.test(problem) ? `: ${problem.charAt(0).toLowerCase()}${problem.slice(1)}` : '';
  return `${said} at character ${Number(at[1]) + 1}`;
}

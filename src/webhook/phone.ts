import { AsYouType, type CountryCode, isSupportedCountry, parsePhoneNumberFromString, validatePhoneNumberLength } from 'libphonenumber-js/max';

/**
 * What a sender may put between digits: spaces, dots, dashes, slashes, brackets; the `+` may sit
 * inside the first bracket (`(+44) 7911 123456`). Anything else (letters, `ext. 12`) is refused
 * rather than guessed at.
 */
const PHONE_SHAPE = /^\(?\+?[\d\s().\-/]{4,40}$/;
/**
 * Digits with a decimal fraction (`7911123456.0`), as a spreadsheet or a script writes a number:
 * never a phone with one more digit (`+79111234560`, somebody in Russia). A whole number (`.0`,
 * `.00`) is read without its fraction, as the JSON number `7911123456.0` is; any other fraction is
 * not a phone.
 */
const DECIMAL = /^(\+?\d+)\.(\d{1,2})$/;
/** A `tel:` link's scheme (RFC 3966), as a phone copied from a CRM's link may carry: read without it. */
const TEL_SCHEME = /^tel:/i;
/** Dashes a word processor or a spreadsheet puts in place of `-`: hyphen, non-breaking hyphen, figure dash, en and em dash, minus. */
const DASHES = /[\u2010-\u2015\u2212]/g;

/** An account's region: an ISO 3166-1 alpha-2 code libphonenumber-js has numbering plans for (upper case). */
export const isRegion = (code: string): code is CountryCode => isSupportedCountry(code);
export const REGION_MESSAGE = 'must be a country code libphonenumber knows, like GB or US';

/**
 * E.164 for a phone as CRMs send it, or null when it is not a valid number.
 * `+` or `00` in front means international; other digits are read in the account's region
 * first and, where that is not a valid number there, as international.
 */
export function normalisePhone(input: string | number, region: string | null): string | null {
  let raw = written(input);
  const decimal = DECIMAL.exec(raw);
  if (decimal) {
    if (/[^0]/.test(decimal[2]!)) return null;
    raw = decimal[1]!;
  }
  if (!PHONE_SHAPE.test(raw)) return null;
  const digits = raw.replace(/\D/g, '');
  if (/^\(?\+/.test(raw)) return valid(`+${digits}`);
  if (digits.startsWith('00')) return valid(`+${digits.slice(2)}`);
  return (region ? valid(digits, region as CountryCode) : null) ?? valid(`+${digits}`);
}

/** Why `normalisePhone` found no number in `input`, worded to follow the field's name, so that the sender knows what to fix. */
export function phoneProblem(input: string | number, region: string | null): string {
  const raw = written(input);
  if (DECIMAL.test(raw)) return 'has a fraction: send the number as text, or as a whole number';
  if (/[a-z]/i.test(raw)) return 'holds letters: send the number alone (an extension such as "ext. 12" is not taken)';
  if (!PHONE_SHAPE.test(raw)) return 'is not written as a number: digits, with + or 00 in front of an international one, and spaces, dots, dashes or brackets between';
  const digits = raw.replace(/\D/g, '');
  if (/^\(?\+/.test(raw)) return internationalProblem(`+${digits}`);
  if (digits.startsWith('00')) return internationalProblem(`+${digits.slice(2)}`);
  if (!region) return 'is not a valid international number, and the account has no region to read a national one in: start it with + and the country code';
  const length = validatePhoneNumberLength(digits, region as CountryCode);
  if (length === 'TOO_SHORT' || length === 'TOO_LONG') return `has too ${length === 'TOO_SHORT' ? 'few' : 'many'} digits for a number in region ${region}`;
  return `is not a valid number in region ${region}, nor as an international one (start that with + and the country code)`;
}

/** The number as written, without the spaces around it, a `tel:` in front, or dashes other than `-`. */
const written = (input: string | number) => String(input).trim().replace(TEL_SCHEME, '').trimStart().replace(DASHES, '-');

function internationalProblem(text: string): string {
  const country = parsePhoneNumberFromString(text)?.countryCallingCode;
  const length = validatePhoneNumberLength(text);
  if (length === 'INVALID_COUNTRY' || !country) return `starts with no country code (${text.slice(0, 4)}…)`;
  if (length === 'TOO_SHORT' || length === 'TOO_LONG') return `has too ${length === 'TOO_SHORT' ? 'few' : 'many'} digits for +${country}`;
  return `is not a number in use in the numbering plan of +${country}`;
}

function valid(text: string, region?: CountryCode): string | null {
  const phone = parsePhoneNumberFromString(text, region);
  return phone?.isValid() ? phone.number : null;
}

/**
 * The start of the E.164 phones that a number begun the way people write it names: `07911 12` in
 * region GB is `+4479111 2…`, `06 20 1` in HU is `+36201…` (libphonenumber-js knows each region's
 * national prefix), `0044 7911` is `+447911…`. Undefined for a search that is not a number begun so.
 */
export function phonePrefix(search: string, region: string | null): string | undefined {
  const text = search.trim();
  if (!PHONE_SHAPE.test(text) || text.includes('+')) return undefined;
  const digits = text.replace(/\D/g, '');
  if (digits.startsWith('00')) return digits.length > 2 ? `+${digits.slice(2)}` : undefined;
  if (!region || !isRegion(region)) return undefined;
  const typed = new AsYouType(region);
  typed.input(digits);
  return typed.getNumber()?.number;
}

/** `+447911123456` → `+44*******456`: enough to tell deliveries apart in a log, not to call. */
export function maskPhone(phone: string): string {
  if (phone.length <= 6) return '*'.repeat(phone.length);
  return phone.slice(0, 3) + '*'.repeat(phone.length - 6) + phone.slice(-3);
}

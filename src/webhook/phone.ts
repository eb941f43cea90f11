import { type CountryCode, parsePhoneNumberFromString } from 'libphonenumber-js/max';

/** What a sender may put between digits: spaces, dots, dashes, slashes, brackets. */
const PHONE_SHAPE = /^\+?[\d\s().\-/]{4,40}$/;

/**
 * E.164 for a phone as CRMs send it, or null when it is not a valid number.
 * `+` or `00` in front means international; other digits are read in the account's region
 * first and, where that is not a valid number there, as international.
 */
export function normalisePhone(input: string | number, region: string | null): string | null {
  const raw = String(input).trim();
  if (!PHONE_SHAPE.test(raw)) return null;
  const digits = raw.replace(/\D/g, '');
  if (raw.startsWith('+')) return valid(`+${digits}`);
  if (digits.startsWith('00')) return valid(`+${digits.slice(2)}`);
  return (region ? valid(digits, region as CountryCode) : null) ?? valid(`+${digits}`);
}

function valid(text: string, region?: CountryCode): string | null {
  const phone = parsePhoneNumberFromString(text, region);
  return phone?.isValid() ? phone.number : null;
}

/** `+447911123456` → `+44*******456`: enough to tell deliveries apart in a log, not to call. */
export function maskPhone(phone: string): string {
  if (phone.length <= 6) return '*'.repeat(phone.length);
  return phone.slice(0, 3) + '*'.repeat(phone.length - 6) + phone.slice(-3);
}

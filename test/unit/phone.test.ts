import { describe, expect, it } from 'vitest';
import { maskPhone, normalisePhone, phonePrefix, phoneProblem } from '../../src/webhook/phone.js';

describe('normalisePhone', () => {
  it.each([
    ['+44 7911 123456', 'GB', '+447911123456'],
    ['0044 7911 123456', 'GB', '+447911123456'],
    ['447911123456', 'GB', '+447911123456'],
    ['07911 123456', 'GB', '+447911123456'],
    ['07911-123-456', 'GB', '+447911123456'],
    ['447911123456', 'US', '+447911123456'],
    ['(415) 555-2671', 'US', '+14155552671'],
    ['4155552671', null, null],
    ['14155552671', null, '+14155552671'],
    [447911123456, 'GB', '+447911123456'],
    ['(+44) 7911 123456', null, '+447911123456'],
    ['(+44) 07911 123456', 'GB', '+447911123456'],
    ['+44 (0) 7911 123456', null, '+447911123456'],
    ['+44\u20137911\u2013123456', null, '+447911123456'],
    ['07911\u2011123\u2011456', 'GB', '+447911123456'],
    ['(4) 7911 123456', null, null],
    ['((+44)) 7911 123456', null, null],
    ['+44 7911 123456 ext 4', 'GB', null],
    ['+44 12', 'GB', null],
    ['', 'GB', null],
    ['phone', 'GB', null],
    ['+999 123456789', null, null],
    // A whole number written as a decimal by a spreadsheet: not one digit more (+79111234560, Russia).
    ['7911123456.0', 'GB', '+447911123456'],
    ['447911123456.0', 'GB', '+447911123456'],
    ['+447911123456.00', null, '+447911123456'],
    ['2025550123.0', 'US', '+12025550123'],
    ['0207.946.0000', 'GB', '+442079460000'],
    ['7911123456.5', 'GB', null],
    ['7911123456.25', 'GB', null],
    // A tel: link, as a CRM's phone link is copied (RFC 3966); its parameters are not taken.
    ['tel:+44-7911-123456', null, '+447911123456'],
    ['TEL:+447911123456', null, '+447911123456'],
    ['tel:07911 123456', 'GB', '+447911123456'],
    ['tel:+447911123456;ext=12', null, null],
    ['tel:tel:+447911123456', null, null],
    ['tel:', 'GB', null],
  ])('%s in region %s → %s', (input, region, expected) => {
    expect(normalisePhone(input, region)).toBe(expected);
  });
});

describe('maskPhone', () => {
  it('keeps the country code and the last three digits', () => {
    expect(maskPhone('+447911123456')).toBe('+44*******456');
  });
});

describe('phonePrefix', () => {
  it.each([
    ['07911 12345', 'GB', '+44791112345'],
    // Each region's own national prefix: 06 in Hungary; none in Italy, where the 0 is part of the number.
    ['06 20 123', 'HU', '+3620123'],
    ['06 123', 'IT', '+3906123'],
    ['0033 6 12', null, '+33612'],
    // A region libphonenumber-js does not know (an old DEFAULT_REGION=XX) reads no national numbers.
    ['07911', 'XX', undefined],
    ['+44 79', 'GB', undefined],
    ['john', 'GB', undefined],
  ])('%s in %s → %s', (search, region, prefix) => {
    expect(phonePrefix(search, region)).toBe(prefix);
  });
});

/** What an invalid_phone issue tells the sender: what is wrong with this number, not a guess at how it was read. */
describe('phoneProblem', () => {
  it.each([
    ['+447700900001', 'GB', 'is not a number in use in the numbering plan of +44'],
    ['+44 7911 1', 'GB', 'has too few digits for +44'],
    ['0044 7911 123456 78', 'GB', 'has too many digits for +44'],
    ['+999 123 456 789', 'GB', 'starts with no country code (+999…)'],
    ['07911 123456 ext. 12', 'GB', 'holds letters: send the number alone (an extension such as "ext. 12" is not taken)'],
    ['7911123456.5', 'GB', 'has a fraction: send the number as text, or as a whole number'],
    ['#12345', 'GB', 'is not written as a number: digits, with + or 00 in front of an international one, and spaces, dots, dashes or brackets between'],
    ['415 555', 'US', 'has too few digits for a number in region US'],
    ['tel:+44 7911 1', 'GB', 'has too few digits for +44'],
    ['07911123456', null, 'is not a valid international number, and the account has no region to read a national one in: start it with + and the country code'],
  ])('%s (region %s): %s', (input, region, problem) => {
    expect(normalisePhone(input, region)).toBeNull();
    expect(phoneProblem(input, region)).toBe(problem);
  });
});

import { describe, expect, it } from 'vitest';
import { maskPhone, normalisePhone } from '../../src/webhook/phone.js';

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
  ])('%s in region %s → %s', (input, region, expected) => {
    expect(normalisePhone(input, region)).toBe(expected);
  });
});

describe('maskPhone', () => {
  it('keeps the country code and the last three digits', () => {
    expect(maskPhone('+447911123456')).toBe('+44*******456');
  });
});

import { describe, expect, it } from 'vitest';
import { normaliseLink } from '../../src/webhook/payload.js';

describe('normaliseLink', () => {
  it.each([
    ['tel:+44 7911 123456', 'tel:+447911123456'],
    ['tel:+44 7911 123456\n', 'tel:+447911123456'],
    ['tel:+44\u00a07911\u202f123456', 'tel:+447911123456'],
    [' TEL:+1 415 555 2671 ', 'TEL:+14155552671'],
    ['www.example.com/o/1', 'https://www.example.com/o/1'],
    ['mailto:a@example.com', 'mailto:a@example.com'],
  ])('%s is stored as %s', (link, stored) => {
    expect(normaliseLink(link)).toBe(stored);
  });

  it.each(['https://example.com/a b', 'mailto:a b@example.com', 'tel:+44\n7911', 'javascript:alert(1)'])('%s is refused', (link) => {
    expect(normaliseLink(link)).toBeNull();
  });
});

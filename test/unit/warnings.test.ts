import { describe, expect, it } from 'vitest';
import { boundedWarnings } from '../../src/webhook/operation.js';

describe('boundedWarnings', () => {
  it('keeps at most 50, the last counting the rest, and cuts each to 300 characters between characters', () => {
    const many = Array.from({ length: 200 }, (_, i) => `contact.k${i}: unknown key, ignored`);
    const bounded = boundedWarnings(many);
    expect(bounded).toHaveLength(50);
    expect(bounded.slice(0, 49)).toEqual(many.slice(0, 49));
    expect(bounded[49]).toBe('…and 151 more warnings');

    // The cut falls inside an emoji's surrogate pair: the whole emoji goes, so the text stays storable.
    const [long] = boundedWarnings([`contact.${'😀'.repeat(200)}: unknown key, ignored`]);
    expect(long).toHaveLength(299);
    expect(long).toMatch(/^contact\.(😀)+…$/u);
    expect(boundedWarnings(['short'])).toEqual(['short']);
  });
});

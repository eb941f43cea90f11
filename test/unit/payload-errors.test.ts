import { describe, expect, it } from 'vitest';
import { Refusal } from '../../src/sync/errors.js';
import { toOperation } from '../../src/webhook/operation.js';

const phone = '+447911123456';

function refusalOf(payload: Record<string, unknown>): Refusal {
  try {
    toOperation(payload, 'GB');
  } catch (error) {
    if (error instanceof Refusal) return error;
    throw error;
  }
  throw new Error(`accepted: ${JSON.stringify(payload)}`);
}

/** A refusal names the field at fault and what it takes, so the sender can fix it at the source. */
describe('what a refused payload is told', () => {
  it.each([
    [{ enhanced_data: { Orders: [{ text: 'x', link: 'javascript:alert(1)' }] } }, 'contact.enhanced_data.Orders[0].link', /http\(s\):\/\/, mailto: or tel:/],
    [{ enhanced_data: [{ Orders: [{ text: 'x', link: 'data:text/html,x' }] }] }, 'contact.enhanced_data[0].Orders[0].link', /http\(s\):\/\/, mailto: or tel:/],
    [{ enhanced_data: { Orders: [{ description: 'no text' }] } }, 'contact.enhanced_data.Orders[0].text', /is required/],
    [{ enhanced_data: { Orders: [5] } }, 'contact.enhanced_data.Orders[0]', /must be an item/],
    [{ enhanced_data: { Orders: 'x' } }, 'contact.enhanced_data.Orders', /must be a list of items/],
    [{ enhanced_data: [{ S: [{ text: 'x' }] }, 'x'] }, 'contact.enhanced_data[1]', /must be an object of sections/],
    [{ enhanced_data: { '': [{ text: 'x' }] } }, 'contact.enhanced_data[""]', /section title must not be empty/],
    [{ enhanced_data: { ['t'.repeat(201)]: [{ text: 'x' }] } }, `contact.enhanced_data.${'t'.repeat(201)}`, /section title must be at most 200 characters/],
    [{ custom_attributes: { '': 1 } }, 'contact.custom_attributes[""]', /attribute name must not be empty/],
    [{ phone: 7911123456.5 }, 'contact.phone', /whole number/],
    [{ external_id: 2 ** 53 }, 'contact.external_id', /send others as text/],
    [{ enhanced_data: 'nope' }, 'contact.enhanced_data', /must be an object of sections or a list of them/],
    [{ labels: ['ok', 7] }, 'contact.labels[1]', /must be a string/],
    [{ labels: ['x'.repeat(401)] }, 'contact.labels[0]', /at most 100 characters/],
    [{ labels: { a: 1 } }, 'contact.labels', /comma-separated string or a list of strings/],
  ])('%j → %s', (fields, path, message) => {
    const refusal = refusalOf({ contact: { phone, ...fields } });
    expect(refusal.code).toBe('invalid_payload');
    expect(refusal.issues?.[0]).toEqual({ path, message: expect.stringMatching(message) });
    expect(refusal.message).toMatch(message);
  });
});

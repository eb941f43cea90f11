import { ContactPayload, isObject, SectionItem, WebhookPayload } from './payload.js';

/*
 * What a payload holds that nobody reads, for the answer's warnings: a misspelt or misplaced field
 * is the sender's likeliest mistake, so it is named, with what it was probably meant to be.
 */

const KNOWN_TOP = new Set(Object.keys(WebhookPayload.shape));
const KNOWN_CONTACT = new Set(Object.keys(ContactPayload.shape));
const KNOWN_ITEM = new Set(Object.keys(SectionItem.shape));

/**
 * A section title one object of `enhanced_data` holds twice once titles are trimmed (`"A"` and
 * `" A"`): one would silently replace the other. Across the objects of a list, the later one wins,
 * as documented.
 */
export function sectionTitleTwice(payload: Record<string, unknown>): string | undefined {
  const data = isObject(payload.contact) ? payload.contact.enhanced_data : undefined;
  for (const sections of Array.isArray(data) ? data : [data]) {
    if (!isObject(sections)) continue;
    const seen = new Set<string>();
    for (const title of Object.keys(sections).map((key) => key.trim())) {
      if (seen.has(title)) return title;
      seen.add(title);
    }
  }
  return undefined;
}

/** Keys nobody reads, for the response's `warnings`: they are ignored, never stored. */
export function unknownKeys(payload: Record<string, unknown>): string[] {
  const found = Object.keys(payload).filter((key) => !KNOWN_TOP.has(key));
  const contact = payload.contact;
  if (isObject(contact)) {
    found.push(...Object.keys(contact).filter((key) => !KNOWN_CONTACT.has(key)).map((key) => `contact.${key}`));
    // zod drops a `__proto__` key from a record without a word (assigning it would set a prototype).
    if (isObject(contact.custom_attributes) && Object.hasOwn(contact.custom_attributes, '__proto__')) found.push('contact.custom_attributes.__proto__');
    const data = contact.enhanced_data;
    for (const sections of Array.isArray(data) ? data : [data]) {
      if (!isObject(sections)) continue;
      if (Object.hasOwn(sections, '__proto__')) found.push('contact.enhanced_data.__proto__');
      for (const [title, items] of Object.entries(sections)) {
        if (!Array.isArray(items)) continue;
        items.forEach((item, i) => {
          if (!isObject(item)) return;
          for (const key of Object.keys(item)) {
            if (!KNOWN_ITEM.has(key)) found.push(`contact.enhanced_data.${title}[${i}].${key}`);
          }
        });
      }
    }
  }
  return [...new Set(found)];
}

/**
 * What an unknown key at `path` was likely meant to be, as ` (…)` to follow the warning: a field at
 * the other level (`contact.assignee`, a top-level `phone`), or a known one spelt in another case
 * (`contact.Phone`). Empty when nothing comes close.
 */
export function unknownKeyHint(path: string): string {
  const inContact = path.startsWith('contact.');
  const key = inContact ? path.slice('contact.'.length) : path;
  if (key.includes('.') || key.includes('[')) return '';
  if (inContact && KNOWN_TOP.has(key)) return ` (${key} is read at the top level, beside contact)`;
  if (!inContact && KNOWN_CONTACT.has(key)) return ` (${key} is read inside contact)`;
  const known = [...(inContact ? KNOWN_CONTACT : KNOWN_TOP)].find((name) => name.toLowerCase() === key.toLowerCase());
  return known ? ` (did you mean ${known}?)` : '';
}

import { labelKey as key } from '../webhook/label-key.js';
import type { CustomAttributes, StoredSection } from '../db/schema.js';

function uniqueByKey(labels: string[]): string[] {
  const seen = new Set<string>();
  return labels.filter((label) => !seen.has(key(label)) && seen.add(key(label)));
}

/**
 * The contact's labels after a delivery. Override: exactly `labels`. Otherwise `labels` are appended,
 * none removed. `remove` is applied last. A label is one label whatever its case.
 */
export function mergeLabels(current: string[], change: { labels?: string[]; override: boolean; remove?: string[] }): string[] {
  let next = current;
  if (change.labels !== undefined) next = uniqueByKey(change.override ? change.labels : [...current, ...change.labels]);
  if (change.remove?.length) {
    const removed = new Set(change.remove.map(key));
    next = next.filter((label) => !removed.has(key(label)));
  }
  return next;
}

/** A section sent replaces that section; `[]` removes it; sections not sent are kept in place. */
export function mergeSections(current: StoredSection[], sent: StoredSection[] | undefined): StoredSection[] {
  if (sent === undefined) return current;
  const byTitle = new Map(current.map((section) => [section.title, section]));
  for (const section of sent) byTitle.set(section.title, section);
  return [...byTitle.values()].filter((section) => section.items.length > 0);
}

/** Shallow merge; `null` removes the key. */
export function mergeAttributes(current: CustomAttributes, sent: Record<string, string | number | boolean | null> | undefined): CustomAttributes {
  if (sent === undefined) return current;
  const next: CustomAttributes = { ...current };
  for (const [name, value] of Object.entries(sent)) {
    if (value === null) delete next[name];
    else next[name] = value;
  }
  return next;
}

/** Deep equality for the JSON values stored on a contact. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

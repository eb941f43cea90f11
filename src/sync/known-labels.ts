import type { Db } from '../db/client.js';
import { ensureLabels, type LabelRow } from '../db/queries/labels.js';
import { labelKey } from '../webhook/label-key.js';

/**
 * Label rows for the labels a delivery adds, created before its transaction in a statement of their
 * own with the names sorted: inside group-commit batches, two transactions creating the same new
 * labels in different orders would wait on each other's uncommitted rows and deadlock, while
 * committed labels are merely found. Labels are never deleted (but with their account) and keep
 * their first spelling, so a row seen once is remembered and costs no further round trip.
 */
export class KnownLabels {
  private readonly known = new Map<string, LabelRow>();

  constructor(
    private readonly db: Db,
    private readonly maxKnown = 100_000,
  ) {}

  /** The rows for `names`, by lower-cased key. */
  async ensure(accountId: string, names: string[] | undefined): Promise<Map<string, LabelRow>> {
    const rows = new Map<string, LabelRow>();
    const missing = new Map<string, string>();
    for (const name of names ?? []) {
      const key = labelKey(name);
      const known = this.known.get(`${accountId}\u0000${key}`);
      if (known) rows.set(key, known);
      else if (!missing.has(key)) missing.set(key, name);
    }
    if (missing.size === 0) return rows;
    const sorted = [...missing.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const created = await ensureLabels(this.db, accountId, sorted.map(([, name]) => name));
    if (this.known.size + created.size > this.maxKnown) this.known.clear();
    for (const [key, row] of created) {
      rows.set(key, row);
      this.known.set(`${accountId}\u0000${key}`, row);
    }
    return rows;
  }
}

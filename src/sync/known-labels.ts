import type { Db } from '../db/client.js';
import { ensureLabels, labelKey } from '../db/queries/labels.js';

/**
 * Creates the labels a delivery adds before its transaction, in a statement of their own with the
 * names sorted. Inside group-commit batches, two transactions creating the same new labels in
 * different orders would wait on each other's uncommitted rows and deadlock; committed labels are
 * merely found. Labels are never deleted (but with their account), so a label seen once is known
 * for good and costs no further round trip.
 */
export class KnownLabels {
  private readonly known = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly maxKnown = 100_000,
  ) {}

  async ensure(accountId: string, names: string[] | undefined): Promise<void> {
    if (!names?.length) return;
    const missing = new Map<string, string>();
    for (const name of names) {
      const key = labelKey(name);
      if (!this.known.has(`${accountId}\u0000${key}`) && !missing.has(key)) missing.set(key, name);
    }
    if (missing.size === 0) return;
    const sorted = [...missing.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    await ensureLabels(this.db, accountId, sorted.map(([, name]) => name));
    if (this.known.size + sorted.length > this.maxKnown) this.known.clear();
    for (const [key] of sorted) this.known.add(`${accountId}\u0000${key}`);
  }
}

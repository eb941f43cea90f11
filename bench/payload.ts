/**
 * Phone ranges, one per phase, so that every phase creates contacts (none of them finds the rows of
 * an earlier one). Each range holds 1,000,000 valid UK mobiles (+4474…), checked with the service's
 * own normaliser; `--phones` is capped at that.
 */
export const PHONE_BASE = {
  webhook: 447_400_000_000,
  hotCold: 447_410_000_000,
  hot: 447_420_000_000,
  bulk: 447_430_000_000,
  pgbench: 447_440_000_000,
  script: 447_450_000_000,
} as const;

export const MAX_PHONES = 1_000_000;
export const HOT_PHONES = 10;

export const phoneAt = (base: number, i: number) => `+${base + i}`;

/** One webhook upsert: name, two labels merged, one enhanced-data section. `n` makes it distinct. */
export function upsertPayload(phone: string, n: number): string {
  return JSON.stringify({
    contact: {
      phone,
      name: `Bench ${n}`,
      labels: ['bench', `tier-${n % 10}`],
      enhanced_data: { Orders: [{ text: `ORD-${n}`, link: `www.example.com/o/${n}` }] },
    },
  });
}

/**
 * Request `i` of the hot scenario: every fifth goes to one of the ten hot phones (20 % of traffic),
 * the others each to a phone of their own.
 */
export const isHot = (i: number) => i % 5 === 0;

export function hotPhone(i: number): string {
  if (isHot(i)) return phoneAt(PHONE_BASE.hot, (i / 5) % HOT_PHONES);
  return phoneAt(PHONE_BASE.hotCold, i - Math.floor(i / 5) - 1);
}

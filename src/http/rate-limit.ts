import { ApiError } from './errors.js';

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/**
 * Per-key token buckets, in this process: `perMinute` requests a minute on average, bursts up to
 * `perMinute`. Buckets that have refilled completely are dropped, so memory follows active keys.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    this.perMs = perMinute / 60_000;
  }

  /** Takes one token; when none is left, answers how many seconds until one is. */
  take(key: string): { ok: true } | { ok: false; retryAfterSeconds: number } {
    return this.check(key, true);
  }

  /** Whether `take` would succeed now, taking nothing. */
  peek(key: string): { ok: true } | { ok: false; retryAfterSeconds: number } {
    return this.check(key, false);
  }

  private check(key: string, taking: boolean): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, updatedMs: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.updatedMs) * this.perMs);
    bucket.updatedMs = now;
    if (bucket.tokens < 1) {
      this.buckets.set(key, bucket);
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000)) };
    }
    if (!taking) return { ok: true };
    bucket.tokens -= 1;
    this.buckets.set(key, bucket);
    if (this.buckets.size > 10_000) this.sweep(now);
    return { ok: true };
  }

  private sweep(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.updatedMs) * this.perMs >= this.perMinute) this.buckets.delete(key);
    }
  }
}

/**
 * Takes one of the account's tokens for a delivery (a webhook, a bulk request, a replay), or
 * answers 429. A signed delivery is charged only once its signature holds: otherwise anyone holding
 * a leaked webhook URL could spend the account's allowance with forged ones. With `peek`, nothing
 * is taken: a signed bulk request is refused before its body is read when no token is left.
 */
export function chargeRateLimit(rateLimiter: RateLimiter, accountId: string, { peek = false } = {}): void {
  const allowed = peek ? rateLimiter.peek(accountId) : rateLimiter.take(accountId);
  if (!allowed.ok) throw new ApiError('rate_limited', 'too many deliveries for this account; retry later', undefined, allowed.retryAfterSeconds);
}

import { errorCode, labelsOf, mapLimit, sleep, type ServiceProcess } from '../helpers/process.js';

export interface Sent {
  sender: number;
  phone: string;
  label: string;
  /** Index into `targets()` the delivery went to. */
  target: number;
  /** HTTP status, or 'error' when no answer came (refused connection, reset, timeout). */
  status: number | 'error';
  retryAfter: string | null;
  /** The error body's `code`, or the network error's code. */
  error?: string;
  startedAt: number;
  endedAt: number;
}

export interface Load {
  readonly sent: readonly Sent[];
  acknowledged(): Sent[];
  /** Resolves once `count` deliveries have been acknowledged (or rejects after `timeoutMs`). */
  untilAcknowledged(count: number, timeoutMs?: number): Promise<void>;
  /** Stops the senders and resolves with everything sent, once no request is in flight. */
  stop(): Promise<Sent[]>;
}

export interface LoadOptions {
  senders: number;
  /** Webhook URLs; read before every delivery, so a test may swap them. */
  targets: () => string[];
  requestTimeoutMs?: number;
  /** Pause after an answer other than 200, so a dead port is not hammered in a tight loop. */
  backoffMs?: number;
}

/**
 * Merge deliveries from `senders` concurrent senders, each one request at a time. Sender `s` sends
 * label `s{s}-n{n}` to phones of its own, 25 labels per phone (a contact holds at most 100), so every
 * acknowledged (phone, label) must be found afterwards, and in acknowledgement order per phone.
 * Only a 200 counts as acknowledged; refused connections and 5xx are recorded and the sender goes on.
 */
export function startLoad(options: LoadOptions): Load {
  const sent: Sent[] = [];
  let stopping = false;
  const waiters: { count: number; resolve(): void }[] = [];
  let acks = 0;
  const sender = async (s: number) => {
    for (let n = 0; !stopping; n++) {
      const phone = loadPhone(s, Math.floor(n / 25));
      const label = `s${s}-n${n}`;
      const targets = options.targets();
      const target = (s + n) % targets.length;
      const startedAt = performance.now();
      let record: Sent;
      try {
        const res = await fetch(targets[target]!, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ contact: { phone, labels: [label] } }),
          signal: AbortSignal.timeout(options.requestTimeoutMs ?? 15_000),
        });
        const text = await res.text();
        record = { sender: s, phone, label, target, status: res.status, retryAfter: res.headers.get('retry-after'), startedAt, endedAt: performance.now() };
        if (res.status !== 200) record.error = errorCode(text);
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause;
        record = { sender: s, phone, label, target, status: 'error', retryAfter: null, error: cause?.code ?? String(error), startedAt, endedAt: performance.now() };
      }
      sent.push(record);
      if (record.status === 200) {
        acks++;
        for (const waiter of waiters.filter((w) => acks >= w.count)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      } else {
        await sleep(options.backoffMs ?? 20);
      }
    }
  };
  const running = Promise.all(Array.from({ length: options.senders }, (_, s) => sender(s)));
  return {
    sent,
    acknowledged: () => sent.filter((d) => d.status === 200),
    untilAcknowledged: (count, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        if (acks >= count) return resolve();
        const timer = setTimeout(() => reject(new Error(`only ${acks} of ${count} deliveries acknowledged in ${timeoutMs} ms: ${summarise(sent)}`)), timeoutMs);
        waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
      }),
    async stop() {
      stopping = true;
      await running;
      return sent;
    },
  };
}

/** A valid UK mobile per sender and block (`+447400 ssbbbb`). */
export function loadPhone(sender: number, block: number): string {
  if (sender > 99 || block > 9999) throw new Error('loadPhone: out of range');
  return `+447400${String(sender * 10_000 + block).padStart(6, '0')}`;
}

/** `{ 200: 812, 503: 40, error(ECONNREFUSED): 12 }`, for messages. */
export function summarise(sent: readonly Sent[]): string {
  const counts = new Map<string, number>();
  for (const d of sent) {
    const key = d.status === 200 ? '200' : `${d.status}(${d.error})`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return JSON.stringify(Object.fromEntries(counts));
}

/**
 * Every acknowledged (phone, label) of the load, read back through the API of `service`: what is
 * missing, and the phones whose acknowledged labels are out of acknowledgement order.
 */
export async function checkAcknowledged(service: ServiceProcess, sent: readonly Sent[]) {
  const byPhone = new Map<string, Sent[]>();
  for (const d of sent) {
    if (d.status !== 200) continue;
    byPhone.set(d.phone, [...(byPhone.get(d.phone) ?? []), d]);
  }
  const phones = [...byPhone.keys()];
  const stored = await mapLimit(phones, 8, (phone) => labelsOf(service, phone));
  const missing: { phone: string; label: string }[] = [];
  const outOfOrder: { phone: string; acknowledged: string[]; stored: string[] }[] = [];
  phones.forEach((phone, i) => {
    const labels = stored[i] ?? [];
    // One sender per phone, one request at a time: acknowledgement order is the order of `sent`.
    const acknowledged = byPhone.get(phone)!.sort((a, b) => a.endedAt - b.endedAt).map((d) => d.label);
    for (const label of acknowledged) if (!labels.includes(label)) missing.push({ phone, label });
    const positions = acknowledged.map((label) => labels.indexOf(label)).filter((p) => p >= 0);
    if (positions.some((p, k) => k > 0 && p < positions[k - 1]!)) outOfOrder.push({ phone, acknowledged, stored: labels });
  });
  return { phones: phones.length, acknowledged: sent.filter((d) => d.status === 200).length, missing, outOfOrder };
}

import autocannon from 'autocannon';
import { contactsCheck, hotOrderCheck, hotPhonesCheck, loggedByStatus, loggedCheck, loggedSince, type Check, type Timing } from './checks.js';
import type { BenchDatabase } from './database.js';
import { PHONE_BASE, hotPhone, isHot, phoneAt, upsertPayload } from './payload.js';
import { ProcessSampler, type ProcessFigures } from './service.js';

export interface LoadFigures {
  requests: number;
  ok: number;
  non2xx: number;
  /** Status codes other than 2xx, with how many of each. */
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  seconds: number;
  deliveriesPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** The service process during the phase: memory and CPU time. */
  service: ProcessFigures;
  /** Deliveries rows written during the phase, by status. */
  logged: Record<string, number>;
  checks: Check[];
}

interface LoadOptions {
  webhookUrl: string;
  servicePid: number;
  db: BenchDatabase;
  connections: number;
  amount: number;
  /** The phone of request `i` (0-based, in the order requests are sent). */
  phoneOf: (i: number) => string;
  /** Requests whose send and answer times are kept, for order checks. */
  tracked?: (i: number) => boolean;
}

/** Scenario "webhook": one upsert per phone, every phone distinct. */
export async function webhookScenario(options: Omit<LoadOptions, 'phoneOf'>): Promise<LoadFigures> {
  const { figures } = await runLoad({ ...options, phoneOf: (i) => phoneAt(PHONE_BASE.webhook, i) });
  figures.checks.push(await contactsCheck(options.db, PHONE_BASE.webhook, figures.ok));
  return figures;
}

/** Scenario "hot": 20 % of requests on ten hot phones, the rest one phone each. */
export async function hotScenario(options: Omit<LoadOptions, 'phoneOf'>): Promise<LoadFigures> {
  const { figures, timings } = await runLoad({ ...options, phoneOf: hotPhone, tracked: isHot });
  figures.checks.push(await hotPhonesCheck(options.db), await hotOrderCheck(options.db, timings));
  return figures;
}

async function runLoad(options: LoadOptions): Promise<{ figures: LoadFigures; timings: Map<number, Timing> }> {
  let next = 0;
  // autocannon's own start and finish are only as fine as its one-second ticker: the load is timed
  // here, from the first request built to the last answer.
  let firstBuilt: number | undefined;
  let lastAnswered = 0;
  const timings = new Map<number, Timing>();
  const before = await loggedByStatus(options.db);
  const sampler = new ProcessSampler(options.servicePid);
  const result = await autocannon({
    url: options.webhookUrl,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections: options.connections,
    amount: options.amount,
    // A delivery waiting behind a hot phone is slow, not lost: do not let the client give up on it.
    timeout: 120,
    requests: [
      {
        setupRequest: (request, context) => {
          const i = next++;
          firstBuilt ??= performance.now();
          const phone = options.phoneOf(i);
          // Built just before it is written (the first of each connection: at connect), so never later than sent.
          if (options.tracked?.(i)) timings.set(i, { phone, sent: performance.now(), answered: undefined, status: 0 });
          context.i = i;
          return { ...request, body: upsertPayload(phone, i) };
        },
        // Called with the context of the request just answered, before the connection's next one is built.
        onResponse: (status, _body, context) => {
          lastAnswered = performance.now();
          const timing = timings.get(context.i as number);
          if (timing) Object.assign(timing, { answered: performance.now(), status });
        },
      },
    ],
  });
  const service = sampler.stop();
  const after = await loggedByStatus(options.db);
  const seconds = (lastAnswered - (firstBuilt ?? lastAnswered)) / 1000;
  const statusCodes = Object.fromEntries(
    Object.entries(result.statusCodeStats)
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, { count }]) => [code, count]),
  );
  const logged = loggedSince(before, after);
  const checks: Check[] = [loggedCheck(result['2xx'], logged)];
  const figures: LoadFigures = {
    requests: result['2xx'] + result.non2xx,
    ok: result['2xx'],
    non2xx: result.non2xx,
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds,
    deliveriesPerSecond: result['2xx'] / seconds,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    service,
    logged,
    checks,
  };
  return { figures, timings };
}

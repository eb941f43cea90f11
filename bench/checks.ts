import type { BenchDatabase } from './database.js';
import { HOT_PHONES, PHONE_BASE } from './payload.js';

/** A property of the database after a phase, checked and reported (never fatal: the figures are still printed). */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** Rows of the delivery log by status: counted before and after a phase, the difference is what it logged. */
export async function loggedByStatus(db: BenchDatabase): Promise<Map<string, number>> {
  const rows = await db.sql<{ status: string; n: string }>('select status, count(*) as n from deliveries group by status');
  return new Map(rows.map((row) => [row.status, Number(row.n)]));
}

export function loggedSince(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...after].map(([status, n]) => [status, n - (before.get(status) ?? 0)]).filter(([, n]) => n !== 0));
}

/** Each delivery answered as applied or unchanged left its row in the log. */
export function loggedCheck(acknowledged: number, logged: Record<string, number>): Check {
  const rows = (logged.applied ?? 0) + (logged.unchanged ?? 0);
  return {
    name: 'every success has its deliveries row',
    ok: rows === acknowledged,
    detail: `${acknowledged} answered applied/unchanged, ${rows} logged`,
  };
}

/** The phones of a range exist, each with its two labels. */
export async function contactsCheck(db: BenchDatabase, base: number, expected: number): Promise<Check> {
  const [row] = await db.sql<{ contacts: string; labelled: string }>(
    `select count(*) as contacts,
            count(*) filter (where (select count(*) from contact_labels cl where cl.contact_id = c.id) = 2) as labelled
       from contacts c where c.phone between '+${base}' and '+${base + 999_999}'`,
  );
  const contacts = Number(row!.contacts);
  const labelled = Number(row!.labelled);
  return {
    name: 'one contact per phone, two labels each',
    ok: contacts === expected && labelled === expected,
    detail: `${contacts} contacts for ${expected} phones answered, ${labelled} with 2 labels`,
  };
}

/**
 * Every hot phone exists, has labels, and holds one delivery whole: its name, its order and its
 * tier label come from the same request (a delivery interleaved with another would mix them).
 */
export async function hotPhonesCheck(db: BenchDatabase): Promise<Check> {
  const rows = await db.sql<{ phone: string; name: string; order_text: string; labels: string[] }>(
    `select c.phone, c.name, c.enhanced_data -> 0 -> 'items' -> 0 ->> 'text' as order_text,
            array(select l.name from contact_labels cl join labels l on l.id = cl.label_id
                   where cl.contact_id = c.id order by cl.position) as labels
       from contacts c
      where c.phone between '+${PHONE_BASE.hot}' and '+${PHONE_BASE.hot + HOT_PHONES - 1}' order by c.phone`,
  );
  const bad = rows.filter((row) => {
    const n = /^Bench (\d+)$/.exec(row.name)?.[1];
    return n === undefined || row.order_text !== `ORD-${n}` || !row.labels.includes('bench') || !row.labels.includes(`tier-${Number(n) % 10}`);
  });
  const labels = rows.map((row) => row.labels.length);
  return {
    name: 'hot phones exist with labels, each last state from one delivery',
    ok: rows.length === HOT_PHONES && bad.length === 0,
    detail: `${rows.length}/${HOT_PHONES} hot phones, ${bad.length} inconsistent, ${Math.min(...labels)}–${Math.max(...labels)} labels each`,
  };
}

/** When a tracked request was built (just before it was sent) and answered, by the load generator's clock. */
export interface Timing {
  phone: string;
  sent: number;
  answered: number | undefined;
  status: number;
}

/**
 * Per-phone order on the hot phones, from the client's side: a request sent after the one now
 * shown by a phone was answered must have been applied after it, so it would be the one shown.
 * Any such request (answered 2xx) is a delivery applied out of order or lost. The send time is
 * taken no later, and the answer time no earlier, than the real ones, so it never flags wrongly.
 */
export async function hotOrderCheck(db: BenchDatabase, timings: Map<number, Timing>): Promise<Check> {
  const rows = await db.sql<{ phone: string; name: string }>(
    `select phone, name from contacts where phone between '+${PHONE_BASE.hot}' and '+${PHONE_BASE.hot + HOT_PHONES - 1}'`,
  );
  let violations = 0;
  for (const row of rows) {
    const shown = timings.get(Number(/^Bench (\d+)$/.exec(row.name)?.[1]));
    if (!shown?.answered) {
      violations += 1;
      continue;
    }
    for (const t of timings.values()) {
      if (t.phone === row.phone && t !== shown && t.status >= 200 && t.status < 300 && t.sent > shown.answered) violations += 1;
    }
  }
  // How much the per-phone lanes had to do: requests sent while another for the same phone was in flight.
  let overlapping = 0;
  const lastAnswered = new Map<string, number>();
  for (const t of [...timings.values()].sort((a, b) => a.sent - b.sent)) {
    if ((lastAnswered.get(t.phone) ?? -Infinity) > t.sent) overlapping += 1;
    lastAnswered.set(t.phone, Math.max(lastAnswered.get(t.phone) ?? -Infinity, t.answered ?? Infinity));
  }
  return {
    name: 'hot phones: nothing sent after the shown delivery was answered got lost or reordered',
    ok: rows.length === HOT_PHONES && violations === 0,
    detail: `${timings.size} hot requests, ${overlapping} sent while one for the same phone was in flight; ${violations} violations`,
  };
}

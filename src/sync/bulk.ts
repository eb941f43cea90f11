import type { NdjsonLine } from '../webhook/ndjson.js';
import type { Account, Deliverer, DeliveryBody } from './deliver.js';
import { Refusal } from './errors.js';

export const MAX_BULK_LINES = 1_000_000;
/** Lines applied ahead of the one being answered: enough to fill batches, small enough to keep memory flat. */
const WINDOW = 512;

export type BulkResult = { line: number; body: DeliveryBody } | { line: number; error: unknown };

export interface BulkSummary {
  lines: number;
  applied: number;
  unchanged: number;
  stale: number;
  failed: number;
}

/**
 * Applies NDJSON lines as deliveries and yields their results in line order. Lines for the same
 * phone enter that phone's lane in line order, so they apply in line order; other phones run in
 * parallel (and share group-commit batches). At most WINDOW lines are in flight, and the input is
 * not read further until the oldest is answered, so memory does not grow with the request.
 */
export async function* applyBulk(deliverer: Deliverer, account: Account, lines: AsyncIterable<NdjsonLine>, maxLineBytes: number): AsyncGenerator<BulkResult> {
  const window: Promise<BulkResult>[] = [];
  for await (const item of lines) {
    if (item.line > MAX_BULK_LINES) {
      window.push(Promise.resolve({ line: item.line, error: new Refusal('limit_exceeded', `a bulk request holds at most ${MAX_BULK_LINES} lines; the rest was not read`) }));
      break;
    }
    // Wait here, before the line is handed over: a line that waited on its own could let a later
    // line for the same phone into its lane first.
    while (!deliverer.hasRoom) await new Promise((resolve) => setTimeout(resolve, 20));
    window.push('tooLong' in item ? Promise.resolve(tooLong(item.line, maxLineBytes)) : applyLine(deliverer, account, item.line, item.text));
    if (window.length >= WINDOW) yield await window.shift()!;
  }
  while (window.length > 0) yield await window.shift()!;
}

function tooLong(line: number, maxLineBytes: number): BulkResult {
  return { line, error: new Refusal('invalid_payload', `line ${line} is longer than ${maxLineBytes} bytes`) };
}

async function applyLine(deliverer: Deliverer, account: Account, line: number, text: string): Promise<BulkResult> {
  try {
    return { line, body: (await deliverer.deliver({ account, raw: { kind: 'json', body: text } })).body };
  } catch (error) {
    return { line, error };
  }
}

export function summarise(summary: BulkSummary, result: BulkResult): void {
  summary.lines += 1;
  if ('error' in result || 'code' in result.body) summary.failed += 1;
  else summary[result.body.status] += 1;
}

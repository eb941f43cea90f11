import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contactsCheck, loggedByStatus, loggedCheck, loggedSince, type Check } from './checks.js';
import type { BenchDatabase } from './database.js';
import { run } from './exec.js';
import { PHONE_BASE, phoneAt, upsertPayload } from './payload.js';
import { BASELINE_ACCOUNT } from './pgbench.js';
import { ProcessSampler, type ProcessFigures } from './service.js';

export interface BulkFigures {
  lines: number;
  results: number;
  summary: { lines: number; applied: number; unchanged: number; stale: number; failed: number } | null;
  /** Result lines that were refusals or errors, by code. */
  failedCodes: Record<string, number>;
  outOfOrder: number;
  seconds: number;
  firstResultMs: number;
  linesPerSecond: number;
  /** The service process during the phase: memory and CPU time. */
  service: ProcessFigures;
  logged: Record<string, number>;
  checks: Check[];
}

export interface ScriptFigures {
  rows: number;
  statements: number;
  bytes: number;
  seconds: number;
  rowsPerSecond: number;
  command: string;
}

const SEND_CHUNK_BYTES = 64 * 1024;

/** The bulk request's lines, made as they are sent: nothing holds all of them. */
function* bulkLines(count: number): Generator<string> {
  for (let i = 0; i < count; i++) yield `${upsertPayload(phoneAt(PHONE_BASE.bulk, i), i)}\n`;
}

/**
 * Scenario "bulk": one POST /webhooks/{token}/bulk with `count` NDJSON lines, written with
 * backpressure while the results stream back. Lines/s is result lines over the time from the first
 * byte sent to the summary line.
 */
export async function bulkScenario(options: { webhookUrl: string; servicePid: number; db: BenchDatabase; lines: number }): Promise<BulkFigures> {
  const before = await loggedByStatus(options.db);
  const sampler = new ProcessSampler(options.servicePid);
  const started = performance.now();
  const req = request(`${options.webhookUrl}/bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' } });
  const answered = readResults(req, started);
  const sent = send(req, options.lines);
  const [figures] = await Promise.all([answered, sent]);
  const seconds = (performance.now() - started) / 1000;
  const service = sampler.stop();
  const logged = loggedSince(before, await loggedByStatus(options.db));
  const acknowledged = (figures.summary?.applied ?? 0) + (figures.summary?.unchanged ?? 0);
  const checks: Check[] = [
    {
      name: 'bulk summary: every line answered, none failed',
      ok: figures.summary?.lines === options.lines && figures.summary.failed === 0 && figures.results === options.lines && figures.outOfOrder === 0,
      detail: `summary ${JSON.stringify(figures.summary)}, ${figures.results} result lines, ${figures.outOfOrder} out of order`,
    },
    loggedCheck(acknowledged, logged),
    await contactsCheck(options.db, PHONE_BASE.bulk, acknowledged),
  ];
  return { ...figures, lines: options.lines, seconds, linesPerSecond: figures.results / seconds, service, logged, checks };
}

async function send(req: ReturnType<typeof request>, count: number): Promise<void> {
  let chunk = '';
  for (const line of bulkLines(count)) {
    chunk += line;
    if (chunk.length >= SEND_CHUNK_BYTES) {
      if (!req.write(chunk)) await drained(req);
      chunk = '';
    }
  }
  req.end(chunk);
}

/** Resolves when the request can take more, or is gone (its error is reported by readResults). */
function drained(req: ReturnType<typeof request>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off('drain', done);
      req.off('close', done);
      resolve();
    };
    req.on('drain', done);
    req.on('close', done);
  });
}

type Answer = Pick<BulkFigures, 'results' | 'summary' | 'failedCodes' | 'outOfOrder' | 'firstResultMs'>;

/** Counts the streamed result lines as they arrive; the summary line ends them. */
function readResults(req: ReturnType<typeof request>, started: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      res.setEncoding('utf8');
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (chunk: string) => (body += chunk.slice(0, 4000)));
        res.once('end', () => reject(new Error(`bulk answered ${res.statusCode}: ${body}`)));
        return;
      }
      const answer: Answer = { results: 0, summary: null, failedCodes: {}, outOfOrder: 0, firstResultMs: 0 };
      let rest = '';
      res.on('data', (chunk: string) => {
        if (answer.firstResultMs === 0) answer.firstResultMs = performance.now() - started;
        const lines = (rest + chunk).split('\n');
        rest = lines.pop()!;
        for (const text of lines) if (text !== '') count(answer, JSON.parse(text) as Record<string, unknown>);
      });
      res.once('error', reject);
      res.once('end', () => {
        if (rest.trim() !== '') count(answer, JSON.parse(rest) as Record<string, unknown>);
        resolve(answer);
      });
    });
  });
}

function count(answer: Answer, result: Record<string, unknown>): void {
  if ('summary' in result) {
    answer.summary = result.summary as Answer['summary'];
    return;
  }
  answer.results += 1;
  if (result.line !== answer.results) answer.outOfOrder += 1;
  if (typeof result.code === 'string') answer.failedCodes[result.code] = (answer.failedCodes[result.code] ?? 0) + 1;
}

/**
 * The bulk baseline: the same contacts rows (phone, name, enhanced data) as multi-row
 * `INSERT … ON CONFLICT` statements of `chunk` rows each, written to a file and run with
 * `psql -f` (each statement its own transaction). It writes contacts only: no labels, no log.
 */
export async function scriptBaseline(db: BenchDatabase, options: { rows: number; chunk: number }): Promise<ScriptFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'cs-bench-script-'));
  const file = join(dir, 'contacts.sql');
  try {
    const { bytes, statements } = await writeScript(file, options.rows, options.chunk);
    const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, db.url];
    const started = performance.now();
    await run('psql', args);
    const seconds = (performance.now() - started) / 1000;
    const [row] = await db.sql<{ n: string }>(
      `select count(*) as n from contacts where phone between '+${PHONE_BASE.script}' and '+${PHONE_BASE.script + 999_999}'`,
    );
    if (Number(row!.n) !== options.rows) throw new Error(`the script baseline wrote ${row!.n} contacts, not ${options.rows}`);
    return { rows: options.rows, statements, bytes, seconds, rowsPerSecond: options.rows / seconds, command: `psql -X -q -v ON_ERROR_STOP=1 -f <${statements} statements> <bench database>` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function writeScript(file: string, rows: number, chunk: number): Promise<{ bytes: number; statements: number }> {
  const out = createWriteStream(file);
  let bytes = 0;
  let statements = 0;
  const write = async (text: string) => {
    bytes += Buffer.byteLength(text);
    if (!out.write(text)) await once(out, 'drain');
  };
  for (let first = 0; first < rows; first += chunk) {
    const values: string[] = [];
    for (let i = first; i < Math.min(rows, first + chunk); i++) {
      const sections = JSON.stringify([{ title: 'Orders', items: [{ text: `ORD-${i}`, link: `https://www.example.com/o/${i}` }] }]);
      values.push(`('${BASELINE_ACCOUNT}','${phoneAt(PHONE_BASE.script, i)}','Bench ${i}','${sections}')`);
    }
    await write(
      `insert into contacts (account_id, phone, name, enhanced_data) values\n${values.join(',\n')}\n` +
        'on conflict (account_id, phone) do update set name = excluded.name, enhanced_data = excluded.enhanced_data, updated_at = now();\n',
    );
    statements += 1;
  }
  out.end();
  await once(out, 'finish');
  return { bytes, statements };
}

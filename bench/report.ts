import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BulkFigures, ScriptFigures } from './bulk.js';
import type { Check } from './checks.js';
import type { Machine } from './machine.js';
import type { PgbenchFigures } from './pgbench.js';
import { ROOT } from './service.js';
import type { LoadFigures } from './webhook.js';

export interface BenchResults {
  startedAt: string;
  command: string;
  /** The commit the service was built from. */
  code: string;
  options: { scenarios: string[]; phones: number; connections: number };
  machine: Machine;
  service?: { command: string; entry: string; dbPoolSize: number; maxBatch: number; maxTransactions: number; startMs: number };
  webhook?: LoadFigures;
  pgbench?: PgbenchFigures;
  hot?: LoadFigures;
  bulk?: BulkFigures;
  script?: ScriptFigures;
  ratios: { serviceOverBaseline?: number; bulkOverScript?: number };
  /** Phase → CPU seconds the PostgreSQL server used during it (all its processes; see server-cpu.ts), when it runs on this machine. */
  postgresCpuSeconds: Record<string, number>;
  /** Phase → CPU seconds the load generator used during it: the bench process (autocannon, the bulk client) and the pgbench or psql it ran. */
  loadCpuSeconds: Record<string, number>;
  /** Phase → why it failed; the other phases still report. */
  failures: Record<string, string>;
  notes: string[];
  /** Phase → wall-clock seconds. */
  durations: Record<string, number>;
  totalSeconds: number;
}

export const RESULTS_FILE = join(ROOT, 'bench/results/latest.json');

export function writeResults(results: BenchResults): void {
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
}

const int = (n: number) => Math.round(n).toLocaleString('en-GB');
const dec = (n: number, digits = 1) => n.toFixed(digits);
const ms = (n: number) => (n >= 100 ? int(n) : dec(n));

/** The plain-text table printed at the end of a run: every figure, the machine and the command. */
export function formatReport(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  const pg = m.postgresSettings;
  out.push(`contact-sync bench, ${r.startedAt}`);
  out.push(`command   ${r.command}`);
  out.push(`code      ${r.code}`);
  out.push(`machine   ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB RAM, ${m.kernel}, Node ${m.node}`);
  out.push(`postgres  ${m.postgres}, same host; synchronous_commit=${pg.synchronous_commit}, fsync=${pg.fsync}, shared_buffers=${pg.shared_buffers}, max_connections=${pg.max_connections}`);
  if (r.service) {
    out.push(`service   ${r.service.command} (${r.service.entry}); DB_POOL_SIZE=${r.service.dbPoolSize}, MAX_TRANSACTIONS=${r.service.maxTransactions}, MAX_BATCH=${r.service.maxBatch}, LOG_LEVEL=warn, rate limit and backlog lifted; ready in ${int(r.service.startMs)} ms`);
  }
  out.push(`load      ${r.options.phones.toLocaleString('en-GB')} phones per scenario, ${r.options.connections} connections; load generator, service and PostgreSQL share the machine`);
  out.push('');

  const header = ['phase', 'count', 'seconds', 'per second', 'p50 ms', 'p99 ms', 'max ms', 'non-2xx', 'errors', 'service CPU ms/op (cores)', 'PostgreSQL CPU ms/op (cores)', 'load CPU ms/op (cores)', 'service RSS MB start/peak/end'];
  const rows: string[][] = [];
  // Over the whole phase (its checks included), so the cores are over the phase's duration too.
  const pgCpu = (phase: string, count: number) => cpuPerOp(r.postgresCpuSeconds[phase], count, r.durations[phase] ?? Number.NaN);
  const loadCpu = (phase: string, count: number) => cpuPerOp(r.loadCpuSeconds[phase], count, r.durations[phase] ?? Number.NaN);
  const load = (name: string, phase: string, f: LoadFigures) =>
    rows.push([name, int(f.ok + f.non2xx), dec(f.seconds), int(f.deliveriesPerSecond), ms(f.latencyMs.p50), ms(f.latencyMs.p99), ms(f.latencyMs.max), codes(f.non2xx, f.statusCodes), int(f.errors + f.timeouts), cpuPerOp(f.service.cpuSeconds, f.ok, f.seconds), pgCpu(phase, f.ok), loadCpu(phase, f.ok), rss(f)]);
  if (r.webhook) load('webhook: POST /webhooks/{token}', 'webhook', r.webhook);
  if (r.pgbench) {
    const p = r.pgbench;
    rows.push(['baseline: pgbench baseline.sql', int(p.transactions), dec(p.seconds), int(p.tps), ms(p.latencyMs.p50), ms(p.latencyMs.p99), ms(p.latencyMs.max), '-', int(p.failed), '-', pgCpu('pgbench', p.transactions), loadCpu('pgbench', p.transactions), '-']);
  }
  if (r.hot) load('hot: 20% on 10 phones', 'hot', r.hot);
  if (r.bulk) {
    const b = r.bulk;
    const failed = b.summary?.failed ?? Object.values(b.failedCodes).reduce((a, n) => a + n, 0);
    rows.push(['bulk: POST /webhooks/{token}/bulk', int(b.results), dec(b.seconds), int(b.linesPerSecond), '-', '-', '-', `${failed} failed`, '-', cpuPerOp(b.service.cpuSeconds, b.results, b.seconds), pgCpu('bulk', b.results), loadCpu('bulk', b.results), rss(b)]);
  }
  if (r.script) {
    const s = r.script;
    rows.push([`baseline: psql -f (${s.statements} × ${int(s.rows / s.statements)} rows)`, int(s.rows), dec(s.seconds), int(s.rowsPerSecond), '-', '-', '-', '-', '-', '-', pgCpu('script', s.rows), loadCpu('script', s.rows), '-']);
  }
  out.push(...table(header, rows));
  out.push('');

  if (r.ratios.serviceOverBaseline !== undefined) {
    out.push(`service/baseline = ${dec(r.ratios.serviceOverBaseline, 3)}   (webhook deliveries/s ÷ pgbench transactions/s)`);
  }
  if (r.bulk && r.script) {
    out.push(`bulk lines/s = ${int(r.bulk.linesPerSecond)}, script rows/s = ${int(r.script.rowsPerSecond)}, bulk/script = ${dec(r.ratios.bulkOverScript ?? 0, 3)}`);
  }
  out.push(...machineShares(r));
  if (r.bulk) out.push(`bulk: first result after ${int(r.bulk.firstResultMs)} ms; summary ${JSON.stringify(r.bulk.summary)}`);
  for (const [name, f] of [['webhook', r.webhook], ['hot', r.hot], ['bulk', r.bulk]] as const) {
    if (f) out.push(`${name}: service RSS ${signed(f.service.endMb - f.service.warmMb)} MB from a tenth of the phase (${int(f.service.warmMb)} MB) to its end (${int(f.service.endMb)} MB)`);
  }
  for (const [name, f] of [['webhook', r.webhook], ['hot', r.hot], ['bulk', r.bulk]] as const) {
    const thread = f?.service.mainThread;
    if (f && thread) {
      out.push(
        `${name}: the service's JavaScript thread ran ${dec(thread.runSeconds)} s and waited ${dec(thread.waitSeconds)} s for a core (${dec((100 * thread.waitSeconds) / f.seconds, 0)}% of the phase), ` +
          `taken off its core ${int(thread.preempted)} times`,
      );
    }
  }
  for (const [name, f] of [['webhook', r.webhook], ['hot', r.hot], ['bulk', r.bulk]] as const) {
    if (f) out.push(`${name}: deliveries logged ${JSON.stringify(f.logged)}`);
  }
  out.push('');

  const checks: [string, Check][] = [
    ...(r.webhook?.checks ?? []).map((c) => ['webhook', c] as [string, Check]),
    ...(r.hot?.checks ?? []).map((c) => ['hot', c] as [string, Check]),
    ...(r.bulk?.checks ?? []).map((c) => ['bulk', c] as [string, Check]),
  ];
  if (checks.length > 0) {
    out.push('checks');
    for (const [phase, c] of checks) out.push(`  [${c.ok ? 'ok' : 'FAILED'}] ${phase}: ${c.name} (${c.detail})`);
    out.push('');
  }
  if (Object.keys(r.failures).length > 0) {
    out.push('failed phases');
    for (const [phase, message] of Object.entries(r.failures)) out.push(`  ${phase}: ${message.split('\n').slice(0, 6).join('\n    ')}`);
    out.push('');
  }
  for (const note of r.notes) out.push(`note: ${note}`);
  if (r.notes.length > 0) out.push('');
  out.push(`durations ${Object.entries(r.durations).map(([phase, s]) => `${phase} ${dec(s)} s`).join(', ')}`);
  out.push(`total     ${dec(r.totalSeconds)} s`);
  return out.join('\n');
}

/**
 * Per phase, the CPU time of everything that ran on the machine, per operation, and the rate that
 * would leave no core idle: when the cores were already nearly all busy, no change that only moves
 * work between processes can go faster than that.
 */
function machineShares(r: BenchResults): string[] {
  const phases: [string, number | undefined, number | undefined][] = [
    ['webhook', r.webhook?.ok, r.webhook?.service.cpuSeconds],
    ['pgbench', r.pgbench?.transactions, 0],
    ['hot', r.hot?.ok, r.hot?.service.cpuSeconds],
    ['bulk', r.bulk?.results, r.bulk?.service.cpuSeconds],
    ['script', r.script?.rows, 0],
  ];
  const lines: string[] = [];
  for (const [phase, count, service] of phases) {
    const postgres = r.postgresCpuSeconds[phase];
    const load = r.loadCpuSeconds[phase];
    const seconds = r.durations[phase];
    if (!count || !seconds || service === undefined || postgres === undefined || load === undefined) continue;
    const total = service + postgres + load;
    if (!Number.isFinite(total)) continue;
    const perOp = (cpu: number) => dec((cpu * 1000) / count, 2);
    const parts = [...(service > 0 ? [`${perOp(service)} service`] : []), `${perOp(postgres)} PostgreSQL`, `${perOp(load)} load`];
    lines.push(
      `${phase}: CPU ms/op of the whole machine ${parts.join(' + ')} = ${perOp(total)}; ${dec(total / seconds, 2)} of ${r.machine.cpus} cores busy; ` +
        `at this CPU per op, ${int((r.machine.cpus * count) / total)}/s would keep every core busy`,
    );
  }
  return lines;
}

const signed = (n: number) => `${n >= 0 ? '+' : '-'}${int(Math.abs(n))}`;

function codes(non2xx: number, byCode: Record<string, number>): string {
  const list = Object.entries(byCode).map(([code, n]) => `${code}×${n}`);
  return list.length > 0 ? `${int(non2xx)} (${list.join(' ')})` : int(non2xx);
}

/** CPU time per delivery (or row), and how many cores that kept busy on average. */
const cpuPerOp = (cpuSeconds: number | undefined, count: number, seconds: number) =>
  cpuSeconds !== undefined && Number.isFinite(cpuSeconds) && count > 0 ? `${dec((cpuSeconds * 1000) / count, 2)} (${dec(cpuSeconds / seconds, 2)})` : '-';

const rss = (f: { service: { startMb: number; peakMb: number; endMb: number } }) => `${int(f.service.startMb)}/${int(f.service.peakMb)}/${int(f.service.endMb)}`;

/** Left-aligned first column, right-aligned figures. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

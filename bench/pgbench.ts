import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchDatabase } from './database.js';
import { run } from './exec.js';
import { PHONE_BASE } from './payload.js';
import { ROOT } from './service.js';

export const BASELINE_ACCOUNT = 'acc_bench_baseline';

export interface PgbenchFigures {
  clients: number;
  transactions: number;
  failed: number;
  seconds: number;
  tps: number;
  latencyMs: { p50: number; p99: number; max: number };
  command: string;
}

/** Gives a freshly migrated database the account and the sequence the baseline scripts use. */
export async function prepareBaseline(db: BenchDatabase): Promise<void> {
  await db.sql(
    `insert into accounts (id, name, default_region, webhook_token_hash, api_key_hash)
     values ('${BASELINE_ACCOUNT}', 'bench baseline', 'GB', 'bench-baseline-token', 'bench-baseline-key')`,
  );
  await db.sql('create sequence cs_bench_n minvalue 0 start 0');
}

/**
 * `bench/baseline.sql` with pgbench: `clients` connections, about `total` transactions in all
 * (pgbench counts per client). Per-transaction latencies come from pgbench's own log (-l).
 */
export async function runPgbench(db: BenchDatabase, options: { clients: number; total: number }): Promise<PgbenchFigures> {
  const perClient = Math.max(1, Math.ceil(options.total / options.clients));
  const logDir = mkdtempSync(join(tmpdir(), 'cs-bench-pgbench-'));
  const args = [
    '-n', // no vacuum: there are no pgbench tables
    '-M', 'prepared', // as the service's driver does
    '-f', join(ROOT, 'bench/baseline.sql'),
    '-c', String(options.clients),
    '-j', '2',
    '-t', String(perClient),
    '-D', `account=${BASELINE_ACCOUNT}`,
    '-D', `base=${PHONE_BASE.pgbench}`,
    '-l', `--log-prefix=${join(logDir, 'tx')}`,
    db.url,
  ];
  try {
    const started = performance.now();
    const output = await run('pgbench', args);
    const seconds = (performance.now() - started) / 1000;
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(output)?.[1];
    const processed = /number of transactions actually processed: (\d+)/.exec(output)?.[1];
    if (!tps || !processed) throw new Error(`could not read pgbench's output:\n${output}`);
    const failed = Number(/number of failed transactions: (\d+)/.exec(output)?.[1] ?? 0);
    const latencies = readLatencies(logDir);
    return {
      clients: options.clients,
      transactions: Number(processed),
      failed,
      seconds,
      tps: Number(tps),
      latencyMs: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies.at(-1) ?? 0 },
      command: `pgbench ${args.slice(0, -1).join(' ').replace(join(ROOT, ''), '').replace(` --log-prefix=${join(logDir, 'tx')}`, '')} <bench database>`,
    };
  } finally {
    rmSync(logDir, { recursive: true, force: true });
  }
}

/** pgbench's per-transaction log: `client tx latency_us script epoch us` per line, one file per thread. */
function readLatencies(dir: string): number[] {
  const values: number[] = [];
  for (const file of readdirSync(dir)) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      const us = Number(line.split(' ')[2]);
      if (line && Number.isFinite(us)) values.push(us / 1000);
    }
  }
  return values.sort((a, b) => a - b);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

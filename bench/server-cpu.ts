import { readdirSync, readFileSync } from 'node:fs';
import type { BenchDatabase } from './database.js';
import { cpuTicks, procStat, TICKS_PER_SECOND } from './service.js';

const isPostgres = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
  } catch {
    return false;
  }
};

/**
 * CPU time used by the PostgreSQL server the bench writes to, when it runs on this machine: its
 * postmaster, every process it runs (backends, WAL writer, checkpointer…) and, through the
 * postmaster's children's times, the backends that have exited since (pgbench's and psql's close
 * with their run). The difference between two readings is what the server spent in between.
 */
export class ServerCpu {
  private constructor(private readonly postmaster: number) {}

  /** The server behind `db`, or undefined when it is not a process of this machine (another host, a container). */
  static async find(db: BenchDatabase): Promise<ServerCpu | undefined> {
    // The checkpointer lives as long as the server; its parent is the postmaster.
    const [row] = await db.sql<{ pid: number }>(`select pid from pg_stat_activity where backend_type = 'checkpointer'`);
    if (!row || !isPostgres(row.pid)) return undefined;
    const postmaster = Number(procStat(row.pid)?.[1]);
    return Number.isInteger(postmaster) && isPostgres(postmaster) ? new ServerCpu(postmaster) : undefined;
  }

  /** CPU seconds so far (user + system) of the postmaster, its live children and its exited ones. */
  seconds(): number {
    const own = procStat(this.postmaster);
    if (!own) return Number.NaN;
    // Its own and its waited-for children's.
    let ticks = cpuTicks(own, true);
    for (const entry of readdirSync('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      const fields = procStat(pid);
      if (fields && Number(fields[1]) === this.postmaster) ticks += cpuTicks(fields);
    }
    return ticks / TICKS_PER_SECOND;
  }
}

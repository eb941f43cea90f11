import { readFileSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import { serverFacts } from './database.js';
import { run } from './exec.js';
import { ROOT } from './service.js';

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
}

/** What the figures were measured on: they mean little without it. */
export async function describeMachine(serverUrl: string): Promise<Machine> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const { version, settings } = await serverFacts(serverUrl);
  return {
    // What `nproc` prints: the CPUs this process may run on.
    cpus: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    memoryGiB: Math.round(Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? 0) / 1024 / 1024 * 10) / 10,
    kernel: `Linux ${release()}`,
    node: process.version,
    postgres: version,
    postgresSettings: settings,
  };
}

/** The commit measured, and whether src/ or migrations/ differed from it: figures belong to code. */
export async function describeCode(): Promise<string> {
  try {
    const commit = (await run('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])).trim();
    const changed = (await run('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'migrations'])).trim();
    return changed ? `${commit} with uncommitted changes in src/ or migrations/` : commit;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

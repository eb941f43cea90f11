import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where `--profile` has the service write its CPU profile (git-ignored with the results). */
export const PROFILE_DIR = 'bench/results/profile';

export interface ServiceOptions {
  databaseUrl: string;
  /** `tsx`: `node --import tsx src/index.ts`; `dist`: `node <dir>/index.js` built by `build.ts`. */
  entry: { kind: 'tsx' } | { kind: 'dist'; dir: string };
  env?: Record<string, string>;
  /** Given to node before the entry (`--cpu-prof`, say). */
  nodeArgs?: string[];
}

export interface Service {
  pid: number;
  baseUrl: string;
  webhookUrl: string;
  command: string;
  /** The last 64 KiB the service wrote (pino's warnings and errors go to stdout, crashes to stderr). */
  output(): string;
  stop(): Promise<number | null>;
}

const STARTUP_TIMEOUT_MS = 60_000;

/** Starts the service on a free port against `databaseUrl` and waits until it printed its webhook URL and is ready. */
export async function startService(options: ServiceOptions): Promise<Service> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const args = [...(options.nodeArgs ?? []), ...(options.entry.kind === 'tsx' ? ['--import', 'tsx', 'src/index.ts'] : [`${options.entry.dir}/index.js`])];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: baseUrl,
      LOG_LEVEL: 'warn',
      // The bench measures the service, not its guards: nothing may be refused for being too much.
      RATE_LIMIT_PER_MINUTE: '10000000',
      MAX_BACKLOG: '1000000',
      ...options.env,
    },
  });
  let stdout = '';
  let stderr = '';
  // pino logs to stdout, after the banner. Kept bounded: a service logging a warning per request
  // must not eat the bench's memory.
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout = (stdout + chunk).slice(-64 * 1024)));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-64 * 1024)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  try {
    const output = () => stdout + stderr;
    const webhookUrl = await waitFor(child, exited, () => /webhook URL:\s+(\S+)/.exec(stdout)?.[1], output);
    await waitFor(child, exited, async () => ((await fetch(`${baseUrl}/readyz`).catch(() => null))?.ok ? true : undefined), output);
    return {
      pid: child.pid!,
      baseUrl,
      webhookUrl,
      command: `node ${args.join(' ')}`,
      output: () => `${stdout.replace(/^[\s\S]*API key:.*\n/, '')}${stderr}`.trim(),
      stop: async () => {
        child.kill('SIGTERM');
        return exited;
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

async function waitFor<T>(child: ChildProcess, exited: Promise<number | null>, probe: () => T | undefined | Promise<T | undefined>, output: () => string): Promise<T> {
  let code: number | null | undefined;
  void exited.then((c) => (code = c ?? -1));
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (code !== undefined) throw new Error(`the service exited (${code}) while starting:\n${output()}`);
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`the service did not start within ${STARTUP_TIMEOUT_MS / 1000} s:\n${output()}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface ProcessFigures {
  startMb: number;
  peakMb: number;
  endMb: number;
  /** RSS once a tenth of the phase had passed: what it grew by after warming up is endMb - warmMb. */
  warmMb: number;
  /** CPU time the process used during the phase (user + system), in seconds. */
  cpuSeconds: number;
  /** The service's JavaScript thread during the phase, when the kernel keeps scheduler statistics. */
  mainThread?: ThreadFigures;
}

/**
 * From `/proc/<pid>/schedstat` (the thread-group leader: Node's JavaScript thread) and its
 * `nonvoluntary_ctxt_switches`: how long the thread ran, how long it was ready but waited for a
 * core, and how often the kernel took the core from it. On a machine the service shares, waiting
 * is what keeps a thread that needs a whole core below one.
 */
export interface ThreadFigures {
  runSeconds: number;
  waitSeconds: number;
  preempted: number;
}

function readThread(pid: number): ThreadFigures | undefined {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ').map(Number);
    const preempted = /^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'));
    if (!Number.isFinite(run) || !Number.isFinite(wait) || !preempted) return undefined;
    return { runSeconds: run! / 1e9, waitSeconds: wait! / 1e9, preempted: Number(preempted[1]) };
  } catch {
    return undefined;
  }
}

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
export const TICKS_PER_SECOND = 100;

/**
 * The fields of /proc/<pid>/stat after the command name (which may hold spaces), or undefined when
 * the process is gone: [0] is the state (field 3), [1] the parent pid, [11] and [12] utime and stime,
 * [13] and [14] the same for the children it has waited for.
 */
export function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime + stime from `procStat` fields, in ticks; with `waited`, also the children it has waited for. */
export const cpuTicks = (fields: string[], waited = false) =>
  Number(fields[11]) + Number(fields[12]) + (waited ? Number(fields[13]) + Number(fields[14]) : 0);

/**
 * CPU seconds so far of this process (autocannon and the bulk client run in it) and of the children
 * it has waited for (pgbench, psql): the load generator's share of the machine. The service, also a
 * child, is only waited for once every phase is over.
 */
export function loadGeneratorCpuSeconds(): number {
  const fields = procStat(process.pid);
  if (!fields) return Number.NaN;
  return cpuTicks(fields, true) / TICKS_PER_SECOND;
}

/** Samples a process from /proc while a phase runs: VmRSS (where it started, its peak, where it ended) and CPU time. */
export class ProcessSampler {
  private peakKb = 0;
  private readonly started = performance.now();
  /** RSS over time: [ms since start, kB]. */
  private readonly samples: [number, number][] = [];
  private readonly startKb: number;
  private readonly startTicks: number;
  private readonly startThread: ThreadFigures | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 100,
  ) {
    this.startKb = this.read();
    this.startTicks = this.ticks();
    this.startThread = readThread(pid);
    this.peakKb = this.startKb;
    this.timer = setInterval(() => {
      const kb = this.read();
      this.samples.push([performance.now() - this.started, kb]);
      this.peakKb = Math.max(this.peakKb, kb);
    }, intervalMs);
  }

  stop(): ProcessFigures {
    clearInterval(this.timer);
    const endKb = this.read();
    this.peakKb = Math.max(this.peakKb, endKb);
    const tenth = (performance.now() - this.started) / 10;
    const warmKb = this.samples.find(([at]) => at >= tenth)?.[1] ?? endKb;
    const [from, to] = [this.startThread, readThread(this.pid)];
    const mainThread = from && to ? { runSeconds: to.runSeconds - from.runSeconds, waitSeconds: to.waitSeconds - from.waitSeconds, preempted: to.preempted - from.preempted } : undefined;
    return { startMb: mb(this.startKb), peakMb: mb(this.peakKb), endMb: mb(endKb), warmMb: mb(warmKb), cpuSeconds: (this.ticks() - this.startTicks) / TICKS_PER_SECOND, mainThread };
  }

  private read(): number {
    try {
      const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return match ? Number(match[1]) : 0;
    } catch {
      return 0;
    }
  }

  /** utime + stime. */
  private ticks(): number {
    const fields = procStat(this.pid);
    return fields ? cpuTicks(fields) : 0;
  }
}

const mb = (kb: number) => Math.round(kb / 102.4) / 10;

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './net.js';

export { freePort };

/**
 * The service as a real process over real HTTP: for what only a process shows (signals, crashes,
 * two instances, a database that goes away). Everything here is PostgreSQL-only.
 */

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export const ADMIN_KEY = 'admin-key-for-process-tests-0123456789';

export interface Credentials {
  webhookToken: string;
  apiKey: string;
}

export interface ServiceProcess {
  readonly pid: number;
  readonly port: number;
  readonly baseUrl: string;
  readonly credentials: Credentials;
  readonly webhookUrl: string;
  /** What the process wrote so far (the tail of it), for assertions and failure messages. */
  output(): { stdout: string; stderr: string };
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** How it exited, or undefined while it runs. */
  exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Sends the signal and resolves with the exit code once the process has exited. */
  stop(signal?: 'SIGTERM' | 'SIGINT', timeoutMs?: number): Promise<number | null>;
  /** SIGKILL: no drain, no clean-up, as in a crash. */
  kill(): Promise<void>;
}

export interface StartOptions {
  databaseUrl: string;
  /** From the first start on this database: a restart prints no secrets. */
  credentials?: Credentials;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /** Start it as the README says, with `npm start`, rather than node itself (the pid is then npm's). */
  npmStart?: boolean;
}

const started = new Set<ChildProcess>();

const tail = (text: string, max = 20_000) => (text.length > max ? text.slice(-max) : text);

/**
 * Starts `node --import tsx src/index.ts` (or `npm start`) and resolves once `/readyz` answers 200.
 * The port is found free before the process starts and may be taken by the time it listens (an
 * outgoing connection of any process can land on it): the service then stops naming EADDRINUSE,
 * and is started again on another port.
 */
export async function startService(options: StartOptions): Promise<ServiceProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(options, await freePort());
    } catch (error) {
      // A start that cannot listen creates no account: the next one prints the secrets.
      if (!(error instanceof PortTaken) || attempt === 3) throw error;
    }
  }
}

class PortTaken extends Error {}

async function launch(options: StartOptions, port: number): Promise<ServiceProcess> {
  const baseUrl = `http://127.0.0.1:${port}`;
  const [command, args] = options.npmStart ? ['npm', ['start']] : [process.execPath, ['--import', 'tsx', 'src/index.ts']];
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: '',
      LOG_LEVEL: 'warn',
      ADMIN_API_KEY: ADMIN_KEY,
      SHUTDOWN_TIMEOUT_MS: '10000',
      // The load tests are about durability, not the per-account rate limit.
      RATE_LIMIT_PER_MINUTE: '10000000',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout = tail(stdout + chunk)));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = tail(stderr + chunk)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      started.delete(child);
      resolve({ code, signal });
    });
  });
  let exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((status) => (exitStatus = status));
  const describe = () => `pid ${child.pid}, port ${port}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  let credentials = options.credentials;
  for (;;) {
    if (exitStatus) {
      const message = `the service exited before it was ready (${JSON.stringify(await exited)})\n${describe()}`;
      throw stderr.includes('(EADDRINUSE)') ? new PortTaken(message) : new Error(message);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the service was not ready in time\n${describe()}`);
    }
    const ready = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
      async (res) => (await res.arrayBuffer(), res.status === 200),
      () => false,
    );
    // The secrets are written once the service listens: /readyz may answer before they are read.
    credentials ??= parseCredentials(stdout);
    if (ready && credentials) break;
    await sleep(100);
  }

  const service: ServiceProcess = {
    pid: child.pid!,
    port,
    baseUrl,
    credentials,
    webhookUrl: `${baseUrl}/webhooks/${credentials.webhookToken}`,
    output: () => ({ stdout, stderr }),
    exited,
    exitStatus: () => exitStatus,
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      child.kill(signal);
      const timer = sleep(timeoutMs).then(() => 'timeout' as const);
      const result = await Promise.race([exited, timer]);
      if (result === 'timeout') {
        child.kill('SIGKILL');
        throw new Error(`the service did not exit within ${timeoutMs} ms of ${signal}\n${describe()}`);
      }
      if (result.signal !== null) throw new Error(`the service died of ${result.signal} after ${signal}\n${describe()}`);
      return result.code;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
  return service;
}

/** `webhook URL: http://…/webhooks/whk_…` and `API key: csk_…`, as printed on the first start. */
export function parseCredentials(stdout: string): Credentials | undefined {
  const token = /webhook URL:\s+\S*\/webhooks\/(whk_[A-Za-z0-9_-]+)/.exec(stdout)?.[1];
  const apiKey = /API key:\s+(csk_[A-Za-z0-9_-]+)/.exec(stdout)?.[1];
  return token && apiKey ? { webhookToken: token, apiKey } : undefined;
}

/** SIGKILLs every service process still running: for afterAll, whatever happened in the tests. */
export async function killAllServices(): Promise<void> {
  await Promise.all(
    [...started].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface JsonAnswer {
  status: number;
  headers: Headers;
  body: any;
}

export async function postJson(url: string, payload: unknown, headers: Record<string, string> = {}, timeoutMs = 15_000): Promise<JsonAnswer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(payload),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: parseJson(text) };
}

/** The `code` of an error body, or the start of a body that is not one. */
export function errorCode(text: string): string {
  const body = parseJson(text) as { code?: unknown } | null;
  return typeof body === 'object' && body !== null && typeof body.code === 'string' ? body.code : text.slice(0, 80);
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

/** The contact's labels through the API (`null` for 404); anything but 200/404 throws. */
export async function labelsOf(service: ServiceProcess, phone: string): Promise<string[] | null> {
  const res = await fetch(`${service.baseUrl}/api/v1/contacts/${encodeURIComponent(phone)}`, {
    headers: { authorization: `Bearer ${service.credentials.apiKey}` },
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (res.status === 404) return null;
  if (res.status !== 200) throw new Error(`GET contact ${phone}: ${res.status} ${text}`);
  return (JSON.parse(text) as { labels: string[] }).labels;
}

/** `fn` over `items`, at most `limit` at a time, results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../helpers/process.js';

/** A private PostgreSQL cluster, for the tests that stop and start the database itself. */

const run = promisify(execFile);

export interface PrivateCluster {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it (immediate) and removes its files. */
  destroy(): Promise<void>;
  log(): Promise<string>;
}

function postgresBin(): string {
  const versions = readdirSync('/usr/lib/postgresql')
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error('no PostgreSQL under /usr/lib/postgresql');
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

/** Runs a PostgreSQL tool as the `postgres` OS user: the server refuses to run as root. */
async function asPostgres(tool: string, args: string[]): Promise<string> {
  const command = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', `${postgresBin()}/${tool}`, ...args]] : [`${postgresBin()}/${tool}`, args];
  const { stdout } = await run(command[0] as string, command[1] as string[], { timeout: 60_000 });
  return stdout;
}

/**
 * initdb + pg_ctl start in a temporary directory, on a free port, trust authentication, listening
 * on 127.0.0.1 only. Never the machine's shared server: other test files use that one meanwhile.
 */
export async function startPrivateCluster(): Promise<PrivateCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'cs-pg-'));
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const port = await freePort();
  await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
  const start = () =>
    asPostgres('pg_ctl', [
      '-D', data, '-l', logFile, '-w', '-t', '60',
      '-o', `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir}`,
      'start',
    ]).then(() => undefined);
  await start();
  let destroyed = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop: () => asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']).then(() => undefined),
    log: async () => (await run('cat', [logFile]).catch(() => ({ stdout: '' }))).stdout,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

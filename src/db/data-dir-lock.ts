import { readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

/** A second process on a PGlite directory the first one has open: refused, as both would write its files. */
export class DataDirInUse extends Error {
  constructor(dataDir: string, holder: string) {
    super(`DATA_DIR ${dataDir} is in use by another contact-sync process (${holder}): stop it, or set DATA_DIR to another directory`);
  }
}

/** How often the holder touches its lock file, and how long another process watches for that. */
const HEARTBEAT_MS = 1000;
const WATCH_MS = 3 * HEARTBEAT_MS;

/** The PGlite directories this process has open. */
const openDirs = new Set<string>();

/**
 * Takes the directory for this process: `contact-sync.pid` holds its pid and host name, and is
 * touched every second while it is held. The returned function lets go of it. A file found there is
 * judged by what can be known of its writer: on this host with another pid, whether that process
 * runs (a crash or SIGKILL leaves it behind); otherwise (another container sharing the volume, where
 * every process may be pid 1, or an earlier life of this container) whether it is still being
 * touched, watched for three seconds.
 */
export async function lockDataDir(dataDir: string): Promise<() => void> {
  const dir = resolve(dataDir);
  if (openDirs.has(dir)) throw new DataDirInUse(dataDir, `pid ${process.pid}, this one`);
  const file = join(dir, 'contact-sync.pid');
  const host = hostname();
  for (;;) {
    try {
      writeFileSync(file, `${process.pid} ${host}`, { flag: 'wx' });
      openDirs.add(dir);
      const heartbeat = setInterval(() => touch(file), HEARTBEAT_MS);
      heartbeat.unref();
      return () => {
        clearInterval(heartbeat);
        openDirs.delete(dir);
        rmSync(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const found = readHolder(file);
    if (found === undefined) continue;
    const holder = `pid ${found.pid} on ${found.host}`;
    if (found.host === host && found.pid !== process.pid) {
      if (isRunning(found.pid)) throw new DataDirInUse(dataDir, holder);
    } else if (await isTouched(file)) {
      throw new DataDirInUse(dataDir, holder);
    }
    rmSync(file, { force: true });
  }
}

function readHolder(file: string): { pid: number; host: string } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const [pid, host = ''] = text.trim().split(' ');
  return { pid: Number(pid), host };
}

function touch(file: string): void {
  const now = new Date();
  try {
    utimesSync(file, now, now);
  } catch {
    // Removed from under us: nothing to keep fresh.
  }
}

/** Whether the file is touched while it is watched (or is gone, taken by its owner's exit). */
async function isTouched(file: string): Promise<boolean> {
  const before = modified(file);
  await new Promise((resolve) => setTimeout(resolve, WATCH_MS));
  const after = modified(file);
  return after === undefined ? false : after !== before;
}

function modified(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

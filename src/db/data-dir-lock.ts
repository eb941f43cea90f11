import { chmodSync, closeSync, existsSync, fstatSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';

/** A second process on a PGlite directory the first one has open: refused, as both would write its files. */
export class DataDirInUse extends Error {
  constructor(dataDir: string, holder: string | undefined) {
    super(
      holder === undefined
        ? `DATA_DIR ${dataDir} is open in PGlite without a contact-sync lock (its postmaster.pid is there, contact-sync.pid is not): ` +
            `an older contact-sync, one that takes no lock, may still run on it; stop it first, as two processes writing it would break it. ` +
            `If none runs (one was killed), delete ${join(dataDir, PGLITE_PID)} and start again`
        : `DATA_DIR ${dataDir} is in use by another contact-sync process (${holder}): stop it, or set DATA_DIR to another directory`,
    );
  }
}

/** PGlite's own pid file, there while a PGlite has the directory open (or was killed with it open). */
const PGLITE_PID = 'postmaster.pid';

/** A DATA_DIR that cannot be made or written: a file, a directory this user may not write, a read-only disk. */
export class DataDirUnusable extends Error {
  constructor(dataDir: string, code: string) {
    super(`DATA_DIR ${dataDir} cannot be used (${code}): set DATA_DIR to a directory this user may create and write, or set DATABASE_URL`);
  }
}

/**
 * Makes the directory and any missing parent, one level at a time from the top: Node's recursive
 * mkdir never returns on a path the system refuses with ENOENT although its parent exists
 * (`/proc/x`). Makes it private to this user (`makePrivate`), then takes its lock (`lockDataDir`).
 * An error of the file system says DATA_DIR.
 */
export async function openDataDir(dataDir: string): Promise<() => Promise<void>> {
  try {
    const missing: string[] = [];
    for (let dir = resolve(dataDir); !existsSync(dir) && dirname(dir) !== dir; dir = dirname(dir)) missing.unshift(dir);
    for (const dir of missing) mkdirSync(dir);
    const stat = statSync(dataDir);
    if (!stat.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    makePrivate(dataDir, stat.mode);
    return await lockDataDir(dataDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (error instanceof DataDirInUse || typeof code !== 'string') throw error;
    throw new DataDirUnusable(dataDir, code);
  }
}

/**
 * PGlite writes the database's files readable and writable by everyone (0666, whatever the umask),
 * secrets and contacts included: the directory is what keeps other users of the host out, so it is
 * made 0700, as PostgreSQL requires of its own. A directory this user does not own, and so cannot
 * close, is refused rather than used open. (Windows has no such modes.)
 */
function makePrivate(dataDir: string, mode: number): void {
  if (process.platform === 'win32' || (mode & 0o077) === 0) return;
  try {
    chmodSync(dataDir, 0o700);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EPERM';
    throw new DataDirUnusable(dataDir, `${code}: other users may read it, and it cannot be made private to this user`);
  }
}

/** How often the holder rewrites its lock file, and how long another process watches it for that. */
const BEAT_MS = 1000;
const WATCH_MS = 3 * BEAT_MS;

/** The PGlite directories this process has open. */
const openDirs = new Set<string>();

/**
 * The heartbeat, on a thread of its own: PGlite runs each query on the main thread, and a long one
 * (a migration building an index) would stop a timer there for longer than another process
 * watches. It rewrites the file through its own descriptor (so never another process's file at the
 * same path) with a growing count, and reports `lost` once the path no longer names that file.
 */
const HEARTBEAT = `
const { parentPort, workerData: { fd, file, head, beatMs } } = require('node:worker_threads');
const { fstatSync, statSync, writeSync } = require('node:fs');
let beat = 0;
const timer = setInterval(() => {
  let ours;
  try { ours = statSync(file).ino === fstatSync(fd).ino; } catch { ours = false; }
  if (!ours) { clearInterval(timer); parentPort.postMessage('lost'); return; }
  beat += 1;
  writeSync(fd, head + String(beat).padStart(12, '0'), 0);
}, beatMs);
`;

export interface DataDirLockOptions {
  /** Called if the lock is lost while held (another process took the directory, or the heartbeat failed); by default the process stops at once. */
  onLost?: () => void;
}

const stopNow = (dataDir: string) => () => {
  process.stderr.write(`contact-sync: the lock on DATA_DIR ${dataDir} was lost (taken by another process, or its heartbeat failed); stopping at once, so that two do not write it\n`);
  process.exit(1);
};

/**
 * Takes the directory for this process: `contact-sync.pid` holds its pid, host name and a count
 * that a heartbeat raises every second while it is held. The returned function lets go of it. A
 * file found there is refused at once when it names a process that runs on this host; otherwise
 * (its process gone, or in another container sharing the volume, where every process may be pid 1
 * and host names may repeat) it is watched for three seconds and taken over only if its count did
 * not move. Taking over renames the very file that was watched, so that two processes taking over
 * at once cannot both win.
 */
export async function lockDataDir(dataDir: string, options: DataDirLockOptions = {}): Promise<() => Promise<void>> {
  const dir = resolve(dataDir);
  if (openDirs.has(dir)) throw new DataDirInUse(dataDir, `pid ${process.pid}, this one`);
  const file = join(dir, 'contact-sync.pid');
  const head = `${process.pid} ${hostname()} `;
  /** The last beat of the lock taken over from a holder that had gone, if one was. */
  let lastBeat: number | undefined;
  for (;;) {
    let fd: number;
    try {
      fd = openSync(file, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      lastBeat = await judge(dataDir, file);
      continue;
    }
    if (openedWithoutLock(dir, lastBeat)) {
      closeSync(fd);
      rmSync(file, { force: true });
      throw new DataDirInUse(dataDir, undefined);
    }
    writeSync(fd, `${head}${'0'.padStart(12, '0')}`, 0);
    openDirs.add(dir);
    const heartbeat = new Worker(HEARTBEAT, { eval: true, workerData: { fd, file, head, beatMs: BEAT_MS } });
    heartbeat.unref();
    const lost = options.onLost ?? stopNow(dataDir);
    heartbeat.on('message', lost);
    // A heartbeat that fails (a disk full, say) stops keeping the file: as good as lost. Stopping it
    // below emits no error, and the descriptor is closed only once it has stopped.
    heartbeat.on('error', lost);
    return async () => {
      // Stopped before its descriptor is closed: the number could name another file afterwards.
      await heartbeat.terminate();
      openDirs.delete(dir);
      try {
        // Only while the path still names this process's file: never another's that replaced it.
        if (statSync(file).ino === fstatSync(fd).ino) rmSync(file, { force: true });
      } catch {
        // Already gone.
      }
      closeSync(fd);
    };
  }
}

/**
 * Whether a process that takes no lock (an older contact-sync, another PGlite program) has the
 * directory open, or had it when it was killed: PGlite's pid file is there, and it is not that of
 * the holder whose lock was taken over (`lastBeat`, the time of its lock's last beat). That
 * holder's PGlite wrote its file before it died, and it died at most a beat after its last one, so
 * a file written later than that is another process's. A holder that closed left neither file.
 */
function openedWithoutLock(dir: string, lastBeat: number | undefined): boolean {
  let written: number;
  try {
    written = statSync(join(dir, PGLITE_PID)).mtimeMs;
  } catch {
    return false;
  }
  return lastBeat === undefined || written > lastBeat + 2 * BEAT_MS;
}

/**
 * Throws DataDirInUse when the file's holder lives; otherwise moves that file out of the way and
 * answers when its holder last beat. Undefined when the file went meanwhile (its holder closed).
 */
async function judge(dataDir: string, file: string): Promise<number | undefined> {
  const seen = read(file);
  if (!seen) return undefined;
  const [pid, host] = seen.text.split(' ');
  const holder = `pid ${pid} on ${host}`;
  if (host === hostname() && Number(pid) !== process.pid && isRunning(Number(pid))) throw new DataDirInUse(dataDir, holder);
  await new Promise((done) => setTimeout(done, WATCH_MS));
  const now = read(file);
  if (!now) return undefined;
  if (now.ino !== seen.ino || now.text !== seen.text) throw new DataDirInUse(dataDir, holder);
  // Still the same file, unchanged: its holder has gone. Moved aside, it is checked to be that file.
  const aside = `${file}.stale-${process.pid}-${Date.now()}`;
  try {
    renameSync(file, aside);
  } catch {
    return undefined;
  }
  if (statSync(aside).ino !== seen.ino) {
    // Another process took over first and this rename moved its new file: put it back.
    try {
      linkSync(aside, file);
    } catch {
      // A third file is there now; the one moved reports itself lost.
    }
  }
  rmSync(aside, { force: true });
  return now.mtimeMs;
}

function read(file: string): { text: string; ino: number; mtimeMs: number } | undefined {
  try {
    const { ino, mtimeMs } = statSync(file);
    return { text: readFileSync(file, 'utf8').trim(), ino, mtimeMs };
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

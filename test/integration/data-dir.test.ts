import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.js';
import { DataDirInUse, DataDirUnusable, lockDataDir } from '../../src/db/data-dir-lock.js';

/** One process per PGlite directory: two would write the same files. */
describe('a PGlite DATA_DIR', () => {
  const dirs: string[] = [];
  const newDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'contact-sync-dir-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('is refused to a second opening while the first has it, and free again once it is closed', async () => {
    const dir = newDir();
    const first = await openDatabase({ dataDir: dir });
    await expect(openDatabase({ dataDir: dir })).rejects.toThrow(DataDirInUse);
    expect(existsSync(join(dir, 'contact-sync.pid'))).toBe(true);
    await first.close();
    expect(existsSync(join(dir, 'contact-sync.pid'))).toBe(false);
    const again = await openDatabase({ dataDir: dir });
    await again.close();
  });

  it('is made with its missing parents, and one that cannot be used stops the start naming DATA_DIR, at once', async () => {
    const nested = join(newDir(), 'a', 'b');
    await (await openDatabase({ dataDir: nested })).close();
    expect(existsSync(join(nested, 'PG_VERSION'))).toBe(true);

    const file = join(newDir(), 'a-file');
    writeFileSync(file, '');
    // /proc refuses a new entry with ENOENT although /proc exists: Node's recursive mkdir never returns there.
    for (const [dataDir, code] of [[file, 'ENOTDIR'], [join(file, 'below'), 'ENOTDIR'], ['/proc/contact-sync-data', 'ENOENT']] as const) {
      const opening = openDatabase({ dataDir });
      await expect(opening).rejects.toThrow(DataDirUnusable);
      await expect(opening).rejects.toThrow(`DATA_DIR ${dataDir} cannot be used (${code}): set DATA_DIR to a directory this user may create and write, or set DATABASE_URL`);
    }
  });

  it.skipIf(process.platform === 'win32')('is private to its user, made so or made that way: PGlite writes its files open to everyone', async () => {
    const made = join(newDir(), 'data');
    const existing = newDir();
    chmodSync(existing, 0o755);
    for (const dataDir of [made, existing]) {
      await (await openDatabase({ dataDir })).close();
      expect((statSync(dataDir).mode & 0o777).toString(8), dataDir).toBe('700');
    }
  });

  it('is refused while another running process on this host holds it, naming its pid', async () => {
    const dir = newDir();
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
    try {
      writeFileSync(join(dir, 'contact-sync.pid'), `${holder.pid} ${hostname()}`);
      await expect(openDatabase({ dataDir: dir })).rejects.toThrow(`in use by another contact-sync process (pid ${holder.pid} on ${hostname()})`);
    } finally {
      holder.kill();
    }
  });

  it('is taken over from a process on this host that has gone, once its file is seen not to move', async () => {
    const dir = newDir();
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(join(dir, 'contact-sync.pid'), `${gone} ${hostname()} 000000000001`);
    const unlock = await lockDataDir(dir);
    expect(readFileSync(join(dir, 'contact-sync.pid'), 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    await unlock();
  });

  /** A holder the pid cannot tell about (every container's process may be pid 1): it rewrites its count. */
  const beating = (file: string, head: string) =>
    spawn(process.execPath, ['-e', `let n = 0; setInterval(() => require('node:fs').writeFileSync(${JSON.stringify(file)}, ${JSON.stringify(head)} + ++n), 500)`]);

  it.each([
    ['another container (another host name)', () => '1 other-container '],
    ['another container with this pid and host name', () => `${process.pid} ${hostname()} `],
  ])('is refused while %s keeps its count moving', async (_, head) => {
    const dir = newDir();
    const file = join(dir, 'contact-sync.pid');
    writeFileSync(file, `${head()}0`);
    const holder = beating(file, head());
    try {
      await expect(lockDataDir(dir)).rejects.toThrow(DataDirInUse);
    } finally {
      holder.kill();
    }
  });

  it('is taken over from another container whose count no longer moves (it has gone)', async () => {
    const dir = newDir();
    writeFileSync(join(dir, 'contact-sync.pid'), '1 other-container 000000000007');
    const database = await openDatabase({ dataDir: dir });
    await database.close();
  });

  it('is refused while a PGlite has it open without a lock of ours (an older contact-sync), and free once that closes', async () => {
    const dir = newDir();
    const older = new PGlite(dir);
    await older.query('select 1');
    try {
      await expect(openDatabase({ dataDir: dir })).rejects.toThrow(`DATA_DIR ${dir} is open in PGlite without a contact-sync lock`);
      expect(existsSync(join(dir, 'contact-sync.pid'))).toBe(false);
      expect((await older.query<{ n: number }>('select 2 as n')).rows[0]!.n).toBe(2);
    } finally {
      await older.close();
    }
    await (await openDatabase({ dataDir: dir })).close();
  });

  it('is taken over from a contact-sync that was killed, whose PGlite pid file lies beside its own stale one', async () => {
    const dir = newDir();
    await (await openDatabase({ dataDir: dir })).close();
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(join(dir, 'contact-sync.pid'), `${gone} ${hostname()} 000000000003`);
    writeFileSync(join(dir, 'postmaster.pid'), '-42\n/pglite/data\n1795321819\n5432\n');
    await (await openDatabase({ dataDir: dir })).close();
  });

  it('is refused when a PGlite opened it after the holder whose stale lock is found had gone', async () => {
    const dir = newDir();
    await (await openDatabase({ dataDir: dir })).close();
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const lock = join(dir, 'contact-sync.pid');
    writeFileSync(lock, `${gone} ${hostname()} 000000000042`);
    // Its last beat 10 s ago; the PGlite below writes its pid file now.
    const tenSecondsAgo = new Date(Date.now() - 10_000);
    utimesSync(lock, tenSecondsAgo, tenSecondsAgo);
    const other = new PGlite(dir);
    await other.query('select 1');
    try {
      await expect(openDatabase({ dataDir: dir })).rejects.toThrow(`DATA_DIR ${dir} is open in PGlite without a contact-sync lock`);
      expect(existsSync(lock)).toBe(false);
    } finally {
      await other.close();
    }
    await (await openDatabase({ dataDir: dir })).close();
  });

  const hold = (dir: string, holdMs: number, blockMs = 0) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/hold-data-dir.ts', dir, String(holdMs), String(blockMs)]);
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    return { output: () => out, exited: new Promise<void>((done) => child.on('exit', () => done())) };
  };

  const until = async (check: () => boolean, ms: number) => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((done) => setTimeout(done, 50));
    }
  };

  it("keeps its count moving while the holder's main thread is busy (a long PGlite query)", async () => {
    const dir = newDir();
    const file = join(dir, 'contact-sync.pid');
    const holder = hold(dir, 5000, 4500);
    await until(() => holder.output().includes('ACQUIRED'), 20_000);
    const before = readFileSync(file, 'utf8');
    await new Promise((done) => setTimeout(done, 2500));
    expect(readFileSync(file, 'utf8')).not.toBe(before);
    await holder.exited;
  }, 30_000);

  it('lets only one of two processes taking over a stale file at once have it', async () => {
    const dir = newDir();
    writeFileSync(join(dir, 'contact-sync.pid'), '1 other-container 000000000007');
    const both = [hold(dir, 6000), hold(dir, 6000)];
    await Promise.all(both.map((one) => one.exited));
    const outcomes = both.map((one) => one.output().split(' ')[0]!.trim()).sort();
    expect(outcomes).toEqual(['ACQUIRED', 'REFUSED']);
  }, 40_000);

  it('reports the lock lost when another process replaces its file, and never removes that file', async () => {
    const dir = newDir();
    const file = join(dir, 'contact-sync.pid');
    let lost = 0;
    const unlock = await lockDataDir(dir, { onLost: () => lost++ });
    rmSync(file);
    writeFileSync(file, '1 other-container 000000000001');
    await until(() => lost > 0, 5000);
    await unlock();
    expect(readFileSync(file, 'utf8')).toBe('1 other-container 000000000001');
  });
});

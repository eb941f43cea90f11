import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.js';
import { DataDirInUse, lockDataDir } from '../../src/db/data-dir-lock.js';

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

  it('is taken over at once from a process on this host that has gone', async () => {
    const dir = newDir();
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(join(dir, 'contact-sync.pid'), `${gone} ${hostname()}`);
    const started = Date.now();
    const unlock = await lockDataDir(dir);
    // Without watching the file: its pid tells.
    expect(Date.now() - started).toBeLessThan(1000);
    unlock();
  });

  /** A holder the pid cannot tell about: every container's process is pid 1, as this one may be. */
  const toucher = (file: string) => spawn(process.execPath, ['-e', `setInterval(() => { const t = new Date(); require('node:fs').utimesSync(${JSON.stringify(file)}, t, t); }, 500)`]);

  it.each([
    ['another container (another host name)', () => '1 other-container'],
    ['another container with this pid and host name', () => `${process.pid} ${hostname()}`],
  ])('is refused while %s keeps its lock file fresh', async (_, content) => {
    const dir = newDir();
    const file = join(dir, 'contact-sync.pid');
    writeFileSync(file, content());
    const holder = toucher(file);
    try {
      await expect(openDatabase({ dataDir: dir })).rejects.toThrow(DataDirInUse);
    } finally {
      holder.kill();
    }
  });

  it('is taken over from another container whose lock file is no longer touched (it has gone)', async () => {
    const dir = newDir();
    writeFileSync(join(dir, 'contact-sync.pid'), '1 other-container');
    const database = await openDatabase({ dataDir: dir });
    await database.close();
  });
});

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirInUse, openDatabase } from '../../src/db/client.js';

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

  it('is refused while another running process holds it, naming its pid', async () => {
    const dir = newDir();
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
    try {
      writeFileSync(join(dir, 'contact-sync.pid'), String(holder.pid));
      await expect(openDatabase({ dataDir: dir })).rejects.toThrow(`in use by another contact-sync process (pid ${holder.pid})`);
    } finally {
      holder.kill();
    }
  });

  it('is taken over from a process that has gone', async () => {
    const dir = newDir();
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(join(dir, 'contact-sync.pid'), gone);
    const database = await openDatabase({ dataDir: dir });
    await database.close();
  });
});

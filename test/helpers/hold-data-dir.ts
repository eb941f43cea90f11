import { lockDataDir } from '../../src/db/data-dir-lock.js';

/**
 * `node --import tsx test/helpers/hold-data-dir.ts <dir> <holdMs> <blockMs>`: takes the directory's
 * lock and prints ACQUIRED (or REFUSED), blocks its main thread for `blockMs` (as a long PGlite
 * query does), then holds the lock until `holdMs` have passed and lets it go.
 */
const [dir, holdMs = '0', blockMs = '0'] = process.argv.slice(2);
try {
  const unlock = await lockDataDir(dir!);
  process.stdout.write('ACQUIRED\n');
  const until = Date.now() + Number(blockMs);
  while (Date.now() < until) {
    // Busy: no timer of this thread runs meanwhile.
  }
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(holdMs) - Number(blockMs))));
  await unlock();
} catch (error) {
  process.stdout.write(`REFUSED ${(error as Error).message}\n`);
}

import { loadConfig } from '../config.js';
import { startFailure } from '../log.js';
import { openDatabase } from './client.js';

/** `npm run db:migrate`: applies the migrations (the service also does so at start) and exits. */
try {
  const config = loadConfig();
  const database = await openDatabase(config.DATABASE_URL ? { url: config.DATABASE_URL, poolSize: 1 } : { dataDir: config.DATA_DIR });
  await database.close();
  process.stdout.write(`migrations applied (${database.kind})\n`);
} catch (error) {
  process.stderr.write(`migrations not applied: ${startFailure(error)}\n`);
  process.exitCode = 1;
}

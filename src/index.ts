import { once } from 'node:events';
import { Server as NetServer, type AddressInfo } from 'node:net';
import pino from 'pino';
import { createApp } from './app.js';
import { ConfigError, loadConfig, publicUrl, type Config } from './config.js';
import { openDatabase } from './db/client.js';
import { ensureDefaultAccount } from './db/queries/accounts.js';
import { serveApp } from './http/server.js';
import { loggable, startFailure } from './log.js';
import { startPurgeSchedule } from './sync/purge.js';

/** How long after a shutdown signal idle kept-alive connections stay open for requests already sent on them. */
const IDLE_GRACE_MS = 1000;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

async function main(): Promise<void> {
  const config = readConfig();
  const logger = pino({ level: config.LOG_LEVEL });
  // The port opens once they are applied: on a large database an upgrade's may take a while, and
  // another instance applying them makes this one wait its turn.
  logger.info({ database: config.DATABASE_URL ? 'postgres' : 'pglite' }, 'opening the database and applying its migrations');
  const database = await openDatabase(
    config.DATABASE_URL ? { url: config.DATABASE_URL, poolSize: config.DB_POOL_SIZE } : { dataDir: config.DATA_DIR },
  );
  logger.info({ database: database.kind }, 'database ready, migrations applied');
  await database.warm().catch((error: unknown) =>
    // A database that allows fewer connections fails the same later, at first need; its error then answers 503.
    logger.warn({ err: loggable(error), poolSize: config.DB_POOL_SIZE }, 'could not open every connection of the pool (DB_POOL_SIZE); the rest open when first needed'),
  );

  const { app, queues, readiness } = createApp({ config, database, logger });
  const stopPurge = startPurgeSchedule(database.db, logger, config.PURGE_INTERVAL_MS);
  const server = serveApp(app, { port: config.PORT, hostname: config.HOST, requestTimeoutMs: config.REQUEST_TIMEOUT_MS });
  // The address is taken only now, after the database: a port in use or a host that is not this
  // machine's stops the start as a bad variable does, naming it.
  try {
    await once(server, 'listening');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    process.stderr.write(`contact-sync failed to start: cannot listen on HOST ${config.HOST}, PORT ${config.PORT} (${code}): set HOST or PORT\n`);
    await stopPurge();
    await database.close();
    process.exit(1);
  }
  const { port } = server.address() as AddressInfo;
  const url = publicUrl({ ...config, PORT: port });
  logger.info({ port }, `listening on ${url}`);

  // Created once the service listens, so that a start that cannot listen creates nothing whose
  // secrets it could not show, and the URL printed has the port really taken (PORT=0).
  const created = await ensureDefaultAccount(database.db, config.DEFAULT_REGION ?? null);
  if (created) {
    // Printed once, to stdout only: the secrets are not stored and never logged.
    process.stdout.write(
      [
        '',
        'Created the account "default". Keep these; they are shown only once:',
        `  account id:  ${created.account.id}`,
        `  webhook URL: ${url}/webhooks/${created.webhookToken}`,
        `  API key:     ${created.apiKey}`,
        '',
        '',
      ].join('\n'),
    );
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    readiness.draining = true;
    // Stop taking connections, let accepted deliveries commit and answer, then close the database.
    // http.Server's close would also cut the idle kept-alive connections at once, resetting a request
    // a client was sending on one just then; net.Server's stops only the listener. While draining,
    // every answer closes its connection (app.ts), and those left idle are cut once the deliveries
    // have drained and IDLE_GRACE_MS has passed, when no request sent before the signal is on its way.
    const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
    const deadline = delay(config.SHUTDOWN_TIMEOUT_MS);
    await Promise.race([Promise.all([queues.drain(), delay(IDLE_GRACE_MS)]), deadline]);
    server.closeIdleConnections();
    await Promise.race([closed, deadline]);
    // Past the deadline, connections still open are cut: what they carry was not acknowledged.
    server.closeAllConnections();
    await stopPurge();
    await database.close();
    logger.info('stopped');
    process.exitCode = 0;
  };
  // `on`, not `once`: with the listener gone, a second signal would kill the process mid-drain.
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`contact-sync failed to start: ${startFailure(error)}\n`);
  process.exit(1);
});

import { Hono } from 'hono';
import type { Database } from '../db/client.js';

export interface Readiness {
  /** True from the moment shutdown starts: the load balancer should stop sending. */
  draining: boolean;
}

const PING_TIMEOUT_MS = 2000;

export function healthRoutes(deps: { database: Database; readiness: Readiness }) {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    if (deps.readiness.draining) return c.json({ status: 'draining' }, 503);
    try {
      await Promise.race([
        deps.database.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('ping timed out')), PING_TIMEOUT_MS).unref()),
      ]);
    } catch {
      return c.json({ status: 'database unreachable' }, 503);
    }
    return c.json({ status: 'ready' });
  });
  return app;
}

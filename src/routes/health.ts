import { z, type OpenAPIHono } from '@hono/zod-openapi';
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

const Status = z.object({ status: z.string() });

/** Registers the operations routes (`/healthz`, `/readyz`, `/metrics`) in the app's OpenAPI registry: they take no credential. */
export function registerOperationsDocs(app: Pick<OpenAPIHono, 'openAPIRegistry'>): void {
  const common = { tags: ['operations'], security: [], method: 'get' as const };
  const json = (description: string, status: string) => ({ description, content: { 'application/json': { schema: Status.openapi({ example: { status } }) } } });
  app.openAPIRegistry.registerPath({ ...common, path: '/healthz', summary: 'Liveness: the process answers', responses: { 200: json('Alive', 'ok') } });
  app.openAPIRegistry.registerPath({
    ...common,
    path: '/readyz',
    summary: 'Readiness: the database answers within 2 s, migrations are applied, and the service is not draining',
    responses: { 200: json('Ready', 'ready'), 503: json('status is "draining" (shutting down) or "database unreachable"', 'draining') },
  });
  app.openAPIRegistry.registerPath({
    ...common,
    path: '/metrics',
    summary: 'Prometheus text: deliveries by operation and status, latency, queue depth, in-flight, transactions, pool',
    responses: { 200: { description: 'Prometheus exposition format', content: { 'text/plain': { schema: z.string() } } } },
  });
}

import { Hono } from 'hono';
import type { Registry } from 'prom-client';

/** Prometheus text. No credential, like `/healthz`: the labels are fixed names, never account data. */
export function metricsRoutes(registry: Registry) {
  const app = new Hono();
  app.get('/metrics', async (c) => {
    c.header('Cache-Control', 'no-store');
    return c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType });
  });
  return app;
}

import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { answerClientErrors } from './client-error.js';

/** How often Node looks for requests whose headers are overdue: the 408's lateness at most. */
const CONNECTIONS_CHECK_MS = 1000;

/**
 * The HTTP server for the app, not yet listening for sure (await its `listening`). Node's own limit
 * on receiving a whole request would cut a long bulk upload, so it is off: every other route is
 * bounded by `requestTimeoutMs` in the app. Turning it off turns off Node's limit on headers too,
 * so that one is set again: a connection whose request line and headers have not all come within
 * `requestTimeoutMs` (a slow-headers attack holding sockets open, or one that sends nothing) is
 * answered `408` and closed.
 */
export function serveApp(app: Pick<Hono, 'fetch'>, options: { port: number; hostname: string; requestTimeoutMs: number }): Server {
  const server = serve({
    fetch: app.fetch,
    port: options.port,
    hostname: options.hostname,
    serverOptions: { requestTimeout: 0, headersTimeout: options.requestTimeoutMs, connectionsCheckingInterval: Math.min(CONNECTIONS_CHECK_MS, options.requestTimeoutMs) },
  }) as Server;
  answerClientErrors(server);
  return server;
}

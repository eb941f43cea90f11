import { randomBytes } from 'node:crypto';
import pino from 'pino';
import postgres from 'postgres';
import { createApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/client.js';
import { createAccount } from '../../src/db/queries/accounts.js';

export type DatabaseKind = 'pglite' | 'postgres';

/** PGlite always; PostgreSQL too when TEST_DATABASE_URL is set. */
export function testDatabases(): DatabaseKind[] {
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

/** PostgreSQL only: for the suites that need real concurrency. */
export const postgresUrl = process.env.TEST_DATABASE_URL;

export interface TestAccount {
  id: string;
  webhookToken: string;
  apiKey: string;
}

export interface TestApp {
  kind: DatabaseKind;
  app: ReturnType<typeof createApp>['app'];
  parts: ReturnType<typeof createApp>;
  database: Database;
  /** PostgreSQL only: the scratch database's URL, for a connection of a test's own. */
  databaseUrl?: string;
  config: Config;
  account: TestAccount;
  newAccount(region?: string | null): Promise<TestAccount>;
  /** PostgreSQL only: another instance of the app, with a pool of its own, on the same database (reached at `url`, if given). */
  openSibling(url?: string): Promise<{ app: TestApp['app']; close(): Promise<void> }>;
  close(): Promise<void>;
}

export const ADMIN_KEY = 'admin-key-for-tests-0123456789';

/** The real app on a fresh database with the real migrations, and one account (region GB). */
export async function createTestApp(kind: DatabaseKind, env: Record<string, string> = {}): Promise<TestApp> {
  const scratch = kind === 'postgres' ? await createScratchDatabase() : undefined;
  const database = await openDatabase(scratch ? { url: scratch.url, poolSize: 10 } : { dataDir: 'memory://' });
  const config = loadConfig({ ADMIN_API_KEY: ADMIN_KEY, LOG_LEVEL: 'silent', PUBLIC_URL: 'http://test.local', ...env });
  const logger = pino({ level: 'silent' });
  const parts = createApp({ config, database, logger });
  const openSibling = async (url = scratch?.url) => {
    if (!url) throw new Error('a sibling instance needs PostgreSQL');
    const siblingDb = await openDatabase({ url, poolSize: 10 });
    return { app: createApp({ config, database: siblingDb, logger }).app, close: () => siblingDb.close() };
  };
  const newAccount = async (region: string | null = 'GB') => {
    const created = await createAccount(database.db, { name: 'test', defaultRegion: region });
    return { id: created.account.id, webhookToken: created.webhookToken, apiKey: created.apiKey };
  };
  return {
    kind,
    app: parts.app,
    parts,
    database,
    databaseUrl: scratch?.url,
    config,
    account: await newAccount(),
    newAccount,
    openSibling,
    close: async () => {
      await database.close();
      await scratch?.drop();
    },
  };
}

/** A database of its own for one test file, dropped afterwards. */
export async function createScratchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error('TEST_DATABASE_URL is not set');
  const name = `cs_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

export type JsonBody = Record<string, any>;

/** Sends a JSON webhook and returns status, headers and parsed body. */
export async function postWebhook(t: TestApp, payload: unknown, init: { token?: string; headers?: Record<string, string> } = {}) {
  const res = await t.app.request(`/webhooks/${init.token ?? t.account.webhookToken}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as JsonBody };
}

/** Calls the API with the account's key (or the one given) and returns status and parsed body. */
export async function callApi(t: TestApp, method: string, path: string, init: { key?: string; body?: unknown } = {}) {
  const res = await t.app.request(`/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${init.key ?? t.account.apiKey}`,
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : null) as JsonBody };
}

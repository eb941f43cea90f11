import { drizzle } from 'drizzle-orm/postgres-js';
import pino from 'pino';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/client.js';
import * as schema from '../../src/db/schema.js';
import { freePort } from '../helpers/net.js';

describe('while PostgreSQL cannot be reached', () => {
  let app: ReturnType<typeof createApp>['app'];
  let client: postgres.Sql;
  const logged: Record<string, unknown>[] = [];

  beforeAll(async () => {
    // The real driver against a real, closed port: every query fails to connect.
    client = postgres(`postgres://postgres@127.0.0.1:${await freePort()}/test`, { max: 2, connect_timeout: 2 });
    const db = drizzle(client, { schema });
    const database: Database = {
      kind: 'postgres',
      db,
      lookups: db,
      concurrency: 2,
      ping: async () => void (await client`select 1`),
      warm: async () => {},
      close: () => client.end(),
    };
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    app = createApp({ config: loadConfig({}), database, logger }).app;
  });
  afterAll(() => client.end());

  it('a webhook gets 503 unavailable with Retry-After, not 500', async () => {
    const res = await app.request('/webhooks/whk_anything', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contact: { phone: '+447400999000' } }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toEqual({ error: 'the database is unavailable right now; retry shortly', code: 'unavailable' });
  });

  it('the API gets 503 too', async () => {
    const res = await app.request('/api/v1/account', { headers: { authorization: 'Bearer csk_anything' } });
    expect(res.status).toBe(503);
  });

  it('says so in the log, once for many answers, with the driver\'s code', async () => {
    for (let i = 0; i < 3; i++) expect((await app.request('/api/v1/account', { headers: { authorization: 'Bearer csk_anything' } })).status).toBe(503);
    const warnings = logged.filter((line) => line.msg === 'database unavailable; answered 503');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, code: 'ECONNREFUSED' });
  });

  it('/readyz is 503 and /healthz stays 200', async () => {
    expect((await app.request('/readyz')).status).toBe(503);
    expect((await app.request('/healthz')).status).toBe(200);
  });
});

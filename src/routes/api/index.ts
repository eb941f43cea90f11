import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import { createRouter } from '../../http/router.js';

export interface ApiDeps {
  config: Config;
  db: Db;
  maxBodyBytes: number;
}

/** `/api/v1`: every route but account creation is scoped to the calling account's API key. */
export function apiRoutes(deps: ApiDeps) {
  const api = createRouter();
  return api;
}

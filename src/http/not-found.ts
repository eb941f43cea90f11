import type { Context } from 'hono';
import { ApiError, errorResponse } from './errors.js';

/** The order `Allow` lists them in. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

interface Route {
  method: string;
  pattern: RegExp;
}

/**
 * Answers a request that no route took: `405` with `Allow` when its path has routes for other
 * methods (`PUT /api/v1/agents`), else `404`. The routes are read from the app on the first such
 * request, once every route is registered; middleware (`ALL`) does not count. hono answers HEAD
 * wherever it answers GET, so `Allow` names it there, but on a webhook URL, which refuses it.
 */
export function answerUnrouted(app: { routes: readonly { method: string; path: string }[] }) {
  let routes: Route[] | undefined;
  return (c: Context) => {
    routes ??= app.routes.filter((route) => route.method !== 'ALL').map((route) => ({ method: route.method, pattern: pathPattern(route.path) }));
    const path = c.req.path;
    const matching = new Set(routes.filter((route) => route.pattern.test(path)).map((route) => route.method));
    if (matching.has('GET') && !path.startsWith('/webhooks')) matching.add('HEAD');
    const allowed = METHODS.filter((method) => matching.has(method));
    if (allowed.length > 0) {
      c.header('Allow', allowed.join(', '));
      // HEAD goes without saying beside GET.
      const named = allowed.filter((method) => method !== 'HEAD');
      return errorResponse(c, new ApiError('method_not_allowed', `${c.req.method} is not allowed here: use ${named.join(' or ')}`));
    }
    return errorResponse(c, new ApiError('not_found', `no route for ${c.req.method} ${withoutTokens(path)}`));
  };
}

/** hono's `/agents/:email` as a regular expression: a parameter is one path segment. */
function pathPattern(path: string): RegExp {
  const segments = path.split('/').map((segment) => (segment.startsWith(':') ? '[^/]+' : segment === '*' ? '.*' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${segments.join('/')}$`);
}

/** A webhook path holds its token, however it is spelt (`//webhooks/…`, `/WEBHOOKS/…`): the answer does not repeat it. */
const withoutTokens = (path: string) => path.replace(/(\/webhooks\/)[^/]*/gi, '$1…').replace(/whk_[\w-]*/g, 'whk_…');

import { createRoute, z } from '@hono/zod-openapi';
import type { Db } from '../../db/client.js';
import { createAgent, deleteAgent, listAgents, type AgentRow } from '../../db/queries/agents.js';
import { ApiError } from '../../http/errors.js';
import { createRouter } from '../../http/router.js';
import { AgentEmail, apiKeySecurity, errorResponses, iso, jsonBody, jsonResponse } from './schemas.js';

const NewAgentBody = z.strictObject({
  email: AgentEmail.openapi({ example: 'agent@company.com', format: 'email' }),
  name: z.string().trim().max(200).nullable().optional().openapi({ example: 'Ada Agent' }),
});

const Agent = z
  .object({ id: z.string(), email: z.string(), name: z.string().nullable(), created_at: z.string() })
  .openapi('Agent');

const EmailParam = z.object({
  email: z
    .string()
    .trim()
    .toLowerCase()
    .min(1)
    .max(320)
    .openapi({ param: { name: 'email', in: 'path' }, example: 'agent@company.com', description: 'URL-encoded; any case' }),
});

const createAgentRoute = createRoute({
  method: 'post',
  path: '/agents',
  tags: ['agents'],
  summary: 'Add an agent that webhooks can assign conversations to',
  security: apiKeySecurity,
  request: { body: jsonBody(NewAgentBody) },
  responses: { 201: jsonResponse(Agent, 'The agent'), ...errorResponses(400, 401, 409, 413, 415) },
});

const listAgentsRoute = createRoute({
  method: 'get',
  path: '/agents',
  tags: ['agents'],
  summary: 'All agents of the account, by email',
  security: apiKeySecurity,
  responses: { 200: jsonResponse(z.object({ data: z.array(Agent) }).openapi('AgentList'), 'The agents'), ...errorResponses(401) },
});

const deleteAgentRoute = createRoute({
  method: 'delete',
  path: '/agents/{email}',
  tags: ['agents'],
  summary: 'Remove an agent; their conversations become unassigned',
  security: apiKeySecurity,
  request: { params: EmailParam },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 401, 404, 413, 415) },
});

const agentJson = (agent: AgentRow) => ({ id: agent.id, email: agent.email, name: agent.name, created_at: iso(agent.createdAt) });

export function agentRoutes(deps: { db: Db }) {
  return createRouter()
    .openapi(createAgentRoute, async (c) => {
      const { email, name } = c.req.valid('json');
      const agent = await createAgent(deps.db, c.get('account').id, { email, name: name || null });
      if (!agent) throw new ApiError('conflict', `an agent with email ${email} already exists in this account`, [{ path: 'email', message: 'already taken' }]);
      return c.json(agentJson(agent), 201);
    })
    .openapi(listAgentsRoute, async (c) => {
      const agents = await listAgents(deps.db, c.get('account').id);
      return c.json({ data: agents.map(agentJson) }, 200);
    })
    .openapi(deleteAgentRoute, async (c) => {
      const { email } = c.req.valid('param');
      if (!(await deleteAgent(deps.db, c.get('account').id, email))) throw new ApiError('not_found', `no agent with email ${email} in this account`);
      return c.body(null, 204);
    });
}

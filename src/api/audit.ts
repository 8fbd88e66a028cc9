import type { FastifyInstance, FastifyRequest } from 'fastify';
import { auditJson, recordAudit, type AuditedAction } from '../observe/audit.js';
import type { AuditAction } from '../store/types.js';
import { errorResponses, guard, openObject, principalOf, security, type ApiContext } from './context.js';

const actions: readonly AuditAction[] = [
  'run.pause', 'run.resume', 'run.cancel', 'run.retry', 'dead_letters.retry', 'dead_letters.skip',
  'deliveries.resume', 'delivery.retry', 'key.create', 'key.revoke', 'pipeline.flush',
];

/** Records an action taken through the API: the actor is the request's key (its owner and id), and the log gets a line too. */
export async function auditRequest(ctx: ApiContext, request: FastifyRequest, what: AuditedAction): Promise<void> {
  const principal = principalOf(request);
  const entry = await recordAudit(ctx.store, { actor: principal.owner, keyId: principal.keyId }, what, ctx.clock.now());
  request.log.info({ reqId: request.id, audit: auditJson(entry) }, `${entry.action} ${entry.target} by ${entry.actor}`);
}

/** GET /v1/audit: the operator actions, newest first (admin keys only). */
export async function auditRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get<{ Querystring: { since?: string; actor?: string; action?: AuditAction; limit: number } }>('/v1/audit', {
    onRequest: guard(ctx, () => 'admin'),
    schema: {
      summary: 'Operator actions (pause, resume, cancel, retry, skip, flush, keys), newest first', tags: ['audit'], security,
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          since: { type: 'string', format: 'date-time', description: 'Only actions at or after this instant.' },
          actor: { type: 'string', description: 'An API key owner, an API key id, or `cli:<user>@<host>`.' },
          action: { type: 'string', enum: [...actions] },
          limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
        },
      },
      response: { 200: openObject('Audit entries', { entries: { type: 'array', items: { type: 'object', additionalProperties: true } } }), ...errorResponses(400, 401, 403) },
    },
  }, async (request) => {
    const { since, actor, action, limit } = request.query;
    const entries = await ctx.store.listAudit({
      limit, ...(since === undefined ? {} : { since: new Date(since) }), ...(actor === undefined ? {} : { actor }), ...(action === undefined ? {} : { action }),
    });
    return { entries: entries.map(auditJson) };
  });
}

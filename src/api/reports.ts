import type { FastifyInstance } from 'fastify';
import { ladingError } from '../errors/lading-error.js';
import { slaStatus } from '../reports/sla.js';
import { trace } from '../reports/trace.js';
import { errorResponses, guard, openObject, pipelineOf, security, type ApiContext } from './context.js';

/** GET /v1/records/{id}/trace and /v1/pipelines/{name}/sla. */
export async function reportRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get<{ Params: { id: string } }>('/v1/records/:id/trace', {
    onRequest: guard(ctx, () => 'jobs:read'),
    schema: {
      summary: 'Lineage of a record: its batch, the deliveries and files that carried it (destination, uri, sha256, when), the runs that processed it, its failures',
      tags: ['reports'], security,
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', description: 'Inbox record id (42 or inbox:42), idempotency key, or the item id of a failed item' } } },
      response: {
        200: openObject('The trace (docs/reports.md)', { ref: { type: 'string' }, records: { type: 'array', items: { type: 'object', additionalProperties: true } }, items: { type: 'array', items: { type: 'object', additionalProperties: true } } }),
        ...errorResponses(401, 403, 404),
      },
    },
  }, async (request) => trace(ctx.store, request.params.id));

  app.get<{ Params: { name: string } }>('/v1/pipelines/:name/sla', {
    onRequest: guard(ctx, () => 'jobs:read'),
    schema: {
      summary: 'The pipeline\'s service-level objectives measured over their window ending now',
      tags: ['reports'], security,
      params: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
      response: {
        200: openObject('SLA status', { pipeline: { type: 'string' }, met: { type: 'boolean' }, window: { type: 'object', additionalProperties: true }, objectives: { type: 'array', items: { type: 'object', additionalProperties: true } } }),
        ...errorResponses(401, 403, 404),
      },
    },
  }, async (request) => {
    const { config } = pipelineOf(ctx, request.params.name);
    if (config.sla === undefined) throw ladingError('API_PIPELINE_NOT_FOUND', `pipeline ${config.name} declares no sla: section`);
    return slaStatus(ctx.store, config.name, config.sla, ctx.clock.now());
  });
}

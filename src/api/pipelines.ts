import type { FastifyInstance } from 'fastify';
import type { LoadedPipeline } from '../config/load.js';
import type { InboxSourceConfig } from '../sources/inbox.js';
import { flushAction } from '../observe/audit.js';
import { auditRequest } from './audit.js';
import { errorResponses, guard, inboxPipelineOf, openObject, pipelineOf, security, visibleRuns, type ApiContext } from './context.js';

async function describePipeline(ctx: ApiContext, pipeline: LoadedPipeline) {
  const { config } = pipeline;
  const inbox = config.source.type === 'inbox' ? await ctx.store.inboxStats(config.name) : null;
  const now = ctx.clock.now();
  const next = ctx.triggers.nextTrigger(pipeline);
  return {
    name: config.name,
    ...(config.description === undefined ? {} : { description: config.description }),
    source: config.source.type,
    output: config.output.type,
    queue: inbox && {
      pending: inbox.pending,
      oldest_pending_at: inbox.oldest?.toISOString() ?? null,
      oldest_pending_age_seconds: inbox.oldest ? Math.max(0, (now.getTime() - inbox.oldest.getTime()) / 1000) : null,
      max_pending: (config.source as InboxSourceConfig).max_pending ?? null,
    },
    next_trigger: next?.toISOString() ?? null,
    sla: config.sla !== undefined,
  };
}

const pipelineSchema = openObject('A served pipeline', {
  name: { type: 'string' }, source: { type: 'string' }, output: { type: 'string' },
  queue: { type: ['object', 'null'], additionalProperties: true, description: 'Inbox depth (inbox pipelines only)' },
  next_trigger: { type: ['string', 'null'], description: 'When the next scheduled batch trigger fires, if any' },
  sla: { type: 'boolean', description: 'The pipeline declares an sla: section; its verdicts are at /v1/pipelines/{name}/sla' },
});

/** GET /v1/pipelines, /v1/pipelines/{name}, /v1/deliveries. */
export async function pipelineRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get('/v1/pipelines', {
    onRequest: guard(ctx),
    schema: {
      summary: 'Served pipelines with their inbox depth and next trigger', tags: ['pipelines'], security,
      response: { 200: openObject('Pipelines', { pipelines: { type: 'array', items: pipelineSchema } }), ...errorResponses(401) },
    },
  }, async () => ({ pipelines: await Promise.all(ctx.catalog.list().map((p) => describePipeline(ctx, p))) }));

  app.get<{ Params: { name: string } }>('/v1/pipelines/:name', {
    onRequest: guard(ctx),
    schema: {
      summary: 'One served pipeline', tags: ['pipelines'], security,
      params: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
      response: { 200: pipelineSchema, ...errorResponses(401, 404) },
    },
  }, async (request) => describePipeline(ctx, pipelineOf(ctx, request.params.name)));

  app.post<{ Params: { name: string } }>('/v1/pipelines/:name/flush', {
    onRequest: guard(ctx, () => 'jobs:write'),
    schema: {
      summary: 'Cut a batch of the pending records now (flush_reason manual) and deliver it; answers when the delivery run has ended',
      tags: ['pipelines'], security,
      params: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
      response: {
        200: openObject('The batch cut (null when nothing was pending) and the report of the run that delivered it', {
          pipeline: { type: 'string' }, batch: { type: ['object', 'null'], additionalProperties: true }, report: { type: ['object', 'null'], additionalProperties: true },
        }),
        ...errorResponses(401, 403, 404, 409),
      },
    },
  }, async (request) => {
    const pipeline = inboxPipelineOf(ctx, request.params.name);
    const delivered = await ctx.triggers.flush(pipeline);
    await auditRequest(ctx, request, flushAction(pipeline.config.name, delivered));
    return {
      pipeline: pipeline.config.name,
      batch: delivered && { id: delivered.batch.id, records: delivered.batch.records, flush_reason: delivered.batch.reason, cut_at: delivered.batch.cutAt.toISOString() },
      report: delivered?.report ?? null,
    };
  });

  app.get<{ Querystring: { pipeline?: string; limit: number } }>('/v1/deliveries', {
    onRequest: guard(ctx, () => 'jobs:read'),
    schema: {
      summary: 'Files delivered by recent jobs visible to this key, newest job first', tags: ['deliveries'], security,
      querystring: { type: 'object', additionalProperties: false, properties: { pipeline: { type: 'string' }, limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 } } },
      response: { 200: openObject('Deliveries', { deliveries: { type: 'array', items: { type: 'object', additionalProperties: true } } }), ...errorResponses(401, 403) },
    },
  }, async (request) => {
    const runs = await visibleRuns(ctx, request, request.query);
    const deliveries = [];
    for (const run of runs) {
      const files = await ctx.store.listFiles(run.id);
      if (files.length > 0) deliveries.push({ job_id: run.id, pipeline: run.pipeline, status: run.status, completed_at: run.completedAt?.toISOString() ?? null, files });
    }
    return { deliveries };
  });
}

import type { FastifyInstance } from 'fastify';
import { toReportError } from '../engine/report.js';
import { ladingError } from '../errors/lading-error.js';
import type { DeadLetterStatus } from '../store/types.js';
import { isAdmin } from './auth.js';
import { errorResponses, guard, openObject, principalOf, security, visibleRuns, type ApiContext } from './context.js';
import { auditRequest } from './audit.js';
import { retryDeadLetters, view, visibleJob } from './jobs.js';

/**
 * What the dashboard reads beyond the job routes: the list of jobs, a run's chunk timeline, its
 * dead letters (retried or skipped by item), its delivered files, and hourly throughput.
 */

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } } as const;
const hourMs = 3_600_000;

const itemIdsBody = {
  type: 'object', required: ['item_ids'], additionalProperties: false,
  properties: { item_ids: { type: 'array', minItems: 1, maxItems: 1000, uniqueItems: true, items: { type: 'string', minLength: 1 } } },
} as const;

export async function dashboardRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const read = guard(ctx, () => 'jobs:read');
  const write = guard(ctx, () => 'jobs:write');

  app.get<{ Querystring: { pipeline?: string; limit: number } }>('/v1/jobs', {
    onRequest: read,
    schema: {
      summary: 'Jobs visible to this key that have started (their runs), newest first', tags: ['jobs'], security,
      querystring: { type: 'object', additionalProperties: false, properties: { pipeline: { type: 'string' }, limit: { type: 'integer', minimum: 1, maximum: 200, default: 20 } } },
      response: { 200: openObject('Jobs, each as GET /v1/jobs/{id} answers', { jobs: { type: 'array', items: { type: 'object', additionalProperties: true } } }), ...errorResponses(400, 401, 403) },
    },
  }, async (request) => {
    const runs = await visibleRuns(ctx, request, request.query);
    const now = ctx.clock.now();
    return { jobs: runs.map((run) => view({ id: run.id, run, job: ctx.jobs.get(run.id) }, now)) };
  });

  app.get<{ Params: { id: string } }>('/v1/jobs/:id/chunks', {
    onRequest: read,
    schema: {
      summary: 'The job\'s chunk timeline: each committed chunk with its items, outcome, duration and commit time, in index order', tags: ['jobs'], security, params: idParams,
      response: {
        200: openObject('Chunks', {
          job_id: { type: 'string' },
          chunks: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                index: { type: 'integer' }, items: { type: 'integer' }, succeeded: { type: 'integer' }, failed: { type: 'integer' }, warnings: { type: 'integer' },
                duration_ms: { type: ['integer', 'null'] }, committed_at: { type: 'string', format: 'date-time' },
              },
            },
          },
        }),
        ...errorResponses(401, 403, 404),
      },
    },
  }, async (request) => {
    const { id } = request.params;
    await visibleJob(ctx, request, id);
    const chunks = await ctx.store.listChunks(id);
    return {
      job_id: id,
      chunks: chunks.map((c) => ({
        index: c.index, items: c.processed, succeeded: c.succeeded, failed: c.failed, warnings: c.warnings,
        duration_ms: c.durationMs, committed_at: c.committedAt.toISOString(),
      })),
    };
  });

  app.get<{ Params: { id: string }; Querystring: { status: DeadLetterStatus | 'all'; limit: number; offset: number } }>('/v1/jobs/:id/dead-letters', {
    onRequest: read,
    schema: {
      summary: 'The job\'s dead letters with their data, in item order', tags: ['jobs'], security, params: idParams,
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          status: { type: 'string', enum: ['dead', 'retried', 'skipped', 'all'], default: 'all', description: 'dead: still waiting for a retry or skip' },
          limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          offset: { type: 'integer', minimum: 0, default: 0 },
        },
      },
      response: { 200: openObject('A page of dead letters', { job_id: { type: 'string' }, dead_letters: { type: 'array', items: { type: 'object', additionalProperties: true } }, has_more: { type: 'boolean' } }), ...errorResponses(400, 401, 403, 404) },
    },
  }, async (request) => {
    const { id } = request.params;
    await visibleJob(ctx, request, id);
    const { status, limit, offset } = request.query;
    const page = await ctx.store.listDeadLetters({ runId: id, ...(status === 'all' ? {} : { status }), limit: limit + 1, offset });
    return {
      job_id: id,
      dead_letters: page.slice(0, limit).map((l) => ({ ...toReportError(l), status: l.status, category: l.category, data: l.payload ?? null })),
      has_more: page.length > limit,
    };
  });

  app.post<{ Params: { id: string }; Body: { item_ids: string[] } }>('/v1/jobs/:id/dead-letters/retry', {
    onRequest: write,
    schema: {
      summary: 'Run the named dead letters again, as a new job linked to this one (as POST /v1/jobs/{id}/retry does for all of them)', tags: ['jobs'], security, params: idParams, body: itemIdsBody,
      response: { 202: openObject('Queued', { job_id: { type: 'string' }, status_url: { type: 'string' }, parent_job_id: { type: 'string' }, item_ids: { type: 'array', items: { type: 'string' } } }), ...errorResponses(400, 401, 403, 404, 409, 503) },
    },
  }, async (request, reply) => {
    const v = await visibleJob(ctx, request, request.params.id);
    const dead = await ctx.store.listDeadLetters({ runId: v.id, itemIds: request.body.item_ids, status: 'dead' });
    if (dead.length === 0) throw ladingError('API_DEAD_LETTER_NOT_FOUND', `job ${v.id} has no dead letter waiting among items ${request.body.item_ids.join(', ')}`);
    const job = retryDeadLetters(ctx, request, v, { itemIds: dead.map((l) => l.itemId!) });
    await auditRequest(ctx, request, { action: 'dead_letters.retry', target: v.id, pipeline: v.run?.pipeline ?? null, details: { job_id: job.id, item_ids: dead.map((l) => l.itemId) } });
    return reply.code(202).send({ job_id: job.id, status_url: `/v1/jobs/${job.id}`, parent_job_id: v.id, item_ids: dead.map((l) => l.itemId) });
  });

  app.post<{ Params: { id: string }; Body: { item_ids: string[] } }>('/v1/jobs/:id/dead-letters/skip', {
    onRequest: write,
    schema: {
      summary: 'Mark the named dead letters skipped: they stay stored but leave retries (as `lading dlq skip`)', tags: ['jobs'], security, params: idParams, body: itemIdsBody,
      response: { 200: openObject('Skipped', { job_id: { type: 'string' }, skipped: { type: 'integer' } }), ...errorResponses(400, 401, 403, 404) },
    },
  }, async (request) => {
    const v = await visibleJob(ctx, request, request.params.id);
    const skipped = await ctx.store.markDeadLetters({ runId: v.id, itemIds: request.body.item_ids }, 'skipped');
    if (skipped === 0) throw ladingError('API_DEAD_LETTER_NOT_FOUND', `job ${v.id} has no dead letter waiting among items ${request.body.item_ids.join(', ')}`);
    await auditRequest(ctx, request, { action: 'dead_letters.skip', target: v.id, pipeline: v.run?.pipeline ?? null, details: { item_ids: request.body.item_ids, skipped } });
    return { job_id: v.id, skipped };
  });

  app.get<{ Params: { id: string } }>('/v1/jobs/:id/files', {
    onRequest: read,
    schema: {
      summary: 'Files the job delivered, with size, records and SHA-256, and the state of each delivery of them', tags: ['jobs'], security, params: idParams,
      response: { 200: openObject('Files', { job_id: { type: 'string' }, files: { type: 'array', items: { type: 'object', additionalProperties: true } } }), ...errorResponses(401, 403, 404) },
    },
  }, async (request) => {
    const { id } = request.params;
    await visibleJob(ctx, request, id);
    const [files, deliveries] = await Promise.all([ctx.store.listFiles(id), ctx.store.listDeliveries({ runId: id })]);
    return {
      job_id: id,
      files: files.map((f) => ({
        ...f,
        deliveries: deliveries.filter((d) => d.name === f.name)
          .map((d) => ({ destination: d.destination, state: d.state, attempts: d.attempts, updated_at: d.updatedAt.toISOString() })),
      })),
    };
  });

  app.get<{ Querystring: { hours: number } }>('/v1/stats/throughput', {
    onRequest: read,
    schema: {
      summary: 'Items processed, succeeded and failed per pipeline and hour, from chunk commits of jobs visible to this key',
      description: 'Every hour of the window is listed for every pipeline with commits in it (zeros included), oldest first; the last hour is the current one.',
      tags: ['stats'], security,
      querystring: { type: 'object', additionalProperties: false, properties: { hours: { type: 'integer', minimum: 1, maximum: 168, default: 24 } } },
      response: {
        200: openObject('Throughput', {
          since: { type: 'string', format: 'date-time' }, until: { type: 'string', format: 'date-time' },
          hours: { type: 'array', items: { type: 'string', format: 'date-time' } },
          pipelines: {
            type: 'array',
            items: openObject('One pipeline', {
              pipeline: { type: 'string' },
              hours: { type: 'array', items: { type: 'object', properties: { hour: { type: 'string' }, processed: { type: 'integer' }, succeeded: { type: 'integer' }, failed: { type: 'integer' } } } },
            }),
          },
        }),
        ...errorResponses(400, 401, 403),
      },
    },
  }, async (request) => {
    const principal = principalOf(request);
    const until = (Math.floor(ctx.clock.now().getTime() / hourMs) + 1) * hourMs;
    const starts = Array.from({ length: request.query.hours }, (_, i) => until - (request.query.hours - i) * hourMs);
    const buckets = await ctx.store.throughput({
      since: new Date(starts[0]!), until: new Date(until), ...(isAdmin(principal) ? {} : { submittedBy: principal.owner }),
    });
    const byPipeline = new Map<string, Map<number, (typeof buckets)[number]>>();
    for (const b of buckets) {
      const hours = byPipeline.get(b.pipeline) ?? new Map();
      hours.set(b.hour.getTime(), b);
      byPipeline.set(b.pipeline, hours);
    }
    return {
      since: new Date(starts[0]!).toISOString(), until: new Date(until).toISOString(),
      hours: starts.map((t) => new Date(t).toISOString()),
      pipelines: [...byPipeline].map(([pipeline, hours]) => ({
        pipeline,
        hours: starts.map((t) => {
          const b = hours.get(t);
          return { hour: new Date(t).toISOString(), processed: b?.processed ?? 0, succeeded: b?.succeeded ?? 0, failed: b?.failed ?? 0 };
        }),
      })),
    };
  });
}

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { loadRunPipeline, parsePipeline, type LoadedPipeline } from '../config/load.js';
import type { RunMode } from '../core/report.js';
import { cancelQueuedJob } from '../engine/queue.js';
import { toReportError } from '../engine/report.js';
import { openDestination } from '../engine/deliveries.js';
import { isInterrupted } from '../engine/run.js';
import { ladingError } from '../errors/lading-error.js';
import { DeadLetterSource } from '../sources/dead-letters.js';
import type { RunRecord } from '../store/types.js';
import { auditRequest } from './audit.js';
import { isAdmin } from './auth.js';
import { errorResponses, guard, openObject, pipelineOf, principalOf, security, type ApiContext } from './context.js';
import type { Job } from './job-runner.js';
import { streamEvents } from './sse.js';

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } } as const;

export interface Visible {
  readonly id: string;
  /** Set once the run exists in the store. */
  readonly run: RunRecord | null;
  /** Set while this process queues or runs it, or for a job that ended without a stored run. */
  readonly job: Job | undefined;
}

/** The job, if the request's key may see it: its owner submitted it, or the key is admin. Others get the same 404 as a missing job. */
export async function visibleJob(ctx: ApiContext, request: FastifyRequest, id: string): Promise<Visible> {
  const principal = principalOf(request);
  const run = await ctx.store.getRun(id);
  const job = ctx.jobs.get(id);
  const owner = run ? run.submittedBy : job?.submittedBy;
  if ((run === null && job === undefined) || (!isAdmin(principal) && owner !== principal.owner)) {
    throw ladingError('API_JOB_NOT_FOUND', `no job ${id} is visible to API key ${principal.keyId}`);
  }
  return { id, run, job };
}

/** running, paused or interrupted (process gone) for live runs; the report's status once finished. */
export function statusOf(v: Visible, now: Date): string {
  if (v.run) {
    if (isInterrupted(v.run, now)) return 'interrupted';
    return v.run.status === 'running' && v.run.control === 'pause' ? 'paused' : v.run.status;
  }
  const job = v.job!;
  if (job.state !== 'done') return job.state;
  if (job.dryRun) return job.dryRun.status === 'passed' ? 'completed' : 'completed_with_errors';
  return job.error?.code === 'RUN_CANCELLED' ? 'cancelled' : 'failed';
}

const ended = (status: string): boolean => !['queued', 'running', 'paused'].includes(status);

export function view(v: Visible, now: Date) {
  const { run, job } = v;
  const status = statusOf(v, now);
  const base = `/v1/jobs/${encodeURIComponent(v.id)}`;
  return {
    job_id: v.id,
    pipeline: run?.pipeline ?? job!.pipeline,
    mode: run?.mode ?? job!.mode,
    status,
    created_at: (run?.createdAt ?? job!.submittedAt).toISOString(),
    completed_at: run?.completedAt?.toISOString() ?? null,
    progress: {
      processed: run?.processed ?? 0, succeeded: run?.succeeded ?? 0, failed: run?.failed ?? 0, warnings: run?.warnings ?? 0,
      total: job?.total ?? run?.report?.summary.total_items ?? job?.dryRun?.summary.total_items ?? null,
    },
    last_checkpoint: run?.lastCheckpoint
      ? { chunk_index: run.lastCheckpoint.chunkIndex, processed_count: run.lastCheckpoint.processed, timestamp: run.lastCheckpoint.at.toISOString() }
      : null,
    report: run?.report ?? job?.dryRun ?? null,
    ...(job?.error && !run ? { error: { code: job.error.code, message: job.error.message } } : {}),
    links: { self: base, events: `${base}/events`, items: `${base}/items`, errors: `${base}/errors` },
  };
}

interface SubmitBody {
  pipeline: string;
  items?: Record<string, unknown>[];
  source?: Record<string, unknown>;
  options?: { chunk_size?: number; mode?: RunMode; priority?: number; sample_size?: number };
}

/** The pipeline with its source replaced by inline items or a given source, checked like a config file. */
function withSource(pipeline: LoadedPipeline, body: SubmitBody): LoadedPipeline {
  const source = body.items !== undefined ? { type: 'inline', items: body.items } : body.source;
  if (source === undefined) return pipeline;
  const origin = `job for ${pipeline.config.name}`;
  try {
    return { ...parsePipeline({ ...(pipeline.snapshot as Record<string, unknown>), source }, { origin }), baseDir: pipeline.baseDir, origin };
  } catch (error) {
    throw ladingError('API_BAD_REQUEST', (error as Error).message, { cause: error });
  }
}

const cursorOf = (offset: number): string => Buffer.from(String(offset)).toString('base64url');

function offsetOf(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const offset = Number(Buffer.from(cursor, 'base64url').toString());
  if (!Number.isInteger(offset) || offset < 0) throw ladingError('API_BAD_REQUEST', 'cursor is not one this server handed out');
  return offset;
}

/** Submits an ended job's dead letters (all, or only `itemIds`) as a new job linked to it, as `lading dlq retry` does. */
export function retryDeadLetters(ctx: ApiContext, request: FastifyRequest, v: Visible, only: { readonly itemIds?: readonly string[] } = {}): Job {
  const status = statusOf(v, ctx.clock.now());
  if (!v.run || !ended(status) || status === 'interrupted') throw ladingError('API_JOB_NOT_RUNNING', `job ${v.id} is ${status}: only an ended job's dead letters can be retried`);
  const parent = v.run;
  const letters = new DeadLetterSource(ctx.store, { ...only, runId: parent.id });
  return ctx.jobs.submit({
    pipeline: loadRunPipeline(parent), submittedBy: principalOf(request).owner, mode: 'full', priority: 0,
    source: { source: letters, parentRunId: parent.id },
    // As `lading dlq retry`: the letters taken live on in the new run; in the parent they are no longer dead.
    after: async () => {
      for (const itemId of letters.itemIds()) await ctx.store.markDeadLetters({ runId: parent.id, itemId }, 'retried');
    },
  });
}

export async function jobRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const read = guard(ctx, () => 'jobs:read');
  const write = guard(ctx, () => 'jobs:write');

  app.post<{ Body: SubmitBody }>('/v1/jobs', {
    onRequest: write,
    schema: {
      summary: 'Submit a job: one run of a pipeline, in this process',
      description: 'Runs the pipeline over its own source, over inline `items`, or over a `source` given here (which replaces the pipeline\'s; a file source reads files on the server). '
        + 'Jobs wait by priority (higher first), then submission order.',
      tags: ['jobs'], security,
      body: {
        type: 'object', required: ['pipeline'], additionalProperties: false,
        properties: {
          pipeline: { type: 'string' },
          items: { type: 'array', items: { type: 'object', additionalProperties: true } },
          source: { type: 'object', required: ['type'], additionalProperties: true, properties: { type: { type: 'string' } } },
          options: {
            type: 'object', additionalProperties: false,
            properties: {
              chunk_size: { type: 'integer', minimum: 1 },
              mode: { type: 'string', enum: ['full', 'dry_run', 'sample'], default: 'full' },
              priority: { type: 'integer', default: 0 },
              sample_size: { type: 'integer', minimum: 1, default: 5, description: 'Items a sample run takes.' },
            },
          },
        },
      },
      response: { 202: openObject('Queued', { job_id: { type: 'string' }, status_url: { type: 'string' }, status: { type: 'string' } }), ...errorResponses(400, 401, 403, 404, 503) },
    },
  }, async (request, reply) => {
    const body = request.body;
    if (body.items !== undefined && body.source !== undefined) throw ladingError('API_BAD_REQUEST', 'give items or source, not both');
    const pipeline = withSource(pipelineOf(ctx, body.pipeline), body);
    const options = body.options ?? {};
    const job = ctx.jobs.submit({
      pipeline, submittedBy: principalOf(request).owner, mode: options.mode ?? 'full', priority: options.priority ?? 0,
      ...(options.chunk_size === undefined ? {} : { chunkSize: options.chunk_size }),
      ...(options.sample_size === undefined ? {} : { sampleSize: options.sample_size }),
    });
    return reply.code(202).header('location', `/v1/jobs/${job.id}`).send({ job_id: job.id, status_url: `/v1/jobs/${job.id}`, status: job.state });
  });

  app.get<{ Params: { id: string } }>('/v1/jobs/:id', {
    onRequest: read,
    schema: {
      summary: 'A job\'s status, progress, and its report once it ended', tags: ['jobs'], security, params: idParams,
      response: { 200: openObject('The job', { job_id: { type: 'string' }, status: { type: 'string' }, report: { type: ['object', 'null'], additionalProperties: true } }), ...errorResponses(401, 403, 404) },
    },
  }, async (request) => view(await visibleJob(ctx, request, request.params.id), ctx.clock.now()));

  app.get<{ Params: { id: string }; Querystring: { status: 'failed' | 'warning'; cursor?: string; limit: number } }>('/v1/jobs/:id/items', {
    onRequest: read,
    schema: {
      summary: 'The job\'s failed items (with their data) or items with warnings, cursor-paginated',
      description: 'Only items with a failure or a warning are stored per item; succeeded items are counted, not listed.',
      tags: ['jobs'], security, params: idParams,
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { status: { type: 'string', enum: ['failed', 'warning'], default: 'failed' }, cursor: { type: 'string' }, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
      },
      response: { 200: openObject('A page of items', { items: { type: 'array', items: { type: 'object', additionalProperties: true } }, next_cursor: { type: ['string', 'null'] } }), ...errorResponses(400, 401, 403, 404) },
    },
  }, async (request) => {
    const { id } = request.params;
    await visibleJob(ctx, request, id);
    const { status, limit } = request.query;
    const offset = offsetOf(request.query.cursor);
    const page = status === 'failed'
      ? (await ctx.store.listDeadLetters({ runId: id, limit: limit + 1, offset })).map((l) => ({ ...toReportError(l), seq: l.seq, status: l.status, data: l.payload ?? null }))
      : (await ctx.store.listItemErrors(id, { severity: 'warn', limit: limit + 1, offset })).map((e) => ({ ...toReportError(e), seq: e.seq }));
    return { items: page.slice(0, limit), next_cursor: page.length > limit ? cursorOf(offset + limit) : null };
  });

  app.get<{ Params: { id: string } }>('/v1/jobs/:id/errors', {
    onRequest: read,
    schema: {
      summary: 'Failure and warning counts by error type, with a few sample failures of each type', tags: ['jobs'], security, params: idParams,
      response: { 200: openObject('Error categories', { error_categories: openObject('failed items by error_type'), warning_categories: openObject('warnings by error_type'), samples: openObject('error_type → first failures') }), ...errorResponses(401, 403, 404) },
    },
  }, async (request) => {
    const { id } = request.params;
    await visibleJob(ctx, request, id);
    const categories = await ctx.store.errorCategories(id);
    const samples: Record<string, unknown[]> = {};
    for (const type of Object.keys(categories.failed)) {
      samples[type] = (await ctx.store.listDeadLetters({ runId: id, errorType: type, limit: 3 })).map(toReportError);
    }
    return { error_categories: categories.failed, warning_categories: categories.warnings, samples };
  });

  for (const [action, control, text] of [
    ['pause', 'pause', 'Pause a running job at its next chunk boundary'],
    ['resume', null, 'Let a paused job go on'],
    ['cancel', 'cancel', 'Stop a job at its next chunk boundary (a queued job is dropped)'],
  ] as const) {
    app.post<{ Params: { id: string } }>(`/v1/jobs/:id/${action}`, {
      onRequest: write,
      schema: { summary: text, tags: ['jobs'], security, params: idParams, response: { 202: openObject('Requested', { job_id: { type: 'string' }, requested: { type: 'string' } }), ...errorResponses(401, 403, 404, 409) } },
    }, async (request, reply) => {
      const v = await visibleJob(ctx, request, request.params.id);
      const status = statusOf(v, ctx.clock.now());
      const audited = { action: `run.${action}`, target: v.id, pipeline: v.run?.pipeline ?? v.job?.pipeline ?? null } as const;
      const queued = action === 'cancel' && status === 'queued'
        && (ctx.jobs.cancelQueued(v.id) || (v.run?.status === 'queued' && await cancelQueuedJob(ctx.store, v.run, ctx.clock.now())));
      if (queued) {
        await auditRequest(ctx, request, { ...audited, details: { was: 'queued' } });
        return reply.code(202).send({ job_id: v.id, requested: action });
      }
      if (!v.run || (status !== 'running' && status !== 'paused') || !(await ctx.store.setControl(v.id, control))) {
        throw ladingError('API_JOB_NOT_RUNNING', `job ${v.id} is ${status}, not running: nothing to ${action}`);
      }
      // The stored control reaches a run of any process; one running here stops without waiting for its heartbeat.
      if (action === 'cancel') ctx.jobs.abort(v.id);
      await auditRequest(ctx, request, { ...audited, details: { was: status } });
      return reply.code(202).send({ job_id: v.id, requested: action });
    });
  }

  app.post<{ Params: { id: string } }>('/v1/jobs/:id/retry', {
    onRequest: write,
    schema: {
      summary: 'Run the job\'s dead letters again, as a new job linked to it (same idempotency keys as the first try)', tags: ['jobs'], security, params: idParams,
      response: { 202: openObject('Queued', { job_id: { type: 'string' }, status_url: { type: 'string' }, parent_job_id: { type: 'string' } }), ...errorResponses(401, 403, 404, 409, 503) },
    },
  }, async (request, reply) => {
    const v = await visibleJob(ctx, request, request.params.id);
    const job = retryDeadLetters(ctx, request, v);
    await auditRequest(ctx, request, { action: 'run.retry', target: v.id, pipeline: v.run?.pipeline ?? null, details: { job_id: job.id } });
    return reply.code(202).send({ job_id: job.id, status_url: `/v1/jobs/${job.id}`, parent_job_id: v.id });
  });

  app.get<{ Params: { id: string } }>('/v1/jobs/:id/events', {
    onRequest: read,
    schema: {
      summary: 'Server-Sent Events: the job\'s progress until it ends',
      description: 'Events: run_started, progress, paused, unpaused, chunk_size_changed, delivery events, and run_finished (with the report) last; then the stream ends. '
        + 'A job this process does not run is followed by polling the store (progress events with counts).',
      tags: ['jobs'], security, params: idParams,
      produces: ['text/event-stream'],
      response: { 200: { description: 'text/event-stream', type: 'string' }, ...errorResponses(401, 403, 404) },
    },
  }, async (request, reply) => {
    const v = await visibleJob(ctx, request, request.params.id);
    streamEvents(ctx, reply, v.id);
  });

  app.get<{ Params: { id: string; name: string }; Querystring: { redirect: boolean } }>('/v1/jobs/:id/artifacts/:name', {
    onRequest: read,
    schema: {
      summary: 'Download a file the job delivered: its bytes from a local destination, a short-lived signed link for S3 or GCS',
      description: 'A file in a bucket is answered 302 to a pre-signed GET URL (valid for the server\'s --artifact-url-ttl), or with {url, expires_at} when redirect=false.',
      tags: ['jobs'], security,
      params: { type: 'object', required: ['id', 'name'], properties: { id: { type: 'string' }, name: { type: 'string' } } },
      querystring: { type: 'object', properties: { redirect: { type: 'boolean', default: true, description: 'false: answer the signed link as JSON instead of redirecting to it' } } },
      response: {
        200: {
          description: 'The file\'s bytes (local destination), or the signed link (redirect=false)',
          content: {
            'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
            'application/json': { schema: openObject('Signed link', { url: { type: 'string' }, expires_at: { type: 'string', format: 'date-time' } }) },
          },
        },
        302: { description: 'Redirect to the signed link (Location)', type: 'null' },
        ...errorResponses(401, 403, 404, 409),
      },
    },
  }, async (request, reply) => {
    const { id, name } = request.params;
    await visibleJob(ctx, request, id);
    const file = (await ctx.store.listFiles(id)).find((f) => f.name === name);
    if (file === undefined) throw ladingError('API_ARTIFACT_NOT_FOUND', `job ${id} delivered no file named ${JSON.stringify(name)}`);
    if (!file.uri.startsWith('file:')) {
      const link = await signArtifact(ctx, id, name, file.uri);
      // Only the place goes to the log: the query string is the signature, good to anyone who reads it.
      const place = new URL(link.url);
      place.search = '';
      request.log.info({ reqId: request.id, artifact: { job_id: id, name, url: place.toString(), expires_at: link.expiresAt.toISOString() } }, 'artifact link signed');
      // The link is a bearer credential until it expires: no cache may keep it.
      reply.header('cache-control', 'no-store');
      if (!request.query.redirect) return reply.type('application/json').send({ url: link.url, expires_at: link.expiresAt.toISOString() });
      return reply.redirect(link.url, 302);
    }
    const path = fileURLToPath(file.uri);
    const size = await stat(path).then((s) => (s.isFile() ? s.size : undefined), () => undefined);
    if (size === undefined) throw ladingError('API_ARTIFACT_NOT_FOUND', `${name} was delivered to ${file.uri}, which this server cannot read`);
    return reply.header('content-type', 'application/octet-stream').header('content-length', String(size))
      .header('content-disposition', `attachment; filename="${basename(path).replace(/["\\\r\n]/g, '_')}"`)
      .header('x-checksum-sha256', file.sha256)
      .send(createReadStream(path));
  });
}

/** Asks the destination the file went to, rebuilt from the job's stored config, for a signed link. */
async function signArtifact(ctx: ApiContext, id: string, name: string, uri: string) {
  const { destination } = await openDestination(ctx.store, id, { dataDir: ctx.dataDir, clock: ctx.clock }, `the job that delivered ${name}`);
  try {
    if (!destination.signedUrl) throw ladingError('API_ARTIFACT_NOT_FOUND', `${name} was delivered to ${uri}: a ${destination.type} destination gives no download links`);
    return await destination.signedUrl(name, ctx.artifactUrlTtlMs);
  } finally {
    await destination.close();
  }
}

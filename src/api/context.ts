import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Catalog } from '../config/catalog.js';
import type { LoadedPipeline } from '../config/load.js';
import type { Clock } from '../core/clock.js';
import type { IdGenerator } from '../core/ids.js';
import { codes, type ErrorCode } from '../errors/codes.js';
import { ladingError } from '../errors/lading-error.js';
import type { Observer } from '../observe/observer.js';
import type { RunRecord, Store } from '../store/types.js';
import type { Delivery } from '../triggers/scheduler.js';
import { isAdmin, requireScope, type ApiKeyAuthenticator, type Principal } from './auth.js';
import type { GroupCommit } from './group-commit.js';
import type { JobRunner } from './job-runner.js';

/** What every route module is given: the server's shared parts. */
export interface ApiContext {
  readonly store: Store;
  readonly catalog: Catalog;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly jobs: JobRunner;
  readonly commits: GroupCommit;
  readonly keys: ApiKeyAuthenticator;
  readonly dataDir: string;
  /** How long a signed link to an artifact in a bucket stays valid. */
  readonly artifactUrlTtlMs: number;
  /** Open event streams, ended when the server closes. */
  readonly streams: Set<() => void>;
  /** How often an event stream of a job run elsewhere polls the store. */
  readonly pollMs: number;
  readonly triggers: ServerTriggers;
  /** Metrics and the log: what runs, flushes and ingests report to. */
  readonly observer: Observer;
}

/** Batch triggers as the API sees them: `lading serve` passes its running Scheduler. */
export interface ServerTriggers {
  /** When the pipeline's next time-based trigger fires; null: none scheduled. */
  nextTrigger(pipeline: LoadedPipeline): Date | null;
  /** Cuts a batch now (reason manual) and delivers it; null when nothing is pending. */
  flush(pipeline: LoadedPipeline): Promise<Delivery | null>;
  /** Whether this process holds the cluster's scheduler lease; absent when no scheduler runs here. */
  readonly leader?: () => boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/**
 * An onRequest hook: authenticates the key, then checks the scope the request needs (none: any
 * valid key). Runs before the body is read. Callback-style, so that a remembered key costs no
 * promise and no turn of the microtask queue (single-lead POSTs; docs/benchmarks.md, machine Y).
 */
export function guard(ctx: ApiContext, scope?: (request: FastifyRequest) => string) {
  const admit = (request: FastifyRequest, principal: Principal): void => {
    if (scope !== undefined) requireScope(principal, scope(request));
    request.principal = principal;
  };
  return (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
    let found: Principal | Promise<Principal>;
    try {
      found = ctx.keys.authenticate(request);
      if (!(found instanceof Promise)) admit(request, found);
    } catch (error) {
      done(error as Error);
      return;
    }
    // done outside the try: what it runs next (the route) must not come back here as our error.
    if (found instanceof Promise) found.then((principal) => admit(request, principal)).then(() => done(), (error: Error) => done(error));
    else done();
  };
}

export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) throw ladingError('API_UNAUTHORIZED', 'no API key');
  return request.principal;
}

export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details?: unknown };
}

export const errorBody = (code: string, message: string, details?: unknown): ErrorBody =>
  ({ error: { code, message, ...(details === undefined ? {} : { details }) } });

/** Replies with an error that carries details (the error handler covers thrown LadingErrors). */
export function sendError(reply: FastifyReply, code: ErrorCode, message: string, details?: unknown): FastifyReply {
  return reply.code(codes[code].http).send(errorBody(code, message, details));
}

export function pipelineOf(ctx: ApiContext, name: string): LoadedPipeline {
  const pipeline = ctx.catalog.get(name);
  if (pipeline === undefined) throw ladingError('API_PIPELINE_NOT_FOUND', `no pipeline named ${JSON.stringify(name)} is served here`);
  return pipeline;
}

/** The newest runs this key may see: its owner's, or every run for an admin key. */
export function visibleRuns(ctx: ApiContext, request: FastifyRequest, query: { readonly pipeline?: string; readonly limit: number }): Promise<RunRecord[]> {
  const principal = principalOf(request);
  return ctx.store.listRuns({
    limit: query.limit,
    ...(query.pipeline === undefined ? {} : { pipeline: query.pipeline }),
    ...(isAdmin(principal) ? {} : { submittedBy: principal.owner }),
  });
}

/** A served pipeline that reads from its inbox: the ones records can be ingested into and batches flushed from. */
export function inboxPipelineOf(ctx: ApiContext, name: string): LoadedPipeline {
  const pipeline = pipelineOf(ctx, name);
  if (pipeline.config.source.type !== 'inbox') {
    throw ladingError('API_PIPELINE_NOT_INBOX', `pipeline ${pipeline.config.name} reads from its ${pipeline.config.source.type} source, not the inbox`);
  }
  return pipeline;
}

/** Either key header authenticates (OpenAPI security requirement). */
export const security: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];

/** The JSON schema of every error answer, for the OpenAPI document. */
export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
    },
  },
} as const;

/** A response schema that documents an object without restricting what is serialized. */
export const openObject = (description: string, properties: Record<string, unknown> = {}) =>
  ({ description, type: 'object', additionalProperties: true, properties });

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, { ...errorSchema, description: `Error (${status})` }]));

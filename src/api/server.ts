import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Catalog } from '../config/catalog.js';
import { systemClock, type Clock } from '../core/clock.js';
import { randomIds, type IdGenerator } from '../core/ids.js';
import { classifyRequestError } from '../errors/classify.js';
import { codes } from '../errors/codes.js';
import { accessLog, redactText, silentLogger } from '../observe/log.js';
import { Metrics } from '../observe/metrics.js';
import { observer as observerOf, type Observer } from '../observe/observer.js';
import type { Store } from '../store/types.js';
import { nextTrigger } from '../triggers/next.js';
import { flush } from '../triggers/scheduler.js';
import { dashboardPage } from '../ui/serve.js';
import { auditRoutes } from './audit.js';
import { errorBody, errorResponses, type ApiContext, type ServerTriggers } from './context.js';
import { dashboardRoutes } from './dashboard.js';
import { GroupCommit } from './group-commit.js';
import { ApiKeyAuthenticator } from './auth.js';
import { ingestRoutes } from './ingest.js';
import { JobRunner } from './job-runner.js';
import { jobRoutes } from './jobs.js';
import { metricsRoutes, type MetricsAccess } from './metrics.js';
import { pipelineRoutes } from './pipelines.js';
import { reportRoutes } from './reports.js';

export interface ServerOptions {
  readonly store: Store;
  readonly catalog: Catalog;
  /** lading's working folder: staging files of jobs live under it. */
  readonly dataDir: string;
  /** Largest request body in bytes; default 10 MB. */
  readonly bodyLimit?: number;
  readonly clock?: Clock;
  readonly ids?: IdGenerator;
  /** Jobs running at once in this process; default 2. */
  readonly jobConcurrency?: number;
  /** POST /v1/jobs queues full jobs in the store for `lading worker` processes (`lading serve --no-worker`) instead of running them here. */
  readonly queueJobs?: boolean;
  /** Batch triggers: `lading serve` passes its Scheduler. Default: schedules read from each config, flushes run in the request. */
  readonly triggers?: ServerTriggers;
  /** How long a key that passed is accepted without asking the store, so also how late a revocation may take effect; default 0 (`lading serve`: 30 s). */
  readonly apiKeyCacheMs?: number;
  /** How long the first ingest request of a group waits for others to share its commit; default 0: a group is what arrived while the previous commit ran. */
  readonly groupCommitMs?: number;
  readonly pollMs?: number;
  /** Metrics and the pino logger (fastify logs through it too); default: fresh metrics, no log. `lading serve` shares it with its Scheduler. */
  readonly observer?: Observer;
  /** Who may scrape /metrics; default open (docs/observability.md). */
  readonly metricsAccess?: MetricsAccess;
  /** How long the signed link to an artifact in S3 or GCS stays valid; default 15 minutes. */
  readonly artifactUrlTtlMs?: number;
}

export interface LadingServer {
  readonly app: FastifyInstance;
  readonly jobs: JobRunner;
  /** Starts listening; resolves to the base URL (port 0 picks a free port). */
  listen(host: string, port: number): Promise<string>;
  /** Stops accepting, lets in-flight requests finish, stops jobs at a chunk boundary, commits pending ingests. The store stays open (the caller owns it). */
  close(): Promise<void>;
}

export const defaultBodyLimit = 10_000_000;

/** The lading HTTP API: ingest, jobs, pipelines, deliveries, health, OpenAPI at /docs; the dashboard at /. */
export async function buildServer(opts: ServerOptions): Promise<LadingServer> {
  const clock = opts.clock ?? systemClock;
  const ids = opts.ids ?? randomIds;
  const observer = opts.observer ?? observerOf(new Metrics(clock), silentLogger());
  const jobs = new JobRunner({ store: opts.store, dataDir: opts.dataDir, clock, ids, concurrency: opts.jobConcurrency ?? 2, onEvent: observer.run, queue: opts.queueJobs === true });
  const ctx: ApiContext = {
    store: opts.store, catalog: opts.catalog, clock, ids, jobs, dataDir: opts.dataDir, artifactUrlTtlMs: opts.artifactUrlTtlMs ?? 15 * 60_000,
    commits: new GroupCommit(opts.store, clock, opts.groupCommitMs ?? 0),
    keys: new ApiKeyAuthenticator(opts.store, clock, opts.apiKeyCacheMs ?? 0),
    streams: new Set(), pollMs: opts.pollMs ?? 1000,
    triggers: opts.triggers ?? {
      nextTrigger: (pipeline) => nextTrigger(pipeline.config, clock.now()),
      flush: (pipeline) => flush(pipeline, { store: opts.store, dataDir: opts.dataDir, clock, ids, onEvent: observer.scheduler, run: { onEvent: observer.run } }),
    },
    observer,
  };
  const app = Fastify({
    bodyLimit: opts.bodyLimit ?? defaultBodyLimit,
    // Typed as fastify's base logger so the instance keeps the default FastifyInstance type route modules take.
    loggerInstance: observer.logger as FastifyBaseLogger,
    // One access line per request instead of fastify's two, written below without field redaction.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request: binding the request id re-runs the redaction on every request;
    // the few lines a request writes name their reqId themselves.
    childLoggerFactory: (logger) => logger,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  });
  app.decorateRequest('principal', null);
  // The access line carries no headers and the path without its query; a key pasted into a path is masked.
  const access = accessLog(observer.logger);
  app.addHook('onResponse', (request, reply, done) => {
    const query = request.url.indexOf('?');
    const path = query === -1 ? request.url : request.url.slice(0, query);
    access({
      reqId: request.id, method: request.method, path: path.includes('lading_') ? redactText(path, []) : path, statusCode: reply.statusCode,
      responseTimeMs: reply.elapsedTime, keyId: request.principal?.keyId,
    });
    done();
  });
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((error, request, reply) => {
    const e = classifyRequestError(error);
    const status = codes[e.code].http;
    if (status >= 500) request.log.error({ reqId: request.id, code: e.code, err: error }, e.message);
    if (e.retryAfterMs !== undefined) void reply.header('retry-after', String(Math.ceil(e.retryAfterMs / 1000)));
    const validation = (error as { validation?: { instancePath?: string; message?: string }[] }).validation;
    return reply.code(status).send(errorBody(e.code, e.message, validation?.map((v) => ({ path: v.instancePath ?? '', message: v.message ?? '' }))));
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody('API_NOT_FOUND', `no endpoint ${request.method} ${request.url.split('?')[0]}`)));
  app.addHook('preClose', async () => {
    for (const end of [...ctx.streams]) end();
  });
  // The last requests' lines, before the process may exit.
  app.addHook('onClose', async () => access.flush());

  await app.register(swagger, {
    openapi: {
      info: { title: 'lading API', version: '1', description: 'Ingest records into pipeline inboxes, submit and watch jobs. Errors are `{"error": {"code", "message", "details"?}}` with the codes of docs/errors.md.' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer lading_<id>_<secret>' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.get('/healthz', { schema: { summary: 'The process is up', tags: ['health'], response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } }, async () => ({ status: 'ok' }));
  app.get('/readyz', {
    schema: { summary: 'The store answers', tags: ['health'], response: { 200: { type: 'object', properties: { status: { type: 'string' } } }, ...errorResponses(500, 503) } },
  }, async () => {
    await opts.store.listRuns({ limit: 1 });
    return { status: 'ready' };
  });
  await app.register(async (scope) => ingestRoutes(scope, ctx));
  await app.register(async (scope) => jobRoutes(scope, ctx));
  await app.register(async (scope) => pipelineRoutes(scope, ctx));
  await app.register(async (scope) => reportRoutes(scope, ctx));
  await app.register(async (scope) => dashboardRoutes(scope, ctx));
  await app.register(dashboardPage);
  await app.register(async (scope) => metricsRoutes(scope, ctx, opts.metricsAccess ?? 'open'));
  await app.register(async (scope) => auditRoutes(scope, ctx));

  return {
    app,
    jobs,
    async listen(host, port) {
      await app.listen({ host, port });
      const address = app.server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
    },
    async close() {
      await app.close();
      await jobs.shutdown();
      await ctx.commits.drain();
    },
  };
}

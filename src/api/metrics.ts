import type { FastifyInstance } from 'fastify';
import type { LoadedPipeline } from '../config/load.js';
import { liveRuns } from '../engine/run.js';
import type { PipelineState } from '../observe/metrics.js';
import { guard, type ApiContext } from './context.js';

/**
 * Who may scrape /metrics. `open` (the default), like /healthz: Prometheus scrapes without a
 * credential, and the text holds counts per pipeline name, never records or secrets; serve
 * listens on loopback unless told otherwise. `key`: any API key with jobs:read, sent by
 * Prometheus as `authorization: { credentials: <key> }`.
 */
export type MetricsAccess = 'open' | 'key';

async function stateOf(ctx: ApiContext, pipeline: LoadedPipeline, now: Date): Promise<PipelineState> {
  const name = pipeline.config.name;
  const [inbox, delivery, live] = await Promise.all([
    pipeline.config.source.type === 'inbox' ? ctx.store.inboxStats(name) : null,
    ctx.store.deliveryState(name),
    liveRuns(ctx.store, name, now),
  ]);
  return { pipeline: name, inbox, delivery, nextTrigger: ctx.triggers.nextTrigger(pipeline), activeRuns: live.length };
}

/** GET /metrics: Prometheus text format; the state gauges are read from the store at each scrape. */
export async function metricsRoutes(app: FastifyInstance, ctx: ApiContext, access: MetricsAccess): Promise<void> {
  app.get('/metrics', {
    ...(access === 'key' ? { onRequest: guard(ctx, () => 'jobs:read') } : {}),
    schema: {
      summary: 'Prometheus metrics (text exposition format); docs/observability.md lists them',
      tags: ['health'],
      response: { 200: { description: 'text/plain; version=0.0.4', type: 'string' } },
    },
  }, async (_request, reply) => {
    const now = ctx.clock.now();
    const [states, leases] = await Promise.all([Promise.all(ctx.catalog.list().map((p) => stateOf(ctx, p, now))), ctx.store.activeLeases(now)]);
    ctx.observer.metrics.observePipelines(states);
    ctx.observer.metrics.observeCluster(leases, ctx.triggers.leader?.() ?? false);
    return reply.header('content-type', ctx.observer.metrics.contentType).send(await ctx.observer.metrics.text());
  });
}

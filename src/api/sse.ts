import type { FastifyReply } from 'fastify';
import type { RunEvent } from '../engine/run.js';
import type { ApiContext } from './context.js';
import { statusOf } from './jobs.js';

/** A comment line now and then keeps proxies from closing a quiet stream. */
const keepAliveMs = 15_000;

const endedStatuses = new Set(['completed', 'completed_with_errors', 'failed', 'cancelled', 'timed_out', 'interrupted']);

/**
 * GET /v1/jobs/{id}/events: Server-Sent Events until the job ends. A job of this process is
 * followed through its RunEvents as they happen; any other (run by another process, or already
 * over) by polling the store. The last event is always `run_finished`, then the stream ends.
 */
export function streamEvents(ctx: ApiContext, reply: FastifyReply, id: string): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.flushHeaders();
  let open = true;
  const cleanups: (() => void)[] = [];
  const stop = () => {
    if (!open) return;
    open = false;
    for (const cleanup of cleanups) cleanup();
    ctx.streams.delete(end);
    res.end();
  };
  function end(): void {
    stop();
  }
  const send = (type: string, data: unknown) => {
    if (open) res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  ctx.streams.add(end);
  // The response closes when the client goes away (or once the stream ended).
  res.on('close', stop);
  const keepAlive = setInterval(() => open && res.write(': keep-alive\n\n'), keepAliveMs);
  cleanups.push(() => clearInterval(keepAlive));

  const finish = async () => {
    const run = await ctx.store.getRun(id);
    const job = ctx.jobs.get(id);
    const status = statusOf({ id, run, job }, ctx.clock.now());
    send('run_finished', {
      type: 'run_finished', run_id: id, status, report: run?.report ?? job?.dryRun ?? null,
      ...(job?.error && !run?.report ? { error: { code: job.error.code, message: job.error.message } } : {}),
    });
    stop();
  };
  const fail = (error: unknown) => {
    send('error', { type: 'error', run_id: id, message: error instanceof Error ? error.message : String(error) });
    stop();
  };

  const job = ctx.jobs.get(id);
  if (job !== undefined && job.state !== 'done') {
    const onEvent = (event: RunEvent) => {
      if (event.type === 'run_finished') {
        send(event.type, { ...event, status: event.report.status });
        stop();
      } else {
        send(event.type, event);
      }
    };
    // A job that ended without run_finished (refused before it started, a dry run) still gets a last event.
    const onEnd = () => void finish().catch(fail);
    job.events.on('event', onEvent);
    job.events.once('end', onEnd);
    cleanups.push(() => {
      job.events.off('event', onEvent);
      job.events.off('end', onEnd);
    });
    send('status', { type: 'status', run_id: id, status: job.state });
    return;
  }

  let last = '';
  let timer: NodeJS.Timeout | undefined;
  cleanups.push(() => clearTimeout(timer));
  const poll = async (): Promise<void> => {
    if (!open) return;
    const run = await ctx.store.getRun(id);
    const status = statusOf({ id, run, job: ctx.jobs.get(id) }, ctx.clock.now());
    if (run === null || endedStatuses.has(status)) return finish();
    const progress = { type: 'progress', run_id: id, status, processed: run.processed, succeeded: run.succeeded, failed: run.failed, warnings: run.warnings };
    const seen = JSON.stringify(progress);
    if (seen !== last) send('progress', progress);
    last = seen;
    timer = setTimeout(() => void poll().catch(fail), ctx.pollMs);
  };
  void poll().catch(fail);
}

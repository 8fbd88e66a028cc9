import type { Logger } from 'pino';
import type { RunEvent } from '../engine/run.js';
import type { SchedulerEvent } from '../triggers/scheduler.js';
import type { Metrics } from './metrics.js';

/**
 * Where a long-running process sends the events of its runs and triggers: each becomes a metric
 * update and a log line. Handed to the JobRunner, to flushes, and to the Scheduler (both its
 * own events and the RunEvents of the runs it starts).
 */
export interface Observer {
  readonly metrics: Metrics;
  readonly logger: Logger;
  run(event: RunEvent): void;
  scheduler(event: SchedulerEvent): void;
}

type Level = 'debug' | 'info' | 'warn' | 'error';

function runLine(event: RunEvent): { level: Level; fields: Record<string, unknown>; msg: string } {
  const { type, run_id: runId } = event;
  switch (event.type) {
    case 'run_started':
      return { level: 'info', fields: { pipeline: event.pipeline, batch_id: event.batch_id, total: event.total, resumed_from: event.resumed_from }, msg: `run ${runId} of ${event.pipeline} started` };
    case 'progress':
      return { level: 'debug', fields: { chunk_index: event.chunk_index, processed: event.processed, failed: event.failed, chunk_ms: event.chunk_ms }, msg: `run ${runId}: chunk ${event.chunk_index} committed` };
    case 'paused':
    case 'unpaused':
      return { level: 'info', fields: {}, msg: `run ${runId} ${type}` };
    case 'chunk_size_changed':
      return { level: 'debug', fields: { from: event.from, to: event.to }, msg: `run ${runId}: chunk size ${event.from} → ${event.to}` };
    case 'file_rendered':
      return { level: 'debug', fields: { name: event.name, bytes: event.bytes, records: event.records }, msg: `run ${runId}: rendered ${event.name}` };
    case 'delivery_retry':
      return { level: 'warn', fields: { name: event.name, attempt: event.attempt, code: event.code, delay_ms: event.delay_ms }, msg: `run ${runId}: delivery of ${event.name} failed (${event.code}), retrying` };
    case 'delivery_held':
      return { level: 'warn', fields: { delivery_id: event.held.delivery_id, name: event.held.name, outcome: event.held.outcome, code: event.held.code }, msg: `run ${runId}: delivery of ${event.held.name} held (${event.held.outcome}): ${event.held.message}` };
    case 'delivery_canary':
      return { level: 'info', fields: { name: event.name }, msg: `run ${runId}: canary delivery of ${event.name} (destination breaker cool-down over)` };
    case 'file_delivered': {
      const { name, bytes, records, sha256, uri } = event.file;
      return { level: 'info', fields: { file: { name, bytes, records, sha256, uri } }, msg: `run ${runId}: delivered ${name}` };
    }
    case 'run_finished': {
      const { report } = event;
      const level: Level = report.status === 'completed' ? 'info' : report.status === 'completed_with_errors' ? 'warn' : 'error';
      return {
        level,
        fields: { pipeline: report.pipeline, status: report.status, summary: report.summary, error_categories: report.error_categories, ...(report.failure ? { failure: report.failure } : {}) },
        msg: `run ${runId} of ${report.pipeline} ${report.status}${report.failure ? `: ${report.failure.code}: ${report.failure.message}` : ''}`,
      };
    }
  }
}

export function observer(metrics: Metrics, logger: Logger): Observer {
  return {
    metrics,
    logger,
    run(event) {
      metrics.onRunEvent(event);
      const line = runLine(event);
      logger[line.level]({ event: event.type, run_id: event.run_id, ...line.fields }, line.msg);
    },
    scheduler(event) {
      metrics.onSchedulerEvent(event);
      const { type, ...fields } = event;
      logger[type === 'error' ? 'error' : 'info']({ event: type, ...fields }, `${'pipeline' in event ? event.pipeline : 'scheduler'}: ${type.replace('_', ' ')}`);
    },
  };
}

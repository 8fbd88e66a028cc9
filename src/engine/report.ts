import type { FileArtifact, HeldDelivery, ReportError, RunMode, RunReport, RunStatus } from '../core/report.js';
import type { LadingError } from '../errors/lading-error.js';
import type { ItemErrorRecord } from '../store/types.js';

export interface Counts {
  processed: number;
  succeeded: number;
  failed: number;
  warnings: number;
  retries: number;
}

/**
 * completed when nothing failed; completed_with_errors when enough succeeded; failed otherwise.
 * A run stopped early ends by why it stopped: cancelled, timed_out, or failed.
 */
export function judge(counts: Counts, successThreshold: number, stop: LadingError | undefined): RunStatus {
  if (stop?.code === 'RUN_CANCELLED') return 'cancelled';
  if (stop?.code === 'RUN_TIMED_OUT') return 'timed_out';
  if (stop) return 'failed';
  if (counts.failed === 0) return 'completed';
  return counts.succeeded / counts.processed >= successThreshold ? 'completed_with_errors' : 'failed';
}

export const toReportError = (e: ItemErrorRecord): ReportError => ({
  item_id: e.itemId, error_type: e.errorType, code: e.code, message: e.message,
  ...(e.field === null ? {} : { field: e.field }), ...(e.location === null ? {} : { location: e.location }),
  chunk_index: e.chunkIndex, attempts: e.attempts,
});

export interface ReportInput {
  readonly runId: string;
  readonly pipeline: string;
  readonly mode: RunMode;
  readonly status: RunStatus;
  readonly batchId: string | null;
  readonly parentRunId: string | null;
  readonly source: string;
  readonly startedAt: Date;
  readonly completedAt: Date;
  readonly total: number | undefined;
  readonly counts: Counts;
  readonly errors: readonly ItemErrorRecord[];
  readonly categories: { readonly failed: Record<string, number>; readonly warnings: Record<string, number> };
  readonly files: readonly FileArtifact[];
  readonly checkpoint: { readonly chunkIndex: number; readonly processed: number; readonly at: Date } | null;
  readonly fatal: LadingError | undefined;
  readonly held?: readonly HeldDelivery[];
  readonly backlogSent?: number;
}

export function buildReport(r: ReportInput): RunReport {
  const seconds = Math.max(0, (r.completedAt.getTime() - r.startedAt.getTime()) / 1000);
  const shown = r.errors.length;
  const stopped = r.status === 'failed' || r.status === 'cancelled' || r.status === 'timed_out';
  const canRetry = stopped || r.counts.failed > 0;
  return {
    job_id: r.runId,
    pipeline: r.pipeline,
    mode: r.mode,
    status: r.status,
    batch_id: r.batchId,
    ...(r.parentRunId ? { parent_run_id: r.parentRunId } : {}),
    source: r.source,
    started_at: r.startedAt.toISOString(),
    completed_at: r.completedAt.toISOString(),
    summary: {
      total_items: r.total ?? r.counts.processed,
      processed: r.counts.processed,
      succeeded: r.counts.succeeded,
      failed: r.counts.failed,
      skipped: 0,
      warnings: r.counts.warnings,
      retries: r.counts.retries,
      duration_seconds: Math.round(seconds * 1000) / 1000,
      items_per_second: seconds > 0 ? Math.round((r.counts.processed / seconds) * 10) / 10 : 0,
    },
    errors: r.errors.map(toReportError),
    errors_truncated: Math.max(0, r.counts.failed - shown),
    error_categories: r.categories.failed,
    warning_categories: r.categories.warnings,
    artifacts: { files: r.files },
    remediation: {
      can_retry: canRetry,
      retry_strategy: !canRetry ? 'none' : stopped ? 'resume' : 'failed_items_only',
    },
    last_checkpoint: r.checkpoint
      ? { chunk_index: r.checkpoint.chunkIndex, processed_count: r.checkpoint.processed, timestamp: r.checkpoint.at.toISOString() }
      : null,
    ...(r.held && r.held.length > 0 ? { held_deliveries: r.held } : {}),
    ...(r.backlogSent ? { backlog_sent: r.backlogSent } : {}),
    ...(r.fatal ? { failure: { code: r.fatal.code, error_type: r.fatal.errorType, message: r.fatal.message } } : {}),
  };
}

/** The final report: what `--json`, the store and (later) the API return for a run. */
export type RunStatus = 'queued' | 'running' | 'completed' | 'completed_with_errors' | 'failed' | 'cancelled' | 'timed_out';
export type RunMode = 'full' | 'dry_run' | 'sample';

export interface ReportError {
  readonly item_id: string | null;
  readonly error_type: string;
  readonly code: string;
  readonly message: string;
  readonly field?: string;
  readonly location?: string;
  readonly chunk_index: number | null;
  readonly attempts: number;
}

export interface FileArtifact {
  readonly name: string;
  readonly bytes: number;
  readonly records: number;
  readonly sha256: string;
  readonly uri: string;
  readonly part: number;
  /** The partition value the file holds, when output.partition is set. */
  readonly partition?: string;
  /** Tries the delivery took, and how long the successful one ran. */
  readonly attempts?: number;
  readonly duration_ms?: number;
}

/** A file a run did not get to the partner, and why. */
export interface HeldDelivery {
  readonly delivery_id: string;
  readonly name: string;
  /** deferred: the circuit breaker is open; retry_later / skipped: the partner refused it and delivery.on_rejection said so. */
  readonly outcome: 'deferred' | 'retry_later' | 'skipped';
  readonly code: string;
  readonly message: string;
}

export interface RunReport {
  readonly job_id: string;
  readonly pipeline: string;
  readonly mode: RunMode;
  readonly status: RunStatus;
  readonly batch_id: string | null;
  /** The run whose dead letters this run retried. */
  readonly parent_run_id?: string;
  readonly source: string;
  readonly started_at: string;
  readonly completed_at: string | null;
  readonly summary: {
    readonly total_items: number;
    readonly processed: number;
    readonly succeeded: number;
    readonly failed: number;
    readonly skipped: number;
    readonly warnings: number;
    /** Tries after the first, across all items. */
    readonly retries: number;
    readonly duration_seconds: number;
    readonly items_per_second: number;
  };
  /** The first errors (see errors_truncated); `lading runs show --errors` lists all. */
  readonly errors: readonly ReportError[];
  readonly errors_truncated: number;
  readonly error_categories: Readonly<Record<string, number>>;
  readonly warning_categories: Readonly<Record<string, number>>;
  readonly artifacts: { readonly files: readonly FileArtifact[] };
  readonly remediation: { readonly can_retry: boolean; readonly retry_strategy: 'none' | 'failed_items_only' | 'resume' };
  readonly last_checkpoint: { readonly chunk_index: number; readonly processed_count: number; readonly timestamp: string } | null;
  /**
   * Files the run (or the earlier runs' backlog it released) did not deliver: held back by the
   * open circuit breaker, or refused by the partner and handled by delivery.on_rejection.
   */
  readonly held_deliveries?: readonly HeldDelivery[];
  /** Staged files of earlier runs this run sent first. */
  readonly backlog_sent?: number;
  /** Set when the run failed as a whole (missing input, unwritable destination). */
  readonly failure?: { readonly code: string; readonly error_type: string; readonly message: string };
}

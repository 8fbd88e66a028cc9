import type { Chunk } from '../core/item.js';
import type { FileArtifact } from '../core/report.js';
import type { LadingError } from '../errors/lading-error.js';

export interface RunContext {
  readonly runId: string;
  readonly pipeline: string;
  /** The inbox batch, or the run id for sources without batches. */
  readonly batchId: string;
  readonly createdAt: Date;
  readonly signal: AbortSignal;
  /** Output field names in order, when the pipeline declares a map. */
  readonly columns?: readonly string[];
  /** Sinks announce what they do (a file rendered, a file delivered) for progress and logs. */
  emit(event: SinkEvent): void;
}

export type SinkEvent =
  | { readonly type: 'file_rendered'; readonly name: string; readonly bytes: number; readonly records: number }
  | { readonly type: 'file_delivered'; readonly file: FileArtifact };

export interface ChunkContext {
  readonly signal: AbortSignal;
}

export interface SinkSummary {
  readonly files: readonly FileArtifact[];
  /** Where the files went, for the store: `local:/srv/out`. */
  readonly destination: string;
}

/** Where a run's items go. Per-item failures are data; a failure of the whole chunk is thrown. */
export interface RecordSink {
  readonly type: string;
  open(ctx: RunContext): Promise<void>;
  /** Items absent from `failures` were accepted. Idempotency key: `${runId}:${item.id}`. */
  write(chunk: Chunk, ctx: ChunkContext): Promise<{ readonly failures: ReadonlyMap<string, LadingError> }>;
  /** `completed` finishes and delivers; `aborted` discards everything not yet delivered. */
  close(ctx: RunContext, outcome: 'completed' | 'aborted'): Promise<SinkSummary>;
  /** Probes the target (destination writable, server reachable) without writing records. */
  healthcheck?(signal: AbortSignal): Promise<void>;
}

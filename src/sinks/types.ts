import type { Chunk, Item } from '../core/item.js';
import type { FileArtifact, HeldDelivery } from '../core/report.js';

export type { HeldDelivery };
import type { LadingError } from '../errors/lading-error.js';
import type { PipelineConfig } from '../config/pipeline.js';

export interface RunContext {
  readonly runId: string;
  readonly pipeline: string;
  /** The inbox batch, or the run id for sources without batches. */
  readonly batchId: string;
  readonly createdAt: Date;
  readonly signal: AbortSignal;
  /** A sample run's files go under `sample/`, apart from real deliveries. */
  readonly mode: 'full' | 'sample' | 'dry_run';
  /** Output field names in order, when the pipeline declares a map. */
  readonly columns?: readonly string[];
  /** The pipeline's validate and map, for a sink that takes unparsed records through them in its own threads. */
  readonly stages?: Pick<PipelineConfig, 'validate' | 'map'>;
  /** Sinks announce what they do (a file rendered, a file delivered) for progress and logs. */
  emit(event: SinkEvent): void;
}

export type SinkEvent =
  | { readonly type: 'file_rendered'; readonly name: string; readonly bytes: number; readonly records: number; readonly encoded_bytes: number }
  | { readonly type: 'delivery_retry'; readonly name: string; readonly attempt: number; readonly code: string; readonly delay_ms: number }
  | { readonly type: 'file_delivered'; readonly file: FileArtifact }
  | { readonly type: 'delivery_held'; readonly held: HeldDelivery }
  /** The breaker's cool-down has passed: this delivery is the one try that decides whether it closes. */
  | { readonly type: 'delivery_canary'; readonly name: string };


/**
 * The run's shared limits, given to sinks that make requests: the executor owns the token bucket
 * and the pauses; a sink asks before each request and reports a partner's "slow down".
 */
export interface RequestGate {
  /** A rate is set (execution.rate_limit): every request takes a token. */
  readonly limited: boolean;
  /** Resolves when a request may go out (rate limit token taken, no pause in force). */
  acquire(signal: AbortSignal): Promise<void>;
  /** The partner asked everyone to wait (429/503 with Retry-After): no request goes out for `ms`. */
  pauseFor(ms: number): void;
  /**
   * Without a rate, a handler thread asks for nothing while this shared flag is 0; 1 while a pause
   * may hold requests (set by pauseFor, cleared by the first acquire that finds none in force).
   */
  readonly paused?: Int32Array;
}

export interface ChunkContext {
  readonly signal: AbortSignal;
  readonly runId: string;
  /** The first run of this run's retry chain: `idempotencyKey` is core/idempotency.ts's over it, for a sink that makes keys in another thread. */
  readonly lineage: string;
  readonly chunkIndex: number;
  /** 1 for the first try of these items, 2 for the first retry… */
  readonly attempt: number;
  readonly gate: RequestGate;
  /** Per item or request (execution.timeout); the sink abandons a call that takes longer. */
  readonly timeoutMs: number | undefined;
  /**
   * The key a receiver deduplicates on: `${run}:${item.id}` for one item, a digest of the ids
   * for several. Equal across retries and resumes of the same run, so a re-sent item or request
   * carries the key it had the first time.
   */
  idempotencyKey(items: readonly Item[]): string;
}

export interface WriteResult {
  /** Items the sink tried and failed, by id. */
  readonly failures: ReadonlyMap<string, LadingError>;
  /**
   * Items that never reached the sink's target: unparsed items (Item.unparsed) that the sink's
   * threads found malformed or that failed validate or map there, with every failure, as the
   * executor itself reports them.
   */
  readonly invalid?: ReadonlyMap<string, readonly LadingError[]>;
  /** Validation warnings of unparsed items, by id. */
  readonly warnings?: ReadonlyMap<string, readonly LadingError[]>;
}

export interface SinkSummary {
  readonly files: readonly FileArtifact[];
  /** Where the files went, for the store: `local:/srv/out`. */
  readonly destination: string;
  /** Files left staged (breaker open, retry_later) or skipped: the run goes on without them. */
  readonly held?: readonly HeldDelivery[];
}

/** Where a run's items go. Per-item failures are data; a failure of the whole chunk is thrown. */
export interface RecordSink {
  readonly type: string;
  /**
   * `ordered`: chunks must be written one at a time in index order (a file renders in input
   * order). `parallel`: chunks may be written concurrently (requests, SQL transactions).
   */
  readonly ordering: 'ordered' | 'parallel';
  /** The sink delivers files to a destination: its deliveries can be suspended by failures that need an operator. */
  readonly deliversFiles?: boolean;
  /**
   * The sink parses, validates and maps NDJSON records itself, in worker threads: a run that
   * reads an NDJSON file from its start gives it unparsed items (Item.unparsed).
   */
  readonly takesUnparsed?: boolean;
  open(ctx: RunContext): Promise<void>;
  /** Items absent from `failures` and `invalid` were accepted. Idempotency key: `${runId}:${item.id}`. */
  write(chunk: Chunk, ctx: ChunkContext): Promise<WriteResult>;
  /** `completed` finishes and delivers; `aborted` discards everything not yet delivered. */
  close(ctx: RunContext, outcome: 'completed' | 'aborted'): Promise<SinkSummary>;
  /** Probes the target (destination writable, server reachable) without writing records. */
  healthcheck?(signal: AbortSignal): Promise<void>;
}

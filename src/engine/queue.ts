import { deliveryPolicy } from '../config/delivery.js';
import type { LoadedPipeline } from '../config/load.js';
import { pick } from '../config/one-of.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { BuildContext } from '../core/component.js';
import { randomIds, type IdGenerator } from '../core/ids.js';
import type { Item } from '../core/item.js';
import { registry as builtIns, type Registry } from '../core/registry.js';
import { classify } from '../errors/classify.js';
import { codes, type ErrorCode } from '../errors/codes.js';
import { ladingError } from '../errors/lading-error.js';
import type { RecordSink } from '../sinks/types.js';
import { buildReport } from './report.js';
import type { RunRecord, Store, StoredItem } from '../store/types.js';

/**
 * Per-item and per-chunk sinks take chunks in any order from any process; a file is rendered in
 * input order by one writer, so a file-output job is worked whole by one worker.
 */
export const distributable = (sink: RecordSink): boolean => sink.ordering === 'parallel' && sink.deliversFiles !== true;

export function storedItem(item: Item): StoredItem {
  return {
    id: item.id, seq: item.seq, data: item.data,
    ...(item.origin === undefined ? {} : { origin: item.origin }),
    ...(item.position === undefined ? {} : { position: item.position }),
    ...(item.error === undefined ? {} : {
      error: {
        code: item.error.code, message: item.error.message,
        ...(item.error.field === undefined ? {} : { field: item.error.field }),
        ...(item.error.location === undefined ? {} : { location: item.error.location }),
      },
    }),
  };
}

export function itemOf(stored: StoredItem): Item {
  const { error, ...rest } = stored;
  if (error === undefined) return rest;
  const code = (error.code in codes ? error.code : 'UNCLASSIFIED') as ErrorCode;
  return {
    ...rest,
    error: ladingError(code, error.message, {
      itemId: stored.id, ...(error.field === undefined ? {} : { field: error.field }), ...(error.location === undefined ? {} : { location: error.location }),
    }),
  };
}

export interface SubmitOptions {
  readonly store: Store;
  readonly dataDir: string;
  readonly clock?: Clock;
  readonly ids?: IdGenerator;
  readonly registry?: Registry;
  readonly stdin?: NodeJS.ReadableStream;
  readonly signal?: AbortSignal;
  /** Higher is worked first. Default 0. */
  readonly priority?: number;
  /** Overrides execution.chunk_size: the size of the chunks materialised. */
  readonly chunkSize?: number;
  /** The job's run id, chosen by the caller (the REST API answers with it). */
  readonly runId?: string;
  readonly submittedBy?: string;
}

/**
 * Queues a pipeline run for `lading worker` processes and returns its run (status `queued`).
 * A distributable job's items are read now and stored chunk by chunk — the source is read once,
 * on the submitting machine, and the chunk table is what the workers share and checkpoint; a
 * file-output job is stored as one whole-run lease and its worker reads the source itself.
 */
export async function submitJob(loaded: LoadedPipeline, opts: SubmitOptions): Promise<RunRecord> {
  const { config } = loaded;
  const clock = opts.clock ?? systemClock;
  const ids = opts.ids ?? randomIds;
  const registry = opts.registry ?? builtIns;
  const build: BuildContext = {
    pipeline: config.name, baseDir: loaded.baseDir, dataDir: opts.dataDir, clock, ids, store: opts.store,
    ...(opts.stdin ? { stdin: opts.stdin } : {}), delivery: deliveryPolicy(config.delivery),
  };
  const source = pick(registry.sources, config.source).create(config.source, build);
  const sink = pick(registry.sinks, config.output).create(config.output, build);
  const job = {
    id: opts.runId ?? ids.next('run'), createdAt: clock.now(), pipeline: config.name, mode: 'full' as const, source: source.description,
    config: loaded.snapshot, baseDir: loaded.baseDir, priority: opts.priority ?? 0,
    ...(opts.submittedBy === undefined ? {} : { submittedBy: opts.submittedBy }),
  };
  if (!distributable(sink)) return opts.store.enqueueJob({ ...job, batchId: null, kind: 'whole' });

  const signal = opts.signal ?? new AbortController().signal;
  const size = opts.chunkSize ?? config.execution.chunk_size;
  const chunks: StoredItem[][] = [];
  let batchId: string | null = null;
  try {
    batchId = (await source.open(signal)).batchId ?? null;
    let chunk: StoredItem[] = [];
    for await (const item of source.read(null, signal)) {
      chunk.push(storedItem(item));
      if (chunk.length >= size) {
        chunks.push(chunk);
        chunk = [];
      }
    }
    // An empty job still has one chunk: committing it is what finishes the run.
    if (chunk.length > 0 || chunks.length === 0) chunks.push(chunk);
  } catch (error) {
    await source.close('aborted');
    throw classify(error, { ioCode: 'SOURCE_READ_FAILED', doing: `reading ${source.description} to queue ${config.name}` });
  }
  const run = await opts.store.enqueueJob({ ...job, batchId, kind: 'chunks', chunks });
  // The inbox batch is delivered when the job finishes (the worker completes it), not now.
  await source.close('aborted');
  return run;
}

/** Cancels a job still waiting in the queue: it ends cancelled at once, with a report saying nothing ran; false once a worker took it. */
export async function cancelQueuedJob(store: Store, run: RunRecord, at: Date): Promise<boolean> {
  const report = buildReport({
    runId: run.id, pipeline: run.pipeline, mode: run.mode, status: 'cancelled', batchId: run.batchId, parentRunId: run.parentRunId,
    source: run.source, startedAt: run.createdAt, completedAt: at, total: undefined,
    counts: { processed: 0, succeeded: 0, failed: 0, warnings: 0, retries: 0 }, errors: [], categories: { failed: {}, warnings: {} },
    files: [], checkpoint: null, fatal: undefined,
  });
  return store.cancelQueuedJob(run.id, report);
}

import type { LoadedPipeline } from '../config/load.js';
import { pick } from '../config/one-of.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { BuildContext } from '../core/component.js';
import { randomIds, type IdGenerator } from '../core/ids.js';
import { idempotencyKey } from '../core/idempotency.js';
import type { Item } from '../core/item.js';
import { registry as builtIns, type Registry } from '../core/registry.js';
import type { FileArtifact, RunMode, RunReport } from '../core/report.js';
import { classify } from '../errors/classify.js';
import { ladingError, type LadingError } from '../errors/lading-error.js';
import type { RecordSink, SinkEvent } from '../sinks/types.js';
import type { Source, SourceProgress } from '../sources/types.js';
import type { ItemErrorRecord, Store } from '../store/types.js';
import { mapColumns } from '../transform/map.js';
import { buildProcessor } from './process.js';
import { buildReport, judge, type Counts } from './report.js';

export type RunEvent =
  | { readonly type: 'run_started'; readonly run_id: string; readonly pipeline: string; readonly source: string; readonly batch_id: string | null; readonly total: number | null }
  | {
      readonly type: 'progress'; readonly run_id: string; readonly chunk_index: number;
      readonly processed: number; readonly succeeded: number; readonly failed: number; readonly warnings: number;
      readonly total: number | null; readonly source_progress: SourceProgress | null;
    }
  | (SinkEvent & { readonly run_id: string })
  | { readonly type: 'run_finished'; readonly run_id: string; readonly report: RunReport };

export interface RunOptions {
  readonly store: Store;
  /** lading's working folder: staging files live under it. */
  readonly dataDir: string;
  readonly clock?: Clock;
  readonly ids?: IdGenerator;
  readonly signal?: AbortSignal;
  readonly stdin?: NodeJS.ReadableStream;
  readonly registry?: Registry;
  readonly mode?: RunMode;
  /** Command-line overrides of `execution:`. */
  readonly chunkSize?: number;
  readonly onEvent?: (event: RunEvent) => void;
}

async function* chunked(items: AsyncIterable<Item>, size: number): AsyncIterable<Item[]> {
  let chunk: Item[] = [];
  for await (const item of items) {
    chunk.push(item);
    if (chunk.length >= size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

function errorRecords(itemErrors: Iterable<[Item, LadingError[], 'block' | 'warn']>, chunkIndex: number): ItemErrorRecord[] {
  const records: ItemErrorRecord[] = [];
  for (const [item, errors, severity] of itemErrors) {
    for (const e of errors) {
      records.push({
        itemId: item.id, seq: item.seq, chunkIndex, code: e.code, errorType: e.errorType, category: e.category, severity,
        field: e.field ?? null, location: e.location ?? (item.origin?.file && item.origin.line ? `${item.origin.file}:${item.origin.line}` : null),
        message: e.message, attempts: 1,
      });
    }
  }
  return records;
}

/**
 * Runs a pipeline in the foreground: source → chunks → validate → map → sink, committing each
 * chunk (checkpoint, counters, item errors) to the store; ends with the report.
 */
export async function runPipeline(loaded: LoadedPipeline, opts: RunOptions): Promise<RunReport> {
  const { config } = loaded;
  const clock = opts.clock ?? systemClock;
  const ids = opts.ids ?? randomIds;
  const registry = opts.registry ?? builtIns;
  const controller = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, controller.signal]) : controller.signal;
  const emit = (event: RunEvent) => opts.onEvent?.(event);
  const build: BuildContext = {
    pipeline: config.name, baseDir: loaded.baseDir, dataDir: opts.dataDir, clock, ids, store: opts.store,
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
  };
  const chunkSize = opts.chunkSize ?? config.execution.chunk_size;
  const source: Source = pick(registry.sources, config.source).create(config.source, build);
  const sink: RecordSink = pick(registry.sinks, config.output).create(config.output, build);
  const columns = config.map ? mapColumns(config.map) : undefined;
  const processChunk = buildProcessor(config);

  const runId = ids.next('run');
  const createdAt = clock.now();
  const counts: Counts = { processed: 0, succeeded: 0, failed: 0, warnings: 0 };
  let fatal: LadingError | undefined;
  let batchId: string | null = null;
  let total: number | undefined;
  let checkpoint: { chunkIndex: number; processed: number; at: Date } | null = null;
  let files: readonly FileArtifact[] = [];
  let destination = '';

  let sourceOpened = false;
  try {
    const info = await source.open(signal);
    sourceOpened = true;
    batchId = info.batchId ?? null;
    total = info.total;
  } catch (error) {
    fatal = classify(error, { ioCode: 'SOURCE_READ_FAILED', doing: `opening ${source.description}` });
  }
  await opts.store.createRun({ id: runId, createdAt, batchId, pipeline: config.name, mode: opts.mode ?? 'full', source: source.description, config: loaded.snapshot });
  emit({ type: 'run_started', run_id: runId, pipeline: config.name, source: source.description, batch_id: batchId, total: total ?? null });

  const runCtx = {
    runId, pipeline: config.name, batchId: batchId ?? runId, createdAt, signal,
    ...(columns ? { columns } : {}),
    emit: (event: SinkEvent) => emit({ ...event, run_id: runId }),
  };

  let sinkOpened = false;
  if (!fatal) {
    try {
      await sink.open(runCtx);
      sinkOpened = true;
      let index = 0;
      for await (const items of chunked(source.read(null, signal), chunkSize)) {
        const { ok, failures, warnings } = processChunk(items);
        const written = await sink.write({ runId, index, items: ok }, {
          signal, runId, chunkIndex: index, attempt: 1, timeoutMs: undefined,
          gate: { acquire: async () => {}, pauseFor: () => {} }, idempotencyKey: (group) => idempotencyKey(runId, group),
        });
        for (const [id, error] of written.failures) failures.set(id, [error]);
        const byId = new Map(items.map((item) => [item.id, item]));
        const at = clock.now();
        const chunk = { processed: items.length, failed: failures.size, succeeded: items.length - failures.size, warnings: warnings.size };
        await opts.store.commitChunk(runId, {
          index, lastSeq: items.at(-1)!.seq, ...chunk, at,
          errors: errorRecords([
            ...[...failures].map(([id, errs]): [Item, LadingError[], 'block'] => [byId.get(id)!, errs, 'block']),
            ...[...warnings].map(([id, errs]): [Item, LadingError[], 'warn'] => [byId.get(id)!, errs, 'warn']),
          ].sort((a, b) => a[0].seq - b[0].seq), index),
        });
        counts.processed += chunk.processed;
        counts.failed += chunk.failed;
        counts.succeeded += chunk.succeeded;
        counts.warnings += chunk.warnings;
        checkpoint = { chunkIndex: index, processed: counts.processed, at };
        emit({ type: 'progress', run_id: runId, chunk_index: index, ...counts, total: total ?? null, source_progress: source.progress?.() ?? null });
        index++;
      }
    } catch (error) {
      fatal = signal.aborted
        ? ladingError('RUN_CANCELLED', `run ${runId} was cancelled`)
        : classify(error, { ioCode: 'SOURCE_READ_FAILED', doing: `running ${config.name}` });
    }
  }

  const cancelled = fatal?.code === 'RUN_CANCELLED';
  let status = judge(counts, config.execution.success_threshold, fatal, cancelled);
  const delivering = status === 'completed' || status === 'completed_with_errors';
  if (sinkOpened) {
    try {
      ({ files, destination } = await sink.close(runCtx, delivering ? 'completed' : 'aborted'));
    } catch (error) {
      fatal = classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: 'delivering files' });
      status = 'failed';
    }
  }
  if (sourceOpened) await source.close(status === 'completed' || status === 'completed_with_errors' ? 'completed' : 'aborted');
  const completedAt = clock.now();
  for (const file of files) await opts.store.recordFile(runId, { ...file, destination, deliveredAt: completedAt });
  if (batchId !== null && (status === 'completed' || status === 'completed_with_errors')) await opts.store.completeBatch(batchId, runId, completedAt);

  const report = buildReport({
    runId, pipeline: config.name, mode: opts.mode ?? 'full', status, batchId, source: source.description,
    startedAt: createdAt, completedAt, total, counts, files, checkpoint, fatal,
    errors: await opts.store.listItemErrors(runId, { severity: 'block', limit: config.execution.max_report_errors }),
    categories: await opts.store.errorCategories(runId),
  });
  await opts.store.finishRun(runId, report);
  emit({ type: 'run_finished', run_id: runId, report });
  return report;
}


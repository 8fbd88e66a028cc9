import { hostname } from 'node:os';
import { parsePipeline, type LoadedPipeline } from '../config/load.js';
import { pick } from '../config/one-of.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { BuildContext } from '../core/component.js';
import { idempotencyKey } from '../core/idempotency.js';
import { randomIds, type IdGenerator } from '../core/ids.js';
import { noData, type Item } from '../core/item.js';
import { registry as builtIns, type Registry } from '../core/registry.js';
import type { FileArtifact, HeldDelivery, RunMode, RunReport } from '../core/report.js';
import { deliveryPolicy } from '../config/delivery.js';
import { releaseBacklog } from './deliveries.js';
import { codes } from '../errors/codes.js';
import { classify } from '../errors/classify.js';
import { ladingError, type LadingError } from '../errors/lading-error.js';
import { notify, raiseAlert } from '../notify/dispatch.js';
import { checkSla } from '../reports/sla.js';
import type { RecordSink, SinkEvent } from '../sinks/types.js';
import { readNdjsonBatches } from '../sources/file/ndjson.js';
import type { Cursor, JsonPage, Source, SourceProgress } from '../sources/types.js';
import type { RunRecord, Store } from '../store/types.js';
import { mapColumns } from '../transform/map.js';
import { nextChunkSize } from './adaptive.js';
import { parallelPlan, preparedBatches } from './parallel.js';
import { Executor } from './executor.js';
import { buildProcessor } from '../transform/process.js';
import { TokenBucket } from './rate-limit.js';
import { buildReport, judge, type Counts, type ReportInput } from './report.js';
import { sampleSeqs } from './sample.js';

export type RunEvent =
  | { readonly type: 'run_started'; readonly run_id: string; readonly pipeline: string; readonly source: string; readonly batch_id: string | null; readonly total: number | null; readonly resumed_from: number | null }
  | {
      readonly type: 'progress'; readonly run_id: string; readonly chunk_index: number;
      readonly processed: number; readonly succeeded: number; readonly failed: number; readonly warnings: number; readonly retries: number;
      readonly total: number | null; readonly source_progress: SourceProgress | null; readonly chunk_ms: number;
    }
  | { readonly type: 'paused' | 'unpaused'; readonly run_id: string }
  | { readonly type: 'chunk_size_changed'; readonly run_id: string; readonly from: number; readonly to: number; readonly chunk_ms: number }
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
  /** Deliver this inbox batch (one a trigger cut) rather than an open or newly cut one. */
  readonly batchId?: string;
  /** Continue this interrupted, cancelled or timed-out run after its last committed chunk. */
  readonly resume?: string;
  /** The caller holds the lease on `resume`'s queued job (a worker): it is taken whatever its status says. */
  readonly claimed?: boolean;
  /** Process only this many items, spread over the input; file outputs go under sample/. */
  readonly sample?: number;
  /** A run over other items than the pipeline's source (dead-letter retries), linked to its parent. */
  readonly source?: { readonly source: Source; readonly parentRunId: string };
  /** Command-line overrides of `execution:`. */
  readonly chunkSize?: number;
  readonly concurrency?: number;
  readonly retryAttempts?: number;
  readonly heartbeatMs?: number;
  readonly onEvent?: (event: RunEvent) => void;
  /** The id of the new run, chosen by the caller (the REST API answers with it before the run starts). */
  readonly runId?: string;
  /** Owner of the API key that submitted the run. */
  readonly submittedBy?: string;
}

/** Cuts items into chunks; the size is asked for each chunk, so adaptive sizing takes effect at once. */
async function* chunked(items: AsyncIterable<Item>, size: () => number): AsyncIterable<Item[]> {
  let chunk: Item[] = [];
  for await (const item of items) {
    chunk.push(item);
    if (chunk.length >= size()) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** The source's items unparsed (Item.unparsed), when it can give them so: an NDJSON file's lines, an inbox batch's stored JSON. */
function unparsedBatches(source: Source, signal: AbortSignal): AsyncIterable<Item[]> | undefined {
  if (source.readNdjsonWith) return source.readNdjsonWith((bytes, options) => readNdjsonBatches(bytes, { ...options, unparsed: true }), signal);
  if (source.readJsonPages) return storedUnparsed(source.readJsonPages(signal));
  return undefined;
}

async function* storedUnparsed(pages: AsyncIterable<JsonPage>): AsyncIterable<Item[]> {
  let seq = 0;
  for await (const page of pages) yield page.ids.map((id, i) => ({ id, seq: ++seq, data: noData, unparsed: Buffer.from(page.json[i]!) }));
}

/**
 * chunked for a source's runs of items (readBatches). Each run is emptied once its items are in
 * chunks: the generators between the reader and here (this one's `for await`, a `yield*`) keep the
 * last run they passed on in their registers while the next one is read, and V8's young-generation
 * collections copied those stale items along with the live ones (docs/benchmarks.md, machine T).
 */
async function* rechunked(batches: AsyncIterable<Item[]>, size: () => number): AsyncIterable<Item[]> {
  let chunk: Item[] = [];
  for await (const batch of batches) {
    for (const item of batch) {
      chunk.push(item);
      if (chunk.length >= size()) {
        yield chunk;
        chunk = [];
      }
    }
    batch.length = 0;
  }
  if (chunk.length > 0) yield chunk;
}

async function* only(items: AsyncIterable<Item>, seqs: ReadonlySet<number>): AsyncIterable<Item> {
  for await (const item of items) if (seqs.has(item.seq)) yield item;
}

export const owner = (): string => `${hostname()}:${process.pid}`;

/** Runs of this pipeline still going: a run whose heartbeat went quiet is interrupted, not running. */
export async function liveRuns(store: Store, pipeline: string, now: Date, staleMs = 30_000): Promise<RunRecord[]> {
  const runs = await store.listRuns({ pipeline, limit: 100 });
  return runs.filter((r) => r.status === 'running' && !isInterrupted(r, now, staleMs));
}

/** A run marked running whose process is gone: heartbeat older than `staleMs`, or its pid dead on this host. */
export function isInterrupted(run: RunRecord, now: Date, staleMs = 30_000): boolean {
  if (run.status !== 'running') return false;
  if (run.owner && ownerGone(run.owner)) return true;
  return run.heartbeatAt === null || now.getTime() - run.heartbeatAt.getTime() > staleMs;
}

/** An owner (host:pid) on this host whose process is gone: what it held can be taken at once, without waiting for staleness. */
export function ownerGone(name: string): boolean {
  const [host, pid] = name.split(':');
  return host === hostname() && pid !== undefined && /^\d+$/.test(pid) && !pidAlive(Number(pid));
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs a pipeline in the foreground: source → chunks → validate → map → sink through the
 * executor, each chunk committed (outcome first, then checkpoint) before the next commits;
 * ends with the report, stored and returned.
 */
export async function runPipeline(loaded: LoadedPipeline, opts: RunOptions): Promise<RunReport> {
  const clock = opts.clock ?? systemClock;
  const ids = opts.ids ?? randomIds;
  const registry = opts.registry ?? builtIns;
  const { store } = opts;
  const resumed = opts.resume === undefined ? undefined : await resumable(store, opts.resume, clock.now(), opts.claimed === true);
  const config = resumed ? parsePipeline(resumed.config, { origin: `run ${resumed.id}` }).config : loaded.config;
  const execution = {
    ...config.execution,
    ...(opts.chunkSize === undefined ? {} : { chunk_size: opts.chunkSize }),
    ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
    retry: { ...config.execution.retry, ...(opts.retryAttempts === undefined ? {} : { attempts: opts.retryAttempts }) },
  };
  const mode: RunMode = resumed?.mode ?? (opts.sample !== undefined ? 'sample' : 'full');
  if (!resumed) await waitForSlot(store, config.name, execution, clock, opts.signal);

  const controller = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, controller.signal]) : controller.signal;
  const emit = (event: RunEvent) => opts.onEvent?.(event);
  const build: BuildContext = {
    pipeline: config.name, baseDir: loaded.baseDir, dataDir: opts.dataDir, clock, ids, store,
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
    ...(resumed?.batchId ? { batchId: resumed.batchId } : opts.batchId ? { batchId: opts.batchId } : {}),
    delivery: deliveryPolicy(config.delivery),
    alert: (alert) => raiseAlert(config.notify, alert, { store, clock }),
  };
  const source: Source = opts.source?.source ?? pick(registry.sources, config.source).create(config.source, build);
  const sink: RecordSink = pick(registry.sinks, config.output).create(config.output, build);
  const columns = config.map ? mapColumns(config.map) : undefined;

  const runId = resumed?.id ?? opts.runId ?? ids.next('run');
  const createdAt = resumed?.createdAt ?? clock.now();
  let stop: LadingError | undefined;
  let batchId: string | null = resumed?.batchId ?? null;
  let total: number | undefined;
  let files: readonly FileArtifact[] = [];
  let destination = '';
  let sampled: ReadonlySet<number> | undefined;

  let sourceOpened = false;
  // Suspended deliveries: nothing is read or cut into a batch until an operator resumes them.
  const suspended = sink.deliversFiles ? await store.deliveryState(config.name) : undefined;
  if (suspended?.suspendedAt) {
    stop = ladingError('DEST_SUSPENDED', `deliveries of ${config.name} are suspended since ${suspended.suspendedAt.toISOString()} (${suspended.code}: ${suspended.reason}); fix it, then \`lading deliveries resume ${config.name}\``);
  }
  try {
    if (stop) throw stop;
    const info = await source.open(signal);
    sourceOpened = true;
    batchId = info.batchId ?? batchId;
    total = info.total;
    if (opts.sample !== undefined) {
      sampled = await sampleSeqs(source, opts.sample, signal);
      total = sampled.size;
    }
  } catch (error) {
    stop = error === stop ? stop : classify(error, { ioCode: 'SOURCE_READ_FAILED', doing: `opening ${source.description}` });
  }
  let lineage = runId;
  if (resumed) {
    lineage = (await store.reopenRun(runId, owner(), clock.now())).lineage;
  } else {
    const created = await store.createRun({
      id: runId, createdAt, batchId, pipeline: config.name, mode, source: source.description, config: loaded.snapshot, owner: owner(), baseDir: loaded.baseDir,
      ...(opts.source ? { parentRunId: opts.source.parentRunId } : {}),
      ...(opts.submittedBy === undefined ? {} : { submittedBy: opts.submittedBy }),
    });
    lineage = created.lineage;
  }

  // A file being rendered cannot continue half-way: an ordered sink starts its run again from the
  // first item (re-committed chunks replace their old rows); other sinks go on after the checkpoint.
  const checkpointed = resumed?.lastCheckpoint;
  const from: Cursor | null = checkpointed && sink.ordering === 'parallel'
    ? { seq: checkpointed.seq, ...(checkpointed.position === undefined ? {} : { position: checkpointed.position }) }
    : null;
  const start = from && resumed
    ? { counts: { processed: resumed.processed, succeeded: resumed.succeeded, failed: resumed.failed, warnings: resumed.warnings, retries: 0 }, nextIndex: resumed.lastCheckpoint!.chunkIndex + 1 }
    : { counts: { processed: 0, succeeded: 0, failed: 0, warnings: 0, retries: 0 }, nextIndex: 0 };
  emit({ type: 'run_started', run_id: runId, pipeline: config.name, source: source.description, batch_id: batchId, total: total ?? null, resumed_from: from?.seq ?? null });

  const runCtx = {
    runId, pipeline: config.name, batchId: batchId ?? runId, createdAt, signal, mode,
    ...(columns ? { columns } : {}), stages: { validate: config.validate, map: config.map },
    emit: (event: SinkEvent) => emit({ ...event, run_id: runId }),
  };
  let counts: Counts = start.counts;
  let checkpoint: { chunkIndex: number; processed: number; at: Date } | null = resumed?.lastCheckpoint ?? null;
  let sinkOpened = false;
  const adaptive = execution.adaptive_chunk_size;
  let chunkSize = execution.chunk_size;
  let held: readonly HeldDelivery[] = [];
  let backlogSent = 0;
  if (!stop && sink.deliversFiles && mode === 'full') {
    // Staged files of earlier runs go first: a closed breaker (or a canary that closes it) sends the backlog.
    const backlog = await releaseBacklog(store, config.name, { dataDir: opts.dataDir, clock, ids, registry, signal, onEvent: runCtx.emit, exceptRun: runId });
    backlogSent = backlog.sent.length;
    held = backlog.held;
    const suspending = backlog.failed.map((f) => classify(f.error, { ioCode: 'DEST_WRITE_FAILED', doing: `sending delivery ${f.id} again` })).find((e) => codes[e.code].suspends);
    if (suspending) {
      stop = suspending;
      await suspendDeliveries(store, config.name, runId, suspending, clock.now());
      await notify(config.notify, { type: 'deliveries_suspended', pipeline: config.name, runId, error: suspending }, { store, clock }); // notify: alert channels
    }
  }
  if (!stop) {
    try {
      await sink.open(runCtx);
      sinkOpened = true;
      const executor = new Executor({
        runId, lineage, sink, store, clock, signal, execution, owner: owner(), heartbeatMs: opts.heartbeatMs ?? 2000,
        gate: new TokenBucket(clock, execution.rate_limit?.per_second, execution.rate_limit?.burst),
        process: buildProcessor(config), idempotencyKey,
        onChunk: (chunk) => {
          emit({
            type: 'progress', run_id: runId, chunk_index: chunk.index, ...chunk.counts, total: total ?? null,
            source_progress: source.progress?.() ?? null, chunk_ms: chunk.durationMs,
          });
          if (adaptive) {
            const next = nextChunkSize(chunkSize, chunk.durationMs, adaptive);
            if (next !== chunkSize) emit({ type: 'chunk_size_changed', run_id: runId, from: chunkSize, to: next, chunk_ms: chunk.durationMs });
            chunkSize = next;
          }
        },
        onPause: (paused) => emit({ type: paused ? 'paused' : 'unpaused', run_id: runId }),
      }, start);
      const size = () => chunkSize;
      const parallel = parallelPlan({
        config, source, formats: registry.formats, fromStart: from === null && sampled === undefined,
        encoder: { pipeline: runCtx.pipeline, runId, batchId: runCtx.batchId, createdAt, ...(columns ? { columns } : {}) },
      });
      // A sink that parses records in its own threads is given NDJSON lines, or stored JSON, as they are.
      const unparsed = sink.takesUnparsed && from === null && sampled === undefined ? unparsedBatches(source, signal) : undefined;
      const chunks = sampled ? chunked(only(source.read(from, signal), sampled), size)
        : parallel ? rechunked(preparedBatches(source, parallel, signal), size)
        : unparsed ? rechunked(unparsed, size)
        : source.readBatches ? rechunked(source.readBatches(from, signal), size) : chunked(source.read(from, signal), size);
      const result = await executor.run(chunks);
      counts = result.counts;
      checkpoint = result.checkpoint ?? checkpoint;
      stop = result.stop;
    } catch (error) {
      stop = signal.aborted ? ladingError('RUN_CANCELLED', `run ${runId} was cancelled`) : classify(error, { ioCode: 'SOURCE_READ_FAILED', doing: `running ${config.name}` });
    }
  }

  let status = judge(counts, execution.success_threshold, stop);
  const delivering = status === 'completed' || status === 'completed_with_errors';
  if (sinkOpened) {
    try {
      const summary = await sink.close(runCtx, delivering ? 'completed' : 'aborted');
      ({ files, destination } = summary);
      held = [...held, ...(summary.held ?? [])];
      // A file left staged (breaker open, retry_later) is not at the partner yet: the run says so by its status.
      if (status === 'completed' && summary.held?.some((h) => h.outcome !== 'skipped')) status = 'completed_with_errors';
    } catch (error) {
      stop = classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: 'delivering files' });
      status = 'failed';
      if (sink.deliversFiles && codes[stop.code].suspends) {
        await suspendDeliveries(store, config.name, runId, stop, clock.now());
        await notify(config.notify, { type: 'deliveries_suspended', pipeline: config.name, runId, error: stop }, { store, clock }); // notify: alert channels
      }
    }
  }
  if (sourceOpened) await source.close(status === 'completed' || status === 'completed_with_errors' ? 'completed' : 'aborted');
  const completedAt = clock.now();
  for (const file of files) await store.recordFile(runId, { ...file, destination, deliveredAt: completedAt });
  if (batchId !== null && mode === 'full' && (status === 'completed' || status === 'completed_with_errors')) await store.completeBatch(batchId, runId, completedAt);

  const report = await storedReport(store, {
    runId, pipeline: config.name, mode, status, batchId, parentRunId: resumed?.parentRunId ?? opts.source?.parentRunId ?? null,
    source: source.description, startedAt: createdAt, completedAt, total, counts, files, checkpoint, fatal: stop,
    held, backlogSent,
  }, execution.max_report_errors);
  await store.finishRun(runId, report);
  await notify(config.notify, { type: 'run_finished', report }, { store, clock }); // notify: rules, recoveries, success
  if (mode === 'full') await checkSla(config.name, config.sla, config.notify, runId, { store, clock });
  emit({ type: 'run_finished', run_id: runId, report });
  return report;
}

/** The report of a run whose item errors are in the store: the first failures and the counts by type come from there. */
export async function storedReport(store: Store, input: Omit<ReportInput, 'errors' | 'categories'>, maxErrors: number): Promise<RunReport> {
  return buildReport({
    ...input,
    errors: await store.listItemErrors(input.runId, { severity: 'block', primary: true, limit: maxErrors }),
    categories: await store.errorCategories(input.runId),
  });
}

/** A failure that needs an operator: deliveries stop, and an alert is recorded for the notify channels. */
async function suspendDeliveries(store: Store, pipeline: string, runId: string, error: LadingError, at: Date): Promise<void> {
  await store.suspendDeliveries(pipeline, { code: error.code, reason: error.message, at });
  await store.recordAlert({ pipeline, runId, kind: 'deliveries_suspended', code: error.code, message: `deliveries of ${pipeline} suspended: ${error.message}`, at });
}

/** The run `--resume` continues: one that stopped before its input ended, and is not running elsewhere. */
async function resumable(store: Store, runId: string, now: Date, claimed: boolean): Promise<RunRecord> {
  const run = await store.getRun(runId);
  if (!run) throw ladingError('STORE_RUN_NOT_FOUND', `no run with id ${runId}`);
  if (claimed) return run;
  const stopped = run.status === 'cancelled' || run.status === 'timed_out' || (run.status === 'failed' && run.report?.failure !== undefined);
  if (stopped || isInterrupted(run, now)) return run;
  throw ladingError('RUN_NOT_RESUMABLE', run.status === 'running'
    ? `run ${runId} is still running (pid ${run.owner ?? '?'}); pause or cancel it with \`lading runs pause|cancel ${runId}\``
    : `run ${runId} ended ${run.status}; retry its failed items with \`lading dlq retry ${runId}\``);
}

async function waitForSlot(store: Store, pipeline: string, execution: { max_parallel_runs: number; on_busy: 'refuse' | 'wait' }, clock: Clock, signal?: AbortSignal): Promise<void> {
  for (;;) {
    const live = await liveRuns(store, pipeline, clock.now());
    if (live.length < execution.max_parallel_runs) return;
    if (execution.on_busy === 'refuse') {
      throw ladingError('RUN_BUSY', `pipeline ${pipeline} already has ${live.length} run(s) going (${live.map((r) => r.id).join(', ')}); execution.max_parallel_runs is ${execution.max_parallel_runs}`);
    }
    await new Promise<void>((resolve) => setTimeout(resolve, 1000));
    signal?.throwIfAborted();
  }
}

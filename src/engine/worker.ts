import { deliveryPolicy } from '../config/delivery.js';
import type { ExecutionConfig } from '../config/execution.js';
import { loadRunPipeline } from '../config/load.js';
import { pick } from '../config/one-of.js';
import type { PipelineConfig } from '../config/pipeline.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { BuildContext } from '../core/component.js';
import { idempotencyKey } from '../core/idempotency.js';
import { randomIds, type IdGenerator } from '../core/ids.js';
import type { Item } from '../core/item.js';
import { registry as builtIns, type Registry } from '../core/registry.js';
import type { RunReport } from '../core/report.js';
import { classify } from '../errors/classify.js';
import { ladingError, type LadingError } from '../errors/lading-error.js';
import { notify } from '../notify/dispatch.js';
import type { RecordSink, RunContext } from '../sinks/types.js';
import type { ChunkCommit, ChunkLease, RunRecord, Store } from '../store/types.js';
import { mapColumns } from '../transform/map.js';
import { Executor } from './executor.js';
import { buildProcessor, type Processed } from '../transform/process.js';
import { itemOf } from './queue.js';
import { TokenBucket } from './rate-limit.js';
import { judge } from './report.js';
import { owner, runPipeline, storedReport } from './run.js';

export type WorkerEvent =
  | { readonly type: 'chunk_claimed'; readonly worker: string; readonly run_id: string; readonly chunk_index: number; readonly attempts: number; readonly taken_over_from: string | null; readonly whole: boolean }
  | { readonly type: 'chunk_committed'; readonly worker: string; readonly run_id: string; readonly chunk_index: number; readonly processed: number; readonly failed: number }
  | { readonly type: 'chunk_released'; readonly worker: string; readonly run_id: string; readonly chunk_index: number }
  | { readonly type: 'lease_lost'; readonly worker: string; readonly run_id: string; readonly chunk_index: number; readonly message: string }
  | { readonly type: 'job_finished'; readonly worker: string; readonly run_id: string; readonly status: RunReport['status'] }
  | { readonly type: 'worker_error'; readonly worker: string; readonly run_id: string | null; readonly code: string; readonly message: string };

export interface WorkerOptions {
  readonly store: Store;
  readonly dataDir: string;
  /** Names this worker in leases and events. Default host:pid. */
  readonly id?: string;
  /** Chunks worked at once. */
  readonly concurrency: number;
  /** How long a claim holds without a heartbeat; heartbeats go out three times per lease. */
  readonly leaseMs: number;
  /** How long an idle slot waits before asking for work again. Default 500 ms. */
  readonly pollMs?: number;
  readonly clock?: Clock;
  readonly ids?: IdGenerator;
  readonly registry?: Registry;
  readonly onEvent?: (event: WorkerEvent) => void;
}

/** What a worker keeps of a chunks job between its chunks: the parsed config and the opened sink. */
interface JobContext {
  readonly run: RunRecord;
  readonly config: PipelineConfig;
  readonly execution: ExecutionConfig;
  readonly sink: RecordSink;
  readonly runCtx: RunContext;
  readonly process: (items: readonly Item[]) => Processed;
  /** One rate limit per job and worker: execution.rate_limit holds per process, as for `lading run`. */
  readonly gate: TokenBucket;
}

/**
 * A `lading worker`: `concurrency` slots, each claiming a chunk lease from the store, working it
 * through the same executor as `lading run` (validate → map → sink, retries, breaker), and
 * committing it fenced by the lease token. The chunk table is the checkpoint: a chunk whose worker
 * died is claimed again once its lease expires. stop() ends claiming; chunks in flight finish,
 * and whole (file-output) runs stop at their next chunk boundary and give their lease back.
 */
export class Worker {
  readonly id: string;
  readonly #opts: WorkerOptions;
  readonly #clock: Clock;
  readonly #stop = new AbortController();
  readonly #jobs = new Map<string, Promise<JobContext>>();
  readonly #wholeRuns = new Set<AbortController>();

  constructor(opts: WorkerOptions) {
    this.#opts = opts;
    this.id = opts.id ?? owner();
    this.#clock = opts.clock ?? systemClock;
  }

  /** Works until stop(); resolves once every slot is idle and the sinks are closed. */
  async run(): Promise<void> {
    await Promise.all(Array.from({ length: this.#opts.concurrency }, () => this.#slot()));
    for (const runId of [...this.#jobs.keys()]) await this.#closeJob(runId);
  }

  stop(): void {
    this.#stop.abort();
    for (const run of this.#wholeRuns) run.abort();
  }

  #emit(event: WorkerEvent): void {
    this.#opts.onEvent?.(event);
  }

  async #slot(): Promise<void> {
    const { store, leaseMs } = this.#opts;
    while (!this.#stop.signal.aborted) {
      let lease: ChunkLease | null = null;
      try {
        lease = await store.claimChunk(this.id, leaseMs, this.#clock.now());
        if (lease === null) {
          await this.#clock.sleep(this.#opts.pollMs ?? 500, this.#stop.signal).catch(() => {});
          continue;
        }
        this.#emit({ type: 'chunk_claimed', worker: this.id, run_id: lease.runId, chunk_index: lease.index, attempts: lease.attempts, taken_over_from: lease.takenOverFrom, whole: lease.items === null });
        if (lease.items === null) await this.#runWhole(lease);
        else await this.#runChunk(lease, lease.items.map(itemOf));
      } catch (error) {
        await this.#failed(lease, classify(error, { ioCode: 'UNCLASSIFIED', doing: lease ? `working chunk ${lease.index} of ${lease.runId}` : 'claiming work' }));
      }
    }
  }

  /**
   * A lost lease is someone else's chunk now. Anything else: a transient fault gives the chunk back
   * for another try; a permanent one (a config that no longer parses, a sink that cannot open)
   * would fail on every worker, so it fails the job.
   */
  async #failed(lease: ChunkLease | null, error: LadingError): Promise<void> {
    const runId = lease?.runId ?? null;
    if (lease && error.code === 'STORE_LEASE_LOST') {
      this.#emit({ type: 'lease_lost', worker: this.id, run_id: lease.runId, chunk_index: lease.index, message: error.message });
      return;
    }
    this.#emit({ type: 'worker_error', worker: this.id, run_id: runId, code: error.code, message: error.message });
    try {
      if (lease && !error.transient) await this.#finishJob(lease, error);
      else if (lease) await this.#opts.store.releaseChunk(lease.token);
    } catch {
      // The store is not answering either: the lease runs out and another worker takes the chunk.
    }
    if (error.transient) await this.#clock.sleep(this.#opts.pollMs ?? 500, this.#stop.signal).catch(() => {});
  }

  async #runChunk(lease: ChunkLease, items: Item[]): Promise<void> {
    const { store } = this.#opts;
    const job = await this.#job(lease.runId);
    // The run's counters so far: execution.failure_threshold judges the whole job, not this chunk alone.
    const run = await store.getRun(lease.runId);
    const fenced = fencedStore(store, lease, this.#opts.leaseMs, (report) => store.finishLeasedJob(lease.token, report));
    const start = { processed: run?.processed ?? 0, succeeded: run?.succeeded ?? 0, failed: run?.failed ?? 0, warnings: run?.warnings ?? 0, retries: 0 };
    let stop: LadingError | undefined;
    if (items.length === 0) {
      await fenced.store.commitChunk(lease.runId, { index: lease.index, lastSeq: 0, processed: 0, succeeded: 0, failed: 0, warnings: 0, errors: [], at: this.#clock.now() });
    } else {
      const executor = new Executor({
        runId: lease.runId, lineage: job.run.lineage, sink: job.sink, store: fenced.store, clock: this.#clock, signal: job.runCtx.signal,
        execution: job.execution, owner: this.id, heartbeatMs: Math.max(100, Math.floor(this.#opts.leaseMs / 3)), gate: job.gate,
        process: job.process, idempotencyKey,
        onChunk: (chunk) => this.#emit({
          type: 'chunk_committed', worker: this.id, run_id: lease.runId, chunk_index: chunk.index,
          processed: chunk.counts.processed - start.processed, failed: chunk.counts.failed - start.failed,
        }),
      }, { counts: start, nextIndex: lease.index });
      stop = (await executor.run(once(items))).stop;
    }
    if (stop?.code === 'STORE_LEASE_LOST') throw stop;
    if (stop !== undefined || fenced.last) await this.#finishJob(lease, stop);
  }

  /** Ends a chunks job: the report from the store's counters and errors, written fenced by the lease. */
  async #finishJob(lease: ChunkLease, stop: LadingError | undefined): Promise<void> {
    const { store } = this.#opts;
    const run = await store.getRun(lease.runId);
    if (run === null) return;
    const { config } = loadRunPipeline(run);
    const counts = { processed: run.processed, succeeded: run.succeeded, failed: run.failed, warnings: run.warnings, retries: 0 };
    const status = judge(counts, config.execution.success_threshold, stop);
    const completedAt = this.#clock.now();
    const report = await storedReport(store, {
      runId: run.id, pipeline: run.pipeline, mode: run.mode, status, batchId: run.batchId, parentRunId: run.parentRunId, source: run.source,
      startedAt: run.createdAt, completedAt, total: lease.total ?? undefined, counts, files: [], checkpoint: run.lastCheckpoint, fatal: stop,
    }, config.execution.max_report_errors);
    await store.finishLeasedJob(lease.token, report);
    if (run.batchId !== null && (status === 'completed' || status === 'completed_with_errors')) await store.completeBatch(run.batchId, run.id, completedAt);
    this.#emit({ type: 'job_finished', worker: this.id, run_id: run.id, status });
    await this.#closeJob(run.id);
    await notify(config.notify, { type: 'run_finished', report }, { store, clock: this.#clock });
  }

  /** A file-output job: this worker runs it start to end as `lading run --resume` would, its writes fenced by the lease. */
  async #runWhole(lease: ChunkLease): Promise<void> {
    const { store } = this.#opts;
    const run = await store.getRun(lease.runId);
    if (run === null) return;
    const controller = new AbortController();
    this.#wholeRuns.add(controller);
    if (this.#stop.signal.aborted) controller.abort();
    let released = false;
    const fenced = fencedStore(store, lease, this.#opts.leaseMs, async (report) => {
      // Stopped by stop(), not by an operator: the run goes back to the queue with its checkpoint.
      if (this.#stop.signal.aborted && report.status === 'cancelled') {
        released = true;
        await store.releaseChunk(lease.token);
      } else {
        await store.finishLeasedJob(lease.token, report);
      }
    });
    try {
      const report = await runPipeline(loadRunPipeline(run), {
        store: fenced.store, dataDir: this.#opts.dataDir, clock: this.#clock, ids: this.#opts.ids ?? randomIds, signal: controller.signal,
        resume: run.id, claimed: true, heartbeatMs: Math.max(100, Math.floor(this.#opts.leaseMs / 3)),
        ...(this.#opts.registry ? { registry: this.#opts.registry } : {}),
      });
      this.#emit(released
        ? { type: 'chunk_released', worker: this.id, run_id: run.id, chunk_index: lease.index }
        : { type: 'job_finished', worker: this.id, run_id: run.id, status: report.status });
    } finally {
      this.#wholeRuns.delete(controller);
    }
  }

  #job(runId: string): Promise<JobContext> {
    let job = this.#jobs.get(runId);
    if (job === undefined) {
      job = this.#openJob(runId);
      this.#jobs.set(runId, job);
      job.catch(() => this.#jobs.delete(runId));
      void this.#closeFinishedJobs(runId);
    }
    return job;
  }

  async #openJob(runId: string): Promise<JobContext> {
    const { store } = this.#opts;
    const run = await store.getRun(runId);
    if (run === null) throw ladingError('STORE_RUN_NOT_FOUND', `worker: no run ${runId}`);
    const loaded = loadRunPipeline(run);
    const { config } = loaded;
    const build: BuildContext = {
      pipeline: config.name, baseDir: loaded.baseDir, dataDir: this.#opts.dataDir, clock: this.#clock, ids: this.#opts.ids ?? randomIds, store,
      delivery: deliveryPolicy(config.delivery),
      ...(run.batchId === null ? {} : { batchId: run.batchId }),
    };
    const sink = pick((this.#opts.registry ?? builtIns).sinks, config.output).create(config.output, build);
    const columns = config.map ? mapColumns(config.map) : undefined;
    // In-flight chunks finish when the worker stops: only the worker's own end aborts them.
    const runCtx: RunContext = {
      runId, pipeline: config.name, batchId: run.batchId ?? runId, createdAt: run.createdAt, signal: new AbortController().signal, mode: 'full',
      ...(columns ? { columns } : {}), emit: () => {},
    };
    await sink.open(runCtx);
    const { execution } = config;
    return {
      run, config, execution, sink, runCtx, process: buildProcessor(config),
      gate: new TokenBucket(this.#clock, execution.rate_limit?.per_second, execution.rate_limit?.burst),
    };
  }

  /** On the first chunk of another job: sinks of jobs that ended meanwhile are closed. */
  async #closeFinishedJobs(current: string): Promise<void> {
    for (const runId of [...this.#jobs.keys()]) {
      if (runId === current) continue;
      const run = await this.#opts.store.getRun(runId).catch(() => undefined);
      if (run === null || (run !== undefined && run.status !== 'queued' && run.status !== 'running')) await this.#closeJob(runId);
    }
  }

  async #closeJob(runId: string): Promise<void> {
    const job = this.#jobs.get(runId);
    this.#jobs.delete(runId);
    const opened = await job?.catch(() => undefined);
    await opened?.sink.close(opened.runCtx, 'completed').catch(() => {});
  }
}

async function* once(items: Item[]): AsyncIterable<Item[]> {
  yield items;
}

/**
 * The store as one lease holder sees it: the run's commits, heartbeats and end go through the
 * lease token, so the executor and runPipeline work unchanged and a holder whose lease was taken
 * over records nothing. `last` says whether the chunk committed was the job's last one.
 */
function fencedStore(store: Store, lease: ChunkLease, leaseMs: number, finish: (report: RunReport) => Promise<void>): { readonly store: Store; readonly last: boolean } {
  const state = { last: false };
  // Each commit checks the lease in a transaction of its own.
  const commitLeased = async (commits: readonly ChunkCommit[]): Promise<void> => {
    for (const commit of commits) state.last = (await store.commitLeasedChunk(lease.token, commit)).last;
  };
  const overrides: Partial<Store> = {
    commitChunk: (_runId, commit) => commitLeased([commit]),
    commitChunks: (_runId, commits) => commitLeased(commits),
    heartbeat: (_runId, _owner, at) => store.extendLease(lease.token, leaseMs, at),
    finishRun: (_runId, report) => finish(report),
  };
  const proxy = new Proxy(store, {
    get(target, key) {
      if (key in overrides) return overrides[key as keyof Store];
      const value: unknown = Reflect.get(target, key, target);
      // Store methods use private fields: they must run with the store itself as `this`.
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: proxy, get last() { return state.last; } };
}

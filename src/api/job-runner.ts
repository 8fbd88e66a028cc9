import { EventEmitter } from 'node:events';
import type { LoadedPipeline } from '../config/load.js';
import type { Clock } from '../core/clock.js';
import type { IdGenerator } from '../core/ids.js';
import type { RunMode, RunReport } from '../core/report.js';
import { dryRun, type DryRunReport } from '../engine/dry-run.js';
import { submitJob } from '../engine/queue.js';
import { runPipeline, type RunEvent } from '../engine/run.js';
import { classify } from '../errors/classify.js';
import { ladingError, type LadingError } from '../errors/lading-error.js';
import type { Source } from '../sources/types.js';
import type { Store } from '../store/types.js';

export interface JobRequest {
  readonly pipeline: LoadedPipeline;
  /** Owner of the API key that submitted it. */
  readonly submittedBy: string;
  readonly mode: RunMode;
  readonly priority: number;
  readonly chunkSize?: number;
  readonly sampleSize?: number;
  /** A dead-letter retry: the items and the run they come from. */
  readonly source?: { readonly source: Source; readonly parentRunId: string };
  /** Runs after the report is stored (a retry marks its dead letters retried). */
  readonly after?: (report: RunReport) => Promise<void>;
}

/**
 * A job of this process. Until its run row exists (queued, or waiting for a slot) it lives only
 * here; once running, the store is the truth and `events` carries its RunEvents. A dry run
 * stores nothing: its report stays here.
 */
export interface Job {
  readonly id: string;
  readonly pipeline: string;
  readonly submittedBy: string;
  readonly mode: RunMode;
  readonly priority: number;
  readonly submittedAt: Date;
  state: 'queued' | 'running' | 'done';
  total: number | null;
  /** Emits 'event' (RunEvent) and 'end' (once, when the job is over). */
  readonly events: EventEmitter;
  report?: RunReport;
  dryRun?: DryRunReport;
  error?: LadingError;
}

interface Entry {
  readonly job: Job;
  readonly request: JobRequest;
  readonly controller: AbortController;
}

/** Jobs that ended without a run in the store (dry runs, jobs refused before they started) kept for GET /v1/jobs/{id}; older ones are dropped. */
const keptJobs = 200;

/**
 * Runs submitted jobs in this process: by priority (higher first) then submission order, at most
 * `concurrency` at a time. Shutdown stops taking jobs and cancels running ones at their next
 * chunk boundary (checkpointed: `lading run --resume` continues them); queued ones are dropped.
 */
export class JobRunner {
  readonly #queue: Entry[] = [];
  readonly #active = new Map<string, Entry>();
  readonly #running = new Set<Promise<void>>();
  readonly #kept = new Map<string, Job>();
  #closing = false;

  constructor(private readonly opts: {
    readonly store: Store; readonly dataDir: string; readonly clock: Clock; readonly ids: IdGenerator; readonly concurrency: number;
    /** Sees the RunEvents of every job (metrics, log). */
    readonly onEvent?: (event: RunEvent) => void;
    /** Full runs of the pipeline's (or the request's) source go to the store's queue for `lading worker`s instead of running here. */
    readonly queue?: boolean;
  }) {}

  submit(request: JobRequest): Job {
    if (this.#closing) throw ladingError('API_SHUTTING_DOWN', 'the server is shutting down and takes no new jobs');
    const job: Job = {
      id: this.opts.ids.next(request.mode === 'dry_run' ? 'dry' : 'run'), pipeline: request.pipeline.config.name, submittedBy: request.submittedBy,
      mode: request.mode, priority: request.priority, submittedAt: this.opts.clock.now(), state: 'queued', total: null, events: new EventEmitter(),
    };
    job.events.setMaxListeners(0);
    const entry: Entry = { job, request, controller: new AbortController() };
    this.#active.set(job.id, entry);
    // Stable: among equal priorities, the earlier submission stays ahead.
    const at = this.#queue.findIndex((e) => e.job.priority < job.priority);
    this.#queue.splice(at === -1 ? this.#queue.length : at, 0, entry);
    this.#pump();
    return job;
  }

  /** A job of this process still queued or running, or one that ended without a stored run. */
  get(id: string): Job | undefined {
    return this.#active.get(id)?.job ?? this.#kept.get(id);
  }

  /** Drops a queued job; false when it already started (cancel it through the store). */
  cancelQueued(id: string): boolean {
    const at = this.#queue.findIndex((e) => e.job.id === id);
    if (at === -1) return false;
    const [entry] = this.#queue.splice(at, 1);
    this.#finish(entry!, ladingError('RUN_CANCELLED', `job ${id} was cancelled before it started`));
    return true;
  }

  /** Cancels a job running in this process at once, as Ctrl-C does for `lading run`: the chunk in flight is not committed. */
  abort(id: string): void {
    this.#active.get(id)?.controller.abort();
  }

  async shutdown(): Promise<void> {
    this.#closing = true;
    for (const entry of this.#queue.splice(0)) this.#finish(entry, ladingError('API_SHUTTING_DOWN', `job ${entry.job.id} was dropped: the server shut down before it started`));
    for (const entry of this.#active.values()) entry.controller.abort();
    await Promise.all(this.#running);
  }

  #pump(): void {
    while (!this.#closing && this.#running.size < this.opts.concurrency && this.#queue.length > 0) {
      const entry = this.#queue.shift()!;
      const done = this.#run(entry).finally(() => {
        this.#running.delete(done);
        this.#pump();
      });
      this.#running.add(done);
    }
  }

  async #run(entry: Entry): Promise<void> {
    const { job, request, controller } = entry;
    const { store, dataDir } = this.opts;
    job.state = 'running';
    try {
      // Dry runs store nothing and samples are small: both stay here; so do dead-letter retries, whose items come from this process.
      if (this.opts.queue && request.mode === 'full' && request.source === undefined) {
        await submitJob(request.pipeline, {
          store, dataDir, clock: this.opts.clock, ids: this.opts.ids, runId: job.id, submittedBy: job.submittedBy, priority: job.priority,
          ...(request.chunkSize === undefined ? {} : { chunkSize: request.chunkSize }),
        });
        this.#finish(entry);
        return;
      }
      if (request.mode === 'dry_run') {
        job.dryRun = await dryRun(request.pipeline, { store, dataDir });
        this.#finish(entry);
        return;
      }
      const report = await runPipeline(request.pipeline, {
        store, dataDir, clock: this.opts.clock, ids: this.opts.ids, signal: controller.signal, runId: job.id, submittedBy: job.submittedBy,
        ...(request.chunkSize === undefined ? {} : { chunkSize: request.chunkSize }),
        ...(request.mode === 'sample' ? { sample: request.sampleSize ?? 5 } : {}),
        ...(request.source === undefined ? {} : { source: request.source }),
        onEvent: (event: RunEvent) => {
          if (event.type === 'run_started') job.total = event.total;
          this.opts.onEvent?.(event);
          job.events.emit('event', event);
        },
      });
      job.report = report;
      await request.after?.(report);
      this.#finish(entry);
    } catch (error) {
      this.#finish(entry, classify(error, { ioCode: 'UNCLASSIFIED', doing: `running job ${job.id}` }));
    }
  }

  #finish(entry: Entry, error?: LadingError): void {
    const { job } = entry;
    if (error !== undefined) job.error = error;
    job.state = 'done';
    this.#active.delete(job.id);
    if (job.dryRun !== undefined || job.error !== undefined) {
      this.#kept.set(job.id, job);
      for (const id of [...this.#kept.keys()].slice(0, Math.max(0, this.#kept.size - keptJobs))) this.#kept.delete(id);
    }
    job.events.emit('end');
  }
}

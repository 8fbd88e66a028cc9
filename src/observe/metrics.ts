import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { RunEvent } from '../engine/run.js';
import type { ActiveLeases, DeliveryState, InboxStats } from '../store/types.js';
import type { SchedulerEvent } from '../triggers/scheduler.js';

/**
 * lading's Prometheus metrics, on a registry of their own (never prom-client's global one, so two
 * servers in one process do not mix). Counters and histograms are fed by the RunEvents and
 * SchedulerEvents the engine already emits, so the engine and the sinks know nothing of
 * Prometheus; gauges of state (queue depth, breaker) are set from the store at each scrape.
 * Labels are pipeline names and small fixed sets (error_type, flush_reason, status): never ids.
 * prom-client's default process metrics (CPU, memory, event loop lag, GC) are on the same registry.
 */

/** A served pipeline as a scrape reads it from the store. */
export interface PipelineState {
  readonly pipeline: string;
  /** null: the pipeline does not read from an inbox. */
  readonly inbox: InboxStats | null;
  readonly nextTrigger: Date | null;
  readonly delivery: DeliveryState;
  /** Runs of the pipeline whose heartbeat (their lease) is fresh. */
  readonly activeRuns: number;
}

/** Per run, between its events: when the current file started rendering, and whether the sink writes files. */
interface RunMark {
  readonly pipeline: string;
  since: number;
  files: boolean;
}

const durationBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export class Metrics {
  readonly registry = new Registry();
  readonly #clock: Clock;
  readonly #runs = new Map<string, RunMark>();

  readonly #ingested = this.#counter('lading_records_ingested_total', 'Records accepted into a pipeline\'s inbox (committed).', ['pipeline']);
  readonly #delivered = this.#counter('lading_records_delivered_total', 'Records delivered by full runs: in delivered files, or accepted by the sink.', ['pipeline']);
  readonly #failed = this.#counter('lading_records_failed_total', 'Records that failed in full runs (dead letters), by error type.', ['pipeline', 'error_type']);
  readonly #retries = this.#counter('lading_item_retries_total', 'Item retries made by runs (transient failures tried again).', ['pipeline']);
  readonly #batches = this.#counter('lading_batches_cut_total', 'Batches cut from an inbox, by the trigger that cut them.', ['pipeline', 'flush_reason']);
  readonly #deliveryRetries = this.#counter('lading_delivery_retries_total', 'File puts tried again after a transient failure, by error code.', ['pipeline', 'code']);
  readonly #transferred = this.#counter('lading_transfer_bytes_total', 'Bytes of files delivered to destinations (rate() gives bytes/s).', ['pipeline']);
  readonly #runDuration = this.#histogram('lading_run_duration_seconds', 'Duration of runs (a batch delivery or a job), by final status.', ['pipeline', 'status'], durationBuckets);
  readonly #generation = this.#histogram('lading_file_generation_duration_seconds', 'Time to render one file: from the run start (or the previous file) to the file staged.', ['pipeline'], durationBuckets);
  readonly #delivery = this.#histogram('lading_delivery_duration_seconds', 'Duration of the successful put of one file to its destination.', ['pipeline'], durationBuckets);
  readonly #compression = this.#histogram('lading_compression_ratio', 'Encoded bytes / bytes written per rendered file (1 without a codec; encryption adds a little).', ['pipeline'], [0.9, 1, 1.5, 2, 3, 4, 6, 8, 12, 20, 50]);

  readonly #pending = this.#gauge('lading_queue_depth', 'Pending inbox records, by priority ("none": records ingested without one).', ['pipeline', 'priority']);
  readonly #pendingBytes = this.#gauge('lading_queue_bytes', 'Size of the pending inbox records as ingested.', ['pipeline']);
  readonly #oldest = this.#gauge('lading_oldest_pending_age_seconds', 'Age of the oldest pending inbox record (absent when none is pending).', ['pipeline']);
  readonly #nextBatch = this.#gauge('lading_next_batch_seconds', 'Seconds until the next time-based trigger fires (absent when none is scheduled; 0 when due).', ['pipeline']);
  readonly #breaker = this.#gauge('lading_delivery_breaker_open', '1 while the pipeline\'s delivery circuit breaker is open.', ['pipeline']);
  readonly #suspended = this.#gauge('lading_deliveries_suspended', '1 while the pipeline\'s deliveries are suspended, waiting for an operator.', ['pipeline']);
  readonly #failures = this.#gauge('lading_delivery_consecutive_failures', 'Deliveries failed in a row (what opens the breaker).', ['pipeline']);
  readonly #active = this.#gauge('lading_active_runs', 'Runs holding a live lease (fresh heartbeat), in any process sharing the store.', ['pipeline']);
  readonly #leases = this.#gauge('lading_active_leases', 'Chunk leases (kind chunks) and whole-job leases (kind whole) held by workers now, in any process sharing the store.', ['pipeline', 'kind']);
  readonly #leader = this.#gauge('lading_scheduler_leader', '1 while this process holds the cluster\'s scheduler lease, so it is the one cutting batches.', []);

  constructor(clock: Clock) {
    this.#clock = clock;
    collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  ingested(pipeline: string, records: number): void {
    if (records > 0) this.#ingested.inc({ pipeline }, records);
  }

  onRunEvent(event: RunEvent): void {
    const now = this.#clock.now().getTime();
    switch (event.type) {
      case 'run_started':
        this.#runs.set(event.run_id, { pipeline: event.pipeline, since: now, files: false });
        return;
      case 'file_rendered': {
        const mark = this.#runs.get(event.run_id);
        if (mark === undefined) return;
        this.#generation.observe({ pipeline: mark.pipeline }, (now - mark.since) / 1000);
        if (event.bytes > 0) this.#compression.observe({ pipeline: mark.pipeline }, event.encoded_bytes / event.bytes);
        mark.since = now;
        mark.files = true;
        return;
      }
      case 'file_delivered': {
        const pipeline = this.#runs.get(event.run_id)?.pipeline;
        if (pipeline === undefined) return;
        this.#transferred.inc({ pipeline }, event.file.bytes);
        if (event.file.duration_ms !== undefined) this.#delivery.observe({ pipeline }, event.file.duration_ms / 1000);
        return;
      }
      case 'delivery_retry': {
        const pipeline = this.#runs.get(event.run_id)?.pipeline;
        if (pipeline !== undefined) this.#deliveryRetries.inc({ pipeline, code: event.code });
        return;
      }
      case 'run_finished': {
        const mark = this.#runs.get(event.run_id);
        this.#runs.delete(event.run_id);
        const { report } = event;
        const pipeline = report.pipeline;
        this.#runDuration.observe({ pipeline, status: report.status }, report.summary.duration_seconds);
        if (report.mode !== 'full') return;
        // A file sink delivers only what its files carry (nothing when the run aborted); other sinks deliver each item they accept.
        const delivered = mark?.files ? report.artifacts.files.reduce((n, f) => n + f.records, 0) : report.summary.succeeded;
        if (delivered > 0) this.#delivered.inc({ pipeline }, delivered);
        for (const [errorType, n] of Object.entries(report.error_categories)) this.#failed.inc({ pipeline, error_type: errorType }, n);
        if (report.summary.retries > 0) this.#retries.inc({ pipeline }, report.summary.retries);
        return;
      }
      default:
    }
  }

  onSchedulerEvent(event: SchedulerEvent): void {
    if (event.type === 'batch_cut') this.#batches.inc({ pipeline: event.pipeline, flush_reason: event.reason });
  }

  /** Replaces the state gauges with what the store holds now; pipelines no longer served disappear. */
  observePipelines(states: readonly PipelineState[]): void {
    const now = this.#clock.now().getTime();
    for (const gauge of [this.#pending, this.#pendingBytes, this.#oldest, this.#nextBatch, this.#breaker, this.#suspended, this.#failures, this.#active]) gauge.reset();
    for (const s of states) {
      const pipeline = s.pipeline;
      if (s.inbox !== null) {
        const prioritized = s.inbox.priorities.reduce((n, p) => n + p.count, 0);
        this.#pending.set({ pipeline, priority: 'none' }, s.inbox.pending - prioritized);
        for (const p of s.inbox.priorities) this.#pending.set({ pipeline, priority: String(p.priority) }, p.count);
        this.#pendingBytes.set({ pipeline }, s.inbox.bytes);
        if (s.inbox.oldest !== null) this.#oldest.set({ pipeline }, Math.max(0, (now - s.inbox.oldest.getTime()) / 1000));
      }
      if (s.nextTrigger !== null) this.#nextBatch.set({ pipeline }, Math.max(0, (s.nextTrigger.getTime() - now) / 1000));
      this.#breaker.set({ pipeline }, s.delivery.breakerOpenedAt === null ? 0 : 1);
      this.#suspended.set({ pipeline }, s.delivery.suspendedAt === null ? 0 : 1);
      this.#failures.set({ pipeline }, s.delivery.failures);
      this.#active.set({ pipeline }, s.activeRuns);
    }
  }

  /** Replaces the cluster gauges: the work leases the store holds now, and whether this process leads the scheduling. */
  observeCluster(leases: readonly ActiveLeases[], leader: boolean): void {
    this.#leases.reset();
    for (const l of leases) this.#leases.set({ pipeline: l.pipeline, kind: l.kind }, l.count);
    this.#leader.set(leader ? 1 : 0);
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  #counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  #gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  #histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }
}

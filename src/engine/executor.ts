import type { Clock } from '../core/clock.js';
import type { Item } from '../core/item.js';
import type { ExecutionConfig } from '../config/execution.js';
import { classify } from '../errors/classify.js';
import { ladingError, type LadingError } from '../errors/lading-error.js';
import type { ChunkContext, RecordSink } from '../sinks/types.js';
import type { Attempt, ChunkCommit, ItemErrorRecord, RunControl, Store } from '../store/types.js';
import { judgeChunk } from './breaker.js';
import { readAhead } from './read-ahead.js';
import type { Processed } from '../transform/process.js';
import type { TokenBucket } from './rate-limit.js';
import type { Counts } from './report.js';
import { retryDelay } from '../core/retry.js';
import { parseUnparsed } from '../sources/file/ndjson.js';

/** A failure that stays: its last error, how many tries it took, and every try. */
interface Failure {
  readonly error: LadingError;
  readonly attempts: number;
  readonly history: readonly Attempt[];
  /** Further validation failures of the same item (every broken field is reported). */
  readonly more?: readonly LadingError[];
}

/** What a chunk's writes found besides the sink's own failures: unparsed items that were invalid, and their warnings. */
interface Found {
  readonly invalid: Map<string, LadingError[]>;
  readonly warnings: Map<string, LadingError[]>;
}

interface SettledChunk {
  /** Every item, kept only when the commit must record failures or warnings for some of them. */
  readonly items: Item[] | undefined;
  readonly count: number;
  readonly last: Item;
  readonly failures: Map<string, Failure>;
  readonly warnings: Map<string, LadingError[]>;
  /** Items handed to the sink, and how many of them it failed for good: what the breaker judges. */
  readonly sent: number;
  readonly failedAtSink: number;
  readonly retries: number;
  readonly startedAt: number;
}

export interface ChunkEvent {
  readonly index: number;
  readonly counts: Counts;
  readonly durationMs: number;
}

export interface ExecutorDeps {
  readonly runId: string;
  /** Idempotency keys derive from the first run of a retry chain. */
  readonly lineage: string;
  readonly sink: RecordSink;
  readonly store: Store;
  readonly clock: Clock;
  readonly gate: TokenBucket;
  readonly execution: ExecutionConfig;
  readonly process: (items: readonly Item[]) => Processed;
  readonly idempotencyKey: (lineage: string, items: readonly Item[]) => string;
  readonly signal: AbortSignal;
  /** host:pid, written with each heartbeat. */
  readonly owner: string;
  readonly heartbeatMs: number;
  readonly onChunk: (event: ChunkEvent) => void;
  readonly onPause?: (paused: boolean) => void;
}

export interface ExecutionResult {
  readonly counts: Counts;
  /** Why the run stopped before its input ended, if it did. */
  readonly stop: LadingError | undefined;
  readonly checkpoint: { readonly chunkIndex: number; readonly processed: number; readonly at: Date } | null;
}

/**
 * Runs chunks through validate → map → sink with up to `concurrency` chunks in flight, retries
 * transient item failures on the run's clock, isolates poison records by bisecting permanent
 * group failures, and commits each chunk's outcome to the store in index order — so the
 * checkpoint only ever moves past chunks that are entirely settled.
 */
export class Executor {
  private readonly counts: Counts;
  private stop: LadingError | undefined;
  private control: RunControl | null = null;
  private checkpoint: ExecutionResult['checkpoint'] = null;
  private readonly settled = new Map<number, SettledChunk>();
  private nextCommit: number;
  private commits: Promise<void> = Promise.resolve();
  private breakerUntil = 0;
  private lastBeat = 0;
  private readonly deadline: number | undefined;

  constructor(private readonly deps: ExecutorDeps, start: { readonly counts: Counts; readonly nextIndex: number }) {
    this.counts = { ...start.counts };
    this.nextCommit = start.nextIndex;
    const max = deps.execution.max_duration;
    this.deadline = max === undefined ? undefined : deps.clock.now().getTime() + max;
  }

  async run(chunks: AsyncIterable<Item[]>): Promise<ExecutionResult> {
    const { deps } = this;
    const concurrency = deps.sink.ordering === 'ordered' ? 1 : deps.execution.concurrency;
    const inflight = new Set<Promise<void>>();
    const heartbeat = setInterval(() => void this.beat(), deps.heartbeatMs);
    heartbeat.unref();
    let index = this.nextCommit;
    const source = readAhead(chunks);
    /**
     * Takes the next chunk and starts it; false once the input ends or the run stops. A chunk is
     * held only by this call's frame, which ends when the chunk has started: in a loop of `run`'s
     * own, the chunk stayed in its registers while the next one was read, and V8's collections
     * copied those items too (docs/benchmarks.md, machine T).
     */
    const startNext = async (): Promise<boolean> => {
      const next = await source.next();
      if (next.done) return false;
      await this.awaitTurn();
      if (this.stop) return false;
      while (inflight.size >= concurrency) await Promise.race(inflight);
      // A cancel while waiting for a free slot: no chunk is handed to the sink after it.
      if (deps.signal.aborted) this.stop ??= ladingError('RUN_CANCELLED', 'the run was cancelled');
      if (this.stop) return false;
      const task = this.process(index++, next.value).catch((error: unknown) => {
        this.stop ??= deps.signal.aborted ? ladingError('RUN_CANCELLED', 'the run was cancelled') : classify(error, { ioCode: 'SOURCE_READ_FAILED', doing: 'running a chunk' });
      });
      inflight.add(task);
      void task.finally(() => inflight.delete(task));
      return true;
    };
    try {
      while (await startNext()) {
        // each call started one chunk
      }
    } catch (error) {
      this.stop ??= deps.signal.aborted ? ladingError('RUN_CANCELLED', 'the run was cancelled') : classify(error, { ioCode: 'SOURCE_READ_FAILED', doing: 'reading the source' });
    } finally {
      // A run that stopped early closes its source, as leaving a `for await` did (once the input ended, nothing to do).
      await source.return();
      await Promise.all(inflight);
      await this.commits;
      clearInterval(heartbeat);
    }
    return { counts: this.counts, stop: this.stop, checkpoint: this.checkpoint };
  }

  /** Waits at a chunk boundary while paused (by another process or the breaker); notes cancel and max_duration. */
  private async awaitTurn(): Promise<void> {
    const { deps } = this;
    // Another terminal's pause or cancel should not wait for the next heartbeat: look at most 4 times a second.
    if (Date.now() - this.lastBeat >= 250) await this.beat();
    let announced = false;
    for (;;) {
      if (deps.signal.aborted || this.control === 'cancel') this.stop ??= ladingError('RUN_CANCELLED', 'the run was cancelled');
      if (this.deadline !== undefined && deps.clock.now().getTime() >= this.deadline) {
        this.stop ??= ladingError('RUN_TIMED_OUT', `the run went over execution.max_duration (${deps.execution.max_duration} ms)`);
      }
      if (this.stop) break;
      const breakerWait = this.breakerUntil - deps.clock.now().getTime();
      if (this.control !== 'pause' && breakerWait <= 0) break;
      if (!announced) deps.onPause?.(true);
      announced = true;
      if (breakerWait > 0) await deps.clock.sleep(breakerWait, deps.signal).catch(() => {});
      else await new Promise<void>((resolve) => setTimeout(resolve, Math.min(250, deps.heartbeatMs))); // not unref'd: a paused run must keep its process alive
      if (this.control === 'pause') await this.beat();
    }
    if (announced) deps.onPause?.(false);
  }

  private async beat(): Promise<void> {
    this.lastBeat = Date.now();
    try {
      this.control = (await this.deps.store.heartbeat(this.deps.runId, this.deps.owner, this.deps.clock.now())).control;
    } catch {
      // A missed heartbeat is not fatal: the next one, or the next commit, will tell.
    }
  }

  private async process(index: number, items: Item[]): Promise<void> {
    const startedAt = Date.now();
    const { ok, failures: invalid, warnings } = this.deps.process(items);
    const found: Found = { invalid, warnings };
    const invalidBefore = invalid.size;
    const delivered = await this.deliver(ok, index, found);
    const failures = new Map<string, Failure>();
    for (const [id, [first, ...more]] of invalid) failures.set(id, { error: first!, attempts: 1, history: [], more });
    for (const [id, failure] of delivered.failures) failures.set(id, failure);
    // Unparsed items the sink's threads found invalid were never sent: the breaker does not judge them.
    const sent = ok.length - (invalid.size - invalidBefore);
    // A chunk with nothing to record lets its items go now: the next chunk is read while this one's
    // checkpoint waits for its fsync, and items kept through that were most of what each of V8's
    // young-generation collections had to copy (docs/benchmarks.md, machine T).
    const keep = failures.size > 0 || warnings.size > 0 ? items : undefined;
    this.settled.set(index, { items: keep, count: items.length, last: items.at(-1)!, failures, warnings, sent, failedAtSink: delivered.failures.size, retries: delivered.retries, startedAt });
    return this.enqueueCommits();
  }

  /** Sends items to the sink; transient failures are retried on the schedule, permanent ones stay. */
  private async deliver(items: Item[], index: number, found: Found): Promise<{ failures: Map<string, Failure>; retries: number }> {
    const { deps } = this;
    const policy = deps.execution.retry;
    const failures = new Map<string, Failure>();
    const history = new Map<string, Attempt[]>();
    let pending = items;
    let retries = 0;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const errors = await this.writeOnce(pending, index, attempt, found);
      if (errors.size === 0) break;
      const again: Item[] = [];
      let retryAfter = 0;
      const at = deps.clock.now().toISOString();
      for (const item of pending) {
        const error = errors.get(item.id);
        if (!error) continue;
        const tries = [...(history.get(item.id) ?? []), { attempt, code: error.code, message: error.message, at }];
        history.set(item.id, tries);
        if (error.transient && attempt < policy.attempts && !deps.signal.aborted) {
          again.push(item);
          retryAfter = Math.max(retryAfter, error.retryAfterMs ?? 0);
        } else {
          failures.set(item.id, { error, attempts: attempt, history: tries });
        }
      }
      if (again.length === 0) break;
      retries += again.length;
      await deps.clock.sleep(retryDelay(policy, attempt, retryAfter), deps.signal);
      pending = again;
    }
    return { failures, retries };
  }

  /** One write of `items`; a permanent failure shared by several items is bisected to find the bad ones. */
  private async writeOnce(items: Item[], index: number, attempt: number, found: Found): Promise<Map<string, LadingError>> {
    const { deps } = this;
    if (items.length === 0) return new Map();
    const ctx: ChunkContext = {
      signal: deps.signal, runId: deps.runId, lineage: deps.lineage, chunkIndex: index, attempt, gate: deps.gate, timeoutMs: deps.execution.timeout,
      idempotencyKey: (group) => deps.idempotencyKey(deps.lineage, group),
    };
    let failures: ReadonlyMap<string, LadingError>;
    try {
      const written = await deps.sink.write({ runId: deps.runId, index, items }, ctx);
      failures = written.failures;
      for (const [id, errors] of written.invalid ?? []) found.invalid.set(id, [...errors]);
      for (const [id, warnings] of written.warnings ?? []) found.warnings.set(id, [...warnings]);
    } catch (error) {
      const e = classify(error, { ioCode: 'UNCLASSIFIED', doing: `writing chunk ${index}` });
      // An ordered sink (a file being rendered) cannot take a chunk again: the run stops.
      if (deps.sink.ordering === 'ordered' || deps.signal.aborted) throw e;
      if (!e.transient && items.length > 1) return this.bisect(items, index, attempt, found);
      return new Map(items.map((item) => [item.id, e]));
    }
    if (deps.sink.ordering === 'ordered' || failures.size === 0) return new Map(failures);
    const result = new Map(failures);
    const groups = new Map<LadingError, Item[]>();
    for (const item of items) {
      const e = failures.get(item.id);
      if (e && !e.transient) groups.set(e, [...(groups.get(e) ?? []), item]);
    }
    for (const group of groups.values()) {
      if (group.length < 2) continue;
      const isolated = await this.bisect(group, index, attempt, found);
      for (const item of group) {
        const e = isolated.get(item.id);
        if (e) result.set(item.id, e);
        else result.delete(item.id);
      }
    }
    return result;
  }

  private async bisect(items: Item[], index: number, attempt: number, found: Found): Promise<Map<string, LadingError>> {
    const middle = Math.ceil(items.length / 2);
    const result = new Map<string, LadingError>();
    for (const half of [items.slice(0, middle), items.slice(middle)]) {
      for (const [id, e] of await this.writeOnce(half, index, attempt, found)) result.set(id, e);
    }
    return result;
  }

  /**
   * Commits settled chunks in index order. The chunks settled in order by the time a commit starts
   * go in one transaction (commitChunks), each with its own checkpoint: while one commit waits for
   * the disk, those settling behind it are committed together by the next (1M leads through a
   * no-op handler in threads on PostgreSQL: 2.22 → 2.09 s in the bench; docs/benchmarks.md,
   * machine Y).
   */
  private enqueueCommits(): Promise<void> {
    this.commits = this.commits.then(async () => {
      while (this.settled.has(this.nextCommit)) {
        const batch: [number, SettledChunk][] = [];
        for (let index = this.nextCommit; this.settled.has(index); index++) batch.push([index, this.settled.get(index)!]);
        await this.commit(batch);
        for (const [index] of batch) this.settled.delete(index);
        this.nextCommit += batch.length;
      }
    });
    return this.commits;
  }

  private async commit(batch: readonly (readonly [number, SettledChunk])[]): Promise<void> {
    const { deps } = this;
    const at = deps.clock.now();
    // An ordered sink's run starts again from the first item when resumed, so its checkpoints need no fsync each.
    const durable = deps.sink.ordering === 'ordered' ? { durable: false } : {};
    const now = Date.now();
    const commits = batch.map(([index, chunk]) => {
      const { last } = chunk;
      return {
        index, lastSeq: last.seq, ...(last.position === undefined ? {} : { lastPosition: last.position }), ...delta(chunk),
        errors: errorsOf(index, chunk), at, durationMs: now - chunk.startedAt, ...durable,
      };
    });
    await deps.store.commitChunks(deps.runId, commits);
    for (const [i, [index, chunk]] of batch.entries()) {
      const { processed, failed, succeeded, warnings, durationMs } = commits[i]!;
      this.counts.processed += processed;
      this.counts.failed += failed;
      this.counts.succeeded += succeeded;
      this.counts.warnings += warnings;
      this.counts.retries += chunk.retries;
      this.checkpoint = { chunkIndex: index, processed: this.counts.processed, at };
      deps.onChunk({ index, counts: { ...this.counts }, durationMs });
      this.judge(chunk.sent, chunk.failedAtSink);
    }
  }

  /** After each commit: the circuit breaker on this chunk, the failure threshold on the run so far. */
  private judge(sent: number, failedAtSink: number): void {
    const { execution } = this.deps;
    const verdict = judgeChunk(execution.circuit_breaker, sent, failedAtSink);
    if (verdict.action === 'abort') {
      this.stop ??= ladingError('RUN_BREAKER_OPEN', `${Math.round(verdict.rate * 100)}% of a chunk failed at the sink (circuit_breaker.abort_at ${execution.circuit_breaker!.abort_at})`);
    } else if (verdict.action === 'pause') {
      this.breakerUntil = this.deps.clock.now().getTime() + verdict.ms;
      this.deps.gate.pauseFor(verdict.ms);
    }
    const { failed, processed } = this.counts;
    if (execution.failure_threshold !== undefined && processed > 0 && failed / processed > execution.failure_threshold) {
      this.stop ??= ladingError('RUN_FAILURE_THRESHOLD', `${failed} of ${processed} items failed (${(100 * failed / processed).toFixed(1)}%), over execution.failure_threshold ${execution.failure_threshold}`);
    }
  }
}

/** A settled chunk's counts as its commit adds them to the run's. */
function delta(chunk: SettledChunk): Pick<ChunkCommit, 'processed' | 'succeeded' | 'failed' | 'warnings'> {
  return { processed: chunk.count, failed: chunk.failures.size, succeeded: chunk.count - chunk.failures.size, warnings: chunk.warnings.size };
}

/** A settled chunk's item failures and warnings as its commit records them; most chunks have neither, and no walk over their items. */
function errorsOf(index: number, chunk: SettledChunk): ItemErrorRecord[] {
  const errors: ItemErrorRecord[] = [];
  if (chunk.items === undefined) return errors;
  for (const item of chunk.items) {
    const failure = chunk.failures.get(item.id);
    const warnings = chunk.warnings.get(item.id);
    if (!failure && !warnings) continue;
    const location = item.origin?.file && item.origin.line ? `${item.origin.file}:${item.origin.line}` : null;
    const base = { itemId: item.id, seq: item.seq, chunkIndex: index, location };
    if (failure) {
      errors.push(record(base, failure.error, 'block', failure.attempts, { payload: item.unparsed ? parseUnparsed(item).data : item.data, history: failure.history }));
      for (const more of failure.more ?? []) errors.push(record(base, more, 'block', 1, { detail: true }));
    }
    for (const warning of warnings ?? []) errors.push(record(base, warning, 'warn', 1, {}));
  }
  return errors;
}

function record(
  base: { itemId: string; seq: number; chunkIndex: number; location: string | null },
  e: LadingError, severity: 'block' | 'warn', attempts: number, extra: { payload?: unknown; history?: readonly Attempt[]; detail?: boolean },
): ItemErrorRecord {
  return {
    ...base, code: e.code, errorType: e.errorType, category: e.category, severity, field: e.field ?? null,
    location: e.location ?? base.location, message: e.message, attempts, ...extra,
  };
}

import { tickLoop } from '../core/loop.js';
import type { LoadedPipeline } from '../config/load.js';
import { systemClock, type Clock } from '../core/clock.js';
import { randomIds, type IdGenerator } from '../core/ids.js';
import type { RunReport } from '../core/report.js';
import { isInterrupted, owner, ownerGone, runPipeline, type RunOptions } from '../engine/run.js';
import { classify } from '../errors/classify.js';
import { ladingError, type LadingError } from '../errors/lading-error.js';
import { notify } from '../notify/dispatch.js';
import { judgeQueue } from '../notify/rules.js';
import type { Batch, CutOptions, InboxStats, Store } from '../store/types.js';
import { scheduleKey, type ScheduleTrigger } from './config.js';
import { evaluate, type FlushReason } from './evaluate.js';
import { nextTrigger as nextTriggerOf } from './next.js';
import { Schedule, scheduleAction, type ScheduleAction } from './schedule.js';

export type SchedulerEvent =
  | { readonly type: 'batch_cut'; readonly pipeline: string; readonly batch_id: string; readonly records: number; readonly reason: string }
  | { readonly type: 'batch_resumed'; readonly pipeline: string; readonly batch_id: string; readonly reason: string; readonly run_id: string | null }
  | { readonly type: 'batch_finished'; readonly pipeline: string; readonly batch_id: string; readonly run_id: string; readonly status: RunReport['status'] }
  | { readonly type: 'schedule_armed' | 'fire_skipped'; readonly pipeline: string; readonly trigger: string; readonly at: string }
  | { readonly type: 'error'; readonly pipeline: string; readonly code: string; readonly message: string }
  | { readonly type: 'scheduler_lease_acquired' | 'scheduler_lease_lost'; readonly holder: string };

/** The named lease a scheduling process must hold to tick: one batch scheduler in the cluster. */
export const schedulerLease = 'scheduler';

export interface TriggerContext {
  readonly store: Store;
  /** lading's working folder: staging files of the runs live under it. */
  readonly dataDir: string;
  readonly clock?: Clock;
  readonly ids?: IdGenerator;
  /** Passed to every run the triggers start (registry, onEvent, heartbeatMs, signal…). */
  readonly run?: Omit<Partial<RunOptions>, 'store' | 'dataDir' | 'clock' | 'ids' | 'batchId' | 'resume'>;
  readonly onEvent?: (event: SchedulerEvent) => void;
}

export interface Delivery {
  readonly batch: Batch;
  readonly report: RunReport;
}

function inboxOnly(loaded: LoadedPipeline): { maxRecords?: number } {
  const source = loaded.config.source as { type: string; max_batch_records?: number };
  if (source.type !== 'inbox') {
    throw ladingError('TRIGGER_NOT_INBOX', `${loaded.origin}: pipeline ${loaded.config.name} reads from ${source.type}, not an inbox`);
  }
  return source.max_batch_records === undefined ? {} : { maxRecords: source.max_batch_records };
}

/**
 * Delivers a batch already cut: a run of it that was interrupted (its process died) is
 * continued, otherwise a new run takes it. null when a live run elsewhere is delivering it.
 */
export async function deliverBatch(loaded: LoadedPipeline, batch: Batch, ctx: TriggerContext): Promise<Delivery | null> {
  const { store } = ctx;
  const clock = ctx.clock ?? systemClock;
  const runs = (await store.listRuns({ pipeline: batch.pipeline, limit: 100 })).filter((r) => r.batchId === batch.id && r.status === 'running');
  if (runs.some((r) => !isInterrupted(r, clock.now()))) return null;
  const interrupted = runs[0];
  const report = await runPipeline(loaded, {
    ...ctx.run, store, dataDir: ctx.dataDir, clock, ids: ctx.ids ?? randomIds,
    ...(interrupted ? { resume: interrupted.id } : { batchId: batch.id }),
  });
  ctx.onEvent?.({ type: 'batch_finished', pipeline: batch.pipeline, batch_id: batch.id, run_id: report.job_id, status: report.status });
  return { batch, report };
}

/** Refuses to cut while deliveries are suspended: the records wait in the inbox. */
async function assertDelivering(store: Store, pipeline: string): Promise<void> {
  const state = await store.deliveryState(pipeline);
  if (state.suspendedAt) {
    throw ladingError('DEST_SUSPENDED', `deliveries of ${pipeline} are suspended since ${state.suspendedAt.toISOString()} (${state.code}: ${state.reason}); fix it, then \`lading deliveries resume ${pipeline}\``);
  }
}

async function cutAndDeliver(loaded: LoadedPipeline, ctx: TriggerContext, reason: FlushReason, extra: Pick<CutOptions, 'until' | 'fire'> = {}): Promise<Delivery | null> {
  const clock = ctx.clock ?? systemClock;
  const pipeline = loaded.config.name;
  const batch = await ctx.store.cutBatch(pipeline, { id: (ctx.ids ?? randomIds).next('batch'), at: clock.now(), reason, ...inboxOnly(loaded), ...extra });
  if (batch === null) return null;
  ctx.onEvent?.({ type: 'batch_cut', pipeline, batch_id: batch.id, records: batch.records, reason: batch.reason });
  return deliverBatch(loaded, batch, ctx);
}

/** A batch a crash left cut but undelivered goes first: it is resumed, never cut again. */
async function resumeOpen(loaded: LoadedPipeline, ctx: TriggerContext): Promise<Delivery | 'busy' | null> {
  const open = await ctx.store.openBatch(loaded.config.name);
  if (open === null) return null;
  const runs = await ctx.store.listRuns({ pipeline: open.pipeline, limit: 100 });
  const run = runs.find((r) => r.batchId === open.id && r.status === 'running');
  ctx.onEvent?.({ type: 'batch_resumed', pipeline: open.pipeline, batch_id: open.id, reason: open.reason, run_id: run?.id ?? null });
  return (await deliverBatch(loaded, open, ctx)) ?? 'busy';
}

/**
 * Cuts a batch now with reason manual and delivers it. A batch left open by a crash is
 * delivered first. null when nothing is pending.
 */
export async function flush(loaded: LoadedPipeline, ctx: TriggerContext): Promise<Delivery | null> {
  inboxOnly(loaded);
  await assertDelivering(ctx.store, loaded.config.name);
  await resumeOpen(loaded, ctx);
  return cutAndDeliver(loaded, ctx, 'manual');
}

interface Entry {
  loaded: LoadedPipeline;
  schedules: { trigger: ScheduleTrigger; schedule: Schedule; key: string }[];
  stats?: InboxStats;
  /** After a run left its batch undelivered: no new attempt before this time. */
  retryAt?: number;
  /** queue_backup as last told; unknown until the first look, as the store may hold a breach from before a restart. */
  backup?: { breached: boolean; toldAt: number };
}

export interface SchedulerOptions extends TriggerContext {
  readonly pipelines: readonly LoadedPipeline[];
  /** Time between evaluations of every pipeline's triggers. */
  readonly tickMs?: number;
  /** After a run leaves its batch undelivered (or a tick fails), wait this long before trying the pipeline again. */
  readonly retryDelayMs?: number;
  /**
   * Tick only while holding the store's scheduler lease (renewed each tick; lost after `leaseMs`
   * without renewal, so another process takes over when this one dies). Without it, this
   * scheduler ticks regardless of others.
   */
  readonly lease?: { readonly leaseMs: number; readonly holder?: string };
}

/**
 * Watches the inboxes of a set of pipelines: at each tick, evaluates their triggers and, when one
 * fires, cuts a batch (one transaction, recording why) and runs the pipeline on it. One run per
 * pipeline at a time. `lading triggers` runs it in the foreground; `lading serve` embeds it.
 */
export class Scheduler {
  readonly #ctx: TriggerContext;
  readonly #clock: Clock;
  readonly #tickMs: number;
  readonly #retryDelayMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #busy = new Map<string, Promise<unknown>>();
  #upSince: Date;
  #loop: Promise<void> | undefined;
  #stopping: AbortController | undefined;
  readonly #lease: { readonly leaseMs: number; readonly holder: string } | undefined;
  #leaseToken: string | undefined;

  constructor(opts: SchedulerOptions) {
    const { pipelines, tickMs, retryDelayMs, lease, ...ctx } = opts;
    this.#ctx = ctx;
    this.#lease = lease && { leaseMs: lease.leaseMs, holder: lease.holder ?? owner() };
    this.#clock = ctx.clock ?? systemClock;
    this.#tickMs = tickMs ?? 1000;
    this.#retryDelayMs = retryDelayMs ?? 60_000;
    this.#upSince = this.#clock.now();
    this.setPipelines(pipelines);
  }

  /** Replaces the watched pipelines (a reload); runs in flight carry on. Pipelines without an inbox are refused. */
  setPipelines(pipelines: readonly LoadedPipeline[]): void {
    for (const loaded of pipelines) inboxOnly(loaded);
    const previous = new Map(this.#entries);
    this.#entries.clear();
    for (const loaded of pipelines) {
      const schedules = (loaded.config.batch?.triggers ?? [])
        .filter((t): t is ScheduleTrigger => t.type === 'schedule')
        .map((trigger) => ({ trigger, schedule: new Schedule(trigger), key: scheduleKey(trigger) }));
      const before = previous.get(loaded.config.name);
      this.#entries.set(loaded.config.name, { loaded, schedules, ...(before?.stats ? { stats: before.stats } : {}), ...(before?.backup ? { backup: before.backup } : {}) });
    }
  }

  get pipelines(): string[] {
    return [...this.#entries.keys()];
  }

  /** True while this scheduler holds the store's scheduler lease (as of its last tick); always false without `lease`. */
  get leader(): boolean {
    return this.#leaseToken !== undefined;
  }

  /** Starts ticking; fires that passed before now count as missed (per each schedule's `missed`). */
  start(): void {
    if (this.#loop) return;
    this.#upSince = this.#clock.now();
    const stopping = new AbortController();
    this.#stopping = stopping;
    // Without a lease nothing is awaited: the first evaluation happens in start() itself, as callers expect.
    const stepAll = () => {
      for (const name of this.#entries.keys()) void this.#step(name);
    };
    this.#loop = tickLoop(this.#clock, this.#tickMs, stopping.signal, () => (this.#lease ? this.#holdLease().then((held) => { if (held) stepAll(); }) : stepAll()));
  }

  /** Stops ticking, waits for the runs in flight to finish, and gives the lease back. */
  async stop(): Promise<void> {
    this.#stopping?.abort();
    await this.#loop;
    this.#loop = undefined;
    await this.idle();
    const token = this.#leaseToken;
    this.#leaseToken = undefined;
    if (this.#lease && token !== undefined) await this.#ctx.store.releaseLease(schedulerLease, token).catch(() => {});
  }

  /** True while this process holds the scheduler lease: renews it, or takes it when free, expired or its holder died here. */
  async #holdLease(): Promise<boolean> {
    const lease = this.#lease!;
    const { store } = this.#ctx;
    const held = this.#leaseToken !== undefined;
    const now = this.#clock.now();
    try {
      if (this.#leaseToken === undefined || !(await store.renewLease(schedulerLease, this.#leaseToken, lease.leaseMs, now))) {
        const holder = await store.leaseHolder(schedulerLease);
        const dead = holder !== null && holder.holder !== lease.holder && ownerGone(holder.holder) ? holder.holder : undefined;
        this.#leaseToken = (await store.acquireLease(schedulerLease, lease.holder, lease.leaseMs, now, dead)) ?? undefined;
      }
    } catch {
      // The store is not answering: without a renewal this process can't know it still holds the lease.
      this.#leaseToken = undefined;
    }
    const holds = this.#leaseToken !== undefined;
    if (holds !== held) this.#ctx.onEvent?.({ type: holds ? 'scheduler_lease_acquired' : 'scheduler_lease_lost', holder: lease.holder });
    return holds;
  }

  /** Evaluates every pipeline once and waits for the cuts and runs that started. */
  async tick(): Promise<void> {
    await Promise.all([...this.#entries.keys()].map((name) => this.#step(name)));
  }

  /** Resolves when no run is in flight. */
  async idle(): Promise<void> {
    while (this.#busy.size > 0) await Promise.allSettled([...this.#busy.values()]);
  }

  /** Cuts a batch of `pipeline` now (reason manual) and delivers it, after the run in flight; null when nothing is pending. */
  async flush(pipeline: string): Promise<Delivery | null> {
    const entry = this.#entry(pipeline);
    for (let running = this.#busy.get(pipeline); running; running = this.#busy.get(pipeline)) await running.catch(() => {});
    return this.#exclusive(pipeline, () => flush(entry.loaded, this.#ctx));
  }

  /** The next time a schedule fires or (from the last tick's look at the inbox) an age trigger is due; null when no trigger is time-based. */
  nextTrigger(pipeline: string): Date | null {
    const entry = this.#entry(pipeline);
    return nextTriggerOf(entry.loaded.config, this.#clock.now(), entry.stats);
  }

  #entry(pipeline: string): Entry {
    const entry = this.#entries.get(pipeline);
    if (!entry) throw ladingError('TRIGGER_UNKNOWN_PIPELINE', `no pipeline named ${pipeline} is loaded (loaded: ${this.pipelines.join(', ') || 'none'})`);
    return entry;
  }

  #exclusive<T>(pipeline: string, body: () => Promise<T>): Promise<T> {
    const work = body().finally(() => this.#busy.delete(pipeline));
    this.#busy.set(pipeline, work);
    return work;
  }

  /** One evaluation of one pipeline, skipped while its previous one (or its run) is still going. */
  async #step(pipeline: string): Promise<void> {
    const entry = this.#entries.get(pipeline);
    if (!entry || this.#busy.has(pipeline) || (entry.retryAt !== undefined && this.#clock.now().getTime() < entry.retryAt)) return;
    try {
      const delivery = await this.#exclusive(pipeline, () => this.#evaluate(entry));
      if (delivery && delivery !== 'busy') {
        const delivered = delivery.report.status === 'completed' || delivery.report.status === 'completed_with_errors';
        if (delivered) delete entry.retryAt;
        else entry.retryAt = this.#clock.now().getTime() + this.#retryDelayMs;
      }
    } catch (error) {
      const e: LadingError = classify(error, { ioCode: 'STORE_FAILED', doing: `triggers of ${pipeline}` });
      entry.retryAt = this.#clock.now().getTime() + this.#retryDelayMs;
      this.#ctx.onEvent?.({ type: 'error', pipeline, code: e.code, message: e.message });
    }
  }

  async #evaluate(entry: Entry): Promise<Delivery | 'busy' | null> {
    const { loaded } = entry;
    const { store } = this.#ctx;
    const pipeline = loaded.config.name;
    const stats = await store.inboxStats(pipeline);
    entry.stats = stats;
    // Judged before the suspension check: a queue backing up behind suspended deliveries is worth an alert.
    const backedUp = await this.#judgeBackup(entry, stats);
    if ((await store.deliveryState(pipeline)).suspendedAt) return null;
    const resumed = await resumeOpen(loaded, this.#ctx);
    if (resumed !== null) return resumed;

    const now = this.#clock.now();
    let due: { key: string; action: ScheduleAction } | undefined;
    for (const { trigger, schedule, key } of entry.schedules) {
      const last = await store.lastFire(pipeline, key);
      if (last === null) {
        // A new schedule starts from now: no catch-up for fires before it existed.
        await store.recordFire(pipeline, key, now);
        this.#ctx.onEvent?.({ type: 'schedule_armed', pipeline, trigger: key, at: now.toISOString() });
        continue;
      }
      const action = scheduleAction(schedule, trigger, last, now, this.#upSince);
      if (action && !due) due = { key, action };
    }
    const decision = evaluate(loaded.config.batch ?? { triggers: [] }, stats, now, due?.action.cut === true);
    // Held fires stay due: when the hold ends they fire (late, so counted as missed if the scheduler was down).
    if (decision.held) return null;
    if (due && !due.action.cut) {
      await store.recordFire(pipeline, due.key, due.action.fire);
      this.#ctx.onEvent?.({ type: 'fire_skipped', pipeline, trigger: due.key, at: due.action.fire.toISOString() });
    }
    // A trigger that fires anyway names the cut; backup says only the alert rule asked for it.
    const reason = decision.reason ?? (backedUp ? 'backup' : null);
    if (reason === null) return null;
    const fire = reason === 'schedule' && due?.action.cut
      ? { fire: { trigger: due.key, at: due.action.fire }, ...(due.action.until ? { until: due.action.until } : {}) }
      : {};
    return cutAndDeliver(loaded, this.#ctx, reason, fire);
  }

  /**
   * Tells the queue_backup breach (again after min_interval, as a reminder) or its recovery.
   * Only changes and reminders reach the store: a tick a second would otherwise count a breach a
   * second. True when the inbox is backed up and the rule asks for a cut.
   */
  async #judgeBackup(entry: Entry, stats: InboxStats): Promise<boolean> {
    const config = entry.loaded.config.notify;
    const now = this.#clock.now();
    const finding = config && judgeQueue(stats, config.rules, now);
    if (!config || !finding) return false;
    const last = entry.backup;
    if (last === undefined || last.breached !== finding.breached || (finding.breached && now.getTime() - last.toldAt >= config.min_interval)) {
      await notify(config, { type: 'queue', pipeline: entry.loaded.config.name, runId: null, findings: [finding] }, { store: this.#ctx.store, clock: this.#clock });
      entry.backup = { breached: finding.breached, toldAt: now.getTime() };
    }
    return finding.breached && config.rules.queue_backup?.cut === true;
  }
}

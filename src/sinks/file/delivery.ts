import type { Clock } from '../../core/clock.js';
import type { IdGenerator } from '../../core/ids.js';
import type { DeliveryPolicy, RejectionAction, RejectionRule } from '../../config/delivery.js';
import { retryDelay } from '../../core/retry.js';
import { classify } from '../../errors/classify.js';
import { LadingError } from '../../errors/lading-error.js';
import type { CollisionMode, Destination, PutReceipt } from '../../destinations/types.js';
import type { Alert, DeliveryRecord, DeliveryState, DeliveryStep, Store } from '../../store/types.js';
import type { Staging } from '../../staging/staging.js';
import type { HeldDelivery, SinkEvent } from '../types.js';

/** What one run (or `lading deliveries retry`) needs to send staged files through their recorded steps. */
export interface DeliveryContext {
  readonly store: Store;
  /** Where a file left for a later try is kept (LADING_STAGING), and where staged references are read from. */
  readonly staging: Staging;
  readonly destination: Destination;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** Retries, rejection rules and circuit breaker; without it a failure ends the delivery at once. */
  readonly policy: DeliveryPolicy | undefined;
  readonly pipeline: string;
  readonly batchId: string;
  readonly runId: string;
  readonly onCollision: CollisionMode;
  readonly signal: AbortSignal;
  readonly emit: (event: SinkEvent) => void;
  /** Records an alert and tells the notify channels about it. */
  readonly alert: (alert: Alert) => Promise<void>;
}

/** A rendered file waiting under the data dir, or kept where every worker can read it. */
export interface StagedFile {
  /** A local path, or a staging reference (`store:…`, `s3://…`). */
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly records: number | null;
}

export interface Delivered {
  readonly id: string;
  readonly name: string;
  readonly uri: string;
  /** As the partner holds them: an earlier run's bytes when that run's file was found there. */
  readonly bytes: number;
  readonly sha256: string;
  readonly attempts: number;
  readonly durationMs: number;
  /** `sent` now, or `found` at the partner already (an earlier run sent it, or a left-over rename was finished). */
  readonly outcome: 'sent' | 'found';
}

/** A delivery that did not reach the partner, and the run goes on. */
export type Held = HeldDelivery;

export const isHeld = (result: Delivered | Held): result is Held =>
  result.outcome === 'deferred' || result.outcome === 'retry_later' || result.outcome === 'skipped';

/** The partner has it (or chose to skip it): never sent again. */
const settled: readonly DeliveryStep[] = ['verified', 'acknowledged', 'skipped'];

/** Complete bytes may be at the partner under the final or the temp name: inspect before sending. */
const mayBeThere = (d: DeliveryRecord): boolean =>
  d.bytes !== null && d.sha256 !== null && (d.tempName !== null || d.state === 'published');

/**
 * Opens (or finds) the delivery of a batch part and records its staged file, unless an earlier
 * run already got it to the partner or left it there half-way: then the record is kept as it is,
 * for deliver() to inspect. The part keeps the name its first delivery was given.
 */
export async function stage(ctx: DeliveryContext, part: string, name: string, staged: StagedFile): Promise<DeliveryRecord> {
  const d = await ctx.store.openDelivery({
    id: ctx.ids.next('dlv'), pipeline: ctx.pipeline, batchId: ctx.batchId, part, destination: ctx.destination.description, runId: ctx.runId, name, at: ctx.clock.now(),
  });
  if (settled.includes(d.state) || mayBeThere(d)) return d;
  return record(ctx, d, staged);
}

async function record(ctx: DeliveryContext, d: DeliveryRecord, staged: StagedFile): Promise<DeliveryRecord> {
  // A re-render replaces an earlier run's staged copy of the same part.
  if (d.stagedPath !== null && d.stagedPath !== staged.path) await ctx.staging.remove(d.stagedPath);
  const update = { runId: ctx.runId, tempName: null, bytes: staged.bytes, sha256: staged.sha256, records: staged.records, stagedPath: staged.path, code: null, reason: null };
  await ctx.store.advanceDelivery(d.id, 'rendered', ctx.clock.now(), update);
  return { ...d, ...update, state: 'rendered' };
}

/**
 * Sends a staged delivery through its steps: rendered → uploading (complete under the temp
 * name) → published → verified. A delivery an earlier run settled is not sent again; one it left
 * under the temp name is renamed, and one already under its final name with the recorded bytes is
 * taken as published. The staged file is removed once the partner has the file.
 *
 * While the pipeline's circuit breaker is open the destination is not contacted: the delivery
 * stays staged (deferred). A partner's refusal matching a delivery.on_rejection rule is skipped or
 * left for later instead of failing. Every attempt counts for the breaker.
 */
export async function deliver(ctx: DeliveryContext, d: DeliveryRecord, staged: StagedFile): Promise<Delivered | Held> {
  if (settled.includes(d.state)) return found(d, 0);
  const breaker = await breakerState(ctx);
  if (breaker.gate === 'open') return defer(ctx, d, staged, breaker.state);
  if (breaker.gate === 'canary') ctx.emit({ type: 'delivery_canary', name: d.name });
  if (mayBeThere(d)) {
    const started = ctx.clock.now().getTime();
    if (await isThere(ctx.destination, d)) {
      await publish(ctx, d, d.uri ?? d.name, d.attempts);
      await countOutcome(ctx, breaker.state, true);
      return found(d, ctx.clock.now().getTime() - started);
    }
    d = await record(ctx, d, staged);
  }
  let tries = 0;
  try {
    const { receipt, durationMs } = await withRetry(ctx, d.name, () => {
      tries++;
      return ctx.destination.put(d.name, ctx.staging.read(staged.path), {
        onCollision: ctx.onCollision, signal: ctx.signal, expected: { bytes: staged.bytes, sha256: staged.sha256 },
        metadata: {
          pipeline: ctx.pipeline, batch_id: ctx.batchId, run_id: ctx.runId, sha256: staged.sha256,
          ...(staged.records === null ? {} : { records: String(staged.records) }),
        },
        onUploaded: async (tempName) => {
          await ctx.store.advanceDelivery(d.id, 'uploading', ctx.clock.now(), { tempName });
        },
      });
    });
    const attempts = d.attempts + tries;
    await publish(ctx, d, receipt.uri, attempts);
    await countOutcome(ctx, breaker.state, true);
    return { id: d.id, name: d.name, uri: receipt.uri, bytes: receipt.bytes, sha256: receipt.sha256, attempts, durationMs, outcome: 'sent' };
  } catch (error) {
    const e = error as LadingError;
    const attempts = d.attempts + tries;
    const action = rejectionAction(ctx.policy?.onRejection ?? [], e);
    if (action === 'skip') {
      // The partner answered (it refused this file on purpose, e.g. a duplicate): not an outage for the breaker.
      await ctx.store.advanceDelivery(d.id, 'skipped', ctx.clock.now(), { attempts, code: e.code, reason: `skipped (delivery.on_rejection): ${e.message}`, stagedPath: null });
      await ctx.staging.remove(staged.path);
      await countOutcome(ctx, breaker.state, true);
      return hold(ctx, { delivery_id: d.id, name: d.name, outcome: 'skipped', code: e.code, message: e.message });
    }
    const kept = await keepForRetry(ctx, d, staged);
    const reason = action === 'retry_later' ? `retry later (delivery.on_rejection): ${e.message}` : e.message;
    await ctx.store.advanceDelivery(d.id, 'failed', ctx.clock.now(), {
      attempts, code: e.code, reason: kept.refused ? `${reason}; ${kept.refused.message}` : reason, ...kept.update,
    });
    await countOutcome(ctx, breaker.state, false);
    if (action === 'retry_later') return hold(ctx, { delivery_id: d.id, name: d.name, outcome: 'retry_later', code: e.code, message: e.message });
    throw e;
  }
}

/**
 * The first rule matching a partner's refusal: every condition it gives (status, code, pattern)
 * holds. Only permanent refusals that carry the partner's answer qualify; transient ones are retried.
 */
export function rejectionAction(rules: readonly RejectionRule[], error: LadingError): RejectionAction {
  const answer = error.partner;
  if (answer === undefined || error.transient) return 'fail';
  const rule = rules.find((r) =>
    (r.status === undefined || (Array.isArray(r.status) ? r.status.includes(answer.status) : r.status === answer.status))
    && (r.code === undefined || r.code === error.code)
    && (r.pattern === undefined || new RegExp(r.pattern, 'i').test(answer.reply)));
  return rule?.action ?? 'fail';
}

type Gate = 'closed' | 'canary' | 'open';

/** Closed; open (within the cool-down: no contact); or open past the cool-down: this delivery is the canary. */
async function breakerState(ctx: DeliveryContext): Promise<{ gate: Gate; state: DeliveryState | undefined }> {
  const policy = ctx.policy?.breaker;
  if (!policy) return { gate: 'closed', state: undefined };
  const state = await ctx.store.deliveryState(ctx.pipeline);
  if (state.breakerOpenedAt === null) return { gate: 'closed', state };
  const coolingUntil = state.breakerOpenedAt.getTime() + policy.coolDownMs;
  return { gate: ctx.clock.now().getTime() < coolingUntil ? 'open' : 'canary', state };
}

/**
 * A file left for a later try is moved where every worker can read it (LADING_STAGING). One the
 * store refuses as too large stays staged on this machine, and the delivery's reason says so.
 */
async function keepForRetry(ctx: DeliveryContext, d: DeliveryRecord, staged: StagedFile): Promise<{ update: { stagedPath?: string }; refused?: LadingError }> {
  try {
    const ref = await ctx.staging.keep(d.id, staged.path, staged);
    return { update: ref === staged.path ? {} : { stagedPath: ref } };
  } catch (error) {
    if (error instanceof LadingError && error.code === 'DEST_STAGING_TOO_LARGE') return { update: {}, refused: error };
    throw error;
  }
}

/** The breaker is open: the file stays staged and pending, for the canary after the cool-down to release. */
async function defer(ctx: DeliveryContext, d: DeliveryRecord, staged: StagedFile, state: DeliveryState | undefined): Promise<Held> {
  const until = new Date(state!.breakerOpenedAt!.getTime() + ctx.policy!.breaker.coolDownMs);
  const message = `held back: the destination circuit breaker of ${ctx.pipeline} opened at ${state!.breakerOpenedAt!.toISOString()} after ${state!.failures} failed deliveries; a canary is tried after ${until.toISOString()}`;
  const kept = await keepForRetry(ctx, d, staged);
  if (d.code !== 'DEST_BREAKER_OPEN' || kept.update.stagedPath !== undefined) {
    await ctx.store.advanceDelivery(d.id, d.state, ctx.clock.now(), { code: 'DEST_BREAKER_OPEN', reason: kept.refused ? `${message}; ${kept.refused.message}` : message, ...kept.update });
  }
  return hold(ctx, { delivery_id: d.id, name: d.name, outcome: 'deferred', code: 'DEST_BREAKER_OPEN', message });
}

function hold(ctx: DeliveryContext, held: HeldDelivery): Held {
  ctx.emit({ type: 'delivery_held', held });
  return held;
}

/** Counts the outcome for the breaker; its opening and closing are recorded as alerts for the notify channels. */
async function countOutcome(ctx: DeliveryContext, before: DeliveryState | undefined, ok: boolean): Promise<void> {
  const policy = ctx.policy?.breaker;
  if (!policy || !before) return;
  const at = ctx.clock.now();
  const after = await ctx.store.recordDeliveryOutcome(ctx.pipeline, { ok, threshold: policy.failures, at });
  const alert = (kind: 'breaker_opened' | 'breaker_closed', message: string, code: string | null) =>
    ctx.alert({ pipeline: ctx.pipeline, runId: ctx.runId, kind, code, message, at });
  if (before.breakerOpenedAt === null && after.breakerOpenedAt !== null) {
    await alert('breaker_opened', `deliveries of ${ctx.pipeline} held back after ${after.failures} consecutive failed deliveries; a canary is tried after ${policy.coolDownMs} ms`, 'DEST_BREAKER_OPEN');
  } else if (before.breakerOpenedAt !== null && after.breakerOpenedAt === null) {
    await alert('breaker_closed', `deliveries of ${ctx.pipeline} resumed: the canary delivery succeeded`, null);
  }
}

/** The final name holds the recorded bytes, or complete bytes left under the temp name were renamed to it. */
async function isThere(destination: Destination, d: DeliveryRecord): Promise<boolean> {
  const expected = { bytes: d.bytes!, sha256: d.sha256! };
  const remote = await destination.stat(d.name);
  if (remote) return remote.bytes === expected.bytes && (remote.sha256 === undefined || remote.sha256 === expected.sha256);
  return d.tempName !== null && destination.completePut !== undefined && await destination.completePut(d.name, expected);
}

async function publish(ctx: DeliveryContext, d: DeliveryRecord, uri: string, attempts: number): Promise<void> {
  await ctx.store.advanceDelivery(d.id, 'published', ctx.clock.now(), { runId: ctx.runId, tempName: null, uri, attempts });
  await ctx.store.advanceDelivery(d.id, 'verified', ctx.clock.now(), { stagedPath: null });
  if (d.stagedPath !== null) await ctx.staging.remove(d.stagedPath);
}

const found = (d: DeliveryRecord, durationMs: number): Delivered =>
  ({ id: d.id, name: d.name, uri: d.uri ?? d.name, bytes: d.bytes ?? 0, sha256: d.sha256 ?? '', attempts: d.attempts, durationMs, outcome: 'found' });

/**
 * One file's put, tried again on transient failures per delivery.retry with the same staged
 * bytes (a body is made anew for each try). Permanent failures end at once.
 */
async function withRetry(ctx: DeliveryContext, name: string, put: () => Promise<PutReceipt>): Promise<{ receipt: PutReceipt; durationMs: number }> {
  const policy = ctx.policy?.retry;
  for (let attempt = 1; ; attempt++) {
    const started = ctx.clock.now().getTime();
    try {
      const receipt = await put();
      return { receipt, durationMs: ctx.clock.now().getTime() - started };
    } catch (error) {
      const e = classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: `delivering ${name}` });
      if (!e.transient || !policy || attempt >= policy.attempts || ctx.signal.aborted) throw e;
      const delay = retryDelay(policy, attempt, e.retryAfterMs);
      ctx.emit({ type: 'delivery_retry', name, attempt, code: e.code, delay_ms: delay });
      await ctx.clock.sleep(delay, ctx.signal);
    }
  }
}

// Partner acknowledgement (delivery.acknowledgment): a verified data file waits until the partner
// confirms it — an ack file appears next to it, or the file leaves the incoming folder — and an
// alert is raised, once, when that takes longer than the timeout.
import { deliveryPolicy, type AcknowledgmentPolicy, type DeliveryPolicy } from '../config/delivery.js';
import { systemClock } from '../core/clock.js';
import { classify } from '../errors/classify.js';
import { ladingError } from '../errors/lading-error.js';
import type { Destination } from '../destinations/types.js';
import { raiseAlert } from '../notify/dispatch.js';
import { formatDuration } from '../notify/rules.js';
import type { Alert, DeliveryRecord, Store } from '../store/types.js';
import { openDestination, type RetryDeliveryOptions } from './deliveries.js';

/**
 * Whether the partner is known to hold a delivery for good: acknowledged, or verified when the
 * pipeline does not ask for acknowledgement. Sidecars and manifests (no records) never wait for one.
 * Whatever keeps or removes a delivery's records or files on the strength of it asks here.
 */
export function isConfirmed(delivery: DeliveryRecord, policy: Pick<DeliveryPolicy, 'acknowledgment'>): boolean {
  if (delivery.state === 'acknowledged') return true;
  return delivery.state === 'verified' && !awaitsAcknowledgement(delivery, policy.acknowledgment);
}

const awaitsAcknowledgement = (d: DeliveryRecord, policy: AcknowledgmentPolicy): boolean => policy.required && d.records !== null;

/** The ack file of a delivered file, relative to the destination folder like the file's own name. */
export const ackName = (name: string, pattern: string): string =>
  pattern.replaceAll('{name}', name).replaceAll('{basename}', name.split('/').at(-1)!);

/**
 * Moves a verified delivery to acknowledged, saying how (`ack_file <name>`, `file_removed`, or a
 * callback's own words). Taken once: false when the delivery is not verified (already
 * acknowledged, or not delivered yet). Clears a DEST_ACK_TIMEOUT left by a late acknowledgement.
 */
export async function acknowledgeDelivery(store: Store, id: string, how: string, at: Date): Promise<boolean> {
  const moved = await store.advanceDelivery(id, 'acknowledged', at, { code: null, reason: null }, { detail: how, expect: { state: 'verified' } });
  if (!moved && (await store.getDelivery(id)) === null) throw ladingError('STORE_DELIVERY_NOT_FOUND', `no delivery with id ${id}`);
  return moved;
}

export interface AckCheck {
  readonly delivery_id: string;
  readonly pipeline: string;
  readonly name: string;
  /** acknowledged now; waiting within the timeout; timed_out (alerted once, still polled); failed (the destination could not be asked). */
  readonly outcome: 'acknowledged' | 'waiting' | 'timed_out' | 'failed';
  readonly how?: string;
  readonly verified_at?: string;
  readonly code?: string;
  readonly message?: string;
}

/**
 * Polls every verified data file awaiting acknowledgement (of one pipeline, or all), through the
 * stat of the destination of the run that published it and that run's delivery.acknowledgment.
 */
export async function checkAcknowledgements(store: Store, opts: RetryDeliveryOptions & { readonly pipeline?: string }): Promise<AckCheck[]> {
  const verified = await store.listDeliveries({ ...(opts.pipeline === undefined ? {} : { pipeline: opts.pipeline }), states: ['verified'], limit: 10_000 });
  const byRun = new Map<string, DeliveryRecord[]>();
  for (const d of verified.reverse()) {
    if (d.records !== null) byRun.set(d.runId, [...(byRun.get(d.runId) ?? []), d]);
  }
  const results: AckCheck[] = [];
  for (const [runId, deliveries] of byRun) {
    const { config, destination } = await openDestination(store, runId, opts, `the run that published ${deliveries[0]!.name}`);
    try {
      const policy = deliveryPolicy(config.delivery).acknowledgment;
      if (!policy.required) continue;
      const ctx = { store, clock: opts.clock ?? systemClock };
      for (const d of deliveries) {
        results.push(await checkOne(d, destination, policy, { ...ctx, alert: (alert) => raiseAlert(config.notify, alert, ctx) }));
      }
    } finally {
      await destination.close();
    }
  }
  return results;
}

interface CheckContext {
  readonly store: Store;
  readonly clock: { now(): Date };
  readonly alert: (alert: Alert) => Promise<void>;
}

async function checkOne(d: DeliveryRecord, destination: Destination, policy: AcknowledgmentPolicy, ctx: CheckContext): Promise<AckCheck> {
  const base = { delivery_id: d.id, pipeline: d.pipeline, name: d.name };
  const verifiedAt = (await ctx.store.deliverySteps(d.id)).find((s) => s.state === 'verified')?.at ?? d.updatedAt;
  const facts = { ...base, verified_at: verifiedAt.toISOString() };
  let how: string | null;
  try {
    how = await acknowledged(destination, d.name, policy);
  } catch (error) {
    const e = classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: `checking the acknowledgement of ${d.uri ?? d.name}` });
    return { ...facts, outcome: 'failed', code: e.code, message: e.message };
  }
  const now = ctx.clock.now();
  if (how !== null) {
    // Another checker may have taken the step first: either way the partner has confirmed it.
    await acknowledgeDelivery(ctx.store, d.id, how, now);
    return { ...facts, outcome: 'acknowledged', how };
  }
  const deadline = verifiedAt.getTime() + policy.timeoutMs;
  if (now.getTime() < deadline) return { ...facts, outcome: 'waiting' };
  const message = `${d.uri ?? d.name} was not acknowledged by the partner within ${formatDuration(policy.timeoutMs)} of its delivery at ${verifiedAt.toISOString()} (${policy.mode === 'ack_file' ? `no ${ackName(d.name, policy.ackPattern)}` : 'still in the incoming folder'})`;
  if (d.code !== 'DEST_ACK_TIMEOUT') {
    // Compare-and-set on the code read above: of two checkers, only one records the timeout and alerts.
    const first = await ctx.store.advanceDelivery(d.id, 'verified', now, { code: 'DEST_ACK_TIMEOUT', reason: message }, { detail: 'ack_timeout', expect: { state: 'verified', code: d.code } });
    if (first) await ctx.alert({ pipeline: d.pipeline, runId: d.runId, kind: 'ack_timeout', code: 'DEST_ACK_TIMEOUT', message, at: now });
  }
  return { ...facts, outcome: 'timed_out', code: 'DEST_ACK_TIMEOUT', message };
}

/** How the partner confirmed the file, or null while it has not. */
async function acknowledged(destination: Destination, name: string, policy: AcknowledgmentPolicy): Promise<string | null> {
  if (policy.mode === 'ack_file') {
    const ack = ackName(name, policy.ackPattern);
    return (await destination.stat(ack)) === null ? null : `ack_file ${ack}`;
  }
  return (await destination.stat(name)) === null ? 'file_removed' : null;
}

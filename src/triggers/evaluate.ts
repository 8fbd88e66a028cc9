import type { InboxStats } from '../store/types.js';
import { secondsOfDay, type BatchConfig, type BatchRule } from './config.js';
import { secondOfDay } from './zone.js';

/** Why a batch was cut; stored with the batch (its flush reason). backup: the queue_backup alert rule (Scheduler). */
export type FlushReason = 'count' | 'bytes' | 'age' | 'schedule' | 'manual' | 'rule' | 'priority' | 'backup';

export interface Decision {
  /** The reason to cut now, or null. */
  readonly reason: FlushReason | null;
  /** A hold rule's window holds `now`: nothing is cut automatically. */
  readonly held: boolean;
}

/** The first rule whose time-of-day window holds `now`. */
export function activeRule(rules: readonly BatchRule[] | undefined, now: Date): BatchRule | undefined {
  return rules?.find((rule) => {
    const t = secondOfDay(rule.timezone, now.getTime());
    const [start, end] = rule.between.map(secondsOfDay) as [number, number];
    return start < end ? t >= start && t < end : t >= start || t < end;
  });
}

/** Pending records with a priority of at least `min`. */
export const countAtLeast = (stats: InboxStats, min: number): number =>
  stats.priorities.reduce((sum, p) => (p.priority >= min ? sum + p.count : sum), 0);

/**
 * Whether to cut a batch now: the active rule first (a hold stops everything, a min_pending
 * window cuts with reason rule), then the triggers in the order declared. `scheduleDue` says a
 * schedule trigger has a fire to act on (scheduleAction); a schedule cut happens even with
 * nothing pending, so the fire is consumed.
 */
export function evaluate(config: BatchConfig, stats: InboxStats, now: Date, scheduleDue: boolean): Decision {
  const rule = activeRule(config.rules, now);
  if (rule?.hold) return { reason: null, held: true };
  if (rule?.min_pending !== undefined && stats.pending >= rule.min_pending) return { reason: 'rule', held: false };
  for (const trigger of config.triggers) {
    const met = (() => {
      switch (trigger.type) {
        case 'record_count': return stats.pending > 0 && stats.pending >= trigger.value;
        case 'bytes': return stats.pending > 0 && stats.bytes >= trigger.value;
        case 'age': return stats.oldest !== null && now.getTime() - stats.oldest.getTime() >= trigger.value;
        case 'priority_count': return countAtLeast(stats, trigger.min_priority) >= trigger.value;
        case 'schedule': return scheduleDue;
      }
    })();
    if (met) return { reason: reasons[trigger.type], held: false };
  }
  return { reason: null, held: false };
}

const reasons = { record_count: 'count', bytes: 'bytes', age: 'age', priority_count: 'priority', schedule: 'schedule' } as const satisfies Record<BatchConfig['triggers'][number]['type'], FlushReason>;

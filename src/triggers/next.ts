import type { PipelineConfig } from '../config/pipeline.js';
import type { InboxStats } from '../store/types.js';
import { scheduleKey, type TriggerConfig } from './config.js';
import { activeRule, countAtLeast } from './evaluate.js';
import { Schedule } from './schedule.js';

/**
 * The next time a time-based trigger fires: the earliest next schedule fire, or (with `stats`)
 * when the oldest pending record reaches an age trigger's value. Count, bytes and priority
 * triggers depend on arrivals and have no time; a hold rule may still delay the cut.
 */
export function nextTrigger(config: PipelineConfig, now: Date, stats?: InboxStats): Date | null {
  let next: number | null = null;
  const consider = (at: number) => (next = next === null ? at : Math.min(next, at));
  for (const trigger of config.batch?.triggers ?? []) {
    if (trigger.type === 'schedule') {
      const [fire] = new Schedule(trigger).next(now, 1);
      if (fire) consider(fire.getTime());
    } else if (trigger.type === 'age' && stats?.oldest) {
      consider(Math.max(now.getTime(), stats.oldest.getTime() + trigger.value));
    }
  }
  return next === null ? null : new Date(next);
}

/** One trigger as `lading schedule` shows it: what it waits for and how far along it is. */
export interface TriggerStatus {
  readonly type: TriggerConfig['type'];
  readonly trigger: TriggerConfig;
  /** Pending measure against the threshold (count, bytes, age in ms, priority count). */
  readonly progress?: { readonly value: number; readonly threshold: number };
  readonly key?: string;
  /** Next fire times, as instants and as local times in the schedule's time zone. */
  readonly next?: readonly { readonly at: string; readonly local: string }[];
  /** The age trigger's deadline for the current oldest record. */
  readonly fires_at?: string;
}

export interface TriggersStatus {
  readonly pipeline: string;
  readonly pending: InboxStats;
  /** False while a hold rule's window holds: only a manual flush cuts. */
  readonly armed: boolean;
  readonly rule: { readonly index: number; readonly between: readonly [string, string]; readonly timezone: string; readonly hold: boolean; readonly min_pending?: number } | null;
  readonly next_trigger: string | null;
  readonly triggers: readonly TriggerStatus[];
}

/** Local wall time with its UTC offset, e.g. `2024-03-11 02:00:00 GMT-4`. */
export function localTime(at: Date, timezone: string): string {
  const text = new Intl.DateTimeFormat('sv-SE', {
    timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'shortOffset',
  }).format(at);
  return text.replace(/\u2212/g, '-');
}

export function triggersStatus(config: PipelineConfig, stats: InboxStats, now: Date, count: number): TriggersStatus {
  const rules = config.batch?.rules;
  const rule = activeRule(rules, now);
  const triggers = (config.batch?.triggers ?? []).map((trigger): TriggerStatus => {
    switch (trigger.type) {
      case 'record_count': return { type: trigger.type, trigger, progress: { value: stats.pending, threshold: trigger.value } };
      case 'bytes': return { type: trigger.type, trigger, progress: { value: stats.bytes, threshold: trigger.value } };
      case 'priority_count': return { type: trigger.type, trigger, progress: { value: countAtLeast(stats, trigger.min_priority), threshold: trigger.value } };
      case 'age': return {
        type: trigger.type, trigger, progress: { value: stats.oldest ? now.getTime() - stats.oldest.getTime() : 0, threshold: trigger.value },
        ...(stats.oldest ? { fires_at: new Date(stats.oldest.getTime() + trigger.value).toISOString() } : {}),
      };
      case 'schedule': return {
        type: trigger.type, trigger, key: scheduleKey(trigger),
        next: new Schedule(trigger).next(now, count).map((at) => ({ at: at.toISOString(), local: localTime(at, trigger.timezone) })),
      };
    }
  });
  const next = nextTrigger(config, now, stats);
  return {
    pipeline: config.name, pending: stats, armed: !rule?.hold,
    rule: rule ? { index: rules!.indexOf(rule), between: rule.between, timezone: rule.timezone, hold: rule.hold === true, ...(rule.min_pending === undefined ? {} : { min_pending: rule.min_pending }) } : null,
    next_trigger: next ? next.toISOString() : null, triggers,
  };
}

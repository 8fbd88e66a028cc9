import { Cron } from 'croner';
import type { ScheduleTrigger } from './config.js';
import { fallBackAhead, gapEnd, instantsOf, wallAt } from './zone.js';

// A pattern that matches nothing for this many candidates (say, Feb 30) has no next fire.
const maxCandidates = 100_000;

/**
 * A cron schedule in a time zone with explicit DST handling. croner matches the pattern on wall
 * time (run in UTC, a calendar without DST); each matching wall time is then mapped to instants
 * in the zone, where the `dst` policy decides what a skipped or repeated local time becomes.
 */
export class Schedule {
  readonly #cron: Cron;

  constructor(readonly trigger: Pick<ScheduleTrigger, 'cron' | 'timezone' | 'dst'>) {
    this.#cron = new Cron(trigger.cron, { paused: true, timezone: 'UTC' });
  }

  /** The next `count` fire instants strictly after `after`, in time order. */
  next(after: Date, count: number): Date[] {
    const zone = this.trigger.timezone;
    const from = after.getTime();
    const found = new Set<number>();
    // Under `both`, a repeated hour's second pass comes after later wall times' first pass: when
    // the clocks fall back soon, earlier wall times can still fire after `after`.
    let wall = wallAt(zone, from) - fallBackAhead(zone, from) - 1000;
    for (let n = 0; n < maxCandidates; n++) {
      const match = this.#cron.nextRun(new Date(wall));
      if (match === null) break;
      wall = match.getTime();
      for (const instant of this.#instants(wall)) if (instant > from) found.add(instant);
      // Past an unrepeated wall time, no later one can fire earlier than what was found.
      if (found.size >= count && instantsOf(zone, wall).length < 2) break;
    }
    return [...found].sort((a, b) => a - b).slice(0, count).map((t) => new Date(t));
  }

  /** The last fire in (after, until], or null. */
  latest(after: Date, until: Date): Date | null {
    let span = 60_000;
    for (;;) {
      const from = Math.max(after.getTime(), until.getTime() - span);
      let last: Date | null = null;
      for (let cursor = new Date(from); ;) {
        const [fire] = this.next(cursor, 1);
        if (fire === undefined || fire > until) break;
        last = fire;
        cursor = fire;
      }
      if (last !== null || from === after.getTime()) return last;
      span *= 4;
    }
  }

  #instants(wall: number): number[] {
    const zone = this.trigger.timezone;
    const instants = instantsOf(zone, wall);
    if (instants.length === 0) return this.trigger.dst.nonexistent === 'shift' ? [gapEnd(zone, wall)] : [];
    if (instants.length === 1) return instants;
    switch (this.trigger.dst.ambiguous) {
      case 'first': return [instants[0]!];
      case 'last': return [instants.at(-1)!];
      case 'both': return instants;
    }
  }
}

/** What a schedule trigger asks for at a tick: a cut at `fire` (of the records up to `until`, if set), or consuming `fire` without one. */
export type ScheduleAction =
  | { readonly fire: Date; readonly cut: true; readonly until?: Date }
  | { readonly fire: Date; readonly cut: false };

/**
 * The action for the fires in (last, now]. A fire earlier than `upSince - grace` was missed (the
 * scheduler was not running): `skip` consumes it without a cut, `once` folds every due fire into
 * one cut, `all` replays the missed fires one at a time, oldest first, each cutting only the
 * records received up to it. Fires while the scheduler was up fold into one cut.
 */
export function scheduleAction(
  schedule: Schedule, policy: Pick<ScheduleTrigger, 'missed' | 'grace'>, last: Date, now: Date, upSince: Date,
): ScheduleAction | null {
  const [first] = schedule.next(last, 1);
  if (first === undefined || first > now) return null;
  const latest = schedule.latest(last, now) ?? first;
  const cutoff = upSince.getTime() - policy.grace;
  if (first.getTime() >= cutoff) return { fire: latest, cut: true };
  switch (policy.missed) {
    case 'all': return { fire: first, cut: true, until: first };
    case 'once': return { fire: latest, cut: true };
    case 'skip': return latest.getTime() >= cutoff ? { fire: latest, cut: true } : { fire: latest, cut: false };
  }
}

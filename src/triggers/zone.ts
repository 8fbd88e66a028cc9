/**
 * Wall-clock time in an IANA time zone, through Intl only. A "wall" time is the local date and
 * time written as if it were UTC (Date.UTC of the local fields), so cron matching can run on a
 * calendar without DST and the mapping back to instants can say what DST does to each time.
 */

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

export function isTimeZone(zone: string): boolean {
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/** The wall time the zone's clocks show at `instant` (ms). */
export function wallAt(zone: string, instant: number): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(new Date(instant))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const ms = ((instant % 1000) + 1000) % 1000;
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!) + ms;
}

/** The zone's UTC offset at `instant`, in ms (local minus UTC). */
export const offsetAt = (zone: string, instant: number): number => wallAt(zone, instant) - instant;

/** The instants at which the zone's clocks show `wall`, ascending: none in a DST gap, two in an overlap. */
export function instantsOf(zone: string, wall: number): number[] {
  const offsets = new Set([offsetAt(zone, wall - DAY), offsetAt(zone, wall), offsetAt(zone, wall + DAY)]);
  const found = new Set<number>();
  for (const offset of offsets) {
    const instant = wall - offset;
    if (wallAt(zone, instant) === wall) found.add(instant);
  }
  return [...found].sort((a, b) => a - b);
}

/** For a wall time inside a DST gap: the first instant after the gap (when the clocks jump past it). */
export function gapEnd(zone: string, wall: number): number {
  const offsets = [offsetAt(zone, wall - DAY), offsetAt(zone, wall + DAY)];
  let lo = wall - Math.max(...offsets); // shows a wall time before `wall`
  let hi = wall - Math.min(...offsets); // shows one after it
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (wallAt(zone, mid) > wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** How far the zone's offset drops within a day after `instant` (a fall-back ahead), in ms; 0 otherwise. */
export const fallBackAhead = (zone: string, instant: number): number => Math.max(0, offsetAt(zone, instant) - offsetAt(zone, instant + DAY));

/** Seconds since local midnight at `instant`. */
export const secondOfDay = (zone: string, instant: number): number => Math.floor((((wallAt(zone, instant) % DAY) + DAY) % DAY) / 1000);

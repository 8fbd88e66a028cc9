/**
 * The named value formats a validate rule can require (`format: email`), each a pure predicate,
 * and the date reading shared with the map `date` transform.
 */
import { DateTime, FixedOffsetZone, type Zone } from 'luxon';

export const formatNames = ['email', 'phone', 'url', 'date'] as const;
export type FormatName = (typeof formatNames)[number];

// A practical subset of RFC 5322 (the "dot-atom" form, as HTML's input[type=email] accepts):
// an unquoted local part of atext characters and single dots, exactly one @, and a domain of at
// least two DNS labels ending in an alphabetic (or punycode) top-level label. No spaces, no
// quoted local parts, no IP-literal domains, no comments.
const EMAIL =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$/;

/** An address such as `ada@example.com`: one @, a dot in the domain, no spaces, at most 254 characters. */
export function isEmail(value: string): boolean {
  if (value.length > 254) return false;
  const at = value.indexOf('@');
  return at > 0 && at <= 64 && EMAIL.test(value);
}

/**
 * A phone number: after removing spaces, dashes, dots, parentheses and one leading `+`,
 * 7 to 15 digits remain (E.164 allows at most 15). Letters, extensions and a `+` after the
 * first digit are rejected.
 */
export function isPhone(value: string): boolean {
  let digits = 0;
  let plus = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      digits++;
      if (digits > 15) return false;
    } else if (c === 43 /* + */) {
      if (plus || digits > 0) return false;
      plus = true;
    } else if (!(c === 32 || c === 9 || c === 45 || c === 46 || c === 40 || c === 41)) {
      // anything but space, tab, -, ., (, )
      return false;
    }
  }
  return digits >= 7;
}

const WHITESPACE = /\s/;

/** An absolute http or https URL that `new URL` accepts, with no whitespace in it. */
export function isUrl(value: string): boolean {
  if (WHITESPACE.test(value)) return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** A zone's offset from UTC in minutes at an instant (epoch milliseconds). */
export type OffsetAt = (ts: number) => number;

const HOUR = 3_600_000;
/** The largest epoch-milliseconds value a Date (and luxon) can hold. */
export const MAX_INSTANT = 8.64e15;
const DAY = 86_400_000;
const utcOffset: OffsetAt = () => 0;

/**
 * A fast offset lookup for a zone. IANA zones answer through Intl (microseconds a call), so
 * offsets are cached per UTC hour in which they do not change; an hour holding a transition is
 * answered exactly on every call.
 */
export function offsetsOf(zone: Zone): OffsetAt {
  if (zone.isUniversal) {
    const fixed = zone.offset(0);
    return () => fixed;
  }
  const cache = new Map<number, number>();
  return (ts) => {
    const hour = Math.floor(ts / HOUR);
    const hit = cache.get(hour);
    if (hit !== undefined) return hit;
    const start = hour * HOUR;
    const offset = zone.offset(start);
    if (zone.offset(start + HOUR - 1) !== offset) return zone.offset(ts);
    if (cache.size >= 100_000) cache.clear();
    cache.set(hour, offset);
    return offset;
  };
}

/**
 * The instant a wall-clock time (its fields read as if UTC: `wall`) names in a zone.
 * Deterministic where luxon's guess depends on today's offset: an ambiguous time (the repeated
 * hour when clocks go back) is the earlier instant; a time in the gap when clocks go forward is
 * moved forward by the gap (02:30 on a spring-forward night in New York is 03:30 EDT).
 */
export function resolveWallTime(wall: number, offsetAt: OffsetAt): number {
  const before = offsetAt(wall - DAY);
  const after = offsetAt(wall + DAY);
  if (before === after) return wall - before * 60_000; // no transition near: the usual case
  const early = wall - before * 60_000;
  const late = wall - after * 60_000;
  const earlyValid = offsetAt(early) === before;
  const lateValid = offsetAt(late) === after;
  if (earlyValid && lateValid) return Math.min(early, late);
  if (lateValid) return late;
  return early; // valid, or in the gap: read with the offset before the jump, i.e. moved forward
}

// The common ISO 8601 shapes, parsed without luxon: 2024-03-10, 2024-03-10T06:30, with :ss,
// .fraction and Z / ±hh / ±hhmm / ±hh:mm. Everything else (and any field out of range) goes to
// luxon, which decides; a property test keeps both readings equal.
const ISO_FAST = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(year: number, month: number): number {
  return month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : DAYS_IN_MONTH[month - 1]!;
}

function fastIso(text: string, offsetAt: OffsetAt): number | undefined {
  const m = ISO_FAST.exec(text);
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (year < 100 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let ms = 0;
  if (m[4] !== undefined) {
    hour = Number(m[4]);
    minute = Number(m[5]);
    second = m[6] === undefined ? 0 : Number(m[6]);
    if (hour > 23 || minute > 59 || second > 59) return undefined;
    if (m[7] !== undefined) ms = Number(`${m[7]}00`.slice(0, 3));
  }
  const wall = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (m[8] !== undefined) return wall; // Z
  if (m[9] !== undefined) {
    const hours = Number(m[10]);
    const minutes = m[11] === undefined ? 0 : Number(m[11]);
    if (hours > 23 || minutes > 59) return undefined;
    return wall - (m[9] === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
  }
  return resolveWallTime(wall, offsetAt);
}

const YEAR_FIRST = /^\d{4}/;

/**
 * Parses a date or date-time to epoch milliseconds, NaN when it is not one: ISO 8601 (as luxon's
 * `DateTime.fromISO` reads it, starting with a four-digit year, so a bare time such as `10:00`
 * is not a date) or RFC 2822 (`Sun, 10 Mar 2024 06:30:00 +0000`). Values without an offset are
 * read as wall-clock times in `zone` (default UTC); `offsetAt` may pass a cached lookup for it.
 */
export function parseInstant(value: string, zone: Zone = FixedOffsetZone.utcInstance, offsetAt?: OffsetAt): number {
  const fast = fastIso(value, offsetAt ?? (zone === FixedOffsetZone.utcInstance ? utcOffset : offsetsOf(zone)));
  if (fast !== undefined) return fast;
  if (YEAR_FIRST.test(value)) {
    const iso = DateTime.fromISO(value, { zone });
    if (iso.isValid) return iso.toMillis();
  }
  const rfc = DateTime.fromRFC2822(value, { zone });
  return rfc.isValid ? rfc.toMillis() : Number.NaN;
}

/** An ISO 8601 date or date-time, or an RFC 2822 date-time. */
export function isDate(value: string): boolean {
  return !Number.isNaN(parseInstant(value));
}

/**
 * The format predicates over a primitive field value, as validate rules apply them: text is
 * checked as is; a number is checked as its decimal text for `phone`, and as epoch milliseconds
 * for `date`; a number is never an email or URL; a boolean matches no format.
 */
export const formats: Readonly<Record<FormatName, (value: string | number | boolean) => boolean>> = {
  email: (value) => typeof value === 'string' && isEmail(value),
  phone: (value) =>
    typeof value === 'string' ? isPhone(value) : typeof value === 'number' && Number.isInteger(value) && value >= 0 && isPhone(String(value)),
  url: (value) => typeof value === 'string' && isUrl(value),
  date: (value) =>
    typeof value === 'string' ? isDate(value) : typeof value === 'number' && Math.abs(value) <= MAX_INSTANT,
};

/** How each format is named in a failure message: `"bob@" is not a valid email`. */
export const formatLabels: Readonly<Record<FormatName, string>> = {
  email: 'a valid email',
  phone: 'a valid phone number',
  url: 'a valid http(s) URL',
  date: 'a valid ISO 8601 or RFC 2822 date',
};

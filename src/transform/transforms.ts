/**
 * Map transforms: the config schema of each, and the compiler that turns a parsed transform into
 * a function for the hot path. Compiling checks nothing the schema has not already checked; it
 * precompiles regexes and zones so applying a transform costs no parsing of the config.
 */
import { z } from 'zod';
import { DateTime, FixedOffsetZone, IANAZone, type Zone } from 'luxon';
import { MAX_INSTANT, offsetsOf, parseInstant } from './formats.js';
import { toText } from './text.js';

/** Why a regex cannot be compiled, or undefined when it can. Used by schema refinements. */
export function regexError(pattern: string, flags = ''): string | undefined {
  try {
    new RegExp(pattern, flags);
    return undefined;
  } catch (error) {
    return (error as Error).message; // "Invalid regular expression: /(/: Unterminated group"
  }
}

export const transformNames = ['trim', 'lowercase', 'uppercase', 'digits_only'] as const;
export const transformTypes = ['date', 'truncate', 'replace'] as const;

export const transformName = z
  .enum(transformNames)
  .describe(
    'A transform without options: trim (strip leading and trailing whitespace), lowercase, uppercase, ' +
      'digits_only (keep only the characters 0-9). Numbers and booleans are converted to text first.',
  );

export const dateTransform = z
  .object({
    type: z.literal('date').describe('Parse a date and write it in a given format and timezone.'),
    format: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Output pattern in luxon tokens (e.g. "yyyy-MM-dd HH:mm:ss", quote literal text: "yyyy-MM-dd\'T\'HH:mm"), ' +
          'rendered in the en-US locale. When absent the output is ISO 8601 with the offset (e.g. 2024-03-10T03:00:00-04:00; ' +
          'Z in UTC), milliseconds only when non-zero. Zone-name tokens (z, ZZZZ, ZZZZZ) and macros (D, t, f…) are much slower.',
      ),
    timezone: z
      .string()
      .refine((zone) => IANAZone.isValidZone(zone), { message: 'unknown timezone; use an IANA name such as America/New_York or UTC' })
      .default('UTC')
      .describe(
        'IANA timezone the output is written in. Inputs with an offset (or Z) are converted to it; ' +
          'inputs without one (2024-03-10, 2024-03-10T09:00) are read as local times in it: a time repeated ' +
          'when clocks go back is the earlier one, a time skipped when clocks go forward moves forward by the gap.',
      ),
  })
  .strict()
  .describe(
    'Accepts an ISO 8601 string, an RFC 2822 string, epoch milliseconds (a number) or a Date; ' +
      'anything else fails the item with MAP_TRANSFORM_FAILED.',
  );

export const truncateTransform = z
  .object({
    type: z.literal('truncate').describe('Cut text to at most `length` characters.'),
    length: z.number().int().nonnegative().describe('Maximum length in characters (Unicode code points; a surrogate pair is never split).'),
  })
  .strict();

const ALLOWED_FLAGS = /^[gimsuv]*$/;

export const replaceTransform = z
  .object({
    type: z.literal('replace').describe('Replace matches of a regular expression.'),
    pattern: z.string().describe('JavaScript regular expression (without slashes).'),
    with: z.string().default('').describe('Replacement text; $1, $<name> and $& refer to the match as in String.prototype.replace.'),
    flags: z
      .string()
      .regex(ALLOWED_FLAGS, { message: 'flags may only contain g, i, m, s, u, v' })
      .default('')
      .describe('Regex flags: g replaces every match (without it only the first match is replaced), i ignores case, also m, s, u, v.'),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (!ALLOWED_FLAGS.test(value.flags)) return; // already reported on flags
    const flagProblem = regexError('', value.flags); // repeated flags, or u with v
    if (flagProblem !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['flags'], message: flagProblem });
      return;
    }
    const problem = regexError(value.pattern, value.flags);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['pattern'], message: problem });
  });

export const transformObject = z.discriminatedUnion('type', [dateTransform, truncateTransform, replaceTransform]);

// zod reports a failed union as one opaque "Invalid input" holding every branch's issues. The
// branch is decided by the input's shape (text → a name, object → a typed transform, list →
// steps), so these explain the issue of the branch the user meant.
type UnionIssue = { readonly input?: unknown; readonly errors?: ReadonlyArray<ReadonlyArray<{ readonly path?: ReadonlyArray<PropertyKey>; readonly message: string }>> };

const typeList = transformTypes.join(', ');
const nameList = transformNames.join(', ');

function firstIssue(issue: UnionIssue, branch: number): string | undefined {
  const first = issue.errors?.[branch]?.[0];
  if (first === undefined) return undefined;
  const path = (first.path ?? []).map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('').replace(/^\./, '');
  return path === '' ? first.message : `${path}: ${first.message}`;
}

function explainStep(issue: UnionIssue): string {
  const input = issue.input;
  if (typeof input === 'string') return `unknown transform "${input}"; expected one of ${nameList}, or an object with type ${typeList}`;
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    const type = (input as { type?: unknown }).type;
    if (!(transformTypes as readonly unknown[]).includes(type)) {
      return type === undefined
        ? `a transform object needs a type: one of ${typeList}`
        : `unknown transform type ${JSON.stringify(type)}; expected one of ${typeList}`;
    }
    return firstIssue(issue, 1) ?? 'invalid transform';
  }
  return `expected a transform name (${nameList}) or an object with type ${typeList}`;
}

export const transformStep = z.union([transformName, transformObject], { error: (issue) => explainStep(issue as UnionIssue) });

export const transformList = z
  .union([transformStep, z.array(transformStep).min(1)], {
    error: (issue) => {
      const input = (issue as UnionIssue).input;
      if (Array.isArray(input)) return firstIssue(issue as UnionIssue, 1) ?? 'invalid transform list';
      return firstIssue(issue as UnionIssue, 0) ?? 'invalid transform';
    },
  })
  .describe('Transforms applied in order: one transform, or a list. Each is a name (trim, lowercase, uppercase, digits_only) or an object with a type (date, truncate, replace).');

export type TransformStep = z.output<typeof transformStep>;
export type TransformList = z.output<typeof transformList>;

/** Returned (never thrown) by a compiled transform that cannot apply to a value. */
export class TransformFailure {
  constructor(
    readonly transform: string,
    readonly reason: string,
  ) {}
}

/**
 * A compiled transform. Receives a value that is neither null nor undefined; returns the new
 * value, or a TransformFailure that the mapper turns into a MappingError naming item and field.
 */
export type TransformFn = (value: unknown) => unknown;

const PREVIEW = 40;

/** A value as failure messages quote it: text in quotes, cut to 40 characters. */
export function preview(value: unknown): string {
  if (typeof value === 'string') {
    if (value.length <= PREVIEW) return JSON.stringify(value);
    const head = Array.from(value.slice(0, PREVIEW * 2)).slice(0, PREVIEW).join('');
    return JSON.stringify(head.length < value.length ? `${head}…` : value);
  }
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid Date' : value.toISOString();
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** Text a string transform works on, or the failure naming what it found instead. */
function asText(name: string, value: unknown): string | TransformFailure {
  return toText(value) ?? new TransformFailure(name, `${preview(value)} is not text`);
}

function textTransform(name: string, apply: (text: string) => string): TransformFn {
  return (value) => {
    const text = asText(name, value);
    return typeof text === 'string' ? apply(text) : text;
  };
}

const NON_DIGITS = /\D+/g;

function truncate(text: string, length: number): string {
  if (text.length <= length) return text; // code points ≤ UTF-16 units
  let units = 0;
  let points = 0;
  while (units < text.length && points < length) {
    const code = text.charCodeAt(units);
    units += code >= 0xd800 && code <= 0xdbff && units + 1 < text.length ? 2 : 1;
    points++;
  }
  return text.slice(0, units);
}

/** The zone luxon itself would use for `name`: "UTC" and "GMT" (any case) are the fixed UTC zone. */
function zoneFor(name: string): Zone {
  const lowered = name.toLowerCase();
  return lowered === 'utc' || lowered === 'gmt' ? FixedOffsetZone.utcInstance : IANAZone.create(name);
}

// Date output. luxon's toFormat re-parses the pattern and asks Intl for the zone's offset on every
// call (about 20µs); the date transform instead compiles the pattern once into pieces over a
// wall-clock Date, with offsets from a per-hour cache. Only luxon's numeric, English month and
// weekday, meridiem and offset tokens are compiled; a pattern with any other token (zone names,
// macros such as D or t, week numbers) is rendered by luxon itself. A property test keeps both
// renderings equal.

/** Renders one piece of the output from the wall-clock time (a Date whose UTC fields are local) and the offset. */
type Piece = (wall: Date, offset: number) => string;

const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const MONTHS_SHORT = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const WEEKDAYS_SHORT = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

function offsetText(offset: number, format: 'narrow' | 'short' | 'techie'): string {
  const sign = offset >= 0 ? '+' : '-';
  const hours = Math.trunc(Math.abs(offset / 60));
  const minutes = Math.trunc(Math.abs(offset % 60));
  if (format === 'narrow') return `${sign}${hours}${minutes > 0 ? `:${minutes}` : ''}`;
  return format === 'short' ? `${sign}${pad(hours, 2)}:${pad(minutes, 2)}` : `${sign}${pad(hours, 2)}${pad(minutes, 2)}`;
}

const hour12 = (wall: Date): number => wall.getUTCHours() % 12 || 12;

const TOKENS: Readonly<Record<string, Piece>> = {
  S: (w) => String(w.getUTCMilliseconds()),
  SSS: (w) => pad(w.getUTCMilliseconds(), 3),
  u: (w) => pad(w.getUTCMilliseconds(), 3),
  s: (w) => String(w.getUTCSeconds()),
  ss: (w) => pad(w.getUTCSeconds(), 2),
  m: (w) => String(w.getUTCMinutes()),
  mm: (w) => pad(w.getUTCMinutes(), 2),
  h: (w) => String(hour12(w)),
  hh: (w) => pad(hour12(w), 2),
  H: (w) => String(w.getUTCHours()),
  HH: (w) => pad(w.getUTCHours(), 2),
  Z: (_, offset) => offsetText(offset, 'narrow'),
  ZZ: (_, offset) => offsetText(offset, 'short'),
  ZZZ: (_, offset) => offsetText(offset, 'techie'),
  a: (w) => (w.getUTCHours() < 12 ? 'AM' : 'PM'),
  d: (w) => String(w.getUTCDate()),
  dd: (w) => pad(w.getUTCDate(), 2),
  EEE: (w) => WEEKDAYS_SHORT[w.getUTCDay()]!,
  EEEE: (w) => WEEKDAYS[w.getUTCDay()]!,
  ccc: (w) => WEEKDAYS_SHORT[w.getUTCDay()]!,
  cccc: (w) => WEEKDAYS[w.getUTCDay()]!,
  M: (w) => String(w.getUTCMonth() + 1),
  MM: (w) => pad(w.getUTCMonth() + 1, 2),
  L: (w) => String(w.getUTCMonth() + 1),
  LL: (w) => pad(w.getUTCMonth() + 1, 2),
  MMM: (w) => MONTHS_SHORT[w.getUTCMonth()]!,
  MMMM: (w) => MONTHS[w.getUTCMonth()]!,
  LLL: (w) => MONTHS_SHORT[w.getUTCMonth()]!,
  LLLL: (w) => MONTHS[w.getUTCMonth()]!,
  y: (w) => String(w.getUTCFullYear()),
  yy: (w) => String(w.getUTCFullYear()).slice(-2),
  yyyy: (w) => pad(w.getUTCFullYear(), 4),
};

const LETTER = /[A-Za-z]/;
const ONLY_WHITESPACE = /^\s+$/;

/** luxon's Formatter.parseFormat: quoted text and whitespace runs are literal, other runs of one character are tokens. */
function splitFormat(format: string): Array<{ literal: boolean; value: string }> {
  const parts: Array<{ literal: boolean; value: string }> = [];
  let current: string | null = null;
  let run = '';
  let quoted = false;
  for (const c of format) {
    if (c === "'") {
      if (run.length > 0 || quoted) parts.push({ literal: quoted || ONLY_WHITESPACE.test(run), value: run === '' ? "'" : run });
      current = null;
      run = '';
      quoted = !quoted;
    } else if (quoted || c === current) {
      run += c;
    } else {
      if (run.length > 0) parts.push({ literal: ONLY_WHITESPACE.test(run), value: run });
      run = c;
      current = c;
    }
  }
  if (run.length > 0) parts.push({ literal: quoted || ONLY_WHITESPACE.test(run), value: run });
  return parts;
}

/** Compiles a luxon pattern for the fast path; undefined when it uses a token only luxon renders. */
function compileFormat(format: string): ((wall: Date, offset: number) => string) | undefined {
  const pieces: Array<string | Piece> = [];
  for (const part of splitFormat(format)) {
    const piece = part.literal ? undefined : TOKENS[part.value];
    if (piece !== undefined) pieces.push(piece);
    else if (part.literal || !LETTER.test(part.value)) pieces.push(part.value); // luxon writes unknown non-letter runs as they are
    else return undefined;
  }
  return (wall, offset) => {
    let out = '';
    for (const piece of pieces) out += typeof piece === 'string' ? piece : piece(wall, offset);
    return out;
  };
}

/** luxon's toISO({ suppressMilliseconds: true }): Z only for the fixed UTC zone. */
function isoFormatter(utc: boolean): (wall: Date, offset: number) => string {
  return (wall, offset) => {
    const ms = wall.getUTCMilliseconds();
    return `${pad(wall.getUTCFullYear(), 4)}-${pad(wall.getUTCMonth() + 1, 2)}-${pad(wall.getUTCDate(), 2)}T${pad(wall.getUTCHours(), 2)}:${
      pad(wall.getUTCMinutes(), 2)}:${pad(wall.getUTCSeconds(), 2)}${ms === 0 ? '' : `.${pad(ms, 3)}`}${utc ? 'Z' : offsetText(offset, 'short')}`;
  };
}

function dateTransformFn(spec: z.output<typeof dateTransform>): TransformFn {
  const zone = zoneFor(spec.timezone);
  const offsetAt = offsetsOf(zone);
  const format = spec.format;
  const fast = format === undefined ? isoFormatter(zone === FixedOffsetZone.utcInstance) : compileFormat(format);
  const slow = (ts: number): string => {
    const dt = DateTime.fromMillis(ts, { zone, locale: 'en-US' });
    return format === undefined ? dt.toISO({ suppressMilliseconds: true })! : dt.toFormat(format);
  };
  return (value) => {
    let ts: number;
    if (typeof value === 'string') ts = parseInstant(value, zone, offsetAt);
    else if (typeof value === 'number') ts = value;
    else if (value instanceof Date) ts = value.getTime();
    else return new TransformFailure('date', `${preview(value)} is not a date (expected an ISO 8601 or RFC 2822 string, or epoch milliseconds)`);
    if (!(Math.abs(ts) <= MAX_INSTANT)) {
      return new TransformFailure('date', `${preview(value)} is not an ISO 8601 or RFC 2822 date, nor epoch milliseconds`);
    }
    const offset = offsetAt(ts);
    const wall = new Date(ts + offset * 60_000);
    const year = wall.getUTCFullYear();
    // luxon writes years outside 0000-9999 in its own extended forms: let it.
    return fast !== undefined && year >= 1000 && year <= 9999 ? fast(wall, offset) : slow(ts);
  };
}

/** Compiles one parsed transform into a function; regexes and zones are built here, once. */
export function compileTransform(spec: TransformStep): TransformFn {
  if (typeof spec === 'string') {
    switch (spec) {
      case 'trim':
        return textTransform(spec, (text) => text.trim());
      case 'lowercase':
        return textTransform(spec, (text) => text.toLowerCase());
      case 'uppercase':
        return textTransform(spec, (text) => text.toUpperCase());
      case 'digits_only':
        return textTransform(spec, (text) => text.replace(NON_DIGITS, ''));
    }
  }
  switch (spec.type) {
    case 'date':
      return dateTransformFn(spec);
    case 'truncate': {
      const length = spec.length;
      return textTransform('truncate', (text) => truncate(text, length));
    }
    case 'replace': {
      // Without g or y, String.prototype.replace never reads or writes lastIndex, and with g it
      // resets it, so one RegExp object is safe to share across records.
      const regex = new RegExp(spec.pattern, spec.flags);
      const replacement = spec.with;
      return textTransform('replace', (text) => text.replace(regex, replacement));
    }
  }
}

/** Compiles a transform or list of transforms into one function applying them in order. */
export function compileTransforms(list: TransformList): TransformFn {
  const steps = (Array.isArray(list) ? list : [list]).map(compileTransform);
  if (steps.length === 1) return steps[0]!;
  return (value) => {
    let current = value;
    for (const apply of steps) {
      current = apply(current);
      if (current instanceof TransformFailure) return current;
    }
    return current;
  };
}

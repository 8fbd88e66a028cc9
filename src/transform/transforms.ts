/**
 * Map transforms: the config schema of each, and the compiler that turns a parsed transform into
 * a function for the hot path. Compiling checks nothing the schema has not already checked; it
 * precompiles regexes and zones so applying a transform costs no parsing of the config.
 */
import { z } from 'zod';
import { DateTime, FixedOffsetZone, IANAZone, type DateTimeOptions, type Zone } from 'luxon';
import { parseDate } from './formats.js';

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
        'Output pattern in luxon tokens (e.g. "yyyy-MM-dd HH:mm:ss"), rendered in the en-US locale. ' +
          'When absent the output is ISO 8601 with the offset (e.g. 2024-03-10T03:00:00-04:00), milliseconds only when non-zero.',
      ),
    timezone: z
      .string()
      .refine((zone) => IANAZone.isValidZone(zone), { message: 'unknown timezone; use an IANA name such as America/New_York or UTC' })
      .default('UTC')
      .describe(
        'IANA timezone the output is written in. Inputs with an offset (or Z) are converted to it; ' +
          'inputs without one (2024-03-10, 2024-03-10T09:00) are read as local times in it.',
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

/** Text a string transform works on: strings as is; numbers, booleans and bigints via String(). */
function asText(name: string, value: unknown): string | TransformFailure {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    default:
      return new TransformFailure(name, `${preview(value)} is not text`);
  }
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

function zoneFor(name: string): Zone {
  return name === 'UTC' || name === 'Etc/UTC' ? FixedOffsetZone.utcInstance : IANAZone.create(name);
}

function dateTransformFn(spec: z.output<typeof dateTransform>): TransformFn {
  const options: DateTimeOptions = { zone: zoneFor(spec.timezone), locale: 'en-US' };
  const format = spec.format;
  return (value) => {
    let parsed: DateTime;
    if (typeof value === 'string') parsed = parseDate(value, options);
    else if (typeof value === 'number') parsed = Number.isFinite(value) ? DateTime.fromMillis(value, options) : DateTime.invalid('not finite');
    else if (value instanceof Date) parsed = DateTime.fromJSDate(value, options);
    else return new TransformFailure('date', `${preview(value)} is not a date (expected an ISO 8601 or RFC 2822 string, or epoch milliseconds)`);
    if (!parsed.isValid) {
      return new TransformFailure('date', `${preview(value)} is not an ISO 8601 or RFC 2822 date, nor epoch milliseconds`);
    }
    return format === undefined ? parsed.toISO({ suppressMilliseconds: true }) : parsed.toFormat(format);
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

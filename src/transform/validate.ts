/**
 * The validate stage: `validate.required` and `validate.rules`, checked per item before map.
 * `buildValidator` compiles the parsed config once into closures (regexes built, paths split,
 * enum sets made); the returned function is the hot path: for a valid record it allocates only
 * the result (two empty arrays), and it never runs zod.
 *
 * Semantics, in one place:
 * - A value is *missing* when it is absent, null, or a string of only whitespace (including "").
 *   `required` fails a missing field with VALIDATE_REQUIRED, always blocking. Rules skip a missing
 *   field, so an empty optional CSV cell passes its rules; make the field required to demand it.
 * - `type` is strict: "12" is text, not a number; `number` excludes NaN and ±Infinity; `integer`
 *   is a number with no fraction; `object` is a non-array object.
 * - `format`, `pattern`, `enum`, `min_length`/`max_length` look at text: numbers and booleans are
 *   checked as their String() form; objects and arrays fail with VALIDATE_TYPE. `pattern` is
 *   unanchored (add ^ and $); lengths count Unicode code points; `enum` compares text forms, so
 *   `enum: [1, 2]` accepts 1 and "1".
 * - `min`/`max` apply to numbers only; any other value (including "12") fails with VALIDATE_TYPE.
 * - Every failure of an item is reported, not just the first. Within one rule, a failed `type`
 *   (or a value that is not text for text checks) stops that rule's remaining checks.
 * - `severity: warn` moves a rule's failures to `warnings`: the item passes and they are counted.
 */
import { z } from 'zod';
import type { Row } from '../core/item.js';
import type { ErrorCode } from '../errors/codes.js';
import { ladingError, type LadingError } from '../errors/lading-error.js';
import type { ItemRef } from '../formats/types.js';
import { formatLabels, formatNames, formats } from './formats.js';
import { toText } from './text.js';
import { compilePath, type PathGetter } from './path.js';
import { preview, regexError } from './transforms.js';

export const valueTypes = ['string', 'number', 'integer', 'boolean', 'object', 'array'] as const;
export type ValueType = (typeof valueTypes)[number];

const checkKeys = ['type', 'format', 'pattern', 'enum', 'min', 'max', 'min_length', 'max_length'] as const;
const textKeys = ['format', 'pattern', 'enum', 'min_length', 'max_length'] as const;

export const validateRule = z
  .object({
    type: z
      .enum(valueTypes)
      .optional()
      .describe('Required JSON type, strictly: "12" is a string, not a number or integer. Fails with VALIDATE_TYPE.'),
    format: z
      .enum(formatNames)
      .optional()
      .describe(
        'Named format (VALIDATE_FORMAT), checked on the value without surrounding whitespace. email: one @, a dot in the domain, no spaces; phone: 7-15 digits once spaces, ' +
          'dashes, dots, parentheses and a leading + are removed; url: absolute http/https; date: ISO 8601 date or ' +
          'date-time, RFC 2822, or epoch milliseconds (a number).',
      ),
    pattern: z
      .string()
      .superRefine((pattern, ctx) => {
        const problem = regexError(pattern);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .describe('JavaScript regular expression the value must match (VALIDATE_PATTERN). Unanchored: write ^…$ to match the whole value.'),
    enum: z
      .array(z.union([z.string(), z.number(), z.boolean()]))
      .min(1)
      .optional()
      .describe('Allowed values (VALIDATE_ENUM), compared as text: enum [1, 2] accepts 1 and "1".'),
    min: z.number().optional().describe('Smallest allowed number, inclusive (VALIDATE_RANGE). Applies to numbers only: a non-number fails with VALIDATE_TYPE.'),
    max: z.number().optional().describe('Largest allowed number, inclusive (VALIDATE_RANGE). Applies to numbers only: a non-number fails with VALIDATE_TYPE.'),
    min_length: z.number().int().nonnegative().optional().describe('Shortest allowed length in characters (Unicode code points), inclusive (VALIDATE_LENGTH).'),
    max_length: z.number().int().nonnegative().optional().describe('Longest allowed length in characters (Unicode code points), inclusive (VALIDATE_LENGTH).'),
    severity: z
      .enum(['block', 'warn'])
      .default('block')
      .describe('block: a failure fails the item. warn: the item passes and the failure is counted as a warning.'),
    message: z
      .string()
      .min(1)
      .optional()
      .describe('Custom text for this rule\'s failures; lading still prefixes the item and field and appends the value found.'),
  })
  .strict()
  .superRefine((rule, ctx) => {
    if (checkKeys.every((key) => rule[key] === undefined)) {
      ctx.addIssue({ code: 'custom', message: `a rule needs at least one check: ${checkKeys.join(', ')}` });
    }
    if (rule.min !== undefined && rule.max !== undefined && rule.min > rule.max) {
      ctx.addIssue({ code: 'custom', path: ['max'], message: `max (${rule.max}) is less than min (${rule.min})` });
    }
    if (rule.min_length !== undefined && rule.max_length !== undefined && rule.min_length > rule.max_length) {
      ctx.addIssue({ code: 'custom', path: ['max_length'], message: `max_length (${rule.max_length}) is less than min_length (${rule.min_length})` });
    }
    if ((rule.min !== undefined || rule.max !== undefined) && rule.type !== undefined && rule.type !== 'number' && rule.type !== 'integer') {
      ctx.addIssue({ code: 'custom', path: ['type'], message: `min/max apply to numbers; type ${rule.type} can never satisfy them (use number or integer)` });
    }
    const text = textKeys.filter((key) => rule[key] !== undefined);
    if (text.length > 0 && (rule.type === 'object' || rule.type === 'array')) {
      ctx.addIssue({ code: 'custom', path: ['type'], message: `${text.join(', ')} check text; type ${rule.type} can never satisfy them` });
    }
  })
  .describe('Checks on one field. A field that is absent, null or blank is skipped (use required to demand it).');

export const validateConfig = z
  .object({
    required: z
      .array(z.string().min(1))
      .default([])
      .describe('Fields (dot paths such as meta.ip) that must be present, not null and not blank; otherwise the item fails with VALIDATE_REQUIRED.'),
    rules: z
      .record(z.string().min(1), validateRule)
      .default({})
      .describe('Field (dot path) → rule. Every failure of an item is reported, not just the first.'),
  })
  .strict()
  .describe('Per-item checks run before map. Failed items are recorded with their errors and not delivered.');

export type ValidateConfig = z.output<typeof validateConfig>;
export type ValidateRule = z.output<typeof validateRule>;

/** What a validator returns; the arrays are new for each record and the caller's to keep. */
export interface ValidationResult {
  /** Blocking failures: the item fails when there is at least one. */
  failures: LadingError[];
  /** severity: warn failures: the item passes; these are counted. */
  warnings: LadingError[];
}

export type Validator = (record: Row, item: ItemRef) => ValidationResult;

interface Problem {
  readonly code: ErrorCode;
  readonly detail: string;
  /** Skip the rule's remaining checks (the value has the wrong shape for them). */
  readonly stop?: boolean;
}

type Check = (value: unknown) => Problem | undefined;

interface CompiledRule {
  readonly field: string;
  readonly get: PathGetter;
  readonly warn: boolean;
  readonly message: string | undefined;
  readonly checks: readonly Check[];
}

function isWhitespace(code: number): boolean {
  // The characters String.prototype.trim removes.
  return (
    code === 32 || (code >= 9 && code <= 13) || code === 0xa0 || code === 0xfeff || code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000
  );
}

/** Why a value counts as missing, or undefined when it is present. */
function missing(value: unknown): string | undefined {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    if (value.length === 0) return 'empty';
    // Most values start with a visible character: decide without scanning or allocating.
    if (isWhitespace(value.charCodeAt(0)) && value.trim().length === 0) return 'blank (only whitespace)';
  }
  return undefined;
}

const typeLabels: Record<ValueType, string> = {
  string: 'text', number: 'a number', integer: 'an integer', boolean: 'a boolean', object: 'an object', array: 'an array',
};

const typeTests: Record<ValueType, (value: unknown) => boolean> = {
  string: (value) => typeof value === 'string',
  number: (value) => typeof value === 'number' && Number.isFinite(value),
  integer: (value) => Number.isInteger(value),
  boolean: (value) => typeof value === 'boolean',
  object: (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
  array: (value) => Array.isArray(value),
};

/** The value as a failure names it: `text "12"`, `12.5`, `an object`. */
function found(value: unknown): string {
  return typeof value === 'string' ? `text ${preview(value)}` : preview(value);
}


function codePoints(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!(code >= 0xdc00 && code <= 0xdfff && i > 0 && isHighSurrogate(text.charCodeAt(i - 1)))) count++;
  }
  return count;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function listOf(values: readonly unknown[]): string {
  const shown = values.slice(0, 10).map((value) => (typeof value === 'string' ? JSON.stringify(value) : String(value)));
  return values.length > 10 ? `${shown.join(', ')}, … (${values.length} values)` : shown.join(', ');
}

function compileChecks(rule: ValidateRule): Check[] {
  const checks: Check[] = [];

  if (rule.type !== undefined) {
    const test = typeTests[rule.type];
    const detail = `expected ${typeLabels[rule.type]}`;
    checks.push((value) => (test(value) ? undefined : { code: 'VALIDATE_TYPE', detail: `${detail}, found ${found(value)}`, stop: true }));
  }

  const hasText = textKeys.some((key) => rule[key] !== undefined);
  if (hasText) {
    checks.push((value) =>
      toText(value) === undefined
        ? { code: 'VALIDATE_TYPE', detail: `expected text, a number or a boolean, found ${found(value)}`, stop: true }
        : undefined,
    );
  }

  if (rule.format !== undefined) {
    const test = formats[rule.format];
    const label = formatLabels[rule.format];
    // Surrounding whitespace is not held against a format: validate runs before map, whose trim removes it.
    checks.push((value) =>
      test(typeof value === 'string' ? value.trim() : (value as number | boolean)) ? undefined : { code: 'VALIDATE_FORMAT', detail: `${preview(value)} is not ${label}` },
    );
  }

  if (rule.pattern !== undefined) {
    const regex = new RegExp(rule.pattern); // no flags: test() keeps no state between records
    const shown = `/${rule.pattern}/`;
    checks.push((value) =>
      regex.test(toText(value)!) ? undefined : { code: 'VALIDATE_PATTERN', detail: `${preview(value)} does not match ${shown}` },
    );
  }

  if (rule.enum !== undefined) {
    const allowed = new Set(rule.enum.map(String));
    const shown = listOf(rule.enum);
    checks.push((value) =>
      allowed.has(toText(value)!) ? undefined : { code: 'VALIDATE_ENUM', detail: `${preview(value)} is not one of ${shown}` },
    );
  }

  if (rule.min_length !== undefined || rule.max_length !== undefined) {
    const min = rule.min_length ?? 0;
    const max = rule.max_length ?? Infinity;
    checks.push((value) => {
      const text = toText(value)!;
      // A string has between length/2 and length code points: decide without counting when we can.
      if (text.length <= max && text.length >= 2 * min) return undefined;
      const length = codePoints(text);
      if (length < min) return { code: 'VALIDATE_LENGTH', detail: `${preview(value)} is ${length} characters long, shorter than min_length ${min}` };
      if (length > max) return { code: 'VALIDATE_LENGTH', detail: `${preview(value)} is ${length} characters long, longer than max_length ${max}` };
      return undefined;
    });
  }

  if (rule.min !== undefined || rule.max !== undefined) {
    const min = rule.min ?? -Infinity;
    const max = rule.max ?? Infinity;
    checks.push((value) => {
      if (typeof value !== 'number' || Number.isNaN(value)) {
        return { code: 'VALIDATE_TYPE', detail: `expected a number (min/max apply to numbers only), found ${found(value)}`, stop: true };
      }
      if (value < min) return { code: 'VALIDATE_RANGE', detail: `${value} is less than min ${min}` };
      if (value > max) return { code: 'VALIDATE_RANGE', detail: `${value} is greater than max ${max}` };
      return undefined;
    });
  }

  return checks;
}

function compileRule(field: string, rule: ValidateRule): CompiledRule {
  return { field, get: compilePath(field), warn: rule.severity === 'warn', message: rule.message, checks: compileChecks(rule) };
}

/** The field paths `config` reads from a record: its required fields and those its rules check. */
export const validatedFields = (config: ValidateConfig | undefined): string[] =>
  config === undefined ? [] : [...config.required, ...Object.keys(config.rules)];

/**
 * Compiles `validate` into a per-record function. No config (undefined) accepts every record.
 * The config must come from `validateConfig.parse` (regexes are trusted to compile).
 */
export function buildValidator(config: ValidateConfig | undefined): Validator {
  if (config === undefined) return () => ({ failures: [], warnings: [] });
  const required = config.required.map((field) => ({ field, get: compilePath(field) }));
  const rules = Object.entries(config.rules).map(([field, rule]) => compileRule(field, rule));

  return (record, item) => {
    let failures: LadingError[] | undefined;
    let warnings: LadingError[] | undefined;

    for (const { field, get } of required) {
      const why = missing(get(record));
      if (why !== undefined) {
        (failures ??= []).push(
          ladingError('VALIDATE_REQUIRED', `${item.describe}, field "${field}": required value is ${why}`, { itemId: item.id, field }),
        );
      }
    }

    for (const rule of rules) {
      const value = rule.get(record);
      if (missing(value) !== undefined) continue;
      for (const check of rule.checks) {
        const problem = check(value);
        if (problem === undefined) continue;
        const detail = rule.message === undefined ? problem.detail : `${rule.message} (found ${found(value)})`;
        const error = ladingError(problem.code, `${item.describe}, field "${rule.field}": ${detail}`, { itemId: item.id, field: rule.field });
        if (rule.warn) (warnings ??= []).push(error);
        else (failures ??= []).push(error);
        if (problem.stop === true) break;
      }
    }

    return { failures: failures ?? [], warnings: warnings ?? [] };
  };
}

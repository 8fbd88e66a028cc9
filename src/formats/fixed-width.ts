import { z } from 'zod';
import { defineFormat } from '../core/component.js';
import type { Row } from '../core/item.js';
import { ladingError, type LadingError } from '../errors/lading-error.js';
import { charset, describeChar, encodingNames, replaceUnencodable, type Charset } from './charset.js';
import { jsonText } from './json-text.js';
import type { EncoderContext, FormatEncoder, ItemRef } from './types.js';

const numberFormat = z.object({
  type: z.literal('number').describe('Write the value as a decimal number.'),
  decimals: z.number().int().min(0).max(20).default(0).describe('Digits after the decimal point; the value is rounded half away from zero on its decimal digits (1.005 → 1.01).'),
  implied_decimal: z.boolean().default(false).describe('Leave the decimal point out: 12.34 with decimals 2 is written 1234.'),
  sign: z.enum(['leading', 'trailing', 'none']).default('leading')
    .describe('Where "-" goes for a negative number: before the digits (and before zero padding), after them, or nowhere (then a negative value fails the item). Positive numbers carry no sign.'),
  zero_pad: z.boolean().default(false).describe('Fill the field with leading zeros (after a leading sign) instead of fill; the number is right-aligned.'),
}).strict();

const field = z.object({
  name: z.string().min(1).describe('Record field written here.'),
  start: z.number().int().min(1).describe('First position of the field, counted from 1, in bytes of the line.'),
  length: z.number().int().min(1).describe('Width of the field in bytes of the declared encoding (a UTF-8 "é" takes 2).'),
  pad: z.enum(['left', 'right']).optional()
    .describe('Where fill goes when the value is shorter than the field: right (the default: the value is left-aligned) or left (right-aligned).'),
  align: z.enum(['left', 'right']).optional().describe('Another way to say pad: align: right is pad: left. Give one of the two.'),
  fill: z.string().default(' ').describe('One character written to fill the field; it must take one byte in the encoding.'),
  format: numberFormat.optional().describe('Number formatting; without it the value is written as text.'),
}).strict().describe('One field of the line.');

export const fixedWidthConfig = z.object({
  type: z.literal('fixed_width').describe('Fixed-width text: every line has the same width in bytes, each field at a declared position.'),
  fields: z.array(field).min(1).describe('The layout: each field with its start position and length. Fields may be listed in any order.'),
  encoding: z.enum(encodingNames).default('utf-8').describe('Character encoding; widths and positions count bytes in it.'),
  unencodable: z.enum(['replace', 'block']).default('replace')
    .describe('A character the encoding cannot write, or a line break inside a value: replace writes "?" (U+FFFD for a lone surrogate in UTF-8; a space for CR or LF); block fails the item with FORMAT_INVALID_CHARACTER.'),
  line_ending: z.enum(['\n', '\r\n']).default('\r\n').describe('Line ending after every line, header included; not counted in the width.'),
  overflow: z.enum(['truncate', 'block']).default('block')
    .describe('A value wider than its field: block fails the item with FORMAT_VALUE_TOO_WIDE; truncate keeps the start of the value, never splitting a character. Numbers are never truncated.'),
  gaps: z.enum(['error', 'spaces']).default('error')
    .describe('Positions no field covers: error makes them a config error; spaces writes spaces there. Overlapping fields are always an error.'),
  header: z.boolean().default(false).describe('Write a first line with each field name in its field: left-aligned, padded with spaces, cut to the width.'),
}).strict().superRefine((config, ctx) => {
  const cs = charset(config.encoding);
  const byName = new Map<string, number>();
  config.fields.forEach((f, i) => {
    const first = byName.get(f.name);
    if (first === undefined) byName.set(f.name, i);
    else ctx.addIssue({ code: 'custom', path: ['fields', i, 'name'], message: `field "${f.name}" is already declared at fields[${first}]` });
    const fill = [...f.fill];
    const fillCode = f.fill.codePointAt(0);
    if (fill.length !== 1 || fillCode === undefined) {
      ctx.addIssue({ code: 'custom', path: ['fields', i, 'fill'], message: 'fill must be exactly one character' });
    } else if (fillCode === 0x0a || fillCode === 0x0d) {
      ctx.addIssue({ code: 'custom', path: ['fields', i, 'fill'], message: 'fill cannot be a line break' });
    } else if (!cs.canEncode(fillCode) || cs.byteLength(fillCode) !== 1) {
      ctx.addIssue({ code: 'custom', path: ['fields', i, 'fill'], message: `fill ${describeChar(f.fill)} must take exactly one byte in ${config.encoding}` });
    }
    if (f.pad !== undefined && f.align !== undefined && (f.pad === 'left') !== (f.align === 'right')) {
      ctx.addIssue({ code: 'custom', path: ['fields', i, 'align'], message: `align: ${f.align} contradicts pad: ${f.pad} (align: right is pad: left); give one of them` });
    }
    if (f.format?.zero_pad && padSide(f) === 'right' && (f.pad !== undefined || f.align !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['fields', i, 'format', 'zero_pad'], message: 'zero_pad right-aligns the number; remove pad: right / align: left' });
    }
    if (f.format !== undefined) {
      const { decimals, implied_decimal } = f.format;
      const minimum = 1 + (decimals > 0 && !implied_decimal ? 1 + decimals : decimals);
      if (f.length < minimum) {
        ctx.addIssue({ code: 'custom', path: ['fields', i, 'length'], message: `a number with ${decimals} decimals needs at least ${minimum} positions` });
      }
    }
  });
  // Overlaps and gaps, walking the fields by start position.
  const order = config.fields.map((f, i) => ({ f, i })).sort((a, b) => a.f.start - b.f.start || a.i - b.i);
  let covered = 0; // last position covered so far
  let coveredBy = -1;
  for (const { f, i } of order) {
    const last = f.start + f.length - 1;
    if (f.start <= covered && coveredBy >= 0) {
      const other = config.fields[coveredBy]!;
      ctx.addIssue({
        code: 'custom', path: ['fields', i, 'start'],
        message: `field "${f.name}" (positions ${f.start}–${last}) overlaps fields[${coveredBy}] "${other.name}" (positions ${other.start}–${other.start + other.length - 1})`,
      });
    } else if (f.start > covered + 1 && config.gaps === 'error') {
      ctx.addIssue({
        code: 'custom', path: ['fields', i, 'start'],
        message: `positions ${covered + 1}–${f.start - 1} are not covered by any field; declare a field there or set gaps: spaces`,
      });
    }
    if (last > covered) {
      covered = last;
      coveredBy = i;
    }
  }
}).meta({ id: 'format.fixed_width' });

export type FixedWidthConfig = z.output<typeof fixedWidthConfig>;
type FieldConfig = FixedWidthConfig['fields'][number];
type NumberFormat = NonNullable<FieldConfig['format']>;

/** Which side the fill goes on: pad, else the opposite of align, else right (values left-aligned). */
function padSide(f: Pick<FieldConfig, 'pad' | 'align'>): 'left' | 'right' {
  if (f.pad !== undefined) return f.pad;
  if (f.align !== undefined) return f.align === 'right' ? 'left' : 'right';
  return 'right';
}

/** Thrown while rendering one field; encode() turns it into an error naming the item and field. */
class Problem {
  constructor(readonly code: 'FORMAT_INVALID_CHARACTER' | 'FORMAT_VALUE_TOO_WIDE' | 'FORMAT_UNENCODABLE_VALUE', readonly detail: string) {}
}

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/**
 * The number in `value` as sign and digit strings, rounded half away from zero to `decimals`
 * digits, working on the decimal text so 1.005 rounds to 1.01 (as written), not 1.00 (toFixed).
 * Accepts numbers, bigints and decimal strings (surrounding spaces ignored); anything else → undefined.
 */
export function decimalDigits(value: unknown, decimals: number): { negative: boolean; integer: string; fraction: string } | undefined {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    text = String(value);
  } else if (typeof value === 'bigint') {
    text = value.toString();
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    return undefined;
  }
  const match = DECIMAL.exec(text);
  if (match === null) return undefined;
  const [, sign = '', int = '', frac = '', exp = '0'] = match;
  if (int === '' && frac === '') return undefined;
  const exponent = Number(exp);
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 400) return undefined;
  // All digits, and where the decimal point sits among them.
  let digits = int + frac;
  let point = int.length + exponent;
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits += '0'.repeat(point - digits.length);
  const keep = point + decimals;
  let kept = digits.slice(0, keep).padEnd(keep, '0');
  if ((digits.charCodeAt(keep) || 0) >= 0x35 /* '5' */) kept = increment(kept);
  const integerPart = kept.slice(0, kept.length - decimals).replace(/^0+(?=\d)/, '') || '0';
  const fraction = kept.slice(kept.length - decimals);
  const negative = sign === '-' && /[1-9]/.test(integerPart + fraction);
  return { negative, integer: integerPart, fraction };
}

/** "0129" + 1 → "0130"; "99" → "100". */
function increment(digits: string): string {
  const chars = digits.split('');
  for (let i = chars.length - 1; i >= 0; i--) {
    if (chars[i] !== '9') {
      chars[i] = String(Number(chars[i]) + 1);
      return chars.join('');
    }
    chars[i] = '0';
  }
  return `1${chars.join('')}`;
}

interface Slot {
  readonly name: string;
  readonly start: number;
  readonly length: number;
  readonly padLeft: boolean;
  readonly fill: string;
  readonly format: NumberFormat | undefined;
}

/**
 * One line per record; every line is exactly `width` bytes in the declared encoding (plus the
 * line ending), where width is the last position any field covers. A field's length counts bytes,
 * so in UTF-8 a value of 10 characters may not fit 10 positions; truncation cuts between
 * characters (code points) and pads the byte left over, so no character is ever split.
 *
 * Values: strings as is; numbers, booleans and bigints via String(); a Date as toISOString(); other
 * objects as JSON; null, undefined and a missing field as fill only (blank), numbers included.
 * With `format: {type: number}` the value must be a number, a bigint or a decimal string, else
 * the item fails (FORMAT_UNENCODABLE_VALUE); a number that does not fit always fails
 * (FORMAT_VALUE_TOO_WIDE) — cutting digits would change the amount. Positions between fields are
 * spaces (gaps: spaces). A record field that the layout does not place fails the item with
 * FORMAT_UNKNOWN_FIELD rather than being dropped silently; a layout field the record lacks is blank.
 */
class FixedWidthEncoder implements FormatEncoder {
  private readonly slots: readonly Slot[];
  private readonly names: ReadonlySet<string>;
  /** Spaces covering the whole line: gaps keep them, fields overwrite their positions. */
  private readonly width: number;
  private readonly cs: Charset;
  private readonly block: boolean;
  private readonly truncate: boolean;

  constructor(private readonly config: FixedWidthConfig) {
    this.slots = [...config.fields]
      .sort((a, b) => a.start - b.start)
      .map((f) => ({ name: f.name, start: f.start, length: f.length, padLeft: f.format?.zero_pad === true || padSide(f) === 'left', fill: f.fill, format: f.format }));
    this.names = new Set(config.fields.map((f) => f.name));
    this.width = Math.max(...config.fields.map((f) => f.start + f.length - 1));
    this.cs = charset(config.encoding);
    this.block = config.unencodable === 'block';
    this.truncate = config.overflow === 'truncate';
  }

  begin(): Uint8Array {
    if (!this.config.header) return new Uint8Array(0);
    // Names are labels: left-aligned, padded with spaces, cut to the width, unencodable characters replaced.
    return this.line(this.slots.map((slot) => this.fit(this.clean(slot.name, false), { ...slot, padLeft: false, fill: ' ' }, true)));
  }

  encode(record: Row, item: ItemRef): Uint8Array {
    for (const key of Object.keys(record)) {
      if (!this.names.has(key)) throw this.unknownField(item, key);
    }
    const cells: string[] = [];
    for (const slot of this.slots) {
      const value = Object.hasOwn(record, slot.name) ? record[slot.name] : undefined;
      try {
        cells.push(slot.format === undefined ? this.fit(this.clean(this.text(value, item), this.block), slot, this.truncate) : this.number(value, slot, slot.format));
      } catch (error) {
        if (!(error instanceof Problem)) throw error;
        throw this.failure(error, item, slot);
      }
    }
    return this.line(cells);
  }

  end(): Uint8Array {
    return new Uint8Array(0);
  }

  /** Joins cells (each exactly its field's byte width) with spaces in the gaps, and encodes the line. */
  private line(cells: readonly string[]): Buffer {
    let text = '';
    let position = 1;
    this.slots.forEach((slot, i) => {
      if (slot.start > position) text += ' '.repeat(slot.start - position);
      text += cells[i]!;
      position = slot.start + slot.length;
    });
    const bytes = this.cs.encode(text + this.config.line_ending);
    if (bytes.byteLength !== this.width + this.config.line_ending.length) {
      // A broken invariant, not bad data: the width arithmetic above and the charset disagree.
      throw new Error(`fixed_width: rendered ${bytes.byteLength} bytes, expected ${this.width + this.config.line_ending.length}`);
    }
    return bytes;
  }

  private text(value: unknown, item: ItemRef): string {
    switch (typeof value) {
      case 'string': return value;
      case 'number': case 'boolean': case 'bigint': return String(value);
      case 'object': {
        if (value === null) return '';
        if (value instanceof Date) return Number.isNaN(value.getTime()) ? '' : value.toISOString();
        const json: unknown = typeof (value as { toJSON?: unknown }).toJSON === 'function' ? (value as { toJSON(): unknown }).toJSON() : value;
        if (json === null || json === undefined) return '';
        return typeof json === 'object' ? jsonText(json, item) : this.text(json, item);
      }
      default: return ''; // undefined, function, symbol
    }
  }

  /** Text the line can hold: line breaks and characters the encoding lacks, replaced or refused. */
  private clean(text: string, block: boolean): string {
    let out = text;
    if (out.includes('\n') || out.includes('\r')) {
      if (block) throw new Problem('FORMAT_INVALID_CHARACTER', `holds a line break, which would split the line`);
      out = out.replace(/\r\n|[\r\n]/g, ' ');
    }
    if (this.cs.unencodable.test(out)) {
      if (block) {
        const bad = this.cs.unencodable.exec(out)![0];
        throw new Problem('FORMAT_INVALID_CHARACTER', `holds ${describeChar(bad)}, which ${this.cs.name} cannot encode`);
      }
      out = replaceUnencodable(this.cs, out);
    }
    return out;
  }

  /** The text in exactly slot.length bytes: padded, or cut between characters and padded, or refused. */
  private fit(text: string, slot: Slot, truncate: boolean): string {
    let bytes = 0;
    let cut = -1; // UTF-16 index where the text stops fitting
    for (let i = 0; i < text.length; i++) {
      const cp = text.codePointAt(i)!;
      const size = this.cs.byteLength(cp);
      if (bytes + size > slot.length) {
        cut = i;
        break;
      }
      bytes += size;
      if (cp > 0xffff) i++;
    }
    let fitted = text;
    if (cut >= 0) {
      if (!truncate) {
        let total = bytes;
        for (const char of text.slice(cut)) total += this.cs.byteLength(char.codePointAt(0)!);
        throw new Problem('FORMAT_VALUE_TOO_WIDE', `the value takes ${total} bytes in ${this.cs.name}, the field has ${slot.length} (positions ${slot.start}–${slot.start + slot.length - 1})`);
      }
      fitted = text.slice(0, cut);
    }
    const fill = slot.fill.repeat(slot.length - bytes);
    return slot.padLeft ? fill + fitted : fitted + fill;
  }

  private number(value: unknown, slot: Slot, format: NumberFormat): string {
    if (value === null || value === undefined) return slot.fill.repeat(slot.length);
    const parsed = decimalDigits(value, format.decimals);
    if (parsed === undefined) {
      const shown = typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value) : typeof value;
      throw new Problem('FORMAT_UNENCODABLE_VALUE', `${shown} is not a finite number`);
    }
    if (parsed.negative && format.sign === 'none') {
      throw new Problem('FORMAT_UNENCODABLE_VALUE', 'the value is negative, and the field has sign: none');
    }
    const digits = parsed.integer + (format.decimals > 0 ? (format.implied_decimal ? '' : '.') + parsed.fraction : '');
    const sign = parsed.negative ? '-' : '';
    const size = digits.length + sign.length;
    if (size > slot.length) {
      throw new Problem('FORMAT_VALUE_TOO_WIDE', `the number takes ${size} positions, the field has ${slot.length} (positions ${slot.start}–${slot.start + slot.length - 1}); numbers are never truncated`);
    }
    const room = slot.length - size;
    if (format.zero_pad) return format.sign === 'trailing' ? '0'.repeat(room) + digits + sign : sign + '0'.repeat(room) + digits;
    const text = format.sign === 'trailing' ? digits + sign : sign + digits;
    const fill = slot.fill.repeat(room);
    return slot.padLeft ? fill + text : text + fill;
  }

  private failure(problem: Problem, item: ItemRef, slot: Slot): LadingError {
    const hint = problem.code === 'FORMAT_VALUE_TOO_WIDE' && slot.format === undefined ? '; widen the field, shorten the value with map, or set format.overflow: truncate'
      : problem.code === 'FORMAT_INVALID_CHARACTER' ? '; clean the value with map, or set format.unencodable: replace' : '';
    return ladingError(problem.code, `${item.describe}: field ${JSON.stringify(slot.name)}: ${problem.detail}${hint}`, { itemId: item.id, field: slot.name });
  }

  private unknownField(item: ItemRef, field: string): LadingError {
    return ladingError(
      'FORMAT_UNKNOWN_FIELD',
      `${item.describe}: field ${JSON.stringify(field)} has no place in the fixed-width layout; add it to format.fields, or leave it out with map`,
      { itemId: item.id, field },
    );
  }
}

export const fixedWidth = defineFormat({
  type: 'fixed_width',
  summary: 'Fixed-width text lines: each field at a declared byte position and length, padded or truncated; numbers with decimals, sign and zero padding.',
  schema: fixedWidthConfig,
  extension: 'txt',
  thread: { module: import.meta.url, name: 'fixedWidth' },
  mediaType: 'text/plain',
  encoder(config, ctx: EncoderContext): FormatEncoder {
    const placed = new Set(config.fields.map((f) => f.name));
    const missing = ctx.columns?.find((column) => !placed.has(column));
    if (missing !== undefined) {
      throw ladingError('CONFIG_INVALID', `pipeline ${ctx.pipeline}: output field ${JSON.stringify(missing)} has no place in the fixed-width layout; add it to format.fields or remove it from map`, { field: missing });
    }
    return new FixedWidthEncoder(config);
  },
});

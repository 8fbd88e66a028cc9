import { z } from 'zod';
import { defineFormat } from '../core/component.js';
import { jsonText } from './json-text.js';
import type { Row } from '../core/item.js';
import { ladingError } from '../errors/lading-error.js';
import { charset, describeChar, encodingNames, firstUnencodable, replaceUnencodable, type Charset } from './charset.js';
import type { EncoderContext, FormatEncoder, ItemRef } from './types.js';

const oneChar = (what: string) =>
  z.string().length(1, `${what} must be exactly one character`)
    .refine((c) => c !== '\r' && c !== '\n', `${what} cannot be a line break`);

export const csvConfig = z.object({
  type: z.literal('csv').describe('Comma-separated values (RFC 4180).'),
  delimiter: oneChar('delimiter').default(',').describe('Character between fields, e.g. "," ";" or "\\t".'),
  quote: oneChar('quote').default('"').describe('Character that encloses a field holding the delimiter, a quote, a line break or the escape character.'),
  escape: oneChar('escape').default('"').describe('Character written before a quote (and before itself) inside a quoted field; when equal to quote, quotes are doubled as in RFC 4180.'),
  line_ending: z.enum(['\n', '\r\n']).default('\n').describe('Line ending after every row, header included.'),
  header: z.boolean().default(true).describe('Write a header row with the column names.'),
  null_value: z.string().default('').describe('Text written for null or missing values. With the default "" a null and an empty string look the same unless quote_all is set.'),
  quote_all: z.boolean().default(false).describe('Quote every field, including empty strings; null values stay unquoted, so they differ from "".'),
  columns: z.array(z.string()).min(1).optional().describe('Column order when the pipeline has no map; without either, the keys of the first record.'),
  encoding: z.enum(encodingNames).default('utf-8').describe('Character encoding of the file. iso-8859-1 and windows-1252 write one byte per character.'),
  bom: z.boolean().default(false).describe('Start each file with the UTF-8 byte order mark (EF BB BF), which some spreadsheet programs need to detect UTF-8. Only with encoding utf-8.'),
  unencodable: z.enum(['replace', 'block']).default('replace')
    .describe('A character the encoding cannot write: replace writes "?" (U+FFFD for a lone surrogate in UTF-8); block fails the item with FORMAT_INVALID_CHARACTER. Header names are always replaced.'),
  formula_escape: z.enum(['off', 'quote_prefix', 'tab_prefix']).default('off')
    .describe('Neutralise cells a spreadsheet would run as a formula (CSV injection): a cell starting with = + - @, tab or CR gets a leading single quote (quote_prefix) or tab (tab_prefix). Cells that are plain numbers, such as -12.5 or +3, are left alone.'),
}).strict().superRefine((config, ctx) => {
  if (config.delimiter === config.quote) {
    ctx.addIssue({ code: 'custom', path: ['quote'], message: 'quote must differ from delimiter' });
  }
  if (config.escape === config.delimiter) {
    ctx.addIssue({ code: 'custom', path: ['escape'], message: 'escape must differ from delimiter' });
  }
  if (config.bom && config.encoding !== 'utf-8') {
    ctx.addIssue({ code: 'custom', path: ['bom'], message: `a byte order mark is only written in utf-8, not ${config.encoding}` });
  }
  const cs = charset(config.encoding);
  for (const key of ['delimiter', 'quote', 'escape', 'null_value'] as const) {
    const bad = firstUnencodable(cs, config[key]);
    if (bad !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${describeChar(bad)} cannot be written in ${config.encoding}` });
  }
  const duplicate = config.columns?.find((name, i, all) => all.indexOf(name) !== i);
  if (duplicate !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['columns'], message: `column "${duplicate}" is listed twice` });
  }
}).meta({ id: 'format.csv' });

export type CsvConfig = z.output<typeof csvConfig>;

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Thrown by a cell with unencodable: block; encode() turns it into FORMAT_INVALID_CHARACTER naming the column. */
class Unencodable {
  constructor(readonly char: string) {}
}

const PLAIN_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Whether a spreadsheet could read the cell as a formula: it starts with = + - @ TAB or CR
 * (OWASP, CSV injection) and is not a plain finite number (-12.5, +3, -0.5e3 stay as they are).
 */
export function isFormula(value: string): boolean {
  if (value.length === 0) return false;
  const c = value.charCodeAt(0);
  if (c !== 0x3d && c !== 0x2b && c !== 0x2d && c !== 0x40 && c !== 0x09 && c !== 0x0d) return false;
  return !(PLAIN_NUMBER.test(value) && Number.isFinite(Number(value)));
}

/**
 * Values: strings as is; numbers, booleans and bigints via String(); a Date as toISOString()
 * (an invalid Date as null); other objects and arrays as JSON (an object's toJSON() is honoured, a nested bigint
 * becomes a string);
 * null, undefined, functions and symbols as `null_value`.
 *
 * Quoting follows RFC 4180: a field is quoted when it holds the delimiter, the quote, CR or LF
 * (and the escape character when it differs from the quote), or always with quote_all. Leading
 * and trailing spaces are kept and do not cause quoting. An empty string is quoted only with
 * quote_all, so without it null (with the default null_value "") and "" are indistinguishable.
 * One exception: a row that would be a blank line (one column, empty text) is written as `""`,
 * because many readers skip blank lines.
 *
 * Columns come from ctx.columns (the pipeline's map), else config.columns, else the keys of
 * ctx.sample (the run's first record, so every split part has the same layout), else the keys of
 * the first record this encoder sees. In that last case begin() returns nothing and the header is
 * written in front of the first row, so a file with no records is empty, without a header (and
 * holds only the BOM when `bom` is on: the BOM is part of begin()).
 *
 * Encoding: UTF-8 by default, built with Buffer.from exactly as before these options existed (the
 * hot path). In iso-8859-1 / windows-1252, each cell's text is checked before quoting is decided,
 * so a replacement "?" can never break the row's structure; `block` fails the item naming the
 * column. formula_escape prefixes cells that start with = + - @ TAB or CR and are not plain finite
 * numbers (OWASP's CSV injection advice); it applies to header names too, but not to null_value,
 * which the config chose.
 */
class CsvEncoder implements FormatEncoder {
  private readonly delimiter: string;
  private readonly quote: string;
  private readonly escapedQuote: string;
  /** Set when escape differs from quote: the escape character itself is escaped too. */
  private readonly escape: string | undefined;
  private readonly lineEnding: string;
  private readonly header: boolean;
  private readonly quoteAll: boolean;
  private readonly nullField: string;
  /** Char codes of delimiter, quote and escape (-1 when escape is the quote) for the scan. */
  private readonly d: number;
  private readonly q: number;
  private readonly e: number;
  private readonly special: RegExp;
  /** "'" or "\t" when formula_escape is on. */
  private readonly formulaPrefix: string | undefined;
  /** Set unless the output is UTF-8 with unencodable: replace (then Buffer.from does all). */
  private readonly charset: Charset | undefined;
  private readonly block: boolean;
  private readonly bom: boolean;
  private columns: readonly string[] | undefined;
  private columnSet: ReadonlySet<string> = new Set();
  readonly encodeText?: (record: Row, item: ItemRef) => string;

  constructor(config: CsvConfig, columns: readonly string[] | undefined) {
    this.delimiter = config.delimiter;
    this.quote = config.quote;
    this.escape = config.escape === config.quote ? undefined : config.escape;
    this.escapedQuote = config.escape + config.quote;
    this.lineEnding = config.line_ending;
    this.header = config.header;
    this.quoteAll = config.quote_all;
    const specials = [config.delimiter, config.quote, '\r', '\n', ...(this.escape === undefined ? [] : [this.escape])];
    this.d = config.delimiter.charCodeAt(0);
    this.q = config.quote.charCodeAt(0);
    this.e = this.escape === undefined ? -1 : this.escape.charCodeAt(0);
    this.special = new RegExp(`[${specials.map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}]`);
    this.formulaPrefix = config.formula_escape === 'quote_prefix' ? "'" : config.formula_escape === 'tab_prefix' ? '\t' : undefined;
    this.block = config.unencodable === 'block';
    this.charset = config.encoding === 'utf-8' && !this.block ? undefined : charset(config.encoding);
    this.bom = config.bom;
    // null stays unquoted even with quote_all (that is what tells it from ""), unless it must be quoted.
    this.nullField = this.needsQuoting(config.null_value) ? this.quoted(config.null_value) : config.null_value;
    if (columns !== undefined) this.useColumns(columns);
    if (this.charset === undefined) this.encodeText = (record, item) => this.row(record, item);
  }

  begin(): Uint8Array {
    const header = this.bytes(this.header && this.columns !== undefined ? this.headerRow(this.columns) : '');
    return this.bom ? Buffer.concat([UTF8_BOM, header]) : header;
  }

  encode(record: Row, item: ItemRef): Uint8Array {
    return this.bytes(this.row(record, item));
  }

  /** The record's row as text, line ending included (and the header in front of the first row when columns are inferred). */
  private row(record: Row, item: ItemRef): string {
    const keys = Object.keys(record);
    // Lazy layout: fixed by the first record, but only once its row is built (encode may throw).
    const inferred = this.columns === undefined;
    const columns = this.columns ?? keys;
    const n = columns.length;
    // Fast path: the record's keys are the columns in order (what a map produces).
    let exact = keys.length === n;
    for (let i = 0; exact && i < n; i++) exact = keys[i] === columns[i];
    if (!exact) {
      for (const key of keys) {
        if (!this.columnSet.has(key)) throw this.unknownField(item, key, columns);
      }
    }
    // When every column is an own key, plain property reads are safe; otherwise a missing
    // column such as "constructor" must not read the prototype.
    const allOwn = keys.length === n;
    let row = '';
    let i = 0;
    try {
      for (; i < n; i++) {
        const column = columns[i]!;
        const value = allOwn || Object.hasOwn(record, column) ? record[column] : undefined;
        if (i > 0) row += this.delimiter;
        row += this.field(value, item);
      }
    } catch (error) {
      if (error instanceof Unencodable) throw this.invalidCharacter(item, columns[i]!, error.char);
      throw error;
    }
    if (n === 1 && row.length === 0) row = this.quote + this.quote;
    row += this.lineEnding;
    if (inferred) {
      this.useColumns(columns);
      if (this.header) row = this.headerRow(columns) + row;
    }
    return row;
  }

  end(): Uint8Array {
    return new Uint8Array(0);
  }

  private useColumns(columns: readonly string[]): void {
    this.columns = columns;
    this.columnSet = new Set(columns);
  }

  private headerRow(columns: readonly string[]): string {
    let row = '';
    for (let i = 0; i < columns.length; i++) {
      if (i > 0) row += this.delimiter;
      row += this.text(this.charset === undefined ? columns[i]! : replaceUnencodable(this.charset, columns[i]!));
    }
    if (columns.length === 1 && row.length === 0) row = this.quote + this.quote;
    return row + this.lineEnding;
  }

  private field(value: unknown, item: ItemRef): string {
    switch (typeof value) {
      case 'string': return this.text(value);
      case 'number': case 'boolean': case 'bigint': return this.text(String(value));
      case 'object': return value === null ? this.nullField : this.objectField(value, item);
      default: return this.nullField; // undefined, function, symbol
    }
  }

  private objectField(value: object, item: ItemRef): string {
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? this.nullField : this.text(value.toISOString());
    const json: unknown = typeof (value as { toJSON?: unknown }).toJSON === 'function'
      ? (value as { toJSON(): unknown }).toJSON()
      : value;
    if (json === null || json === undefined) return this.nullField;
    if (typeof json !== 'object') return this.field(json, item);
    return this.text(jsonText(json, item));
  }

  private text(value: string): string {
    if (this.formulaPrefix !== undefined && isFormula(value)) value = this.formulaPrefix + value;
    if (this.charset !== undefined) value = this.encodable(this.charset, value);
    if (this.quoteAll || this.needsQuoting(value)) return this.quoted(value);
    return value;
  }

  /** Cell text the charset can write: replaced, or Unencodable thrown for encode() to name the column. */
  private encodable(cs: Charset, value: string): string {
    if (!this.block) return replaceUnencodable(cs, value);
    const bad = firstUnencodable(cs, value);
    if (bad !== undefined) throw new Unencodable(bad);
    return value;
  }

  private bytes(text: string): Buffer {
    return this.charset === undefined ? Buffer.from(text, 'utf8') : this.charset.encode(text);
  }

  /**
   * Measured on Node 20: a charCode loop beats RegExp#test below ~10 UTF-16 units, the
   * precompiled character class wins above. Neither allocates.
   */
  private needsQuoting(value: string): boolean {
    const length = value.length;
    if (length >= 10) return this.special.test(value);
    const { d, q, e } = this;
    for (let i = 0; i < length; i++) {
      const c = value.charCodeAt(i);
      if (c === d || c === q || c === 13 || c === 10 || c === e) return true;
    }
    return false;
  }

  private quoted(value: string): string {
    let body = value;
    if (this.escape !== undefined && body.includes(this.escape)) body = body.replaceAll(this.escape, this.escape + this.escape);
    if (body.includes(this.quote)) body = body.replaceAll(this.quote, this.escapedQuote);
    return this.quote + body + this.quote;
  }

  private invalidCharacter(item: ItemRef, field: string, char: string) {
    const encoding = this.charset!.name;
    return ladingError(
      'FORMAT_INVALID_CHARACTER',
      `${item.describe}: field ${JSON.stringify(field)} holds ${describeChar(char)}, which ${encoding} cannot encode; set format.unencodable: replace, or choose another encoding`,
      { itemId: item.id, field },
    );
  }

  private unknownField(item: ItemRef, field: string, columns: readonly string[]) {
    const shown = columns.slice(0, 10).map((c) => JSON.stringify(c)).join(', ') + (columns.length > 10 ? ', …' : '');
    return ladingError(
      'FORMAT_UNKNOWN_FIELD',
      `${item.describe}: field ${JSON.stringify(field)} has no CSV column (columns: ${shown}); declare it in map or format.columns, or drop it`,
      { itemId: item.id, field },
    );
  }
}

export const csv = defineFormat({
  type: 'csv',
  summary: 'Comma-separated values (RFC 4180) with a header row; delimiter, quoting, line ending, encoding and formula escaping configurable.',
  schema: csvConfig,
  extension: 'csv',
  thread: { module: import.meta.url, name: 'csv' },
  mediaType: 'text/csv',
  encoder(config, ctx: EncoderContext): FormatEncoder {
    const sampled = ctx.sample === undefined ? [] : Object.keys(ctx.sample);
    const declared = ctx.columns ?? config.columns;
    const columns = declared ?? (sampled.length > 0 ? sampled : undefined);
    if (declared !== undefined) {
      if (declared.length === 0) throw ladingError('CONFIG_INVALID', `pipeline ${ctx.pipeline}: a CSV file needs at least one column`);
      const duplicate = declared.find((name, i) => declared.indexOf(name) !== i);
      if (duplicate !== undefined) {
        throw ladingError('CONFIG_INVALID', `pipeline ${ctx.pipeline}: CSV column ${JSON.stringify(duplicate)} appears twice`, { field: duplicate });
      }
    }
    return new CsvEncoder(config, columns);
  },
});

// CSV with a header row. Values stay strings. Rows that cannot be read (wrong column count, a
// quote inside an unquoted field or after a closing one, an unclosed quote, invalid UTF-8) become
// failed items naming the physical line where the row starts; reading goes on with the next row.
//
// Hand-written rather than csv-parse, which this reader used until 2026-12-06: csv-parse builds
// an info object per record (two object spreads) and keeps each record's raw text, which this
// reader needed to place rows and their line numbers; with its per-byte option checks, 1M demo
// leads as CSV took 11.6-14.0 s through a no-op handler, against 3.0-3.3 s for the same leads as
// NDJSON. A cut on bytes knows every row's bytes and lines as it goes (docs/benchmarks.md).
//
// The rules (RFC 4180, with the dialect's delimiter, quote and escape): a field that starts with
// the quote runs to the next quote not escaped, and must be followed by the delimiter or the
// line's end; a quote anywhere else in a field fails the row. Rows end at LF or CRLF outside
// quotes; empty lines are skipped. A quoted field left open at the end fails its row, which then
// spans the rest of the input.
import { isUtf8 } from 'node:buffer';
import type { Item, Row } from '../../core/item.js';
import { ladingError } from '../../errors/lading-error.js';
import { isUtf8BomPrefix, utf8BomLength } from '../../core/utf8.js';
import { failedLineItem, lineItem, type ReaderOptions } from './open.js';
import { grouped } from '../../core/numbers.js';

export interface CsvDialect {
  readonly delimiter: string;
  /** One ASCII character (the schema says so). */
  readonly quote: string;
  /** One ASCII character; equal to quote, quotes are doubled as in RFC 4180. */
  readonly escape: string;
}

export interface CsvReaderOptions extends ReaderOptions {
  readonly dialect: CsvDialect;
}

/** A row longer than this (an unclosed quote, most likely) stops the reading. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/** Where the cut is within a row. */
const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
const AFTER_QUOTE = 3;
/** After a quote error: the rest of the line belongs to the failed row, quotes or not. */
const SKIP = 4;

type Problem = 'opening quote' | 'closing quote' | 'not closed';

const problems: Record<Problem, string> = {
  'opening quote': 'a quote appears inside an unquoted field',
  'closing quote': 'a closing quote is followed by something other than a delimiter or a line end',
  'not closed': 'a quoted field is not closed before the end of the input',
};

/** A row cut from the bytes: its byte range, its fields' (start, end, escaped) triples, its lines. */
interface CutRow {
  readonly start: number;
  readonly end: number;
  readonly fields: number[];
  readonly line: number;
  readonly lastLine: number;
  readonly problem: Problem | undefined;
  /** Whether its bytes are UTF-8, when the rows of its push were checked at once. */
  utf8: boolean | undefined;
}

/**
 * Items from CSV bytes: the first row names the columns, every later row is one item whose id is
 * `${file}:${line}` with the line of the row's first character (the first data row after a
 * one-line header is line 2). Empty lines are skipped. `seq` counts data rows, failed ones too.
 * One array of items per piece of input that completed any rows (never empty).
 */
export async function* readCsvBatches(bytes: AsyncIterable<Uint8Array>, options: CsvReaderOptions): AsyncGenerator<Item[]> {
  const { file, after, signal, dialect } = options;
  const cutter = new CsvCutter(dialect);
  let header: string[] | undefined;
  let seq = 0;

  const itemOf = (row: CutRow, buf: Buffer): Item | undefined => {
    if (header === undefined) {
      if (row.problem !== undefined) {
        throw ladingError('SOURCE_MALFORMED_CSV', `${file} line ${grouped(row.line)}: the header row is malformed (${problems[row.problem]})`, { location: `${file}:${row.line}` });
      }
      if (!cutter.valid(buf, row)) {
        throw ladingError('SOURCE_BAD_ENCODING', `${file} line ${grouped(row.line)}: the header row is not valid UTF-8`, { location: `${file}:${row.line}` });
      }
      header = columnNames(cutter.values(buf, row), file, row.line);
      return undefined;
    }
    seq += 1;
    if (seq <= after) return undefined;
    if (row.problem !== undefined) {
      const span = row.problem === 'not closed' && row.lastLine > row.line ? `; lines ${grouped(row.line)} to ${grouped(row.lastLine)} were read as this one row` : '';
      return failedLineItem('SOURCE_MALFORMED_CSV', file, row.line, seq, `malformed CSV row (${problems[row.problem]})${span}`);
    }
    const count = row.fields.length / 3;
    if (!cutter.valid(buf, row)) {
      const bad = cutter.invalidField(buf, row);
      const name = bad === undefined ? undefined : header[bad];
      return failedLineItem('SOURCE_BAD_ENCODING', file, row.line, seq, `invalid UTF-8 bytes${name === undefined ? '' : ` in field "${name}"`}`);
    }
    if (count !== header.length) {
      return failedLineItem('SOURCE_MALFORMED_CSV', file, row.line, seq, `expected ${header.length} fields as in the header, found ${count}`);
    }
    return lineItem(file, row.line, seq, toRow(header, cutter.values(buf, row)));
  };

  const emit = (rows: readonly CutRow[]): Item[] => {
    const batch: Item[] = [];
    for (const row of rows) {
      const item = itemOf(row, cutter.bytes);
      if (item) batch.push(item);
    }
    return batch;
  };

  for await (const chunk of bytes) {
    signal.throwIfAborted();
    const batch = emit(cutter.push(chunk, false));
    // The rows before a runaway one are handed out first: they were read.
    if (batch.length > 0) yield batch;
    if (cutter.pendingBytes > MAX_RECORD_BYTES) {
      const line = cutter.pendingLine;
      throw ladingError(
        'SOURCE_MALFORMED_CSV',
        `${file} line ${grouped(line)}: a row runs on for more than ${MAX_RECORD_BYTES / (1024 * 1024)} MiB, probably an unclosed quote; reading stopped`,
        { location: `${file}:${line}` },
      );
    }
  }
  const last = emit(cutter.push(new Uint8Array(0), true));
  if (last.length > 0) yield last;
}

/**
 * Cuts rows and fields from CSV bytes pushed in pieces. The bytes of the row not yet ended stay
 * in one growing buffer with its cut's state, so a piece boundary anywhere (inside a field, a
 * CRLF, a multi-byte delimiter or character) changes nothing, and a long row is never re-read.
 */
class CsvCutter {
  /** The input's bytes from the start of the row being cut (plus the rows just cut, until the next push). */
  bytes: Buffer = Buffer.alloc(64 * 1024);
  private length = 0;
  private readonly delimiter: Buffer;
  private readonly quote: number;
  private readonly escape: number;
  private readonly unescape: (text: string) => string;
  private bomChecked = false;
  // The row being cut.
  private rowStart = 0;
  private at = 0;
  private mode = FIELD_START;
  private fieldStart = 0;
  private escaped = 0;
  private fields: number[] = [];
  private line = 1;
  private rowLfs = 0;
  private problem: Problem | undefined;

  constructor(dialect: CsvDialect) {
    this.delimiter = Buffer.from(dialect.delimiter, 'utf8');
    this.quote = dialect.quote.charCodeAt(0);
    this.escape = dialect.escape.charCodeAt(0);
    const { quote, escape } = dialect;
    const escaped = new RegExp(`${regexpChar(escape)}([${regexpChar(quote)}${regexpChar(escape)}])`, 'g');
    this.unescape = quote === escape ? (text) => text.replaceAll(quote + quote, quote) : (text) => text.replace(escaped, '$1');
  }

  /** Bytes of the row not yet ended. */
  get pendingBytes(): number {
    return this.length - this.rowStart;
  }

  /** The line the row not yet ended starts on. */
  get pendingLine(): number {
    return this.line;
  }

  /** Adds a piece of input and cuts the rows it completes (`end`: no more input comes). */
  push(chunk: Uint8Array, end: boolean): CutRow[] {
    this.#append(chunk);
    if (!this.bomChecked) {
      const head = this.bytes.subarray(this.at, this.length);
      if (head.length < 3 && isUtf8BomPrefix(head) && !end) return [];
      this.at += utf8BomLength(head);
      this.rowStart = this.at;
      this.bomChecked = true;
    }
    const rows: CutRow[] = [];
    this.#cut(rows, end);
    // One check for all the rows of the push; row by row only when it fails.
    if (rows.length > 0 && isUtf8(this.bytes.subarray(rows[0]!.start, rows.at(-1)!.end))) for (const row of rows) row.utf8 = true;
    return rows;
  }

  /** Whether a row's bytes are UTF-8. */
  valid(buf: Buffer, row: CutRow): boolean {
    return row.utf8 ?? isUtf8(buf.subarray(row.start, row.end));
  }

  /** The index of the first field of a row whose bytes are not UTF-8. */
  invalidField(buf: Buffer, row: CutRow): number | undefined {
    for (let i = 0; i < row.fields.length; i += 3) {
      if (!isUtf8(buf.subarray(row.fields[i]!, row.fields[i + 1]!))) return i / 3;
    }
    return undefined;
  }

  /** A row's values. All-ASCII rows (most) are decoded once and their fields sliced from the text. */
  values(buf: Buffer, row: CutRow): string[] {
    const { fields, start } = row;
    const out = new Array<string>(fields.length / 3);
    const text = buf.toString('utf8', start, row.end);
    const ascii = text.length === row.end - start;
    for (let i = 0, f = 0; i < fields.length; i += 3, f += 1) {
      let value = ascii ? text.slice(fields[i]! - start, fields[i + 1]! - start) : buf.toString('utf8', fields[i]!, fields[i + 1]!);
      if (fields[i + 2] === 1) value = this.unescape(value);
      out[f] = value;
    }
    return out;
  }

  #append(chunk: Uint8Array): void {
    // The rows cut at the last push are done with: keep from the row being cut.
    const keep = this.rowStart;
    const needed = this.length - keep + chunk.length;
    if (needed > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.bytes.length * 2));
      this.bytes.copy(grown, 0, keep, this.length);
      this.bytes = grown;
    } else if (keep > 0) {
      this.bytes.copyWithin(0, keep, this.length);
    }
    this.length -= keep;
    this.rowStart = 0;
    this.at -= keep;
    this.fieldStart -= keep;
    for (let i = 0; i < this.fields.length; i += 3) {
      this.fields[i]! -= keep;
      this.fields[i + 1]! -= keep;
    }
    this.bytes.set(chunk, this.length);
    this.length += chunk.length;
  }

  /**
   * Cuts rows from `at` on. Stops where a decision needs bytes not yet pushed (the byte after a
   * quote, an escape or a CR, the rest of a delimiter), keeping the state to go on from there.
   * The state is in locals, and no closure shares them: a variable a closure shares costs a load
   * and a store on every byte.
   */
  #cut(rows: CutRow[], end: boolean): void {
    const buf = this.bytes;
    const length = this.length;
    const delimiter = this.delimiter;
    const first = delimiter[0]!;
    const quote = this.quote;
    const escape = this.escape;
    let at = this.at;
    let mode = this.mode;
    let fieldStart = this.fieldStart;
    let escaped = this.escaped;
    let rowLfs = this.rowLfs;
    let wait = false;

    while (at < length && !wait) {
      const b = buf[at]!;
      if (mode === FIELD_START) {
        if (this.fields.length === 0 && at === this.rowStart && (b === LF || b === CR)) {
          // An empty line: skipped, counted. A CR not followed by LF is a field's first byte.
          if (b === CR && at + 1 >= length && !end) {
            wait = true;
          } else if (b === LF || (at + 1 < length && buf[at + 1] === LF)) {
            at += b === LF ? 1 : 2;
            this.line += 1;
            this.rowStart = at;
          } else {
            mode = UNQUOTED;
            fieldStart = at;
          }
          continue;
        }
        escaped = 0;
        if (b === quote) {
          mode = QUOTED;
          fieldStart = at + 1;
          at += 1;
        } else {
          mode = UNQUOTED;
          fieldStart = at;
        }
        continue;
      }
      if (mode === UNQUOTED) {
        // The tightest loop: most bytes are in unquoted fields.
        let i = at;
        let c = b;
        while (c !== LF && c !== first && c !== quote && ++i < length) c = buf[i]!;
        at = i;
        if (i >= length) break;
        if (c === LF) {
          const fieldEnd = i > fieldStart && buf[i - 1] === CR ? i - 1 : i;
          this.fields.push(fieldStart, fieldEnd, 0);
          this.#endRow(rows, fieldEnd, i + 1, rowLfs);
          rowLfs = 0;
          mode = FIELD_START;
          at = i + 1;
        } else if (c === first) {
          const found = delimiterAt(buf, i, length, delimiter, end);
          if (found === undefined) {
            wait = true;
          } else if (found) {
            this.fields.push(fieldStart, i, 0);
            mode = FIELD_START;
            at = i + delimiter.length;
          } else {
            at = i + 1;
          }
        } else {
          this.problem ??= 'opening quote';
          mode = SKIP;
        }
        continue;
      }
      if (mode === QUOTED) {
        let i = at;
        let c = b;
        while (c !== quote && c !== escape) {
          if (c === LF) rowLfs += 1;
          if (++i >= length) break;
          c = buf[i]!;
        }
        at = i;
        if (i >= length) break;
        // c is the quote or the escape: what follows it decides.
        if (i + 1 >= length && !end) {
          wait = true;
          continue;
        }
        const next = i + 1 < length ? buf[i + 1] : undefined;
        if (c === escape && (next === quote || (next === escape && escape !== quote))) {
          escaped = 1;
          at = i + 2;
        } else if (c === quote) {
          this.fields.push(fieldStart, i, escaped);
          mode = AFTER_QUOTE;
          at = i + 1;
        } else {
          at = i + 1; // an escape before anything else is itself
        }
        continue;
      }
      if (mode === AFTER_QUOTE) {
        if (b === LF || (b === CR && buf[at + 1] === LF && at + 1 < length)) {
          this.#endRow(rows, at, at + (b === LF ? 1 : 2), rowLfs);
          rowLfs = 0;
          mode = FIELD_START;
          at += b === LF ? 1 : 2;
          continue;
        }
        if (b === CR && at + 1 >= length) {
          // A CR at the very end of the input ends the row with it.
          if (end) at += 1;
          else wait = true;
          continue;
        }
        if (b === first) {
          const found = delimiterAt(buf, at, length, delimiter, end);
          if (found === undefined) {
            wait = true;
            continue;
          }
          if (found) {
            mode = FIELD_START;
            at += delimiter.length;
            continue;
          }
        }
        this.problem ??= 'closing quote';
        mode = SKIP;
        continue;
      }
      // SKIP: the rest of the line.
      const lf = buf.indexOf(LF, at);
      if (lf === -1 || lf >= length) {
        at = length;
        break;
      }
      this.#endRow(rows, lf > this.rowStart && buf[lf - 1] === CR ? lf - 1 : lf, lf + 1, rowLfs);
      rowLfs = 0;
      mode = FIELD_START;
      at = lf + 1;
    }

    if (end && !wait) {
      // What is left is the last row, without a line end.
      if (mode === QUOTED) this.problem ??= 'not closed';
      else if (mode === UNQUOTED) this.fields.push(fieldStart, length, 0);
      else if (mode === FIELD_START && this.fields.length > 0) this.fields.push(length, length, 0); // after a delimiter: an empty field
      if (this.fields.length > 0 || this.problem !== undefined) {
        // Line breaks at the very end are not part of the row's lines.
        let trailing = 0;
        for (let k = length - 1; k >= this.rowStart && (buf[k] === LF || buf[k] === CR); k -= 1) if (buf[k] === LF) trailing += 1;
        rows.push({ start: this.rowStart, end: length, fields: this.fields, line: this.line, lastLine: this.line + Math.max(0, rowLfs - trailing), problem: this.problem, utf8: undefined });
        this.fields = [];
        this.problem = undefined;
        this.rowStart = length;
      }
      mode = FIELD_START;
      rowLfs = 0;
    }
    this.at = at;
    this.mode = mode;
    this.fieldStart = fieldStart;
    this.escaped = escaped;
    this.rowLfs = rowLfs;
  }

  #endRow(rows: CutRow[], rowEnd: number, next: number, rowLfs: number): void {
    rows.push({ start: this.rowStart, end: rowEnd, fields: this.fields, line: this.line, lastLine: this.line + rowLfs, problem: this.problem, utf8: undefined });
    this.line += rowLfs + 1;
    this.fields = [];
    this.problem = undefined;
    this.rowStart = next;
  }
}

/** Whether `delimiter` starts at `i` (its first byte is there); undefined when its rest is not pushed yet. */
function delimiterAt(buf: Buffer, i: number, length: number, delimiter: Buffer, end: boolean): boolean | undefined {
  for (let k = 1; k < delimiter.length; k += 1) {
    if (i + k >= length) return end ? false : undefined;
    if (buf[i + k] !== delimiter[k]) return false;
  }
  return true;
}

const regexpChar = (char: string): string => char.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

function toRow(header: readonly string[], fields: readonly string[]): Row {
  const row: Row = {};
  for (let i = 0; i < header.length; i += 1) {
    const name = header[i]!;
    // A column called __proto__ must become a field, not the object's prototype.
    if (name === '__proto__') Object.defineProperty(row, name, { value: fields[i], enumerable: true, writable: true, configurable: true });
    else row[name] = fields[i];
  }
  return row;
}

function columnNames(fields: string[], file: string, line: number): string[] {
  const seen = new Set<string>();
  for (const name of fields) {
    if (seen.has(name)) {
      throw ladingError('SOURCE_MALFORMED_CSV', `${file} line ${grouped(line)}: the header names column "${name}" twice`, { location: `${file}:${line}` });
    }
    seen.add(name);
  }
  return fields;
}

// CSV with a header row, parsed by csv-parse as a stream. Values stay strings. Rows that cannot be
// read (wrong column count, stray or unclosed quote, invalid UTF-8) become failed items naming the
// physical line where the row starts; reading goes on with the next row.
//
// Why the bookkeeping below instead of csv-parse's own `columns: true` / `info.lines`:
// - `info.lines` counts a CR and an LF inside a quoted field as two lines, so line numbers drift
//   in CRLF files with multi-line fields. csv-parse does report each record's exact end byte
//   (`info.bytes`), so lines are counted here from the bytes themselves (ByteWindow).
// - `encoding: null` (to check UTF-8 per field) makes csv-parse crash while building its own
//   errors, and `bom: true` resets the encoding anyway; so the BOM is stripped here and UTF-8 is
//   checked on the bytes (Utf8Check) against each record's byte range.
// - With `columns: true` a row with too few or too many fields is an error or silently padded;
//   reading the header ourselves and using `relax_column_count` keeps the row, its line and the
//   reading going. Quote errors go through `skip_records_with_error` + `on_skip`.
import { parse, type CsvError } from 'csv-parse';
import type { Item, Row } from '../../core/item.js';
import { ladingError } from '../../errors/lading-error.js';
import { isUtf8BomPrefix, utf8BomLength } from '../../core/utf8.js';
import { completeUtf8Length, failedLineItem, invalidUtf8Offsets, lineItem, type ReaderOptions } from './open.js';
import { grouped } from '../../core/numbers.js';

export interface CsvDialect {
  readonly delimiter: string;
  readonly quote: string;
  readonly escape: string;
}

export interface CsvReaderOptions extends ReaderOptions {
  readonly dialect: CsvDialect;
}

/** A row (or a run of rows csv-parse could not separate) longer than this stops the reading. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;

type Parsed =
  | { readonly kind: 'record'; readonly fields: string[]; readonly end: number; readonly raw: string }
  | { readonly kind: 'skip'; readonly error: CsvError; readonly raw: string };

/** A row csv-parse rejected: its first error, and its text up to the latest error. */
interface BadRow {
  readonly error: CsvError;
  raw: string;
}

/** Rows csv-parse rejected in a row, waiting for the next good row (or the end) to end them. */
interface BadRun {
  readonly start: number;
  readonly rows: BadRow[];
}

/**
 * Items from CSV bytes: the first row names the columns, every later row is one item whose id is
 * `${file}:${line}` with the line of the row's first character (the first data row after a
 * one-line header is line 2). Empty lines are skipped. `seq` counts data rows, failed ones too.
 */
export async function* readCsv(bytes: AsyncIterable<Uint8Array>, options: CsvReaderOptions): AsyncGenerator<Item> {
  const { file, after, signal, dialect } = options;
  const parsed: Parsed[] = [];
  const parser = parse({
    bom: false, // stripped below, so that csv-parse's byte offsets are offsets into what we fed
    delimiter: dialect.delimiter,
    quote: dialect.quote,
    escape: dialect.escape,
    record_delimiter: ['\r\n', '\n'],
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    raw: true,
    // Both callbacks run synchronously while a chunk is parsed, in input order; records are
    // queued here rather than pushed through the stream so that quote errors stay in order.
    on_record: (record: unknown, context) => {
      parsed.push({ kind: 'record', fields: (record as { record: string[] }).record, end: context.bytes, raw: context.raw ?? '' });
      return null;
    },
    on_skip: (error, raw) => {
      if (error !== undefined) parsed.push({ kind: 'skip', error, raw: raw ?? '' });
      return undefined;
    },
  });
  parser.on('error', () => {}); // reported through the write and end callbacks
  parser.resume();

  const window = new ByteWindow();
  const utf8 = new Utf8Check();
  let fed = 0; // bytes given to the parser
  let prevEnd = 0; // where the last good row ended: the next row (or bad run) starts here
  let header: string[] | undefined;
  let bad: BadRun | undefined;
  let seq = 0;
  let head: Uint8Array | undefined = new Uint8Array(0); // until the BOM question is settled

  function* drain(atEnd: boolean): Generator<Item> {
    for (const entry of parsed.splice(0)) {
      if (signal.aborted) signal.throwIfAborted();
      if (entry.kind === 'skip') {
        bad ??= { start: prevEnd, rows: [] };
        // Later errors in the same row see the same row text, grown; a new row starts afresh.
        const last = bad.rows.at(-1);
        if (last !== undefined && entry.raw.length > last.raw.length && entry.raw.startsWith(last.raw)) last.raw = entry.raw;
        else bad.rows.push({ error: entry.error, raw: entry.raw });
        continue;
      }
      let start = prevEnd;
      if (bad) {
        start = startAfterBadRun(entry, bad.start);
        yield* badRunItems(bad, start);
        bad = undefined;
      }
      const line = window.firstContent(start).line;
      prevEnd = entry.end;
      if (header === undefined) {
        if (utf8.anyIn(start, entry.end)) {
          throw ladingError('SOURCE_BAD_ENCODING', `${file} line ${grouped(line)}: the header row is not valid UTF-8`, { location: `${file}:${line}` });
        }
        header = columnNames(entry.fields, file, line);
        continue;
      }
      seq += 1;
      if (seq <= after) continue;
      if (utf8.anyIn(start, entry.end)) {
        yield failedLineItem('SOURCE_BAD_ENCODING', file, line, seq, `invalid UTF-8 bytes${fieldWithReplacement(entry.fields, header)}`);
      } else if (entry.fields.length !== header.length) {
        yield failedLineItem('SOURCE_MALFORMED_CSV', file, line, seq, `expected ${header.length} fields as in the header, found ${entry.fields.length}`);
      } else {
        yield lineItem(file, line, seq, toRow(header, entry.fields));
      }
    }
    if (atEnd && bad) {
      yield* badRunItems(bad, fed);
      bad = undefined;
    }
  }

  /**
   * One failed item per rejected row. The first starts where the run starts; each later one at
   * the next line start whose bytes match the row's text up to its error. A row that cannot be
   * placed stays part of the row before it.
   */
  function* badRunItems(run: BadRun, end: number): Generator<Item> {
    const first = window.firstContent(run.start);
    if (header === undefined) {
      const problem = csvProblem(run.rows[0]?.error);
      throw ladingError('SOURCE_MALFORMED_CSV', `${file} line ${grouped(first.line)}: the header row is malformed (${problem})`, { location: `${file}:${first.line}` });
    }
    const starts: { offset: number; row: BadRow }[] = [];
    const gap = run.rows.length > 1 ? window.slice(first.offset, end) : undefined;
    for (const row of run.rows) {
      if (starts.length === 0 || gap === undefined) {
        if (starts.length === 0) starts.push({ offset: first.offset, row });
        continue;
      }
      const needle = Buffer.from(row.raw.replace(/^[\r\n]+/, ''), 'utf8');
      const at = needle.length === 0 ? -1 : lineStartOf(gap, needle, starts.at(-1)!.offset - first.offset + 1);
      if (at !== -1) starts.push({ offset: first.offset + at, row });
    }
    for (const [i, { offset, row }] of starts.entries()) {
      const line = window.lineAt(offset);
      seq += 1;
      if (seq <= after) continue;
      let span = '';
      if (i === starts.length - 1) {
        const last = window.lastContentLine(offset, end);
        if (last > line) span = `; lines ${grouped(line)} to ${grouped(last)} were read as this one row`;
      }
      yield failedLineItem('SOURCE_MALFORMED_CSV', file, line, seq, `malformed CSV row (${csvProblem(row.error)})${span}`);
    }
  }

  /**
   * Where a good row that follows rejected rows starts. csv-parse gives its end and its raw text;
   * the raw text may lack the LF of CRLF line ends, so only its content (no leading empty lines,
   * no line end) is measured back from the end.
   */
  function startAfterBadRun(entry: Extract<Parsed, { kind: 'record' }>, floor: number): number {
    const end = entry.end;
    const lineEnd = window.byteAt(end - 1) === LF ? (window.byteAt(end - 2) === CR ? 2 : 1) : 0;
    let content = entry.raw;
    if (lineEnd === 2) content = content.endsWith('\r\n') ? content.slice(0, -2) : content.endsWith('\r') ? content.slice(0, -1) : content;
    else if (lineEnd === 1 && content.endsWith('\n')) content = content.slice(0, -1);
    content = content.replace(/^[\r\n]+/, '');
    const start = end - lineEnd - Buffer.byteLength(content, 'utf8');
    return Math.min(Math.max(start, floor), end);
  }

  // csv-parse only fails outright on what skip_records_with_error does not cover.
  const failed = (error: Error): Error =>
    ladingError('SOURCE_MALFORMED_CSV', `${file}: cannot parse CSV (${error.message})`, { cause: error });
  const write = (chunk: Uint8Array): Promise<void> =>
    new Promise((resolve, reject) => {
      parser.write(chunk, (error) => (error ? reject(failed(error)) : resolve()));
    });

  try {
    for await (const chunk of bytes) {
      signal.throwIfAborted();
      let data = chunk;
      if (head !== undefined) {
        // Strip a UTF-8 byte order mark; it may arrive split over tiny chunks.
        const joined: Uint8Array = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
        if (joined.length < 3 && isUtf8BomPrefix(joined)) {
          head = joined;
          continue;
        }
        data = joined.subarray(utf8BomLength(joined));
        head = undefined;
      }
      if (data.length === 0) continue;
      window.feed(data);
      utf8.feed(data, fed);
      fed += data.length;
      await write(data);
      yield* drain(false);
      if (fed - prevEnd > MAX_RECORD_BYTES) {
        const line = window.firstContent(prevEnd).line;
        throw ladingError(
          'SOURCE_MALFORMED_CSV',
          `${file} line ${grouped(line)}: a row runs on for more than ${MAX_RECORD_BYTES / (1024 * 1024)} MiB, probably an unclosed quote; reading stopped`,
          { location: `${file}:${line}` },
        );
      }
    }
    if (head !== undefined && head.length > 0) {
      window.feed(head);
      utf8.feed(head, fed);
      fed += head.length;
      await write(head);
    }
    utf8.finish();
    await new Promise<void>((resolve, reject) => {
      parser.end((error?: Error | null) => (error ? reject(failed(error)) : resolve()));
    });
    yield* drain(true);
  } finally {
    parser.destroy();
  }
}

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

/** ` in field "name"` for the first field holding a replacement character, if any. */
function fieldWithReplacement(fields: string[], header: string[]): string {
  const index = fields.findIndex((value) => value.includes('\uFFFD'));
  const name = index === -1 ? undefined : header[index];
  return name === undefined ? '' : ` in field "${name}"`;
}

/** The first index at or after `from` where `needle` starts a line in `haystack`, or -1. */
function lineStartOf(haystack: Buffer, needle: Buffer, from: number): number {
  for (let at = haystack.indexOf(needle, from); at !== -1; at = haystack.indexOf(needle, at + 1)) {
    if (at > 0 && haystack[at - 1] === LF) return at;
  }
  return -1;
}

function csvProblem(error: CsvError | undefined): string {
  if (error === undefined) return 'unreadable row';
  switch (error.code) {
    case 'CSV_INVALID_CLOSING_QUOTE':
      return 'a closing quote is followed by something other than a delimiter or a line end';
    case 'INVALID_OPENING_QUOTE':
      return 'a quote appears inside an unquoted field';
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted field is not closed before the end of the input';
    default:
      return error.message;
  }
}

/**
 * The input bytes from the earliest offset still asked about, to turn byte offsets into physical
 * line numbers (1 + the LFs before the offset). Queries move forward only; bytes behind the last
 * query are dropped, so memory stays at about one row plus one chunk.
 */
class ByteWindow {
  #chunks: Uint8Array[] = [];
  #base = 0; // offset of #chunks[0][0]
  #scanned = 0; // LFs are counted up to here
  #line = 1; // the line the byte at #scanned is on

  feed(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
  }

  byteAt(offset: number): number | undefined {
    let base = this.#base;
    for (const chunk of this.#chunks) {
      if (offset < base + chunk.length) return offset >= base ? chunk[offset - base] : undefined;
      base += chunk.length;
    }
    return undefined;
  }

  /** The first byte at or after `offset` that is not part of an empty line, and its line. */
  firstContent(offset: number): { offset: number; line: number } {
    let at = Math.max(offset, this.#scanned);
    for (let byte = this.byteAt(at); byte === LF || byte === CR; byte = this.byteAt(at)) at += 1;
    return { offset: at, line: this.lineAt(at) };
  }

  /** The line of the last byte before `end` that is not a line break (at least `from`'s line). */
  lastContentLine(from: number, end: number): number {
    let at = end - 1;
    for (let byte = this.byteAt(at); at > from && (byte === LF || byte === CR); byte = this.byteAt(at)) at -= 1;
    return this.#count(this.#scanned, Math.max(at, from));
  }

  /** A copy of the bytes in [from, to); `from` must not be behind the last line query. */
  slice(from: number, to: number): Buffer {
    const parts: Uint8Array[] = [];
    let base = this.#base;
    for (const chunk of this.#chunks) {
      const lo = Math.max(from - base, 0);
      const hi = Math.min(to - base, chunk.length);
      if (lo < hi) parts.push(chunk.subarray(lo, hi));
      base += chunk.length;
    }
    return Buffer.concat(parts);
  }

  lineAt(offset: number): number {
    if (offset <= this.#scanned) return this.#line;
    this.#line = this.#count(this.#scanned, offset);
    this.#scanned = offset;
    // Drop chunks wholly behind the scan point.
    while (this.#chunks.length > 1 && this.#base + this.#chunks[0]!.length <= this.#scanned) {
      this.#base += this.#chunks.shift()!.length;
    }
    return this.#line;
  }

  /** The line at `to`, counting LFs in [from, to) on top of the line at `from` (== #scanned). */
  #count(from: number, to: number): number {
    let line = this.#line;
    let base = this.#base;
    for (const chunk of this.#chunks) {
      const lo = Math.max(from - base, 0);
      const hi = Math.min(to - base, chunk.length);
      for (let i = lo < hi ? chunk.indexOf(LF, lo) : -1; i !== -1 && i < hi; i = chunk.indexOf(LF, i + 1)) line += 1;
      base += chunk.length;
      if (base >= to) break;
    }
    return line;
  }
}

/** Where the input's bytes are not valid UTF-8, checked chunk by chunk as they are fed. */
class Utf8Check {
  #pending: Uint8Array = new Uint8Array(0);
  #pendingAt = 0;
  #bad: number[] = [];

  feed(chunk: Uint8Array, offset: number): void {
    const data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const base = this.#pending.length === 0 ? offset : this.#pendingAt;
    const complete = completeUtf8Length(data);
    for (const at of invalidUtf8Offsets(data.subarray(0, complete))) this.#bad.push(base + at);
    this.#pending = Uint8Array.prototype.slice.call(data, complete);
    this.#pendingAt = base + complete;
  }

  /** An incomplete sequence at the very end is invalid too. */
  finish(): void {
    if (this.#pending.length > 0) this.#bad.push(this.#pendingAt);
    this.#pending = new Uint8Array(0);
  }

  /** Whether an invalid byte lies in [from, to). Queries move forward only. */
  anyIn(from: number, to: number): boolean {
    let drop = 0;
    while (drop < this.#bad.length && this.#bad[drop]! < from) drop += 1;
    if (drop > 0) this.#bad.splice(0, drop);
    return this.#bad.length > 0 && this.#bad[0]! < to;
  }
}

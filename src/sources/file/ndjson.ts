// NDJSON (JSON Lines): one JSON object per line. The hot path of the file source: a million
// lines of ~330 bytes should parse in about a second, so Buffers are split on 0x0a, each chunk's
// complete lines are checked as UTF-8 once, then decoded line by line. Every bad line becomes a
// failed item naming its line; the lines after it are still read.
import { isUtf8 } from 'node:buffer';
import { noData, type Item, type Row } from '../../core/item.js';
import { failedLineItem, jsonKind, lineItem, type ReaderOptions } from './open.js';

const LF = 0x0a;
const CR = 13;
const BOM = 0xfeff;

/** A line longer than this is not buffered further: it becomes a failed item. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/**
 * Items from NDJSON bytes. Lines are numbered physically (1-based, blank lines included) and
 * blank or whitespace-only lines are skipped; a trailing `\r` is removed, as is a byte order mark
 * at the very start. Malformed lines — invalid JSON, invalid UTF-8, or JSON that is not an object
 * — become items with `data: {}` and `error` set (SOURCE_MALFORMED_JSON, SOURCE_BAD_ENCODING,
 * SOURCE_NOT_A_RECORD). `seq` counts non-blank lines; items with `seq <= after` are skipped
 * without being parsed. One array of items per chunk of input bytes (never empty): the engine
 * takes them so, since a promise and a generator step per item cost as much as all of its mapping.
 */
export async function* readNdjsonBatches(bytes: AsyncIterable<Uint8Array>, options: ReaderOptions): AsyncGenerator<Item[]> {
  const { file, after, signal, keepText, unparsed } = options;
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let line = (options.block?.firstLine ?? 1) - 1; // physical lines seen so far
  let seq = 0;
  let carry: Uint8Array[] = []; // the start of a line that continues in the next chunk
  let carryBytes = 0;
  let tooLong = options.block?.insideOverlongLine ?? false;

  /** The item for one line of text (without its `\n`), or undefined for blank or skipped lines. */
  const fromText = (raw: string, lineNo: number): Item | undefined => {
    const text = ndjsonLineText(raw, lineNo === 1);
    if (text === undefined) return undefined;
    seq += 1;
    if (seq <= after) return undefined;
    return recordOfLine(text, file, lineNo, seq, keepText);
  };

  /** A line's bytes, left unparsed; undefined for blank or skipped lines. */
  const unparsedLine = (block: Uint8Array, start: number, end: number, lineNo: number): Item | undefined => {
    if (isBlankLine(block, start, end, lineNo === 1)) return undefined;
    seq += 1;
    return seq <= after ? undefined : new UnparsedLine(file, lineNo, seq, block, start, end);
  };

  /** The same for a line still in bytes: only this line fails when its bytes are not UTF-8. */
  const fromBytes = (lineBytes: Uint8Array, lineNo: number): Item | undefined => {
    if (unparsed) return unparsedLine(lineBytes, 0, lineBytes.length, lineNo);
    let text: string;
    try {
      text = decoder.decode(lineBytes);
    } catch {
      seq += 1;
      if (seq <= after) return undefined;
      return failedLineItem('SOURCE_BAD_ENCODING', file, lineNo, seq, 'invalid UTF-8 bytes');
    }
    return fromText(text, lineNo);
  };

  const overlong = (lineNo: number): Item | undefined => {
    seq += 1;
    if (seq <= after) return undefined;
    const limit = `${MAX_LINE_BYTES / (1024 * 1024)} MiB`;
    return failedLineItem('SOURCE_MALFORMED_JSON', file, lineNo, seq, `line longer than ${limit}; not read as a record`);
  };

  /** Ends the line held in `carry`, completed by `tail`. */
  const finishCarried = (tail: Uint8Array): Item | undefined => {
    line += 1;
    if (tooLong) {
      tooLong = false;
      return overlong(line);
    }
    if (tail.length > 0) carry.push(tail);
    const whole = carry.length === 1 ? carry[0]! : Buffer.concat(carry);
    carry = [];
    carryBytes = 0;
    return fromBytes(whole, line);
  };

  for await (const chunk of bytes) {
    signal.throwIfAborted();
    const batch: Item[] = [];
    const firstLf = chunk.indexOf(LF);
    if (firstLf === -1) {
      keep(chunk);
      continue;
    }
    let start = 0;
    if (carryBytes > 0 || tooLong) {
      const item = finishCarried(chunk.subarray(0, firstLf));
      if (item) batch.push(item);
      start = firstLf + 1;
    }
    const lastLf = chunk.lastIndexOf(LF);
    if (lastLf >= start) {
      // Complete lines: when their bytes are all UTF-8 (one check), each line is decoded on
      // its own, so the many all-ASCII lines stay one-byte strings, which JSON.parse reads
      // faster than slices of one chunk-sized text that a single non-ASCII character makes
      // two-byte. Otherwise line by line with the strict decoder, so only the bad lines fail.
      const utf8 = !unparsed && isUtf8(chunk.subarray(start, lastLf));
      const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      let pos = start;
      while (pos <= lastLf) {
        const nl = bytes.indexOf(LF, pos);
        line += 1;
        const item = unparsed ? unparsedLine(bytes, pos, nl, line) : utf8 ? fromText(bytes.toString('utf8', pos, nl), line) : fromBytes(bytes.subarray(pos, nl), line);
        if (item) batch.push(item);
        pos = nl + 1;
      }
      start = lastLf + 1;
    }
    if (start < chunk.length) keep(chunk.subarray(start));
    if (batch.length > 0) {
      signal.throwIfAborted();
      yield batch;
    }
  }
  if (carryBytes > 0 || tooLong) {
    const item = finishCarried(new Uint8Array(0));
    if (item) yield [item];
  }

  function keep(part: Uint8Array): void {
    if (tooLong) return;
    carry.push(part);
    carryBytes += part.length;
    if (carryBytes > MAX_LINE_BYTES) {
      carry = [];
      carryBytes = 0;
      tooLong = true;
    }
  }
}

/**
 * What of an NDJSON line (without its `\n`) is parsed: the line without a trailing `\r`, and
 * without a byte order mark on the input's first line; undefined when the line is blank (spaces,
 * tabs and `\r` only). Files and `lading serve`'s NDJSON bodies read lines by this one rule, so a
 * line of other white space (no-break spaces, say) is a malformed record in both, never skipped.
 */
export function ndjsonLineText(raw: string, first: boolean): string | undefined {
  let text = raw;
  if (text.charCodeAt(text.length - 1) === CR) text = text.slice(0, -1);
  if (first && text.charCodeAt(0) === BOM) text = text.slice(1);
  if (text.length === 0 || (isJsonSpace(text.charCodeAt(0)) && isBlank(text))) return undefined;
  return text;
}

const isJsonSpace = (code: number): boolean => code === 32 || code === 9 || code === CR;

const isBlank = (text: string): boolean => /^[ \t\r]*$/.test(text);

/** The item of a line's text that ndjsonLineText kept: its record, or the failure that names the line. */
function recordOfLine(text: string, file: string, lineNo: number, seq: number, keepText?: boolean): Item {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return failedLineItem('SOURCE_MALFORMED_JSON', file, lineNo, seq, `invalid JSON (${jsonProblem(error)})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return failedLineItem('SOURCE_NOT_A_RECORD', file, lineNo, seq, `not a record: found ${jsonKind(value)}, expected a JSON object`);
  }
  return lineItem(file, lineNo, seq, value as Row, keepText ? text : undefined);
}

/**
 * ndjsonLineText's blank test on a line's bytes (`start`–`end` of `bytes`), before any decoding:
 * the same answer for every line, since a blank line is all ASCII and a byte order mark is EF BB BF.
 */
function isBlankLine(bytes: Uint8Array, start: number, end: number, first: boolean): boolean {
  if (end > start && bytes[end - 1] === CR) end--;
  let at = first && end - start >= 3 && bytes[start] === 0xef && bytes[start + 1] === 0xbb && bytes[start + 2] === 0xbf ? start + 3 : start;
  while (at < end && isJsonSpace(bytes[at]!)) at++;
  return at === end;
}

/**
 * An NDJSON line left unparsed (ReaderOptions.unparsed) for a sink that parses in its own threads:
 * its bytes are `start`–`end` of the buffer it was read into. The event loop makes one per line
 * and the threads do the rest, so the id, origin and view of the bytes that every other item
 * carries are made only when asked for (a failure, a dead letter): made for every line, they were
 * most of what the event loop allocated, and its collector copied them while chunks were in flight.
 */
export class UnparsedLine implements Item {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly seq: number,
    readonly block: Uint8Array,
    readonly start: number,
    readonly end: number,
  ) {}

  get id(): string {
    return `${this.file}:${this.line}`;
  }

  get data(): Row {
    return noData;
  }

  get origin(): { readonly file: string; readonly line: number } {
    return { file: this.file, line: this.line };
  }

  get unparsed(): Uint8Array {
    return this.block.subarray(this.start, this.end);
  }
}

/**
 * The record of an unparsed item, made where it is needed (a dead letter's payload): an NDJSON
 * line (it has an origin) as the reader would have read it, or a stored record's JSON.
 */
export function parseUnparsed(item: Item): Item {
  const { buffer, byteOffset, byteLength } = item.unparsed!;
  const bytes = Buffer.from(buffer, byteOffset, byteLength);
  if (item.origin === undefined) return { id: item.id, seq: item.seq, data: JSON.parse(bytes.toString('utf8')) as Row };
  const { file = '', line = 0 } = item.origin;
  return parseLine(bytes, 0, bytes.byteLength, false, file, line, item.seq);
}

/**
 * The same for a line at `start`–`end` of `bytes` (a handler's thread). `utf8`: the bytes are
 * known to be UTF-8 (one check of many lines, as the reader makes), so they need no strict decoder.
 */
export function parseLine(bytes: Buffer, start: number, end: number, utf8: boolean, file: string, line: number, seq: number): Item {
  let text: string;
  try {
    text = utf8 ? bytes.toString('utf8', start, end) : strict.decode(bytes.subarray(start, end));
  } catch {
    return failedLineItem('SOURCE_BAD_ENCODING', file, line, seq, 'invalid UTF-8 bytes');
  }
  return recordOfLine(ndjsonLineText(text, line === 1)!, file, line, seq);
}

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * JSON.parse's complaint without the copy of the input V8 appends (`…, "{"a":x}" is not valid
 * JSON`): records can hold personal data, and messages go to reports and the store.
 */
export function jsonProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cut = /^(.*?), (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s.exec(message);
  const problem = cut?.[1] ?? message;
  return problem.length > 120 ? `${problem.slice(0, 117)}...` : problem;
}

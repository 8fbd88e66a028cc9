// A JSON file: one top-level array of objects, cut into its elements as the bytes stream in and
// each element parsed with JSON.parse, so a large array is never held in memory. An element that
// is not an object becomes a failed item; but a JSON file is one document, so a syntax error or
// invalid UTF-8 ends the reading with a SourceError naming the line (the run fails). NDJSON is
// the format for inputs whose records must be handled one by one, bad lines included.
//
// Why not a streaming JSON library: stream-json, used until 2026-12-06, builds every value from a
// token stream in JavaScript: 1M demo leads took 29.2 s to read, and take 3.5 s cut here and
// parsed by JSON.parse, where the same leads as NDJSON take 2.7 s (docs/benchmarks.md). Cutting elements needs only brackets and strings; JSON.parse
// then checks each element as strictly as it checks anything, and the cutter checks the commas
// and brackets between elements, so what is accepted is exactly a JSON array.
import type { Item, Row } from '../../core/item.js';
import { LadingError, ladingError } from '../../errors/lading-error.js';
import { isJsonSpaceByte, isUtf8BomPrefix, utf8BomLength } from '../../core/utf8.js';
import { completeUtf8Length, fileItemId, invalidUtf8Offsets, jsonKind, type ReaderOptions } from './open.js';
import { grouped } from '../../core/numbers.js';

/** An element longer than this stops the reading: it would otherwise be buffered without end. */
export const MAX_ELEMENT_BYTES = 64 * 1024 * 1024;

const LF = 0x0a;
const QUOTE = 0x22;
const COMMA = 0x2c;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** Where the cutter is: before the array, between elements, inside one, or past the array. */
type Phase = 'start' | 'first' | 'next' | 'after' | 'inside' | 'end';

/**
 * Items from a JSON array: item ids are `${file}:${index}` with the 1-based element index, and
 * `seq` is the index too. Elements with `seq <= after` are cut but not parsed. One array of items
 * per piece of input that completed any (never empty).
 */
export async function* readJsonBatches(bytes: AsyncIterable<Uint8Array>, options: ReaderOptions): AsyncGenerator<Item[]> {
  const { file, after, signal, keepText } = options;
  let phase = 'start' as Phase; // as Phase: cut() moves it where the compiler does not look
  let index = 0; // elements cut so far
  let buf: Buffer = Buffer.alloc(0);
  let line = 1; // the line buf[0] is on
  let at = 0; // the next byte of buf to look at
  let start = -1; // where the element being cut starts in buf, -1 between elements
  let container = false; // the element is an object or an array (else a string or a scalar)
  let depth = 0; // brackets open in the element
  let inString = false;

  const lineAt = (offset: number): number => line + countLf(buf, 0, offset);
  const malformed = (offset: number, problem: string): LadingError => {
    const where = lineAt(offset);
    return ladingError('SOURCE_MALFORMED_JSON', `${file} line ${grouped(where)}: ${problem}; a JSON file is read as one document, so reading stopped (NDJSON reports bad records line by line and reads on)`, { location: `${file}:${where}` });
  };

  /** The element from `start` to `end` as an item, or undefined when it is before the resume point. */
  const element = (end: number): Item | undefined => {
    index += 1;
    const from = start;
    start = -1;
    if (index <= after) return undefined;
    const text = buf.toString('utf8', from, end);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw malformed(from, `invalid JSON in element ${grouped(index)} (${(error as Error).message})`);
    }
    const id = fileItemId(file, index);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return keepText ? { id, seq: index, data: value as Row, origin: { file }, text } : { id, seq: index, data: value as Row, origin: { file } };
    }
    const error = ladingError('SOURCE_NOT_A_RECORD', `${file} element ${grouped(index)}: not a record: found ${jsonKind(value)}, expected a JSON object`, { itemId: id, location: `${file}#${index}` });
    return { id, seq: index, data: {}, origin: { file }, error };
  };

  for await (const body of checkedUtf8(bytes, options, () => lineAt(buf.length))) {
    signal.throwIfAborted();
    // Keep the element being cut (its scan goes on where it stopped); drop what is done.
    const keep = start === -1 ? buf.length : start;
    line += countLf(buf, 0, keep);
    at -= keep;
    if (start !== -1) start = 0;
    buf = keep === buf.length ? body : Buffer.concat([buf.subarray(keep), body]);
    const batch: Item[] = [];
    try {
      cut(batch);
    } catch (error) {
      // The elements before the error are handed out first: they were read.
      if (batch.length > 0) yield batch;
      throw error;
    }
    if (start !== -1 && buf.length - start > MAX_ELEMENT_BYTES) {
      throw malformed(start, `element ${grouped(index + 1)} is longer than ${MAX_ELEMENT_BYTES / (1024 * 1024)} MiB`);
    }
    if (batch.length > 0) yield batch;
  }
  // A number right before the end of the input ends there, as it would before a "]".
  if (phase === 'inside' && !container && !inString) {
    const item = element(buf.length);
    if (item) yield [item];
    phase = 'after';
  }
  if (phase === 'start') throw ladingError('SOURCE_MALFORMED_JSON', `${file}: empty input; expected a JSON array of objects (write [] for none)`, { location: `${file}:1` });
  if (phase !== 'end') throw malformed(buf.length, `the input ends inside the array, ${phase === 'inside' ? `in element ${grouped(index + 1)}` : `after element ${grouped(index)}`}; is the file cut short?`);

  /** Cuts the elements that end in buf from `at` on into `batch`, keeping the state of one that goes on. */
  function cut(batch: Item[]): void {
    while (at < buf.length) {
      if (phase === 'inside') {
        // A byte at a time, on locals. Buffer.indexOf for each string's end cost more than it
        // saved (records' strings are short: 1M leads read in 3.8 s against 4.0 s), and the
        // closure's variables a load and a store each (the cut took 970 ms with them, 745 without).
        const length = buf.length;
        const bytes = buf;
        let i = at;
        let ended = false;
        let quoted = inString;
        if (container) {
          let open = depth;
          while (i < length) {
            const b = bytes[i++]!;
            if (quoted) {
              if (b === BACKSLASH) i += 1; // the escaped byte, which may be in the next piece
              else if (b === QUOTE) quoted = false;
            } else if (b === QUOTE) quoted = true;
            else if (b === OPEN_BRACE || b === OPEN_BRACKET) open += 1;
            else if ((b === CLOSE_BRACE || b === CLOSE_BRACKET) && --open === 0) {
              ended = true;
              break;
            }
          }
          depth = open;
        } else if (quoted) {
          while (i < length) {
            const b = bytes[i++]!;
            if (b === BACKSLASH) i += 1;
            else if (b === QUOTE) {
              quoted = false;
              ended = true;
              break;
            }
          }
        } else {
          // A number, true, false or null ends before white space, "," or "]".
          while (i < length && !isScalarEnd(bytes[i]!)) i += 1;
          ended = i < length;
        }
        inString = quoted;
        at = i;
        if (!ended) break;
        const item = element(at);
        if (item) batch.push(item);
        phase = 'after';
        continue;
      }
      const byte = buf[at]!;
      at += 1;
      if (isJsonSpaceByte(byte)) continue;
      switch (phase) {
        case 'start':
          if (byte !== OPEN_BRACKET) throw malformedTop(file, lineAt(at - 1), byte);
          phase = 'first';
          continue;
        case 'after':
          if (byte === COMMA) phase = 'next';
          else if (byte === CLOSE_BRACKET) phase = 'end';
          else throw malformed(at - 1, `expected "," or "]" after element ${grouped(index)}, found "${String.fromCharCode(byte)}"`);
          continue;
        case 'end':
          throw malformed(at - 1, `unexpected "${String.fromCharCode(byte)}" after the array's closing "]"`);
        case 'first':
          if (byte === CLOSE_BRACKET) {
            phase = 'end';
            continue;
          }
          break;
        case 'next':
          if (byte === CLOSE_BRACKET) throw malformed(at - 1, `a "," after element ${grouped(index)} is followed by "]"`);
          break;
      }
      // An element starts.
      phase = 'inside';
      start = at - 1;
      container = byte === OPEN_BRACE || byte === OPEN_BRACKET;
      depth = container ? 1 : 0;
      inString = byte === QUOTE;
    }
  }
}

const isScalarEnd = (byte: number): boolean => isJsonSpaceByte(byte) || byte === COMMA || byte === CLOSE_BRACKET;

function malformedTop(file: string, line: number, byte: number): LadingError {
  return ladingError(
    'SOURCE_MALFORMED_JSON',
    `${file} line ${grouped(line)}: expected a JSON array of objects ([{…}, …]) at the top level, found "${String.fromCharCode(byte)}"`,
    { location: `${file}:${line}` },
  );
}

/**
 * The input's bytes, checked: a leading byte order mark is dropped, and the bytes must be UTF-8
 * (a character cut by a chunk boundary waits for the next chunk). `lineOfEnd` tells the line the
 * bytes handed out so far end on, for the error.
 */
async function* checkedUtf8(bytes: AsyncIterable<Uint8Array>, options: ReaderOptions, lineOfEnd: () => number): AsyncGenerator<Buffer> {
  const { file } = options;
  let pending: Uint8Array = new Uint8Array(0);
  let first = true;
  for await (const chunk of bytes) {
    let data: Uint8Array = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (first) {
      if (data.length < 3 && isUtf8BomPrefix(data)) {
        pending = data;
        continue;
      }
      data = data.subarray(utf8BomLength(data));
      first = false;
    }
    const complete = completeUtf8Length(data);
    const body = data.subarray(0, complete);
    pending = Uint8Array.prototype.slice.call(data, complete);
    const invalid = invalidUtf8Offsets(body, 1)[0];
    if (invalid !== undefined) throw badEncoding(file, lineOfEnd() + countLf(body, 0, invalid));
    if (body.length > 0) yield Buffer.from(body.buffer, body.byteOffset, body.length);
  }
  // Left over: an incomplete UTF-8 sequence (or part of a BOM) at the very end.
  if (pending.length > 0) throw badEncoding(file, lineOfEnd());
}

function badEncoding(file: string, line: number): LadingError {
  return ladingError(
    'SOURCE_BAD_ENCODING',
    `${file} line ${grouped(line)}: invalid UTF-8 bytes; reading stopped (a JSON file is one document)`,
    { location: `${file}:${line}` },
  );
}

function countLf(bytes: Uint8Array, from: number, to: number): number {
  let count = 0;
  for (let i = bytes.indexOf(LF, from); i !== -1 && i < to; i = bytes.indexOf(LF, i + 1)) count += 1;
  return count;
}

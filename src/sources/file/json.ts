// A JSON file: one top-level array of objects, streamed element by element with stream-json so a
// large array is never held in memory. An element that is not an object becomes a failed item;
// but a JSON file is one document, so a syntax error or invalid UTF-8 ends the reading with a
// SourceError (the run fails, naming the place). NDJSON is the format for inputs whose records
// must be handled one by one, bad lines included.
import { Readable, pipeline } from 'node:stream';
import StreamArray from 'stream-json/streamers/StreamArray.js';
import type { Item, Row } from '../../core/item.js';
import { LadingError, ladingError } from '../../errors/lading-error.js';
import { isJsonSpaceByte, isUtf8BomPrefix, utf8BomLength } from '../../core/utf8.js';
import { completeUtf8Length, invalidUtf8Offsets, jsonKind, type ReaderOptions } from './open.js';
import { grouped } from '../../core/numbers.js';

/** Bytes handed to the parser at a time: the granularity of "at or before line N" in errors. */
const PIECE_BYTES = 16 * 1024;
const LF = 0x0a;

/** How far the parser has been fed, for error messages. */
interface Fed {
  bytes: number;
  /** The line the last fed byte is on. */
  line: number;
}

/**
 * Items from a JSON array: item ids are `${file}:${index}` with the 1-based element index, and
 * `seq` is the index too. Elements with `seq <= after` are parsed but not yielded.
 */
export async function* readJson(bytes: AsyncIterable<Uint8Array>, options: ReaderOptions): AsyncGenerator<Item> {
  const { file, after, signal } = options;
  const fed: Fed = { bytes: 0, line: 1 };
  const source = Readable.from(pieces(bytes, options, fed), { objectMode: false, highWaterMark: 1 });
  const elements = StreamArray.withParser();
  pipeline(source, elements, () => {});
  let index = 0;
  try {
    for await (const element of elements as AsyncIterable<{ key: number; value: unknown }>) {
      signal.throwIfAborted();
      index += 1;
      if (index <= after) continue;
      const value = element.value;
      const id = `${file}:${index}`;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        const error = ladingError(
          'SOURCE_NOT_A_RECORD',
          `${file} element ${grouped(index)}: not a record: found ${jsonKind(value)}, expected a JSON object`,
          { itemId: id, location: `${file}#${index}` },
        );
        yield { id, seq: index, data: {}, origin: { file }, error };
      } else {
        yield { id, seq: index, data: value as Row, origin: { file } };
      }
    }
  } catch (error) {
    signal.throwIfAborted();
    if (error instanceof LadingError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    const line = grouped(fed.line);
    throw ladingError(
      'SOURCE_MALFORMED_JSON',
      `${file}: invalid JSON after element ${grouped(index)}, at or before line ${line} (${detail}); ` +
        'a JSON file is read as one document, so reading stopped (NDJSON reports bad records line by line and reads on)',
      { location: `${file}:${fed.line}`, cause: error },
    );
  } finally {
    elements.destroy();
    source.destroy();
  }
}

/**
 * The input in small pieces for the parser, checked on the way: a leading byte order mark is
 * dropped, the first value must open an array, and the bytes must be UTF-8.
 */
async function* pieces(bytes: AsyncIterable<Uint8Array>, options: ReaderOptions, fed: Fed): AsyncGenerator<Buffer> {
  const { file, signal } = options;
  let pending: Uint8Array = new Uint8Array(0);
  let started = false; // seen the first non-blank byte
  let first = true;
  for await (const chunk of bytes) {
    signal.throwIfAborted();
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
    if (invalid !== undefined) throw badEncoding(file, fed.line + countLf(body, 0, invalid));
    if (!started) {
      const at = body.findIndex((byte) => !isJsonSpaceByte(byte));
      if (at !== -1) {
        started = true;
        if (body[at] !== 0x5b) {
          const line = fed.line + countLf(body, 0, at);
          throw ladingError(
            'SOURCE_MALFORMED_JSON',
            `${file} line ${grouped(line)}: expected a JSON array of objects ([{…}, …]) at the top level, found "${String.fromCharCode(body[at]!)}"`,
            { location: `${file}:${line}` },
          );
        }
      }
    }
    for (let i = 0; i < body.length; i += PIECE_BYTES) {
      const piece = body.subarray(i, Math.min(i + PIECE_BYTES, body.length));
      fed.bytes += piece.length;
      fed.line += countLf(piece, 0, piece.length);
      yield Buffer.from(piece.buffer, piece.byteOffset, piece.length);
    }
  }
  // Left over: an incomplete UTF-8 sequence (or part of a BOM) at the very end.
  if (pending.length > 0) throw badEncoding(file, fed.line);
  if (!started) {
    throw ladingError('SOURCE_MALFORMED_JSON', `${file}: empty input; expected a JSON array of objects (write [] for none)`, { location: `${file}:1` });
  }
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


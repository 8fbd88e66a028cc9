// Opening a file source's input — a path or standard input — as a stream of bytes, with gzip
// detected by its magic bytes (1f 8b) rather than the file name, and bytes counted for progress.
// Also the small pieces the three readers (ndjson, csv, json) share: their options, the item
// builders, and UTF-8 boundary/validation helpers.
import { isUtf8 } from 'node:buffer';
import { open as openFile, stat } from 'node:fs/promises';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { describeItem, numberedId, type Item, type Row } from '../../core/item.js';
import type { ErrorCode } from '../../errors/codes.js';
import { classify } from '../../errors/classify.js';
import { LadingError, ladingError } from '../../errors/lading-error.js';

/** What to read: a file on disk, or a stream such as standard input. */
export type InputTarget =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'stdin'; readonly stream: NodeJS.ReadableStream };

/** Bytes taken from the file or stream so far (compressed bytes when the input is gzip). */
export interface ByteCounter {
  bytesRead: number;
}

export interface OpenOptions {
  readonly signal: AbortSignal;
  readonly counter?: ByteCounter;
  /** Size of each read from a file; tests pass a tiny one to split records across chunks. */
  readonly highWaterMark?: number;
}

/** Read size for files: large enough that per-chunk overhead vanishes, small enough to stream. */
export const READ_CHUNK_BYTES = 256 * 1024;

const GZIP_MAGIC_1 = 0x1f;
const GZIP_MAGIC_2 = 0x8b;

const cannotOpen = (path: string): string => `source.path: cannot open "${path}"`;

/**
 * The size of the input file, checking on the way that it exists and is not a folder. Undefined
 * for a named pipe or device (`/dev/stdin`, `<(zcat …)`): those are read as streams.
 * Throws SOURCE_NOT_FOUND (permanent) when it is missing or unreadable.
 */
export async function statInput(path: string): Promise<number | undefined> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw classify(error, { ioCode: 'SOURCE_READ_FAILED', doing: cannotOpen(path) });
  }
  if (info.isDirectory()) throw ladingError('SOURCE_NOT_FOUND', `${cannotOpen(path)}: it is a folder, not a file`);
  return info.isFile() ? info.size : undefined;
}

/**
 * The input's bytes, decompressed when they start with the gzip magic bytes (concatenated gzip
 * members are read through). Stops, and throws `signal.reason`, once `signal` aborts. I/O
 * failures are thrown as LadingErrors: SOURCE_NOT_FOUND when the file cannot be opened,
 * SOURCE_READ_FAILED when reading or decompressing fails part way.
 */
export async function* openInput(target: InputTarget, options: OpenOptions): AsyncGenerator<Buffer> {
  const name = target.kind === 'file' ? `"${target.path}"` : 'stdin';
  const raw = target.kind === 'file' ? fileChunks(target.path, options) : streamChunks(target.stream, options);
  try {
    yield* decompressed(raw, name, options.signal);
  } finally {
    // A safety net (the paths above close `raw` themselves); not awaited, because a read may
    // still be pending on standard input, and waiting for it could hang.
    void raw.return(undefined).catch(() => {});
  }
}

async function* fileChunks(path: string, options: OpenOptions): AsyncGenerator<Buffer> {
  const { signal, counter } = options;
  signal.throwIfAborted();
  let handle;
  try {
    handle = await openFile(path, 'r');
  } catch (error) {
    throw classify(error, { ioCode: 'SOURCE_READ_FAILED', doing: cannotOpen(path) });
  }
  // The stream owns the handle from here on (autoClose) and closes it when destroyed.
  const stream = handle.createReadStream({ highWaterMark: options.highWaterMark ?? READ_CHUNK_BYTES });
  const onAbort = (): void => {
    stream.destroy();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      signal.throwIfAborted();
      if (counter) counter.bytesRead += chunk.length;
      yield chunk;
    }
  } catch (error) {
    signal.throwIfAborted();
    throw classify(error, { ioCode: 'SOURCE_READ_FAILED', doing: `reading "${path}"` });
  } finally {
    signal.removeEventListener('abort', onAbort);
    stream.destroy();
  }
}

/**
 * Chunks of a caller-owned stream (standard input). Stopping early leaves the stream open, and an
 * abort is noticed even while no data arrives.
 */
async function* streamChunks(stream: NodeJS.ReadableStream, options: OpenOptions): AsyncGenerator<Buffer> {
  const { signal, counter } = options;
  signal.throwIfAborted();
  const iterable: AsyncIterable<unknown> = stream instanceof Readable ? stream.iterator({ destroyOnReturn: false }) : stream;
  const iterator = iterable[Symbol.asyncIterator]();
  let onAbort = (): void => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => {});
  let finished = false;
  try {
    for (;;) {
      let next;
      try {
        next = await Promise.race([iterator.next(), aborted]);
      } catch (error) {
        signal.throwIfAborted();
        throw classify(error, { ioCode: 'SOURCE_READ_FAILED', doing: 'reading stdin' });
      }
      if (next.done === true) {
        finished = true;
        return;
      }
      const value = next.value;
      const chunk = asBuffer(value);
      if (counter) counter.bytesRead += chunk.length;
      yield chunk;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    // Not awaited: after an abort a read may still be pending on the stream.
    if (!finished) void Promise.resolve(iterator.return?.()).catch(() => {});
  }
}

function asBuffer(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8'); // a stream with setEncoding()
  const bytes = value as Uint8Array;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

async function* decompressed(raw: AsyncGenerator<Buffer>, name: string, signal: AbortSignal): AsyncGenerator<Buffer> {
  // Peek at the first two bytes without losing them.
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < 2) {
    const next = await raw.next();
    if (next.done === true) {
      ended = true;
      break;
    }
    head.push(next.value);
    headBytes += next.value.length;
  }
  const first = head.length === 1 ? head[0]! : Buffer.concat(head);
  async function* all(): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    if (!ended) yield* raw;
  }
  if (first.length < 2 || first[0] !== GZIP_MAGIC_1 || first[1] !== GZIP_MAGIC_2) {
    yield* all();
    return;
  }
  const source = Readable.from(all(), { objectMode: false });
  const gunzip = createGunzip();
  pipeline(source, gunzip, () => {});
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) yield chunk;
  } catch (error) {
    signal.throwIfAborted();
    if (error instanceof LadingError) throw error;
    if (isZlibError(error)) {
      // A corrupt or truncated archive: reading it again will not help.
      throw ladingError('SOURCE_CORRUPT', `reading ${name}: not valid gzip data (${error.message})`, { cause: error });
    }
    throw classify(error, { ioCode: 'SOURCE_READ_FAILED', doing: `reading ${name}` });
  } finally {
    gunzip.destroy();
    source.destroy();
  }
}

function isZlibError(error: unknown): error is Error {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('Z_');
}

// ---------------------------------------------------------------------------------------------
// Shared by the readers

export interface ReaderOptions {
  /** Names the input in item ids, origins and messages: the file's base name, or `stdin`. */
  readonly file: string;
  /** Resume point: items with `seq <= after` are not yielded (0 reads everything). */
  readonly after: number;
  readonly signal: AbortSignal;
  /**
   * NDJSON read in blocks by worker threads: the physical number of the block's first line (so
   * ids and messages name the line in the whole file), and whether the block starts inside a line
   * already longer than the limit (its bytes so far were dropped, as the reader itself drops them).
   */
  readonly block?: { readonly firstLine: number; readonly insideOverlongLine: boolean };
  /**
   * NDJSON and JSON: give each item the text it was parsed from (its line, its element) as `text`
   * too, for a caller that stores records as text (`lading ingest`), which would otherwise
   * serialise every record it was just parsed from.
   */
  readonly keepText?: boolean;
  /**
   * NDJSON: items carry their line's bytes as `unparsed` instead of a parsed record (blank lines
   * are still skipped, overlong lines still fail here), for a sink that parses them in its own
   * threads (sinks/handler-threads.ts).
   */
  readonly unparsed?: boolean;
}

// The id prefix of the file named last: one string for all its records instead of one per record.
let idPrefix = { file: '', prefix: ':' };

/** The id of a file's record: `${file}:${n}`, n its line (its element for a JSON array). */
export function fileItemId(file: string, n: number): string {
  if (idPrefix.file !== file) idPrefix = { file, prefix: `${file}:` };
  return numberedId(idPrefix.prefix, n);
}

/** A record read from `file` at physical line `line` (1-based), with its text when there is one to keep. */
export function lineItem(file: string, line: number, seq: number, data: Row, text?: string): Item {
  const id = fileItemId(file, line);
  const origin = { file, line };
  return text === undefined ? { id, seq, data, origin } : { id, seq, data, origin, text };
}

/**
 * A record that could not be read: it carries the error, so the run counts it as failed instead
 * of dropping it. The message names the place: `leads.ndjson line 4,012: invalid JSON (…)`.
 */
export function failedLineItem(code: ErrorCode, file: string, line: number, seq: number, problem: string): Item {
  const id = fileItemId(file, line);
  const origin = { file, line };
  const error = ladingError(code, `${describeItem({ id, origin })}: ${problem}`, { itemId: id, location: id });
  return { id, seq, data: {}, origin, error };
}

/**
 * The items of a reader's batches one by one, for callers that take items singly. An abort
 * between items stops at once, not at the end of the batch.
 */
export async function* itemsOf(batches: AsyncIterable<readonly Item[]>, signal: AbortSignal): AsyncGenerator<Item> {
  for await (const batch of batches) {
    for (const item of batch) {
      signal.throwIfAborted();
      yield item;
    }
  }
}

/** `a number`, `an array`, `null`: what a JSON value is, for messages. */
export function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'object' ? 'an object' : `a ${type}`;
}

/**
 * The index just past the last complete UTF-8 sequence in `bytes`: a multi-byte character cut by a
 * chunk boundary is left for the next chunk.
 */
export function completeUtf8Length(bytes: Uint8Array): number {
  const length = bytes.length;
  for (let i = length - 1; i >= 0 && i >= length - 4; i -= 1) {
    const byte = bytes[i]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead byte
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return i + need > length ? i : length;
  }
  return length;
}

/** Offsets (within `bytes`) where ill-formed UTF-8 sequences start; empty when valid. */
export function invalidUtf8Offsets(bytes: Uint8Array, limit = Infinity): number[] {
  const found: number[] = [];
  if (isUtf8(bytes)) return found;
  const length = bytes.length;
  let i = 0;
  while (i < length && found.length < limit) {
    const byte = bytes[i]!;
    if (byte < 0x80) {
      i += 1;
      continue;
    }
    let need = 0;
    let low = 0x80;
    let high = 0xbf;
    if (byte >= 0xc2 && byte <= 0xdf) need = 1;
    else if (byte === 0xe0) [need, low] = [2, 0xa0];
    else if (byte === 0xed) [need, high] = [2, 0x9f];
    else if (byte >= 0xe1 && byte <= 0xef) need = 2;
    else if (byte === 0xf0) [need, low] = [3, 0x90];
    else if (byte === 0xf4) [need, high] = [3, 0x8f];
    else if (byte >= 0xf1 && byte <= 0xf3) need = 3;
    let ok = need > 0 && i + need < length;
    if (ok) {
      for (let k = 1; k <= need; k += 1) {
        const next = bytes[i + k];
        const lo = k === 1 ? low : 0x80;
        const hi = k === 1 ? high : 0xbf;
        if (next === undefined || next < lo || next > hi) {
          ok = false;
          break;
        }
      }
    }
    if (ok) {
      i += need + 1;
    } else {
      found.push(i);
      i += 1;
    }
  }
  return found;
}

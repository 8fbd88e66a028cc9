/**
 * A worker thread of engine/parallel.ts: blocks of NDJSON lines or of stored records in, each
 * record's file bytes or failures out. It runs the main thread's own reader, processor and format
 * encoder, so only the place of the work changes. Imports stay few: every worker pays for them at
 * start.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FormatDef } from '../core/component.js';
import { GrowingBytes } from '../core/growing-bytes.js';
import { itemRef, type Item, type Row } from '../core/item.js';
import { LadingError } from '../errors/lading-error.js';
import { readNdjsonBatches } from '../sources/file/ndjson.js';
import { crashJson, errorJson } from '../errors/error-json.js';
import type { BlockCrash, BlockJob, BlockPrepared, Exception, RecordsOfBlock, WorkerSetup } from './parallel.js';
import { buildItemProcessor, Flagged } from '../transform/process.js';

const setup = workerData as WorkerSetup;
const def = (await import(setup.format.module) as Record<string, FormatDef>)[setup.format.name]!;
const encoder = def.encoder(setup.format.config, setup.encoder);
/** Set when the format's bytes are the UTF-8 of its text: then records are written as text into the block. */
const asText = encoder.encodeText !== undefined;
const processItem = buildItemProcessor(setup.stages);
const never = new AbortController().signal;

/** Input slices about this large: the reader hands over a few hundred records at a time, which die young (cheap to collect). */
const SLICE_BYTES = 64 * 1024;
/** The same for a block of stored records. */
const SLICE_RECORDS = 256;

/**
 * The block in slices that end on a line feed, so no line is split: whether a line is too long
 * was decided by the main thread on the reads as they came (parallel.ts `blocks`), exactly as
 * the reader decides it there, and must not be decided again on other boundaries here.
 */
async function* slices(bytes: Uint8Array): AsyncGenerator<Buffer> {
  const all = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (all.byteLength === 0) yield all;
  for (let at = 0; at < all.byteLength;) {
    const lf = all.indexOf(0x0a, Math.min(at + SLICE_BYTES, all.byteLength) - 1);
    const end = lf === -1 ? all.byteLength : lf + 1;
    yield all.subarray(at, end);
    at = end;
  }
}

/** A block of stored records as items, as the inbox source makes them on the main thread, a slice at a time. */
function* recordItems(bytes: Uint8Array, { ids, ends }: RecordsOfBlock): Generator<Item[]> {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let from = 0; from < ids.length; from += SLICE_RECORDS) {
    const items: Item[] = [];
    for (let i = from; i < Math.min(ids.length, from + SLICE_RECORDS); i++) {
      items.push({ id: ids[i]!, seq: i + 1, data: JSON.parse(text.toString('utf8', i === 0 ? 0 : ends[i - 1]!, ends[i]!)) as Row });
    }
    yield items;
  }
}

/**
 * A block's output as it grows. Each record's bytes are written in at once, as text where the
 * encoder gives it (encodeText: no Buffer per record), so the encoder's strings die young
 * instead of surviving until the block ends (which grew the worker's old space by tens of MB).
 */
class Output {
  readonly bytes: GrowingBytes;
  lines: Int32Array;
  ends: Uint32Array;
  count = 0;

  constructor(inputBytes: number) {
    this.bytes = new GrowingBytes(inputBytes >>> 1);
    const records = Math.max(64, inputBytes >>> 7);
    this.lines = new Int32Array(records);
    this.ends = new Uint32Array(records);
  }

  add(line: number, encoded: Uint8Array | string | undefined): void {
    if (typeof encoded === 'string') this.bytes.write(encoded);
    else if (encoded !== undefined) this.bytes.append(encoded);
    if (this.count === this.lines.length) {
      this.lines = grown(this.lines, this.count + 1, this.count);
      this.ends = grown(this.ends, this.count + 1, this.count);
    }
    this.lines[this.count] = line;
    this.ends[this.count++] = this.bytes.size;
  }
}

function grown<T extends Int32Array | Uint32Array>(array: T, needed: number, used: number): T {
  const next = new (array.constructor as new (length: number) => T)(Math.max(needed, array.length * 2));
  next.set(array.subarray(0, used));
  return next;
}

async function prepare(job: BlockJob): Promise<BlockPrepared> {
  const options = { file: setup.file, after: 0, signal: never, block: { firstLine: job.firstLine, insideOverlongLine: job.insideOverlongLine } };
  const out = new Output(job.bytes.byteLength);
  const exceptions: Exception[] = [];
  const batches = job.records === undefined ? readNdjsonBatches(slices(job.bytes), options) : recordItems(job.bytes, job.records);
  for await (const items of batches) {
    for (const item of items) {
      const ref = itemRef(item);
      const outcome = processItem(item, ref);
      const flagged = outcome instanceof Flagged ? outcome : undefined;
      const warned = flagged?.warnings?.map(errorJson);
      let failed = flagged?.failures?.map(errorJson);
      let encoded: Uint8Array | string | undefined;
      if (failed === undefined) {
        const data = flagged === undefined ? outcome as Row : flagged.data!;
        try {
          encoded = asText ? encoder.encodeText!(data, ref) : encoder.encode(data, ref);
        } catch (error) {
          // As on the main thread, where the file sink turns a format error into the item's failure.
          if (!(error instanceof LadingError) || error.stage !== 'format') throw error;
          failed = [errorJson(error)];
        }
      }
      if (failed !== undefined || warned !== undefined) {
        exceptions.push({
          index: out.count, ...(failed === undefined ? {} : { failures: failed, input: JSON.stringify(item.data) }), ...(warned === undefined ? {} : { warnings: warned }),
        });
      }
      // A stored record's place is its index in the block: one entry each, so the count so far.
      out.add(item.origin?.line ?? out.count, encoded);
    }
  }
  // Exact copies, in buffers of their own (not Buffer's shared pool): they are moved to the main thread.
  return { id: job.id, lines: out.lines.slice(0, out.count), encoded: new Uint8Array(out.bytes.bytes.subarray(0, out.bytes.size)), ends: out.ends.slice(0, out.count), exceptions };
}

parentPort!.on('message', (job: BlockJob) => {
  prepare(job).then(
    (result) => parentPort!.postMessage(result, [result.lines.buffer, result.encoded.buffer, result.ends.buffer] as ArrayBuffer[]),
    (error: unknown) => parentPort!.postMessage({ id: job.id, crash: crashJson(error) } satisfies BlockCrash),
  );
});

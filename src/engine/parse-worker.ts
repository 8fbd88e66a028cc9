/**
 * A worker thread of engine/parallel.ts: blocks of NDJSON lines in, each record's file bytes or
 * failures out. It runs the main thread's own reader, processor and format encoder, so only the
 * place of the work changes. Imports stay few: every worker pays for them at start.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FormatDef } from '../core/component.js';
import { itemRef } from '../core/item.js';
import { LadingError } from '../errors/lading-error.js';
import { readNdjsonBatches } from '../sources/file/ndjson.js';
import { errorJson, type BlockCrash, type BlockJob, type BlockPrepared, type Exception, type WorkerSetup } from './parallel.js';
import { buildProcessor } from './process.js';

const setup = workerData as WorkerSetup;
const def = (await import(setup.format.module) as Record<string, FormatDef>)[setup.format.name]!;
const encoder = def.encoder(setup.format.config, setup.encoder);
const processor = buildProcessor(setup.stages);
const never = new AbortController().signal;

/** Input slices this large: the reader hands over a few hundred records at a time, which die young (cheap to collect). */
const SLICE_BYTES = 64 * 1024;

async function* slices(bytes: Uint8Array): AsyncGenerator<Buffer> {
  const all = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (all.byteLength === 0) yield all;
  for (let at = 0; at < all.byteLength; at += SLICE_BYTES) yield all.subarray(at, at + SLICE_BYTES);
}

async function prepare(job: BlockJob): Promise<BlockPrepared> {
  const options = { file: setup.file, after: 0, signal: never, block: { firstLine: job.firstLine, insideOverlongLine: job.insideOverlongLine } };
  const lines: number[] = [];
  const ends: number[] = [];
  const parts: Uint8Array[] = [];
  const exceptions: Exception[] = [];
  let size = 0;
  for await (const items of readNdjsonBatches(slices(job.bytes), options)) {
    const { ok, failures, warnings } = processor(items);
    let passed = 0;
    for (const item of items) {
      const warned = warnings.get(item.id)?.map(errorJson);
      let failed = failures.get(item.id)?.map(errorJson);
      if (failed === undefined) {
        const mapped = ok[passed++]!;
        try {
          const bytes = encoder.encode(mapped.data, itemRef(mapped));
          parts.push(bytes);
          size += bytes.byteLength;
        } catch (error) {
          // As on the main thread, where the file sink turns a format error into the item's failure.
          if (!(error instanceof LadingError) || error.stage !== 'format') throw error;
          failed = [errorJson(error)];
        }
      }
      if (failed !== undefined || warned !== undefined) {
        exceptions.push({
          index: lines.length, ...(failed === undefined ? {} : { failures: failed, input: JSON.stringify(item.data) }), ...(warned === undefined ? {} : { warnings: warned }),
        });
      }
      lines.push(item.origin!.line!);
      ends.push(size);
    }
  }
  // Buffers of their own, not slices of Buffer's shared pool: they are moved to the main thread.
  const encoded = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    encoded.set(part, at);
    at += part.byteLength;
  }
  return { id: job.id, lines: Int32Array.from(lines), encoded, ends: Uint32Array.from(ends), exceptions };
}

parentPort!.on('message', (job: BlockJob) => {
  prepare(job).then(
    (result) => parentPort!.postMessage(result, [result.lines.buffer, result.encoded.buffer, result.ends.buffer] as ArrayBuffer[]),
    (error: unknown) => {
      const e = error instanceof LadingError ? error : undefined;
      const message = error instanceof Error ? error.message : String(error);
      parentPort!.postMessage({ id: job.id, crash: { ...(e ? errorJson(e) : { code: 'UNCLASSIFIED', message }), ...(error instanceof Error && error.stack ? { stack: error.stack } : {}) } } satisfies BlockCrash);
    },
  );
});

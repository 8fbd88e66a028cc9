/**
 * Parallel preparation of NDJSON input, and of stored JSON records (the inbox), for file outputs.
 * The main thread only cuts the input's bytes into blocks of whole lines, or gathers pages of
 * records into blocks; worker threads (engine/parse-worker.ts) run the same NDJSON reader (or
 * JSON.parse of each stored record), validate → map processor and output format encoder on each
 * block, and hand back the file bytes of each record, or its failures. The main thread then does
 * what must stay in order: items to the executor, chunk commits, the file and its codecs (gzip on
 * the thread pool).
 *
 * Why: JSON.parse, validate and map are most of a delivery's main-thread time, and the second
 * core idled. Moving parsed objects between threads costs as much as parsing them (structured
 * clone), so the records never cross: only bytes do.
 *
 * The records, their ids, seqs, messages and bytes are those the main thread would have made
 * (test/unit/engine/parallel.test.ts runs both ways and compares). Only pipelines whose records
 * cross no thread boundary qualify (see `parallelPlan`); everything else reads on the main thread.
 */
import { Worker } from 'node:worker_threads';
import type { FormatDef } from '../core/component.js';
import { pick } from '../config/one-of.js';
import { noData, type Item, type Row } from '../core/item.js';
import { autoThreads, ThreadCalls, workerEntry } from '../core/threads.js';
import type { PipelineConfig } from '../config/pipeline.js';
import type { EncoderContext } from '../formats/types.js';
import { ladingError } from '../errors/lading-error.js';
import { fromErrorJson as revive, type ErrorJson } from '../errors/error-json.js';
import { MAX_LINE_BYTES } from '../sources/file/ndjson.js';
import { fileItemId, type ReaderOptions } from '../sources/file/open.js';
import type { JsonPage, Source } from '../sources/types.js';

/** Input bytes per block: large enough that a message per block costs nothing, small enough to keep every worker busy. */
const BLOCK_BYTES = 1024 * 1024;
/**
 * Blocks handed out and not yet taken, per worker. Two kept the workers a little busier but held
 * ~20 MB more at peak: the main thread, which hardly allocates any more, collects the input's
 * dead read buffers late.
 */
const BLOCKS_PER_WORKER = 1;
/** Below this much input, starting workers costs more than they save. */
const MIN_PARALLEL_BYTES = 4 * 1024 * 1024;
/** The same for stored records: about 4 MiB of demo leads. */
const MIN_PARALLEL_RECORDS = 10_000;
/**
 * Blocks of stored records are smaller: with 1 MiB ones a 1M-record inbox run peaked at 305–320
 * MB (against 162–181 MB on the main thread alone), with 256 KiB ones at 197–225 MB, and took
 * 14.0–14.8 s against 17.2–17.8 s on the main thread (3 alternating pairs, machine G).
 */
const RECORD_BLOCK_BYTES = 256 * 1024;
const LF = 0x0a;

/** What a worker needs to prepare records as the main thread would: built once per run. */
export interface WorkerSetup {
  readonly file: string;
  readonly stages: Pick<PipelineConfig, 'validate' | 'map'>;
  readonly format: { readonly module: string; readonly name: string; readonly config: unknown };
  readonly encoder: EncoderContext;
}

export interface BlockJob {
  readonly id: number;
  /** Whole lines (a last block may end without a line feed), or whole records' JSON; the worker owns the buffer. */
  readonly bytes: Uint8Array;
  readonly firstLine: number;
  readonly insideOverlongLine: boolean;
  /** A block of stored records instead of lines: record i is item `ids[i]`, its JSON in `bytes` up to `ends[i]`. */
  readonly records?: RecordsOfBlock;
}

export interface RecordsOfBlock {
  readonly ids: readonly string[];
  readonly ends: Uint32Array;
}

/** A record that did not simply pass: its failures (with its input record as JSON) and warnings. */
export interface Exception {
  readonly index: number;
  readonly failures?: readonly ErrorJson[];
  readonly warnings?: readonly ErrorJson[];
  readonly input?: string;
}

export interface BlockPrepared {
  readonly id: number;
  /** Physical line of each record of the block, in order (of a block of records: its index). */
  readonly lines: Int32Array;
  /** The file bytes of every passing record, back to back; record i's end at `ends[i]`. */
  readonly encoded: Uint8Array;
  readonly ends: Uint32Array;
  /** Records with failures or warnings, by ascending index. */
  readonly exceptions: readonly Exception[];
}

/** The worker could not prepare the block (a bug, not a bad record): the run stops with it. */
export interface BlockCrash {
  readonly id: number;
  readonly crash: ErrorJson & { readonly stack?: string };
}

export type BlockResult = BlockPrepared | BlockCrash;

export interface ParallelPlan {
  readonly threads: number;
  readonly setup: WorkerSetup;
}

/**
 * Whether this run's records can be prepared in worker threads, and with what: an NDJSON source
 * or one of stored JSON records, read from its start (no sample, no resume), a map (so the
 * output's columns are known before the first record), a format that declares `thread` (its
 * records encode independently of each other; every built-in format does), no partitions, and input worth
 * the workers' start-up.
 */
export function parallelPlan(args: {
  readonly config: PipelineConfig;
  readonly source: Source;
  readonly formats: readonly FormatDef[];
  readonly encoder: EncoderContext;
  /** Neither a resumed nor a sample run: every item, from the first. */
  readonly fromStart: boolean;
}): ParallelPlan | undefined {
  const { config, source } = args;
  const wanted = config.execution.parse_threads;
  const threads = wanted === 'auto' ? autoThreads() : wanted;
  const output = config.output as { readonly type: string; readonly format?: unknown; readonly partition?: unknown };
  if (threads === 0 || !args.fromStart || (source.readNdjsonWith === undefined && source.readJsonPages === undefined) || config.map === undefined) return undefined;
  if (output.type !== 'file' || output.partition !== undefined) return undefined;
  const format = pick(args.formats, output.format);
  if (format.thread === undefined) return undefined;
  const size = source.progress?.();
  if (wanted === 'auto' && size !== undefined && size.total < (size.unit === 'bytes' ? MIN_PARALLEL_BYTES : MIN_PARALLEL_RECORDS)) return undefined;
  const setup: WorkerSetup = {
    file: '', stages: { validate: config.validate, map: config.map },
    format: { module: workerEntry(new URL(format.thread.module)).href, name: format.thread.name, config: output.format }, encoder: args.encoder,
  };
  try {
    structuredClone(setup);
  } catch {
    return undefined; // a config value no thread can receive (none today): stay on the main thread
  }
  return { threads, setup };
}

/** The source's items, prepared by `plan.threads` workers, in input order, one array per block. */
export function preparedBatches(source: Source, plan: ParallelPlan, signal: AbortSignal): AsyncIterable<Item[]> {
  if (source.readNdjsonWith !== undefined) return source.readNdjsonWith((bytes, options) => prepare(blocks(bytes), options, plan), signal);
  return prepare(recordBlocks(source.readJsonPages!(signal)), { file: '', after: 0, signal }, plan);
}

async function* prepare(jobs: AsyncIterable<Omit<BlockJob, 'id'>>, options: ReaderOptions, plan: ParallelPlan): AsyncGenerator<Item[]> {
  const pool = new Pool(plan.threads, { ...plan.setup, file: options.file });
  // Blocks are read and handed to the workers by a pump of their own, so a worker that finishes
  // gets its next block at once, not when the executor asks for more items.
  const queue: { readonly result: Promise<BlockResult>; readonly ids: readonly string[] | undefined }[] = [];
  const wake = { pump: (): void => {}, taker: (): void => {} };
  let ended = false;
  let stopped = false;
  let failure: { readonly error: unknown } | undefined;
  void (async () => {
    try {
      for await (const block of jobs) {
        options.signal.throwIfAborted();
        while (queue.length >= plan.threads * BLOCKS_PER_WORKER && !stopped) await new Promise<void>((resolve) => (wake.pump = resolve));
        if (stopped) return;
        const result = pool.run(block);
        result.catch(() => {}); // handled where it is taken
        queue.push({ result, ids: block.records?.ids });
        wake.taker();
      }
    } catch (error) {
      failure = { error };
    } finally {
      ended = true;
      wake.taker();
    }
  })();
  let seq = 0;
  try {
    for (;;) {
      while (queue.length === 0 && !ended) await new Promise<void>((resolve) => (wake.taker = resolve));
      const next = queue.shift();
      if (next === undefined) {
        if (failure) throw failure.error;
        return;
      }
      const result = await next.result;
      wake.pump();
      const items = itemsOf(result, next.ids ?? options.file, seq);
      seq += items.length;
      yield items;
    }
  } finally {
    stopped = true;
    wake.pump();
    await pool.close();
  }
}

/**
 * Cuts the input into blocks of whole lines. A line longer than MAX_LINE_BYTES is dropped as it
 * comes in and the next block starts inside it, exactly as the reader itself drops it, so it
 * still fails with its line number.
 */
async function* blocks(bytes: AsyncIterable<Buffer>): AsyncGenerator<Omit<BlockJob, 'id'>> {
  let whole: Uint8Array[] = [];
  let wholeBytes = 0;
  let carry: Uint8Array[] = [];
  let carryBytes = 0;
  let overlong = false;
  let startsOverlong = false;
  let line = 1;
  const cut = (last: boolean): Omit<BlockJob, 'id'> => {
    const parts = last ? [...whole, ...carry] : whole;
    const size = parts.reduce((n, p) => n + p.byteLength, 0);
    // A buffer of its own: it is moved to the worker, and read buffers may share theirs.
    const block = new Uint8Array(size);
    let at = 0;
    let lines = 0;
    for (const part of parts) {
      block.set(part, at);
      at += part.byteLength;
    }
    for (let i = block.indexOf(LF); i !== -1; i = block.indexOf(LF, i + 1)) lines++;
    const job = { bytes: block, firstLine: line, insideOverlongLine: startsOverlong };
    line += lines;
    whole = [];
    wholeBytes = 0;
    startsOverlong = false;
    return job;
  };
  for await (const chunk of bytes) {
    const lf = chunk.lastIndexOf(LF);
    if (lf === -1) {
      if (overlong) continue;
      carry.push(chunk);
      carryBytes += chunk.byteLength;
      if (carryBytes > MAX_LINE_BYTES) {
        if (wholeBytes > 0) yield cut(false);
        carry = [];
        carryBytes = 0;
        overlong = true;
        startsOverlong = true;
      }
      continue;
    }
    if (!overlong) whole.push(...carry);
    else if (wholeBytes === 0) startsOverlong = true;
    whole.push(chunk.subarray(0, lf + 1));
    wholeBytes += carryBytes + lf + 1;
    carry = lf + 1 < chunk.byteLength ? [chunk.subarray(lf + 1)] : [];
    carryBytes = chunk.byteLength - lf - 1;
    overlong = false;
    if (wholeBytes >= BLOCK_BYTES) yield cut(false);
  }
  if (wholeBytes > 0 || carryBytes > 0 || startsOverlong) yield cut(true);
}

/**
 * Pages of stored records gathered into blocks of about RECORD_BLOCK_BYTES: the JSON of each
 * record end to end, and where each ends (a record's JSON may hold line feeds: no lines here).
 */
async function* recordBlocks(pages: AsyncIterable<JsonPage>): AsyncGenerator<Omit<BlockJob, 'id'>> {
  let ids: string[] = [];
  let json: string[] = [];
  let size = 0;
  const cut = (): Omit<BlockJob, 'id'> => {
    // A buffer of its own (not Buffer's pool): it is moved to the worker.
    const bytes = Buffer.from(new ArrayBuffer(size));
    const ends = new Uint32Array(json.length);
    let at = 0;
    json.forEach((text, i) => {
      at += bytes.write(text, at);
      ends[i] = at;
    });
    const job = { bytes, firstLine: 1, insideOverlongLine: false, records: { ids, ends } };
    ids = [];
    json = [];
    size = 0;
    return job;
  };
  for await (const page of pages) {
    for (let i = 0; i < page.ids.length; i++) {
      ids.push(page.ids[i]!);
      json.push(page.json[i]!);
      size += Buffer.byteLength(page.json[i]!);
    }
    if (size >= RECORD_BLOCK_BYTES) yield cut();
  }
  if (ids.length > 0) yield cut();
}

/** A block's items: named by `${file}:${line}`, or, for a block of stored records, by their ids. */
function itemsOf(result: BlockResult, from: string | readonly string[], seqBefore: number): Item[] {
  if ('crash' in result) throw revive(result.crash);
  const { lines, encoded, ends, exceptions } = result;
  const items: Item[] = new Array(lines.length);
  const file = typeof from === 'string' ? from : undefined;
  let next = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const id = file === undefined ? from[line]! : fileItemId(file, line);
    const origin = file === undefined ? undefined : { file, line };
    const seq = seqBefore + i + 1;
    const start = i === 0 ? 0 : ends[i - 1]!;
    const exception = exceptions[next]?.index === i ? exceptions[next++] : undefined;
    if (exception === undefined) {
      const prepared = { encoded: encoded.subarray(start, ends[i]) };
      items[i] = origin === undefined ? { id, seq, data: noData, prepared } : { id, seq, data: noData, origin, prepared };
      continue;
    }
    const warnings = exception.warnings?.map(revive);
    const failures = exception.failures?.map(revive);
    const prepared = failures !== undefined
      ? { failures, ...(warnings ? { warnings } : {}) }
      : { encoded: encoded.subarray(start, ends[i]), ...(warnings ? { warnings } : {}) };
    const data = exception.input === undefined ? noData : JSON.parse(exception.input) as Row;
    items[i] = origin === undefined ? { id, seq, data, prepared } : { id, seq, data, origin, prepared };
  }
  return items;
}

/** Worker threads taking blocks in turn; a crashed or failed worker fails the blocks it held. */
class Pool {
  private readonly threads: ThreadCalls<Omit<BlockJob, 'id'>, BlockResult>[];
  private turn = 0;

  constructor(size: number, setup: WorkerSetup) {
    const entry = workerEntry(new URL('./parse-worker.js', import.meta.url));
    this.threads = Array.from({ length: size }, () => new ThreadCalls(
      // A worker's records die within a 64 KiB slice (parse-worker.ts), so a young generation of
      // 8 MB is plenty; V8's default reserves 16 MB semi-spaces per thread.
      new Worker(entry, { workerData: setup, resourceLimits: { maxYoungGenerationSizeMb: 8 } }),
      'a parse worker thread', (message) => ladingError('UNCLASSIFIED', message),
    ));
  }

  run(block: Omit<BlockJob, 'id'>): Promise<BlockResult> {
    // Blocks go round: each is about the same work, so turns balance the load.
    const moved = [block.bytes.buffer, ...(block.records ? [block.records.ends.buffer] : [])] as ArrayBuffer[];
    return this.threads[this.turn++ % this.threads.length]!.call(block, moved);
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.close()));
  }
}

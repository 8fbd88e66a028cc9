/**
 * The handler sink with `threads`: each write's records cross to a worker thread as the bytes of
 * their NDJSON lines (or of their JSON as the inbox stored it), and the thread parses, validates
 * and maps them and calls its own instance of the handler module (sinks/handler-worker.ts). The
 * event loop then only cuts lines, keeps checkpoints and commits: parsing was 60% of a no-op
 * handler's run, and the second core idled.
 *
 * A write is one call on one thread, so a chunk reaches processChunk whole and its idempotency key
 * is the one the main thread would give it. Items that are not unparsed (resumed and sample runs,
 * other sources) go to the handler on the main thread.
 */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { isUnparsed, type Chunk, type Item } from '../core/item.js';
import { ThreadCalls, workerEntry } from '../core/threads.js';
import { errorJson, fromErrorJson, type ErrorJson } from '../errors/error-json.js';
import { ladingError, type LadingError } from '../errors/lading-error.js';
import { UnparsedLine } from '../sources/file/ndjson.js';
import type { ChunkContext, RecordSink, RunContext, SinkSummary, WriteResult } from './types.js';

/** What a handler thread is started with. */
export interface HandlerThreadSetup {
  readonly module: string;
  readonly stages: NonNullable<RunContext['stages']>;
  /** Where a call's signal is said to be aborted, and where its calls under a rate limit ask for and get their tokens. */
  readonly control: MessagePort;
}

/** On the control port: to the thread, an abort or a token granted or refused; from it, a token asked for. */
export type ControlMessage =
  | { readonly abort: number }
  | { readonly granted: number }
  | { readonly refused: number }
  | { readonly acquire: number };

/**
 * One write: record i's bytes are `starts[i]`–`ends[i]` of `bytes`; it is line `lines[i]` of
 * `file`, or, for stored records, item `ids[i]`.
 */
export interface HandlerCall {
  readonly key: number;
  readonly lines?: { readonly file: string; readonly numbers: Float64Array };
  readonly ids?: readonly string[];
  readonly bytes: Uint8Array;
  readonly starts: Uint32Array;
  readonly ends: Uint32Array;
  readonly seqs: Float64Array;
  readonly context: Pick<ChunkContext, 'runId' | 'lineage' | 'chunkIndex' | 'attempt' | 'timeoutMs'>;
  /** The run has a rate limit: each handler call asks the main thread for a token (ControlMessage). */
  readonly limited: boolean;
  /** Without one, the gate's shared pause flag: a call asks the main thread only while it is set. */
  readonly paused?: Int32Array;
}

export type ErrorsById = readonly (readonly [string, readonly ErrorJson[]])[];

/**
 * The handler's failures: each distinct error once, and which error each failed item has. Items
 * that shared one error object (a processChunk call that threw) must share it on the main thread
 * too: the executor bisects such a group to find the bad items.
 */
export interface SharedFailures {
  readonly errors: readonly ErrorJson[];
  readonly byId: readonly (readonly [string, number])[];
}

export type HandlerAnswer =
  | { readonly failures: SharedFailures; readonly invalid: ErrorsById; readonly warnings: ErrorsById }
  | { readonly crash: ErrorJson & { readonly stack?: string } };

interface HandlerThread {
  readonly calls: ThreadCalls<HandlerCall, HandlerAnswer>;
  readonly control: MessagePort;
}

export class ThreadedHandlerSink implements RecordSink {
  readonly type = 'handler';
  readonly ordering = 'parallel';
  readonly takesUnparsed = true;
  #threads: HandlerThread[] = [];
  #stages: RunContext['stages'];
  #turn = 0;
  #key = 0;
  /** Calls in a thread, by key: their context, for the tokens they ask for. */
  readonly #running = new Map<number, ChunkContext>();

  /** `main` is the same handler on the main thread, for items that come parsed. */
  constructor(private readonly path: string, private readonly size: number, private readonly main: RecordSink) {}

  healthcheck(signal: AbortSignal): Promise<void> {
    return this.main.healthcheck!(signal);
  }

  async open(ctx: RunContext): Promise<void> {
    // The module is loaded here too: a module that cannot load fails the run before it starts.
    await this.main.open(ctx);
    this.#stages = ctx.stages;
  }

  async write(chunk: Chunk, ctx: ChunkContext): Promise<WriteResult> {
    const { items } = chunk;
    if (items[0] === undefined || !isUnparsed(items[0])) return this.main.write(chunk, ctx);
    const thread = this.#thread();
    const key = this.#key++;
    const abort = () => thread.control.postMessage({ abort: key } satisfies ControlMessage);
    ctx.signal.addEventListener('abort', abort, { once: true });
    this.#running.set(key, ctx);
    try {
      const call = callOf(items, key, ctx);
      if (ctx.signal.aborted) abort(); // the listener never fires for a signal aborted already
      const moved = [call.bytes.buffer, call.starts.buffer, call.ends.buffer, call.seqs.buffer, ...(call.lines ? [call.lines.numbers.buffer] : [])] as ArrayBuffer[];
      const answer = await thread.calls.call(call, moved);
      if ('crash' in answer) throw fromErrorJson(answer.crash);
      return {
        failures: failuresOf(answer.failures),
        invalid: errorsById(answer.invalid),
        warnings: errorsById(answer.warnings),
      };
    } finally {
      this.#running.delete(key);
      ctx.signal.removeEventListener('abort', abort);
    }
  }

  async close(ctx: RunContext, outcome: 'completed' | 'aborted'): Promise<SinkSummary> {
    const threads = this.#threads;
    this.#threads = [];
    await Promise.all(threads.map(async ({ calls, control }) => {
      control.close();
      await calls.close();
    }));
    return this.main.close(ctx, outcome);
  }

  /**
   * Threads start with the first unparsed writes, one each, then a write goes to the thread with
   * the fewest calls waiting: the first thread along from the last one chosen, on a tie. Chunks
   * commit in order, so a write queued behind a slow one holds its slot in execution.concurrency
   * while another thread may have nothing to do. A thread that died (a handler that exited it,
   * say) failed the calls it held, and is replaced for the next one.
   */
  #thread(): HandlerThread {
    const at = this.#threads.length < this.size ? this.#threads.length : leastBusy(this.#threads.map((thread) => thread.calls.pending), this.#turn);
    this.#turn = at + 1;
    const thread = this.#threads[at];
    if (thread?.calls.alive) return thread;
    thread?.control.close();
    return (this.#threads[at] = this.#start());
  }

  #start(): HandlerThread {
    if (this.#stages === undefined) throw ladingError('UNCLASSIFIED', 'the handler threads were given unparsed items without the pipeline\'s validate and map');
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (message: ControlMessage) => {
      if (!('acquire' in message)) return;
      const ctx = this.#running.get(message.acquire);
      if (ctx === undefined) return; // the call ended: nobody waits for the token
      ctx.gate.acquire(ctx.signal).then(
        () => port1.postMessage({ granted: message.acquire } satisfies ControlMessage),
        () => port1.postMessage({ refused: message.acquire } satisfies ControlMessage),
      );
    });
    port1.unref();
    const setup: HandlerThreadSetup = { module: this.path, stages: this.#stages, control: port2 };
    const worker = new Worker(workerEntry(new URL('./handler-worker.js', import.meta.url)), { workerData: setup, transferList: [port2] });
    return { calls: new ThreadCalls(worker, 'a handler thread', (message) => ladingError('UNCLASSIFIED', message)), control: port1 };
  }
}

/** The thread a write goes to: the one with the fewest calls waiting, the first along from `from` on a tie. */
export function leastBusy(pending: readonly number[], from: number): number {
  let at = from % pending.length;
  for (let step = 1; step < pending.length; step++) {
    const other = (from + step) % pending.length;
    if (pending[other]! < pending[at]!) at = other;
  }
  return at;
}

/** The most bytes between two lines that callOf copies along with them. */
const RUN_GAP_BYTES = 16;

/**
 * The write's records in one buffer of its own (it is moved to the thread): record i is bytes
 * `starts[i]`–`ends[i]`. The lines of one read lie side by side in its buffer, so each run of them
 * is copied whole, newlines between included, instead of line by line.
 */
export function callOf(items: readonly Item[], key: number, ctx: ChunkContext): HandlerCall {
  const count = items.length;
  const starts = new Uint32Array(count);
  const ends = new Uint32Array(count);
  const seqs = new Float64Array(count);
  const file = items[0]!.origin?.file;
  const numbers = file === undefined ? undefined : new Float64Array(count);
  const pieces: Uint8Array[] = [];
  let size = 0; // bytes in pieces
  let run: UnparsedLine | undefined; // the run's first line
  let runEnd = 0;
  const endRun = () => {
    if (run === undefined) return;
    pieces.push(run.block.subarray(run.start, runEnd));
    size += runEnd - run.start;
    run = undefined;
  };
  for (let i = 0; i < count; i++) {
    const item = items[i]!;
    seqs[i] = item.seq;
    if (item instanceof UnparsedLine) {
      // A retry or a bisected half can skip lines: the run ends where more than a newline or a
      // few blank lines lie between two of its lines, so the skipped lines are not copied along.
      if (run !== undefined && (item.block !== run.block || item.start < runEnd || item.start - runEnd > RUN_GAP_BYTES)) endRun();
      run ??= item;
      starts[i] = size + item.start - run.start;
      ends[i] = size + item.end - run.start;
      runEnd = item.end;
      if (numbers) numbers[i] = item.line;
    } else {
      endRun();
      const bytes = item.unparsed!;
      pieces.push(bytes);
      starts[i] = size;
      size += bytes.byteLength;
      ends[i] = size;
      if (numbers) numbers[i] = item.origin!.line!;
    }
  }
  endRun();
  // Every byte is written below, so the buffer need not be zeroed first; allocUnsafeSlow, not
  // allocUnsafe, because it is moved to the thread, and a pooled buffer shares its memory with others.
  const bytes = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (const piece of pieces) {
    bytes.set(piece, at);
    at += piece.byteLength;
  }
  const { runId, lineage, chunkIndex, attempt, timeoutMs } = ctx;
  const named = file === undefined || numbers === undefined ? { ids: items.map((item) => item.id) } : { lines: { file, numbers } };
  const { limited, paused } = ctx.gate;
  return { key, ...named, bytes, starts, ends, seqs, context: { runId, lineage, chunkIndex, attempt, timeoutMs }, limited, ...(paused === undefined ? {} : { paused }) };
}

function failuresOf({ errors, byId }: SharedFailures): Map<string, LadingError> {
  const revived = errors.map(fromErrorJson);
  return new Map(byId.map(([id, at]) => [id, revived[at]!]));
}

/** The thread's side of failuresOf. */
export function sharedFailures(failures: ReadonlyMap<string, LadingError>): SharedFailures {
  const index = new Map<LadingError, number>();
  const byId = [...failures].map(([id, error]) => {
    if (!index.has(error)) index.set(error, index.size);
    return [id, index.get(error)!] as const;
  });
  return { errors: [...index.keys()].map(errorJson), byId };
}

function errorsById(pairs: ErrorsById): Map<string, LadingError[]> {
  return new Map(pairs.map(([id, errors]) => [id, errors.map(fromErrorJson)]));
}

/** The thread's side of errorsById. */
export function errorsJson(errors: ReadonlyMap<string, readonly LadingError[]>): ErrorsById {
  return [...errors].map(([id, list]) => [id, list.map(errorJson)] as const);
}

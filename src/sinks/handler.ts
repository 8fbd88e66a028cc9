import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { defineSink } from '../core/component.js';
import { autoThreads } from '../core/threads.js';
import type { Chunk, Item } from '../core/item.js';
import { classify } from '../errors/classify.js';
import { ladingError, LadingError } from '../errors/lading-error.js';
import { ThreadedHandlerSink } from './handler-threads.js';
import type { ChunkContext, RecordSink, SinkSummary, WriteResult } from './types.js';

export const handlerSinkConfig = z.object({
  type: z.literal('handler'),
  module: z.string().min(1).describe('JavaScript module (relative to the pipeline file) exporting process(item, ctx) and/or processChunk(items, ctx); TypeScript works when lading runs under tsx.'),
  threads: z.union([z.literal('auto'), z.number().int().min(0).max(64)]).default(0)
    .describe('Worker threads that parse, validate and map the records of an NDJSON file or an inbox batch and call the handler there, each thread with its own instance of the module (module-level state, connections and counters are per thread). 0: everything on the main thread. auto: one per CPU, at most 4, none on one CPU. The threads take the chunks in flight, so set execution.concurrency above the thread count (with 1, one thread works at a time). Resumed and sample runs, other sources and TypeScript modules run on the main thread.'),
}).strict().meta({ id: 'sink.handler' });

/** What a handler function receives besides the record(s). */
export interface HandlerContext {
  readonly runId: string;
  readonly chunkIndex: number;
  /** 1 on the first try, 2 on the first retry… */
  readonly attempt: number;
  /** The key to send along so the receiver can drop a repeat (equal across retries and resumes). */
  readonly idempotencyKey: string;
  /** Aborted when the run is cancelled or the call timed out. */
  readonly signal: AbortSignal;
  /** Builds the error to throw when the item is bad and a retry cannot help (a dead letter at once). */
  permanentError(message: string): Error;
  /** Builds the error to throw when the item should be tried again later, per execution.retry. */
  transientError(message: string, retryAfterMs?: number): Error;
}

export interface Handler {
  /** One record at a time; throwing fails that record. */
  process?(item: Item, ctx: HandlerContext): unknown;
  /** A whole chunk; return `{ failures: { [itemId]: error } }` for the records that failed, nothing when all went through. */
  processChunk?(items: readonly Item[], ctx: HandlerContext): unknown;
}

/** Thrown from a handler: the item is bad and retrying will not help (a dead letter at once). */
export const permanentError = (message: string): LadingError => ladingError('SINK_HANDLER_REJECTED', message);
/** Thrown from a handler: try this item again later, per execution.retry. */
export const transientError = (message: string, retryAfterMs?: number): LadingError =>
  ladingError('SINK_HANDLER_RETRY', message, retryAfterMs === undefined ? {} : { retryAfterMs });

/**
 * A handler call's context. The idempotency key is made when first read: for a chunk it is a
 * sha256 over 1,000 ids, 3% of a no-op handler's run. A class, not an object literal with a
 * getter: the getter's closure shared the call's scope, and kept each chunk's items alive long
 * enough to be promoted to the old generation (GC 11% → 24% of the run; docs/benchmarks.md).
 *
 * The signal is made when first read too. AbortSignal.any for every call of process(item) was
 * 40% of a 1M-item run, and its weak references kept the GC busy another 28%: 14 s and 516 MB
 * against 3 s and 130 MB for processChunk (docs/benchmarks.md).
 */
class CallContext implements HandlerContext {
  readonly runId: string;
  readonly chunkIndex: number;
  readonly attempt: number;
  readonly permanentError = permanentError;
  readonly transientError = transientError;
  readonly #chunk: ChunkContext;
  readonly #items: readonly Item[];
  #key: string | undefined;
  /** Aborted when the call times out; made with the signal, or at the timeout, whichever comes first. */
  #timedOut: AbortController | undefined;
  #signal: AbortSignal | undefined;

  constructor(chunk: ChunkContext, items: readonly Item[]) {
    this.runId = chunk.runId;
    this.chunkIndex = chunk.chunkIndex;
    this.attempt = chunk.attempt;
    this.#chunk = chunk;
    this.#items = items;
  }

  get idempotencyKey(): string {
    return (this.#key ??= this.#chunk.idempotencyKey(this.#items));
  }

  /** The run's signal, or, under a timeout, one aborted by either. */
  get signal(): AbortSignal {
    if (this.#signal === undefined) {
      this.#signal = this.#chunk.timeoutMs === undefined ? this.#chunk.signal : AbortSignal.any([this.#chunk.signal, (this.#timedOut ??= new AbortController()).signal]);
    }
    return this.#signal;
  }

  timeOut(): void {
    (this.#timedOut ??= new AbortController()).abort();
  }
}

export const handlerSink = defineSink({
  type: 'handler',
  summary: 'Your own code per record or per chunk: an import into a system lading has no sink for, a call with custom logic.',
  schema: handlerSinkConfig,
  create: (config, ctx) => {
    const path = resolve(ctx.baseDir, config.module);
    // Node runs no TypeScript in worker threads (tsx's hooks stay on the main thread).
    const threads = /\.[mc]?ts$/.test(path) ? 0 : config.threads === 'auto' ? autoThreads() : config.threads;
    return threads === 0 ? new HandlerSink(path) : new ThreadedHandlerSink(path, threads, new HandlerSink(path));
  },
});

/** The handler module's functions; fails with SINK_HANDLER_MISSING naming output.module. */
export async function loadHandler(path: string): Promise<Handler> {
  let mod: Handler & { default?: Handler };
  try {
    mod = (await import(pathToFileURL(path).href)) as Handler & { default?: Handler };
  } catch (error) {
    throw ladingError('SINK_HANDLER_MISSING', `output.module: cannot load ${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const handler = mod.process || mod.processChunk ? mod : mod.default;
  if (!handler || (typeof handler.process !== 'function' && typeof handler.processChunk !== 'function')) {
    throw ladingError('SINK_HANDLER_MISSING', `output.module: ${path} exports neither process(item, ctx) nor processChunk(items, ctx)`);
  }
  return handler;
}

/**
 * One write through the handler: the whole chunk to processChunk, or each item to process, each
 * call under the run's rate limit (a token per call) and timeout. Failures are classified here,
 * on whichever thread calls.
 */
export async function writeThrough(handler: Handler, items: readonly Item[], ctx: ChunkContext): Promise<Map<string, LadingError>> {
  const failures = new Map<string, LadingError>();
  if (handler.processChunk) {
    const result = await call(ctx, items, (hctx) => handler.processChunk!(items, hctx));
    if (result instanceof LadingError) {
      for (const item of items) failures.set(item.id, result);
    } else {
      for (const [id, error] of Object.entries((result as { failures?: Record<string, unknown> } | undefined)?.failures ?? {})) {
        failures.set(id, failure(error, id));
      }
    }
    return failures;
  }
  for (const item of items) {
    const result = await call(ctx, [item], (hctx) => handler.process!(item, hctx));
    if (result instanceof LadingError) failures.set(item.id, result);
  }
  return failures;
}

/**
 * Calls the handler under the run's timeout; a call that outlives it is abandoned (its promise is
 * left to settle alone). A handler that answers without a promise had nothing to time out, and
 * gets neither timer nor promise: per record of process(item), those were the run's GC.
 */
async function call(ctx: ChunkContext, items: readonly Item[], fn: (hctx: HandlerContext) => unknown): Promise<unknown> {
  await ctx.gate.acquire(ctx.signal);
  const hctx = new CallContext(ctx, items);
  const itemId = items.length === 1 ? items[0]!.id : undefined;
  let result: unknown;
  try {
    result = fn(hctx);
  } catch (error) {
    return failure(error, itemId);
  }
  if (!isThenable(result)) return result;
  const settled = Promise.resolve(result).catch((error: unknown) => failure(error, itemId));
  if (ctx.timeoutMs === undefined) return settled;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<LadingError>((done) => {
    timer = setTimeout(() => {
      hctx.timeOut();
      done(ladingError('SINK_HANDLER_TIMEOUT', `the handler took longer than ${ctx.timeoutMs} ms${itemId === undefined ? '' : ` on item ${itemId}`}`));
    }, ctx.timeoutMs);
  });
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';

function failure(error: unknown, itemId: string | undefined): LadingError {
  if (typeof error === 'string') return ladingError('SINK_HANDLER_REJECTED', error, itemId === undefined ? {} : { itemId });
  return classify(error, { ioCode: 'UNCLASSIFIED', doing: 'handler', ...(itemId === undefined ? {} : { itemId }) });
}

class HandlerSink implements RecordSink {
  readonly type = 'handler';
  readonly ordering = 'parallel';
  private handler: Handler | undefined;

  constructor(private readonly path: string) {}

  async healthcheck(): Promise<void> {
    await this.open();
  }

  async open(): Promise<void> {
    this.handler ??= await loadHandler(this.path);
  }

  async write(chunk: Chunk, ctx: ChunkContext): Promise<WriteResult> {
    return { failures: await writeThrough(this.handler!, chunk.items, ctx) };
  }

  async close(): Promise<SinkSummary> {
    return { files: [], destination: `handler:${this.path}` };
  }
}

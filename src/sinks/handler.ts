import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { defineSink } from '../core/component.js';
import type { Chunk, Item } from '../core/item.js';
import { classify } from '../errors/classify.js';
import { ladingError, LadingError } from '../errors/lading-error.js';
import type { ChunkContext, RecordSink, SinkSummary } from './types.js';

export const handlerSinkConfig = z.object({
  type: z.literal('handler'),
  module: z.string().min(1).describe('JavaScript module (relative to the pipeline file) exporting process(item, ctx) and/or processChunk(items, ctx); TypeScript works when lading runs under tsx.'),
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

  constructor(chunk: ChunkContext, items: readonly Item[], readonly signal: AbortSignal) {
    this.runId = chunk.runId;
    this.chunkIndex = chunk.chunkIndex;
    this.attempt = chunk.attempt;
    this.#chunk = chunk;
    this.#items = items;
  }

  get idempotencyKey(): string {
    return (this.#key ??= this.#chunk.idempotencyKey(this.#items));
  }
}

export const handlerSink = defineSink({
  type: 'handler',
  summary: 'Your own code per record or per chunk: an import into a system lading has no sink for, a call with custom logic.',
  schema: handlerSinkConfig,
  create: (config, ctx) => new HandlerSink(resolve(ctx.baseDir, config.module)),
});

class HandlerSink implements RecordSink {
  readonly type = 'handler';
  readonly ordering = 'parallel';
  private handler: Handler | undefined;

  constructor(private readonly path: string) {}

  async healthcheck(): Promise<void> {
    await this.load();
  }

  async open(): Promise<void> {
    await this.load();
  }

  async write(chunk: Chunk, ctx: ChunkContext): Promise<{ failures: ReadonlyMap<string, LadingError> }> {
    const handler = this.handler!;
    const failures = new Map<string, LadingError>();
    if (handler.processChunk) {
      const result = await this.call(ctx, chunk.items, (hctx) => handler.processChunk!(chunk.items, hctx));
      if (result instanceof LadingError) {
        for (const item of chunk.items) failures.set(item.id, result);
      } else {
        for (const [id, error] of Object.entries((result as { failures?: Record<string, unknown> } | undefined)?.failures ?? {})) {
          failures.set(id, this.failure(error, id));
        }
      }
      return { failures };
    }
    for (const item of chunk.items) {
      const result = await this.call(ctx, [item], (hctx) => handler.process!(item, hctx));
      if (result instanceof LadingError) failures.set(item.id, result);
    }
    return { failures };
  }

  async close(): Promise<SinkSummary> {
    return { files: [], destination: `handler:${this.path}` };
  }

  private async load(): Promise<void> {
    if (this.handler) return;
    let mod: Handler & { default?: Handler };
    try {
      mod = (await import(pathToFileURL(this.path).href)) as Handler & { default?: Handler };
    } catch (error) {
      throw ladingError('SINK_HANDLER_MISSING', `output.module: cannot load ${this.path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const handler = mod.process || mod.processChunk ? mod : mod.default;
    if (!handler || (typeof handler.process !== 'function' && typeof handler.processChunk !== 'function')) {
      throw ladingError('SINK_HANDLER_MISSING', `output.module: ${this.path} exports neither process(item, ctx) nor processChunk(items, ctx)`);
    }
    this.handler = handler;
  }

  /** Calls the handler under the run's timeout; a call that outlives it is abandoned (its promise is left to settle alone). */
  private async call(ctx: ChunkContext, items: readonly Item[], fn: (hctx: HandlerContext) => unknown): Promise<unknown> {
    const controller = new AbortController();
    const signal = AbortSignal.any([ctx.signal, controller.signal]);
    const hctx = new CallContext(ctx, items, signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = ctx.timeoutMs === undefined ? undefined : new Promise<LadingError>((done) => {
      timer = setTimeout(() => {
        controller.abort();
        done(ladingError('SINK_HANDLER_TIMEOUT', `the handler took longer than ${ctx.timeoutMs} ms${items.length === 1 ? ` on item ${items[0]!.id}` : ''}`));
      }, ctx.timeoutMs);
    });
    try {
      const call = Promise.resolve().then(() => fn(hctx)).catch((error: unknown) => this.failure(error, items.length === 1 ? items[0]!.id : undefined));
      return await (timeout ? Promise.race([call, timeout]) : call);
    } finally {
      clearTimeout(timer);
    }
  }

  private failure(error: unknown, itemId: string | undefined): LadingError {
    if (typeof error === 'string') return ladingError('SINK_HANDLER_REJECTED', error, itemId === undefined ? {} : { itemId });
    return classify(error, { ioCode: 'UNCLASSIFIED', doing: 'handler', ...(itemId === undefined ? {} : { itemId }) });
  }
}

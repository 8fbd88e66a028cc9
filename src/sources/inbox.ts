import { z } from 'zod';
import { defineSource, type BuildContext } from '../core/component.js';
import { numberedId, type Item } from '../core/item.js';
import type { Batch } from '../store/types.js';
import type { Cursor, JsonPage, Source, SourceInfo } from './types.js';

export const inboxSourceConfig = z.object({
  type: z.literal('inbox'),
  max_batch_records: z.number().int().positive().optional()
    .describe('Most records one batch takes; the rest stay pending for the next run. Default: everything pending.'),
  page_size: z.number().int().min(1).max(100_000).default(1000)
    .describe('Records read from the store per query (keyset pagination).'),
  key_field: z.string().min(1).optional()
    .describe('Field (top level) whose value deduplicates records ingested over HTTP: a record whose key was already ingested for this pipeline is counted as a duplicate and not stored again.'),
  max_pending: z.number().int().positive().optional()
    .describe('Most records the inbox holds pending; at or above it the ingest API answers 429 with Retry-After. Default: no limit.'),
}).strict().meta({ id: 'source.inbox' });

export type InboxSourceConfig = z.output<typeof inboxSourceConfig>;

export const inboxSource = defineSource({
  type: 'inbox',
  summary: 'Records ingested for this pipeline (`lading ingest`), taken as one batch: a batch cut earlier and not yet delivered is resumed first.',
  schema: inboxSourceConfig,
  create: (config, ctx) => new InboxSource(config, ctx),
});

class InboxSource implements Source {
  readonly type = 'inbox';
  readonly description = 'inbox';
  private batch: Batch | null = null;
  private read_ = 0;

  constructor(private readonly config: z.output<typeof inboxSourceConfig>, private readonly ctx: BuildContext) {}

  async open(): Promise<SourceInfo> {
    const { store, pipeline, clock, ids } = this.ctx;
    if (this.ctx.dryRun) return { total: (await store.inboxStats(pipeline)).pending };
    this.batch = (this.ctx.batchId ? await store.getBatch(this.ctx.batchId) : null) ?? (await store.openBatch(pipeline)) ?? (await store.cutBatch(pipeline, {
      id: ids.next('batch'), at: clock.now(), reason: 'manual',
      ...(this.config.max_batch_records === undefined ? {} : { maxRecords: this.config.max_batch_records }),
    }));
    return this.batch ? { batchId: this.batch.id, total: this.batch.records } : { total: 0 };
  }

  async *read(after: Cursor | null, signal: AbortSignal): AsyncIterable<Item> {
    for await (const page of this.readBatches(after, signal)) yield* page;
  }

  /** A page of the store at a time: a generator step and a promise per record cost a 1M-record batch ~0.5 s. */
  async *readBatches(after: Cursor | null, signal: AbortSignal): AsyncIterable<Item[]> {
    const batch = this.batch;
    if (!batch && !this.ctx.dryRun) return;
    let lastId = 0;
    let seq = 0;
    for (;;) {
      signal.throwIfAborted();
      const page = batch
        ? await this.ctx.store.readBatch(batch.id, lastId, this.config.page_size)
        : await this.ctx.store.readPending(this.ctx.pipeline, lastId, this.config.page_size);
      if (page.length === 0) return;
      const items: Item[] = [];
      for (const record of page) {
        seq++;
        if (after !== null && seq <= after.seq) continue;
        items.push({ id: numberedId('inbox:', record.id), seq, data: record.data });
      }
      this.read_ = seq;
      if (items.length > 0) yield items;
      lastId = page.at(-1)!.id;
    }
  }

  /** The batch's records as text, as readBatches reads them (a dry run has no batch and goes through read()). */
  async *readJsonPages(signal: AbortSignal): AsyncIterable<JsonPage> {
    const batch = this.batch;
    if (!batch) return;
    let lastId = 0;
    for (;;) {
      signal.throwIfAborted();
      const page = await this.ctx.store.readBatchJson(batch.id, lastId, this.config.page_size);
      if (page.ids.length === 0) return;
      this.read_ += page.ids.length;
      yield { ids: page.ids.map((id) => numberedId('inbox:', id)), json: page.json };
      lastId = page.ids.at(-1)!;
    }
  }

  progress() {
    return this.batch ? { done: this.read_, total: this.batch.records, unit: 'items' as const } : undefined;
  }

  async close(): Promise<void> {}
}

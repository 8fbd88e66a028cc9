import { z } from 'zod';
import { defineSource } from '../core/component.js';
import type { Item, Row } from '../core/item.js';
import type { Cursor, Source, SourceInfo, SourceProgress } from './types.js';

export const inlineSourceConfig = z.object({
  type: z.literal('inline').describe('Records written in the pipeline itself: for tests, examples and small fixed lists.'),
  items: z.array(z.record(z.string(), z.unknown())).describe('The records, in order; each is an object. Item ids are inline:1, inline:2, …'),
}).strict().meta({ id: 'source.inline' });

export type InlineSourceConfig = z.output<typeof inlineSourceConfig>;

export const inlineSource = defineSource({
  type: 'inline',
  summary: 'Records listed in the pipeline config (`items:`), read in order.',
  schema: inlineSourceConfig,
  create: (config) => new InlineSource(config.items),
});

class InlineSource implements Source {
  readonly type = 'inline';
  readonly description = 'inline';
  private done = 0;

  constructor(private readonly records: readonly Row[]) {}

  async open(): Promise<SourceInfo> {
    return { total: this.records.length };
  }

  async *read(after: Cursor | null, signal: AbortSignal): AsyncIterable<Item> {
    const start = Math.max(after?.seq ?? 0, 0);
    this.done = Math.min(start, this.records.length);
    for (let index = start; index < this.records.length; index += 1) {
      signal.throwIfAborted();
      const seq = index + 1;
      // A shallow copy: a stage that edits its record in place must not change the config.
      yield { id: `inline:${seq}`, seq, data: { ...this.records[index]! } };
      this.done = seq;
    }
  }

  progress(): SourceProgress {
    return { done: this.done, total: this.records.length, unit: 'items' };
  }

  async close(): Promise<void> {}
}

import type { Item } from '../core/item.js';
import type { DeadLetterFilter, Store } from '../store/types.js';
import type { Cursor, Source, SourceInfo } from './types.js';

/**
 * The dead letters of a run as a source, for `lading dlq retry`: each item keeps its original id
 * (so idempotency keys match the first attempt's) and its stored payload.
 */
export class DeadLetterSource implements Source {
  readonly type = 'dead_letters';
  readonly description: string;
  private letters: { id: string; data: Record<string, unknown> }[] = [];

  constructor(private readonly store: Store, private readonly filter: DeadLetterFilter & { readonly runId: string }) {
    this.description = `dead letters of ${filter.runId}`;
  }

  async open(): Promise<SourceInfo> {
    const letters = await this.store.listDeadLetters({ ...this.filter, status: 'dead' });
    this.letters = letters.filter((l) => l.itemId !== null && l.payload !== undefined)
      .map((l) => ({ id: l.itemId!, data: l.payload as Record<string, unknown> }));
    return { total: this.letters.length };
  }

  /** The ids this retry covers, to mark them retried once it ran. */
  itemIds(): string[] {
    return this.letters.map((l) => l.id);
  }

  async *read(after: Cursor | null): AsyncIterable<Item> {
    for (const [i, letter] of this.letters.entries()) {
      if (after && i + 1 <= after.seq) continue;
      yield { id: letter.id, seq: i + 1, data: letter.data };
    }
  }

  progress() {
    return undefined;
  }

  async close(): Promise<void> {}
}

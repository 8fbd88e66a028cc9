import type { Item } from '../../src/core/item.js';
import type { Cursor, Source } from '../../src/sources/types.js';

export async function collect(items: AsyncIterable<Item>): Promise<Item[]> {
  const all: Item[] = [];
  for await (const item of items) all.push(item);
  return all;
}

export const readAll = (src: Source, after: Cursor | null = null): Promise<Item[]> => collect(src.read(after, new AbortController().signal));

/** The same bytes, cut into chunks of the given sizes (cycled): readers must not care where chunks end. */
export async function* chunked(bytes: Uint8Array, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < bytes.length; i += 1) {
    const size = Math.max(1, sizes[i % sizes.length]!);
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

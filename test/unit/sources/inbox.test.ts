import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixedClock } from '../../../src/core/clock.js';
import { sequentialIds } from '../../../src/core/ids.js';
import type { Item } from '../../../src/core/item.js';
import { inboxSource, inboxSourceConfig } from '../../../src/sources/inbox.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import { tempDir } from '../../support/tmp.js';

async function inboxOf(records: number, pageSize: number) {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  const clock = fixedClock('2026-01-02T00:00:00Z');
  await store.ingest('leads', Array.from({ length: records }, (_, i) => ({ data: { n: i + 1 } })), clock.now());
  const source = inboxSource.create(inboxSourceConfig.parse({ type: 'inbox', page_size: pageSize }), {
    pipeline: 'leads', baseDir: dir, dataDir: dir, clock, ids: sequentialIds(), store,
  });
  const info = await source.open(new AbortController().signal);
  return { source, info, close: () => store.close() };
}

const signal = new AbortController().signal;
const view = (items: readonly Item[]) => items.map((i) => [i.id, i.seq, i.data.n]);

test('readBatches gives the batch a store page at a time, with the ids and seqs read() gives', async () => {
  const { source, info, close } = await inboxOf(7, 3);
  assert.equal(info.total, 7);
  const pages: Item[][] = [];
  for await (const page of source.readBatches!(null, signal)) pages.push([...page]);
  const items: Item[] = [];
  for await (const item of source.read(null, signal)) items.push(item);
  await close();
  assert.deepEqual(pages.map((p) => p.length), [3, 3, 1]);
  assert.deepEqual(view(pages.flat()), view(items));
  assert.deepEqual(view(items).slice(0, 2), [['inbox:1', 1, 1], ['inbox:2', 2, 2]]);
  assert.deepEqual(source.progress?.(), { done: 7, total: 7, unit: 'items' });
});

test('a resumed read skips the checkpointed records, across page boundaries, and yields no empty page', async () => {
  const { source, close } = await inboxOf(7, 3);
  const pages: Item[][] = [];
  for await (const page of source.readBatches!({ seq: 4 }, signal)) pages.push([...page]);
  await close();
  // The first page (seqs 1-3) is skipped whole; the second gives seq 5 and 6 only.
  assert.deepEqual(pages.map((p) => view(p)), [[['inbox:5', 5, 5], ['inbox:6', 6, 6]], [['inbox:7', 7, 7]]]);
});

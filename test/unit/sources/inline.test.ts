import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BuildContext } from '../../../src/core/component.js';
import type { Item } from '../../../src/core/item.js';
import { inlineSource, inlineSourceConfig } from '../../../src/sources/inline.js';
import type { Cursor, Source } from '../../../src/sources/types.js';

const ctx = { baseDir: '.', pipeline: 't' } as unknown as BuildContext;
const create = (items: unknown[]): Source => inlineSource.create(inlineSourceConfig.parse({ type: 'inline', items }), ctx);

async function readAll(src: Source, after: Cursor | null = null, signal = new AbortController().signal): Promise<Item[]> {
  const all: Item[] = [];
  for await (const item of src.read(after, signal)) all.push(item);
  return all;
}

describe('inline source', () => {
  test('items get ids inline:1, inline:2, … and seq from 1, in config order', async () => {
    const src = create([{ email: 'a@x.io' }, { email: 'b@x.io', tags: ['x'] }]);
    assert.equal(src.type, 'inline');
    assert.equal(src.description, 'inline');
    assert.deepEqual(await src.open(new AbortController().signal), { total: 2 });
    assert.deepEqual(await readAll(src), [
      { id: 'inline:1', seq: 1, data: { email: 'a@x.io' } },
      { id: 'inline:2', seq: 2, data: { email: 'b@x.io', tags: ['x'] } },
    ]);
    assert.deepEqual(src.progress?.(), { done: 2, total: 2, unit: 'items' });
    await src.close('completed');
  });

  test('resume reads only the items after the cursor', async () => {
    const src = create([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    await src.open(new AbortController().signal);
    const items = await readAll(src, { seq: 3 });
    assert.deepEqual(items.map((i) => [i.id, i.seq]), [['inline:4', 4]]);
    assert.deepEqual(await readAll(src, { seq: 9 }), []);
  });

  test('a stage editing its record does not change the config', async () => {
    const config = inlineSourceConfig.parse({ type: 'inline', items: [{ n: 1 }] });
    const src = inlineSource.create(config, ctx);
    const [item] = await readAll(src);
    (item!.data as Record<string, unknown>).n = 99;
    assert.deepEqual((await readAll(src))[0]!.data, { n: 1 });
  });

  test('reading stops when the signal aborts', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    await assert.rejects(readAll(create([{ n: 1 }]), null, controller.signal), /cancelled/);
  });

  test('the config takes only a list of objects', () => {
    assert.equal(inlineSourceConfig.safeParse({ type: 'inline', items: [1, 2] }).success, false);
    assert.equal(inlineSourceConfig.safeParse({ type: 'inline', items: [[]] }).success, false);
    assert.equal(inlineSourceConfig.safeParse({ type: 'inline' }).success, false);
    assert.equal(inlineSourceConfig.safeParse({ type: 'inline', items: [], extra: true }).success, false);
    assert.equal(inlineSourceConfig.safeParse({ type: 'inline', items: [] }).success, true);
  });
});

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { BuildContext } from '../../../src/core/component.js';
import type { Item } from '../../../src/core/item.js';
import { SourceError } from '../../../src/errors/lading-error.js';
import { fileSource } from '../../../src/sources/file.js';
import { readJson } from '../../../src/sources/file/json.js';
import type { Cursor, Source } from '../../../src/sources/types.js';
import { tempDir } from '../../support/tmp.js';

const tmp = tempDir('lading-json-');
const ctx = { baseDir: tmp, pipeline: 't' } as unknown as BuildContext;
const source = (config: Record<string, unknown>): Source => fileSource.create(fileSource.schema.parse({ type: 'file', ...config }), ctx);
const write = (name: string, content: string | Uint8Array): string => {
  writeFileSync(join(tmp, name), content);
  return name;
};

async function collectInto(items: AsyncIterable<Item>, into: Item[]): Promise<Item[]> {
  for await (const item of items) into.push(item);
  return into;
}
const readAll = (src: Source, after: Cursor | null = null): Promise<Item[]> => collectInto(src.read(after, new AbortController().signal), []);

const summary = (items: Item[]) => items.map((i) => ({ id: i.id, seq: i.seq, data: i.data, code: i.error?.code }));

describe('file source: json', () => {
  test('an array of objects: ids are file:index, 1-based', async () => {
    const name = write('products.json', '[\n  {"sku": "a", "price": 1.5},\n  {"sku": "b", "tags": ["x"], "meta": {"n": null}}\n]\n');
    const items = await readAll(source({ path: name }));
    assert.deepEqual(items, [
      { id: 'products.json:1', seq: 1, data: { sku: 'a', price: 1.5 }, origin: { file: 'products.json' } },
      { id: 'products.json:2', seq: 2, data: { sku: 'b', tags: ['x'], meta: { n: null } }, origin: { file: 'products.json' } },
    ]);
  });

  test('an element that is not an object fails alone', async () => {
    const name = write('mixed.json', '[{"a":1}, 2, [3], null, {"a":5}]');
    const items = await readAll(source({ path: name }));
    assert.deepEqual(summary(items), [
      { id: 'mixed.json:1', seq: 1, data: { a: 1 }, code: undefined },
      { id: 'mixed.json:2', seq: 2, data: {}, code: 'SOURCE_NOT_A_RECORD' },
      { id: 'mixed.json:3', seq: 3, data: {}, code: 'SOURCE_NOT_A_RECORD' },
      { id: 'mixed.json:4', seq: 4, data: {}, code: 'SOURCE_NOT_A_RECORD' },
      { id: 'mixed.json:5', seq: 5, data: { a: 5 }, code: undefined },
    ]);
    const error = items[1]!.error!;
    assert.ok(error instanceof SourceError);
    assert.equal(error.message, 'mixed.json element 2: not a record: found a number, expected a JSON object');
    assert.equal(error.itemId, 'mixed.json:2');
  });

  test('a syntax error stops the reading with a SourceError naming the place', async () => {
    const name = write('broken.json', '[\n{"a":1},\n{"a":2},\n{"a": oops},\n{"a":4}\n]');
    const seen: Item[] = [];
    await assert.rejects(collectInto(source({ path: name }).read(null, new AbortController().signal), seen), (error: unknown) => {
      assert.ok(error instanceof SourceError);
      assert.equal(error.code, 'SOURCE_MALFORMED_JSON');
      assert.match(error.message, /^broken\.json: invalid JSON after element 2, at or before line 6 \(.+\); .*NDJSON/);
      return true;
    });
    assert.deepEqual(seen.map((i) => i.data), [{ a: 1 }, { a: 2 }], 'the elements before the error were read');
  });

  test('a top level that is not an array, an empty file and invalid UTF-8 stop the reading', async () => {
    await assert.rejects(readAll(source({ path: write('object.json', '  {"a": 1}') })), {
      code: 'SOURCE_MALFORMED_JSON', message: 'object.json line 1: expected a JSON array of objects ([{…}, …]) at the top level, found "{"',
    });
    await assert.rejects(readAll(source({ path: write('empty.json', '\n') })), { code: 'SOURCE_MALFORMED_JSON' });
    const bad = Buffer.concat([Buffer.from('[\n{"a":1},\n{"a":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}]')]);
    await assert.rejects(readAll(source({ path: write('bad.json', bad) })), {
      code: 'SOURCE_BAD_ENCODING', message: /^bad\.json line 3: invalid UTF-8/,
    });
    assert.deepEqual(await readAll(source({ path: write('none.json', '[]') })), []);
  });

  test('gzip, a byte order mark, and resume', async () => {
    const name = write('rows.json.gz', gzipSync('\uFEFF[{"n":1},{"n":2},{"n":3},{"n":4}]'));
    const items = await readAll(source({ path: name }), { seq: 2 });
    assert.deepEqual(summary(items), [
      { id: 'rows.json.gz:3', seq: 3, data: { n: 3 }, code: undefined },
      { id: 'rows.json.gz:4', seq: 4, data: { n: 4 }, code: undefined },
    ]);
  });

  test('a large array streams through in small pieces', async () => {
    const count = 20_000;
    const text = `[${Array.from({ length: count }, (_, i) => JSON.stringify({ i, s: 'é'.repeat(i % 7) })).join(',\n')}]`;
    const bytes = Buffer.from(text);
    async function* oddChunks(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < bytes.length; at += 4093) yield bytes.subarray(at, at + 4093);
    }
    let n = 0;
    for await (const item of readJson(oddChunks(), { file: 'big.json', after: 0, signal: new AbortController().signal })) {
      assert.equal(item.seq, n + 1);
      assert.deepEqual(item.data, { i: n, s: 'é'.repeat(n % 7) });
      n += 1;
    }
    assert.equal(n, count);
  });
});

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { BuildContext } from '../../../src/core/component.js';
import type { Item } from '../../../src/core/item.js';
import { SourceError } from '../../../src/errors/lading-error.js';
import { fileSource } from '../../../src/sources/file.js';
import { readJsonBatches } from '../../../src/sources/file/json.js';
import { itemsOf, type ReaderOptions } from '../../../src/sources/file/open.js';
import type { Cursor, Source } from '../../../src/sources/types.js';
import { tempDir } from '../../support/tmp.js';

/** The reader's items one by one. */
const readJson = (bytes: AsyncIterable<Uint8Array>, options: ReaderOptions) => itemsOf(readJsonBatches(bytes, options), options.signal);

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
      assert.match(error.message, /^broken\.json line 4: invalid JSON in element 3 \(.+\); .*NDJSON/);
      assert.equal(error.location, 'broken.json:4');
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

  /** What reading `text` gives, fed `size` bytes at a time: the items, or the error it stops with. */
  async function readIn(text: string | Buffer, size: number): Promise<{ items: unknown[]; error?: string }> {
    const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
    async function* pieces(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
    }
    const items: unknown[] = [];
    try {
      for await (const item of readJson(pieces(), { file: 'in.json', after: 0, signal: new AbortController().signal })) items.push(item.error ? item.error.code : item.data);
    } catch (error) {
      return { items, error: `${(error as SourceError).code}: ${(error as Error).message}` };
    }
    return { items };
  }

  test('strings holding quotes, backslashes and brackets, nested values and scalars are cut where JSON puts their ends', async () => {
    const values = [
      { a: 'x"]}', b: '\\', c: '\\"', d: ['[', '{', { e: '}' }] },
      'a "string" element', 12, -2.5e3, true, false, null, [1, [2]],
      { nested: { deeper: { deepest: [[], {}] } }, text: 'é 😀 \u0000 \n' },
    ];
    const text = `[${values.map((v) => JSON.stringify(v)).join(',')}]`;
    const expected = values.map((v) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : 'SOURCE_NOT_A_RECORD'));
    // Every split of the input, down to a byte at a time, cuts the same elements.
    for (const size of [1, 2, 3, 5, 8, 13, text.length]) assert.deepEqual(await readIn(text, size), { items: expected }, `pieces of ${size}`);
    // White space anywhere between the tokens, and a scalar right before the closing bracket.
    assert.deepEqual(await readIn(' \r\n[ \t{"a" : [ 1 , 2 ] } ,\n 7\n,\t"s"]\n\n', 1), { items: [{ a: [1, 2] }, 'SOURCE_NOT_A_RECORD', 'SOURCE_NOT_A_RECORD'] });
    assert.deepEqual(await readIn('[{"a":1},3]', 4), { items: [{ a: 1 }, 'SOURCE_NOT_A_RECORD'] });
  });

  test('random arrays read as JSON.parse reads them, whatever the pieces', async () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const text = (): string => Array.from({ length: Math.floor(random() * 6) }, () => pick(['a', '"', '\\', '[', ']', '{', '}', ',', ' ', 'é', '\n', '😀'])).join('');
    const value = (depth: number): unknown => {
      const kind = depth > 3 ? pick(['s', 'n']) : pick(['s', 'n', 'o', 'a', 'o']);
      if (kind === 's') return text();
      if (kind === 'n') return pick([0, -1, 3.25, 1e21, true, false, null]);
      if (kind === 'a') return Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, () => [text(), value(depth + 1)]));
    };
    for (let round = 0; round < 40; round++) {
      const elements = Array.from({ length: 1 + Math.floor(random() * 8) }, () => ({ id: round, v: value(0) }));
      const json = JSON.stringify(elements, null, round % 2 === 0 ? undefined : 2);
      assert.deepEqual(await readIn(json, 1 + Math.floor(random() * 40)), { items: JSON.parse(json) as unknown[] }, json);
    }
  });

  test('what is not a JSON array between or after the elements stops the reading, naming the line', async () => {
    const cases: [string, RegExp][] = [
      ['[{"a":1}\n{"b":2}]', /^SOURCE_MALFORMED_JSON: in\.json line 2: expected "," or "]" after element 1, found "\{"/],
      ['[{"a":1},\n]', /^SOURCE_MALFORMED_JSON: in\.json line 2: a "," after element 1 is followed by "]"/],
      ['[{"a":1}]\nx', /^SOURCE_MALFORMED_JSON: in\.json line 2: unexpected "x" after the array's closing "]"/],
      ['[{"a":1},\n{"b":', /^SOURCE_MALFORMED_JSON: in\.json line 2: the input ends inside the array, in element 2; is the file cut short\?/],
      ['[{"a":1}', /^SOURCE_MALFORMED_JSON: in\.json line 1: the input ends inside the array, after element 1/],
      ['[{"a":1},\n{"b":"x}]', /^SOURCE_MALFORMED_JSON: in\.json line 2: the input ends inside the array, in element 2/],
      ['[{"a":1},\n{"b":1]', /^SOURCE_MALFORMED_JSON: in\.json line 2: invalid JSON in element 2 \(/],
      ['[{"a":1},\n tru ]', /^SOURCE_MALFORMED_JSON: in\.json line 2: invalid JSON in element 2 \(/],
      ['[,]', /^SOURCE_MALFORMED_JSON: in\.json line 1: invalid JSON in element 1 \(/],
    ];
    for (const [text, message] of cases) {
      for (const size of [1, 3, text.length]) {
        const { error } = await readIn(text, size);
        assert.match(error ?? 'no error', message, `${JSON.stringify(text)} in pieces of ${size}`);
      }
    }
    // The elements before the error were handed out.
    assert.deepEqual((await readIn('[{"a":1},{"b":2} {"c":3}]', 100)).items, [{ a: 1 }, { b: 2 }]);
  });
});


import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import type { BuildContext } from '../../../src/core/component.js';
import type { Item } from '../../../src/core/item.js';
import { SourceError } from '../../../src/errors/lading-error.js';
import { fileSource } from '../../../src/sources/file.js';
import { MAX_RECORD_BYTES, readCsvBatches, type CsvDialect, type CsvReaderOptions } from '../../../src/sources/file/csv.js';
import { itemsOf } from '../../../src/sources/file/open.js';
import type { Cursor, Source } from '../../../src/sources/types.js';
import { collect, readAll, chunked } from '../../support/sources.js';
import { tempDir } from '../../support/tmp.js';

/** The reader's items one by one. */
const readCsv = (bytes: AsyncIterable<Uint8Array>, options: CsvReaderOptions) => itemsOf(readCsvBatches(bytes, options), options.signal);

const tmp = tempDir('lading-csv-');
const ctx = { baseDir: tmp, pipeline: 't' } as unknown as BuildContext;
const source = (config: Record<string, unknown>): Source => fileSource.create(fileSource.schema.parse({ type: 'file', ...config }), ctx);
const write = (name: string, content: string | Uint8Array): string => {
  writeFileSync(join(tmp, name), content);
  return name;
};


const rfc4180: CsvDialect = { delimiter: ',', quote: '"', escape: '"' };
const parseBytes = (bytes: Uint8Array, sizes: readonly number[] = [bytes.length]): Promise<Item[]> =>
  collect(readCsv(chunked(bytes, sizes), { file: 'x.csv', after: 0, signal: new AbortController().signal, dialect: rfc4180 }));

const summary = (items: Item[]) => items.map((i) => ({ id: i.id, seq: i.seq, data: i.data, code: i.error?.code }));

describe('file source: csv', () => {
  test('the header names the fields; values stay strings; the first data row is line 2', async () => {
    const name = write('leads.csv', 'email,age,vip\na@x.io,42,true\nb@x.io,,false\n');
    const items = await readAll(source({ path: name }));
    assert.deepEqual(items, [
      { id: 'leads.csv:2', seq: 1, data: { email: 'a@x.io', age: '42', vip: 'true' }, origin: { file: 'leads.csv', line: 2 } },
      { id: 'leads.csv:3', seq: 2, data: { email: 'b@x.io', age: '', vip: 'false' }, origin: { file: 'leads.csv', line: 3 } },
    ]);
  });

  test('quoted fields with line breaks: the next record still gets its own physical line', async () => {
    const lf = write('multi.csv', 'id,note\n1,"two\nlines"\n2,"three\n\nlines ""quoted"""\n3,plain\n');
    assert.deepEqual(summary(await readAll(source({ path: lf }))), [
      { id: 'multi.csv:2', seq: 1, data: { id: '1', note: 'two\nlines' }, code: undefined },
      { id: 'multi.csv:4', seq: 2, data: { id: '2', note: 'three\n\nlines "quoted"' }, code: undefined },
      { id: 'multi.csv:7', seq: 3, data: { id: '3', note: 'plain' }, code: undefined },
    ]);
    // CRLF inside a quoted field counts as one line break.
    const crlf = write('multi-crlf.csv', 'id,note\r\n1,"two\r\nlines"\r\n\r\n2,x\r\n');
    assert.deepEqual(summary(await readAll(source({ path: crlf }))), [
      { id: 'multi-crlf.csv:2', seq: 1, data: { id: '1', note: 'two\r\nlines' }, code: undefined },
      { id: 'multi-crlf.csv:5', seq: 2, data: { id: '2', note: 'x' }, code: undefined },
    ]);
  });

  test('a row with the wrong number of fields fails with its line, and reading goes on', async () => {
    const name = write('count.csv', 'a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n');
    const items = await readAll(source({ path: name }));
    assert.deepEqual(summary(items), [
      { id: 'count.csv:2', seq: 1, data: { a: '1', b: '2', c: '3' }, code: undefined },
      { id: 'count.csv:3', seq: 2, data: {}, code: 'SOURCE_MALFORMED_CSV' },
      { id: 'count.csv:4', seq: 3, data: {}, code: 'SOURCE_MALFORMED_CSV' },
      { id: 'count.csv:5', seq: 4, data: { a: '10', b: '11', c: '12' }, code: undefined },
    ]);
    const error = items[1]!.error!;
    assert.ok(error instanceof SourceError);
    assert.equal(error.message, 'count.csv line 3: expected 3 fields as in the header, found 2');
    assert.equal(error.location, 'count.csv:3');
    assert.equal(error.itemId, 'count.csv:3');
  });

  test('stray quotes fail their own rows; an unclosed quote fails the rest, saying which lines', async () => {
    const name = write('quotes.csv', 'a,b,c\n1,2"3,4\n\n5,6"7,8\n"ok\nstill",1,2\n9,10,11\n"open,1,2\n3,4,5\n');
    const items = await readAll(source({ path: name }));
    assert.deepEqual(summary(items), [
      { id: 'quotes.csv:2', seq: 1, data: {}, code: 'SOURCE_MALFORMED_CSV' },
      { id: 'quotes.csv:4', seq: 2, data: {}, code: 'SOURCE_MALFORMED_CSV' },
      { id: 'quotes.csv:5', seq: 3, data: { a: 'ok\nstill', b: '1', c: '2' }, code: undefined },
      { id: 'quotes.csv:7', seq: 4, data: { a: '9', b: '10', c: '11' }, code: undefined },
      { id: 'quotes.csv:8', seq: 5, data: {}, code: 'SOURCE_MALFORMED_CSV' },
    ]);
    assert.equal(items[0]!.error!.message, 'quotes.csv line 2: malformed CSV row (a quote appears inside an unquoted field)');
    assert.match(items[4]!.error!.message, /^quotes\.csv line 8: malformed CSV row \(a quoted field is not closed .*\); lines 8 to 9 were read as this one row$/);
  });

  test('a byte order mark is removed, even when it arrives split over chunks', async () => {
    const bytes = Buffer.from('\uFEFFid,name\n1,Zoë\n');
    for (const sizes of [[bytes.length], [1], [2, 1], [1, 2, 50]]) {
      assert.deepEqual(summary(await parseBytes(bytes, sizes)), [{ id: 'x.csv:2', seq: 1, data: { id: '1', name: 'Zoë' }, code: undefined }], `chunks ${sizes.join(',')}`);
    }
    const name = write('bom.csv', bytes);
    assert.deepEqual((await readAll(source({ path: name })))[0]!.data, { id: '1', name: 'Zoë' });
  });

  test('invalid UTF-8 fails its row, naming line and field', async () => {
    const bytes = Buffer.concat([Buffer.from('id,name\n1,ok\n2,"bad\n'), Buffer.from([0xff]), Buffer.from('"\n3,fine\n')]);
    const items = await parseBytes(bytes);
    assert.deepEqual(summary(items), [
      { id: 'x.csv:2', seq: 1, data: { id: '1', name: 'ok' }, code: undefined },
      { id: 'x.csv:3', seq: 2, data: {}, code: 'SOURCE_BAD_ENCODING' },
      { id: 'x.csv:5', seq: 3, data: { id: '3', name: 'fine' }, code: undefined },
    ]);
    assert.equal(items[1]!.error!.message, 'x.csv line 3: invalid UTF-8 bytes in field "name"');
  });

  test('any chunking gives the same items', async () => {
    const bytes = Buffer.concat([
      Buffer.from('\uFEFFa,b\r\n"x\r\ny",1\r\n\r\n2,3,4\r\n5,6"7\r\n"é",'),
      Buffer.from([0xf0, 0x9f, 0x98, 0x80]), // 😀 split by small chunks
      Buffer.from('\r\n8,"9 ""q"""\r\n10,'), Buffer.from([0xe9]), Buffer.from('\r\nlast,row'),
    ]);
    const whole = summary(await parseBytes(bytes));
    assert.deepEqual(whole.map((i) => [i.id, i.code]), [
      ['x.csv:2', undefined], ['x.csv:5', 'SOURCE_MALFORMED_CSV'], ['x.csv:6', 'SOURCE_MALFORMED_CSV'],
      ['x.csv:7', undefined], ['x.csv:8', undefined], ['x.csv:9', 'SOURCE_BAD_ENCODING'], ['x.csv:10', undefined],
    ]);
    assert.deepEqual(whole[3]!.data, { a: 'é', b: '😀' });
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 10 }), async (sizes) => {
      assert.deepEqual(summary(await parseBytes(bytes, sizes)), whole);
    }), { numRuns: 150 });
  });

  test('delimiter, quote and escape come from source.csv', async () => {
    const name = write('semi.csv', "id;note\n1;'a;b'\n2;'it\\'s'\n");
    const items = await readAll(source({ path: name, csv: { delimiter: ';', quote: "'", escape: '\\' } }));
    assert.deepEqual(items.map((i) => i.data), [{ id: '1', note: 'a;b' }, { id: '2', note: "it's" }]);
  });

  test('the dialect is checked by the schema', () => {
    const parse = (csv: unknown) => fileSource.schema.safeParse({ type: 'file', path: 'a.csv', csv });
    assert.equal(parse({ delimiter: '\t' }).success, true);
    assert.equal(parse({ delimiter: '||' }).success, true);
    assert.equal(parse({ delimiter: '' }).success, false);
    assert.equal(parse({ delimiter: '\n' }).success, false);
    assert.equal(parse({ quote: '""' }).success, false);
    assert.equal(parse({ delimiter: '"' }).success, false);
    assert.equal(parse({ delimiter: ';', escape: ';' }).success, false);
    assert.equal(parse({ bom: false }).success, false);
  });

  test('gzip input; resume after a seq', async () => {
    const name = write('rows.csv.gz', gzipSync('n\n1\n2\n3\n4\n5\n'));
    const items = await readAll(source({ path: name }), { seq: 3 });
    assert.deepEqual(summary(items), [
      { id: 'rows.csv.gz:5', seq: 4, data: { n: '4' }, code: undefined },
      { id: 'rows.csv.gz:6', seq: 5, data: { n: '5' }, code: undefined },
    ]);
  });

  test('an empty file or a header alone yields nothing; a repeated column name stops the reading', async () => {
    assert.deepEqual(await readAll(source({ path: write('empty.csv', '') })), []);
    assert.deepEqual(await readAll(source({ path: write('header.csv', 'a,b\n') })), []);
    await assert.rejects(readAll(source({ path: write('dup.csv', 'a,b,a\n1,2,3\n') })), {
      code: 'SOURCE_MALFORMED_CSV', message: 'dup.csv line 1: the header names column "a" twice',
    });
  });

  test('a column named __proto__ is an ordinary field', async () => {
    const items = await readAll(source({ path: write('proto.csv', '__proto__,b\nx,y\n') }));
    assert.equal(Object.getPrototypeOf(items[0]!.data), Object.prototype);
    assert.deepEqual(Object.keys(items[0]!.data), ['__proto__', 'b']);
  });

  const parseWith = (text: string | Uint8Array, dialect: CsvDialect, sizes?: readonly number[]): Promise<Item[]> => {
    const bytes = typeof text === 'string' ? Buffer.from(text) : text;
    return collect(readCsv(chunked(bytes, sizes ?? [bytes.length]), { file: 'x.csv', after: 0, signal: new AbortController().signal, dialect }));
  };

  test('any rows written by RFC 4180 read back as written, however the input is cut', async () => {
    const value = fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.array(fc.constantFrom('a', 'é', '😀', '"', ',', '||', '\r', '\n', '\r\n', ' ', '\\'), { maxLength: 6 }).map((parts) => parts.join('')),
    );
    // Quoted also when holding the delimiter's first character: `|` before a `||` reads as `||` then `|`, in any reader.
    const quoteField = (v: string, delimiter: string) => (v === '' || v.includes('"') || v.includes(delimiter[0]!) || /[\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(',', '||', ';', '\t'),
      fc.integer({ min: 1, max: 4 }).chain((columns) => fc.array(fc.array(value, { minLength: columns, maxLength: columns }), { minLength: 1, maxLength: 5 }).map((rows) => ({ columns, rows }))),
      fc.constantFrom('\n', '\r\n'),
      fc.boolean(),
      fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }),
      async (delimiter, { columns, rows }, newline, finalNewline, sizes) => {
        const header = Array.from({ length: columns }, (_, i) => `c${i}`);
        // A row of one empty field would be an empty line, which is skipped: quoted, it is a row.
        const text = [header, ...rows].map((r) => r.map((v) => quoteField(v, delimiter)).join(delimiter)).join(newline) + (finalNewline ? newline : '');
        const items = await parseWith(text, { delimiter, quote: '"', escape: '"' }, sizes);
        assert.deepEqual(items.map((i) => i.error?.message ?? i.data), rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]]))), JSON.stringify(text));
      },
    ), { numRuns: 300 });
  });

  test('a multi-byte delimiter, an escape other than the quote, and a CR inside a field', async () => {
    const dialect = { delimiter: '||', quote: "'", escape: '\\' };
    const text = "a||b\n1|x||'y||z'\n'it\\'s'||'back\\\\slash \\n'\nc\rd||e\n";
    const expected = [{ a: '1|x', b: 'y||z' }, { a: "it's", b: 'back\\slash \\n' }, { a: 'c\rd', b: 'e' }];
    for (const size of [1, 2, 3, 100]) assert.deepEqual((await parseWith(text, dialect, [size])).map((i) => i.data), expected, `pieces of ${size}`);
  });

  test('a closing quote followed by text fails its row; a delimiter at the very end leaves an empty last field', async () => {
    for (const size of [1, 4, 100]) {
      const items = await parseWith('a,b\n"x"y,1\n2,"3"\r\n4,', rfc4180, [size]);
      assert.deepEqual(summary(items), [
        { id: 'x.csv:2', seq: 1, data: {}, code: 'SOURCE_MALFORMED_CSV' },
        { id: 'x.csv:3', seq: 2, data: { a: '2', b: '3' }, code: undefined },
        { id: 'x.csv:4', seq: 3, data: { a: '4', b: '' }, code: undefined },
      ], `pieces of ${size}`);
      assert.equal(items[0]!.error!.message, 'x.csv line 2: malformed CSV row (a closing quote is followed by something other than a delimiter or a line end)');
    }
  });

  test('a malformed header stops the reading; a quote or escape outside ASCII is refused by the schema', async () => {
    await assert.rejects(parseWith('a,b"c\n1,2\n', rfc4180), { code: 'SOURCE_MALFORMED_CSV', message: 'x.csv line 1: the header row is malformed (a quote appears inside an unquoted field)' });
    const parse = (csv: unknown) => fileSource.schema.safeParse({ type: 'file', path: 'a.csv', csv });
    assert.equal(parse({ quote: '«' }).success, false);
    assert.equal(parse({ escape: 'é' }).success, false);
    assert.equal(parse({ delimiter: '¦' }).success, true);
    assert.deepEqual((await parseWith('a¦b\n1¦2\n', { delimiter: '¦', quote: '"', escape: '"' }, [1])).map((i) => i.data), [{ a: '1', b: '2' }]);
  });

  test('a quote left open stops the reading once its row passes 64 MiB, naming its line, after the rows before it', async () => {
    const bytes = Buffer.concat([Buffer.from('a,b\n1,2\n"open,x\n'), Buffer.alloc(MAX_RECORD_BYTES + 1024, '3,4\n')]);
    // In pieces, and in one piece: then the row before it ends in the same push as the overflow.
    for (const size of [1024 * 1024, bytes.length]) {
      const seen: Item[] = [];
      const reading = (async () => {
        for await (const item of readCsv(chunked(bytes, [size]), { file: 'x.csv', after: 0, signal: new AbortController().signal, dialect: rfc4180 })) seen.push(item);
      })();
      await assert.rejects(reading, { code: 'SOURCE_MALFORMED_CSV', message: /^x\.csv line 3: a row runs on for more than 64 MiB, probably an unclosed quote; reading stopped$/ });
      assert.deepEqual(seen.map((i) => i.data), [{ a: '1', b: '2' }], `pieces of ${size}`);
    }
  });
});


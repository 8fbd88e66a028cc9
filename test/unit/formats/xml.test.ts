import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { isXmlName, xml, xmlConfig, type XmlConfig } from '../../../src/formats/xml.js';
import type { EncoderContext, ItemRef } from '../../../src/formats/types.js';
import type { Row } from '../../../src/core/item.js';
import { FormatError } from '../../../src/errors/lading-error.js';
import { assertGolden } from '../../support/golden.js';

const ctx: EncoderContext = {
  pipeline: 'golden', runId: 'run_0001', batchId: 'batch_0001', createdAt: new Date('2026-01-02T03:04:05Z'),
};
const ref = (i: number): ItemRef => ({ id: `inline:${i}`, describe: `item inline:${i}` });
const config = (overrides: Record<string, unknown> = {}): XmlConfig => xmlConfig.parse({ type: 'xml', ...overrides });

function render(cfg: XmlConfig, records: readonly Row[], context: EncoderContext = ctx): Buffer {
  const encoder = xml.encoder(cfg, context);
  return Buffer.concat([encoder.begin(), ...records.map((r, i) => encoder.encode(r, ref(i))), encoder.end(records.length)]);
}

/** Characters XML 1.0 does not allow anywhere in a document (the complement of its Char production). */
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDFFF]/u;

const parser = new XMLParser({
  ignoreAttributes: false, attributeNamePrefix: '@_', ignoreDeclaration: true,
  trimValues: false, parseTagValue: false, parseAttributeValue: false, htmlEntities: true,
  isArray: (_name, jpath) => jpath === 'records.record' || jpath === 'orders.order',
});

/** Drops the whitespace-only text that pretty printing puts between elements. */
function dropLayout(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(dropLayout);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '#text' && typeof value === 'string' && value.trim() === '') continue;
    out[key] = dropLayout(value);
  }
  return out;
}

/** Checks the bytes are UTF-8, hold no character XML forbids, and validate; returns the text. */
function validXml(bytes: Uint8Array): string {
  const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  assert.equal(FORBIDDEN.exec(text), null, 'the document holds a character XML 1.0 forbids');
  assert.equal(XMLValidator.validate(text), true);
  return text;
}

/** validXml, then the parsed tree. */
function parseXml(bytes: Uint8Array): Record<string, unknown> {
  return dropLayout(parser.parse(validXml(bytes))) as Record<string, unknown>;
}

const info = (count: number) => ({ '@_batch_id': 'batch_0001', '@_created': '2026-01-02T03:04:05.000Z', '@_count': String(count) });

const goldenRecords: Row[] = [
  {
    id: 1, 'contact.name.first': 'John', 'contact.name.last': 'Smith & Sons', 'contact.email': 'j@x.example',
    note: 'a < b > c "q" \'s\' ]]> end', city: 'Montréal 日本 🙂', score: -12.5, active: true, tags: ['a', 'b'],
    meta: { n: 1, deep: { ok: false } }, created: new Date('2026-01-02T03:04:05Z'), missing: null,
  },
  { id: 2, 'contact.name.first': '  padded  ', 'contact.phone': '555', note: 'line1\nline2\r\nline3', city: '', tags: [], big: 12345678901234567890n },
  { id: 'x&"y"', note: 'tab\there', 'contact.email': null, matrix: [[1, 2], [3]], list: [null, 'z'] },
];

/** What goldenRecords parse back to with the default (nulls: omit) config and attributes: [id]. */
const goldenParsed = [
  {
    '@_id': '1',
    contact: { name: { first: 'John', last: 'Smith & Sons' }, email: 'j@x.example' },
    note: 'a < b > c "q" \'s\' ]]> end', city: 'Montréal 日本 🙂', score: '-12.5', active: 'true', tags: ['a', 'b'],
    meta: { n: '1', deep: { ok: 'false' } }, created: '2026-01-02T03:04:05.000Z',
  },
  { '@_id': '2', contact: { name: { first: '  padded  ' }, phone: '555' }, note: 'line1\nline2\r\nline3', city: '', big: '12345678901234567890' },
  { '@_id': 'x&"y"', note: 'tab\there', matrix: [{ item: ['1', '2'] }, { item: '3' }], list: ['', 'z'] },
];

describe('xml format', () => {
  test('declares its file extension and media type', () => {
    assert.equal(xml.type, 'xml');
    assert.equal(xml.extension, 'xml');
    assert.equal(xml.mediaType, 'application/xml');
  });

  describe('golden files', () => {
    test('compact, id as attribute', () => {
      assertGolden('formats/xml-compact.xml', render(config({ attributes: ['id'] }), goldenRecords));
    });

    test('pretty, nulls: empty, custom root and record names', () => {
      const bytes = render(config({ attributes: ['id'], pretty: true, nulls: 'empty', root: 'orders', record: 'order' }), goldenRecords);
      assertGolden('formats/xml-pretty-empty-nulls.xml', bytes);
      const [first, second, third] = goldenParsed;
      assert.deepEqual(parseXml(bytes), {
        orders: {
          '@_batch_id': 'batch_0001',
          order: [{ ...first, missing: '' }, second, { ...third, contact: { email: '' } }],
          batch_info: info(3),
        },
      });
    });

    test('no batch_info, no attributes', () => {
      const bytes = render(config({ batch_info: false }), goldenRecords.slice(0, 2));
      assertGolden('formats/xml-no-batch-info.xml', bytes);
      const records = goldenParsed.slice(0, 2).map(({ '@_id': id, ...rest }) => ({ id, ...rest }));
      assert.deepEqual(parseXml(bytes), { records: { '@_batch_id': 'batch_0001', record: records } });
    });
  });

  describe('document shape', () => {
    test('starts with the declaration and a root carrying batch_id; count comes in the closing batch_info', () => {
      const text = render(config(), [{ a: 1 }, { a: 2 }]).toString('utf8');
      assert.ok(text.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<records batch_id="batch_0001">'));
      assert.ok(text.endsWith('<batch_info batch_id="batch_0001" created="2026-01-02T03:04:05.000Z" count="2"/></records>\n'));
    });

    test('the golden records parse back to the input, compact and pretty alike', () => {
      for (const pretty of [false, true]) {
        const doc = parseXml(render(config({ attributes: ['id'], pretty }), goldenRecords));
        assert.deepEqual(doc, { records: { '@_batch_id': 'batch_0001', record: goldenParsed, batch_info: info(3) } });
      }
    });

    test('pretty indents by 2 per level, one element per line', () => {
      const text = render(config({ pretty: true, attributes: ['id'] }), [{ id: 1, 'a.b': 'x', c: ['1', '2'] }]).toString();
      assert.equal(text, [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<records batch_id="batch_0001">',
        '  <record id="1">',
        '    <a>',
        '      <b>x</b>',
        '    </a>',
        '    <c>1</c>',
        '    <c>2</c>',
        '  </record>',
        '  <batch_info batch_id="batch_0001" created="2026-01-02T03:04:05.000Z" count="1"/>',
        '</records>',
        '',
      ].join('\n'));
    });

    test('an empty file is a valid document with count 0', () => {
      for (const pretty of [false, true]) {
        for (const batch_info of [false, true]) {
          const doc = parseXml(render(config({ pretty, batch_info }), []));
          assert.deepEqual(doc, { records: { '@_batch_id': 'batch_0001', ...(batch_info ? { batch_info: info(0) } : {}) } });
        }
      }
    });

    test('count is the records of this file: a new encoder per file starts again', () => {
      const cfg = config();
      const first = parseXml(render(cfg, [{ a: 1 }, { a: 2 }])) as { records: { batch_info: { '@_count': string } } };
      const second = parseXml(render(cfg, [{ a: 3 }])) as { records: { batch_info: { '@_count': string } } };
      assert.equal(first.records.batch_info['@_count'], '2');
      assert.equal(second.records.batch_info['@_count'], '1');
    });

    test('end() is pure: the sink may call it for a prospective count', () => {
      const encoder = xml.encoder(config(), ctx);
      assert.deepEqual(encoder.end(5), encoder.end(5));
      assert.ok(encoder.end(10).byteLength > encoder.end(9).byteLength);
    });

    test('a record with no fields is an empty element', () => {
      assert.match(render(config(), [{}]).toString(), /<record\/>/);
      assert.match(render(config(), [{ a: null }]).toString(), /<record\/>/);
    });
  });

  describe('fields and values', () => {
    const body = (record: Row, overrides: Record<string, unknown> = {}) => {
      const text = Buffer.from(xml.encoder(config(overrides), ctx).encode(record, ref(0))).toString('utf8');
      return text === '<record/>' ? '' : text.replace(/^<record(?: [^>]*)?>|<\/record>$/g, '');
    };

    test('dotted names nest; consecutive fields share elements; a later field opens them again', () => {
      assert.equal(
        body({ 'c.n.first': 'A', 'c.n.last': 'B', 'c.email': 'e', id: 1, 'c.phone': 'p' }),
        '<c><n><first>A</first><last>B</last></n><email>e</email></c><id>1</id><c><phone>p</phone></c>',
      );
      assert.equal(body({ a: 1, 'a.b': 2 }), '<a>1</a><a><b>2</b></a>');
    });

    test('attributes are written on the record element in the order listed, then left out of the body', () => {
      const text = Buffer.from(xml.encoder(config({ attributes: ['b', 'a', 'x.y'] }), ctx).encode({ a: 1, b: 'two', c: 3, 'x.y': 'dotted' }, ref(0))).toString();
      assert.equal(text, '<record b="two" a="1" x.y="dotted"><c>3</c></record>');
    });

    test('attribute values escape quotes, & < > and keep tab, LF and CR as references', () => {
      const text = Buffer.from(xml.encoder(config({ attributes: ['v'] }), ctx).encode({ v: `"a" & 'b' <c>\t\n\r` }, ref(0))).toString();
      assert.equal(text, '<record v="&quot;a&quot; &amp; &apos;b&apos; &lt;c&gt;&#9;&#10;&#13;"/>');
      const doc = parseXml(render(config({ attributes: ['v'] }), [{ v: `"a" & 'b' <c>\t\n\r` }])) as { records: { record: Record<string, string>[] } };
      assert.equal(doc.records.record[0]!['@_v'], `"a" & 'b' <c>\t\n\r`);
    });

    test('attribute objects and arrays are written as JSON; null follows nulls', () => {
      const encode = (record: Row, nulls = 'omit') => Buffer.from(xml.encoder(config({ attributes: ['v'], nulls }), ctx).encode(record, ref(0))).toString();
      assert.equal(encode({ v: { a: [1] } }), '<record v="{&quot;a&quot;:[1]}"/>');
      assert.equal(encode({ v: null }), '<record/>');
      assert.equal(encode({ v: null }, 'empty'), '<record v=""/>');
      assert.equal(encode({}, 'empty'), '<record/>');
    });

    test('text escapes & < > (so "]]>" cannot appear) and CR, and nothing else', () => {
      assert.equal(body({ v: `a & b < c > d ]]> "q" 'a'\r\n\t` }), `<v>a &amp; b &lt; c &gt; d ]]&gt; "q" 'a'&#13;\n\t</v>`);
    });

    test('nulls: omit (default) leaves the element out; empty writes <name/>', () => {
      assert.equal(body({ a: null, b: undefined, c: new Date(Number.NaN), d: 1 }), '<d>1</d>');
      assert.equal(body({ a: null, b: undefined, d: 1 }, { nulls: 'empty' }), '<a/><b/><d>1</d>');
      assert.equal(body({ 'p.a': null, 'p.b': null }), '');
      assert.equal(body({ 'p.a': null, 'p.b': 2 }), '<p><b>2</b></p>');
      assert.equal(body({ o: { a: null, b: 1 } }), '<o><b>1</b></o>');
      assert.equal(body({ o: { a: null, b: 1 } }, { nulls: 'empty' }), '<o><a/><b>1</b></o>');
    });

    test('arrays repeat the element; entries keep their positions; an empty array writes nothing', () => {
      assert.equal(body({ t: ['a', null, 'b'] }), '<t>a</t><t/><t>b</t>');
      assert.equal(body({ t: [], u: 1 }), '<u>1</u>');
      assert.equal(body({ t: [], u: 1 }, { nulls: 'empty' }), '<u>1</u>');
      assert.equal(body({ t: [{ a: 1 }, { a: 2, b: [3, 4] }] }), '<t><a>1</a></t><t><a>2</a><b>3</b><b>4</b></t>');
      assert.equal(body({ m: [[1, 2], []] }), '<m><item>1</item><item>2</item></m><m/>');
    });

    test('values: numbers, booleans, bigints, dates and toJSON', () => {
      const withJson = { toJSON: () => 'as json' };
      assert.equal(body({ n: -0.5, b: false, i: 10n, d: new Date('2026-01-02T03:04:05Z'), j: withJson, e: {} }),
        '<n>-0.5</n><b>false</b><i>10</i><d>2026-01-02T03:04:05.000Z</d><j>as json</j><e/>');
    });

    test('characters XML forbids are replaced by U+FFFD by default', () => {
      assert.equal(body({ v: 'a\u0000b\u0008c\u001Fd\uFFFEe\uFFFFf\uD800g\uDC00h' }), '<v>a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf\uFFFDg\uFFFDh</v>');
      assert.equal(body({ v: 'pair 🙂 kept, tab\tkept, U+0085 \u0085 kept' }), '<v>pair 🙂 kept, tab\tkept, U+0085 \u0085 kept</v>');
    });
  });

  describe('errors', () => {
    test('invalid_chars: block fails the item with FORMAT_INVALID_CHARACTER naming item and field', () => {
      const encoder = xml.encoder(config({ invalid_chars: 'block', attributes: ['id'] }), ctx);
      const item: ItemRef = { id: 'leads.csv:12', describe: 'leads.csv line 12' };
      assert.throws(() => encoder.encode({ id: 1, 'contact.note': 'bell \u0007' }, item), (error: unknown) => {
        assert.ok(error instanceof FormatError);
        assert.equal(error.code, 'FORMAT_INVALID_CHARACTER');
        assert.equal(error.itemId, 'leads.csv:12');
        assert.equal(error.field, 'contact.note');
        assert.match(error.message, /leads\.csv line 12/);
        assert.match(error.message, /U\+0007/);
        return true;
      });
      assert.throws(() => encoder.encode({ id: 'a\uD800' }, item), { code: 'FORMAT_INVALID_CHARACTER', field: 'id' });
      assert.throws(() => encoder.encode({ id: 1, deep: { x: ['\uFFFF'] } }, item), { code: 'FORMAT_INVALID_CHARACTER', field: 'deep' });
      assert.equal(Buffer.from(encoder.encode({ id: 2, ok: 'fine\t🙂' }, item)).toString(), '<record id="2"><ok>fine\t🙂</ok></record>');
    });

    test('a field name that is not an XML name fails the item with FORMAT_INVALID_NAME', () => {
      const encoder = xml.encoder(config(), ctx);
      for (const key of ['1st', 'first name', 'a..b', 'ns:tag', '.x', 'x.', '']) {
        assert.throws(() => encoder.encode({ [key]: 'v' }, ref(3)), (error: unknown) => {
          assert.ok(error instanceof FormatError, key);
          assert.equal(error.code, 'FORMAT_INVALID_NAME');
          assert.equal(error.field, key);
          assert.equal(error.itemId, 'inline:3');
          return true;
        });
      }
      assert.throws(() => encoder.encode({ ok: { 'bad key': 1 } }, ref(4)), { code: 'FORMAT_INVALID_NAME', field: 'ok' });
    });

    test('a map column that is not an XML name is a config error when the encoder is made', () => {
      assert.throws(() => xml.encoder(config(), { ...ctx, columns: ['id', '2nd_phone'] }), { code: 'CONFIG_INVALID', field: '2nd_phone' });
      assert.throws(() => xml.encoder(config(), { ...ctx, columns: ['contact.first name'] }), { code: 'CONFIG_INVALID' });
      assert.doesNotThrow(() => xml.encoder(config({ attributes: ['id'] }), { ...ctx, columns: ['id', 'contact.name.first'] }));
    });

    test('a circular value fails the item with FORMAT_UNENCODABLE_VALUE', () => {
      const loop: Record<string, unknown> = { a: 1 };
      loop.self = loop;
      assert.throws(() => xml.encoder(config(), ctx).encode({ v: loop }, ref(0)), { code: 'FORMAT_UNENCODABLE_VALUE', field: 'v' });
      const ring: unknown[] = [];
      ring.push(ring);
      assert.throws(() => xml.encoder(config(), ctx).encode({ v: ring }, ref(0)), { code: 'FORMAT_UNENCODABLE_VALUE', field: 'v' });
      // The same object twice, side by side, is not a cycle.
      const shared = { x: 1 };
      assert.equal(Buffer.from(xml.encoder(config(), ctx).encode({ v: [shared, shared] }, ref(0))).toString(), '<record><v><x>1</x></v><v><x>1</x></v></record>');
    });
  });

  describe('config schema', () => {
    test('fills the documented defaults', () => {
      assert.deepEqual(config(), {
        type: 'xml', root: 'records', record: 'record', attributes: [], nulls: 'omit', invalid_chars: 'replace', batch_info: true, pretty: false,
      });
    });

    test('rejects names that are not XML names, duplicates, xmlns and a record called batch_info', () => {
      const paths = (input: Record<string, unknown>) => xmlConfig.safeParse({ type: 'xml', ...input }).error?.issues.map((i) => i.path.join('.'));
      assert.deepEqual(paths({ root: '1records' }), ['root']);
      assert.deepEqual(paths({ record: 'a record' }), ['record']);
      assert.deepEqual(paths({ attributes: ['id', 'id'] }), ['attributes.1']);
      assert.deepEqual(paths({ attributes: ['ok', 'x:y'] }), ['attributes.1']);
      assert.deepEqual(paths({ attributes: ['xmlns'] }), ['attributes.0']);
      assert.deepEqual(paths({ record: 'batch_info' }), ['record']);
      assert.equal(paths({ record: 'batch_info', batch_info: false }), undefined);
      assert.deepEqual(paths({ null: 'empty' }), ['']);
    });

    test('isXmlName follows the XML 1.0 Name production, without colons and without names beyond U+FFFF', () => {
      for (const name of ['a', '_x', 'é', 'a-b.c', 'Ω9', 'x\u00B7y', '日本']) assert.equal(isXmlName(name), true, name);
      for (const name of ['', '1a', '-a', '.a', 'a b', 'a:b', 'a\u0000', 'a/b', '🙂']) assert.equal(isXmlName(name), false, name);
    });

    test('every key is described for the generated docs', () => {
      for (const [key, schema] of Object.entries(xmlConfig.shape)) assert.ok(schema.description, `xml.${key} has no description`);
    });
  });

  describe('properties', () => {
    // Any UTF-16 unit, so lone surrogates, C0 controls, U+FFFE and U+FFFF all come up.
    const anyUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });
    const anyText = fc.oneof(anyUnits, fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('&', '<', '>', '"', "'", ']', '\r', '\n', '\t', ' ', 'a') }));
    const fieldName = fc.constantFrom('a', 'b', 'c.d', 'e.f.g'); // no shared prefixes: grouping has its own tests
    /** The text a parser reads back: every character XML forbids replaced by U+FFFD. */
    const readBack = (text: string) => [...text].map((ch) => (FORBIDDEN.test(ch) ? '\uFFFD' : ch)).join('');

    test('arbitrary unicode in fields and attributes always yields a document XMLValidator accepts, which reads back as the input', () => {
      fc.assert(fc.property(
        fc.array(fc.record({ id: anyText, values: fc.dictionary(fieldName, anyText) }), { maxLength: 5 }),
        fc.boolean(),
        (rows, pretty) => {
          const records = rows.map(({ id, values }) => ({ id, ...values }));
          const doc = parseXml(render(config({ attributes: ['id'], pretty }), records)) as { records: { record?: Record<string, unknown>[] } };
          const got = doc.records.record ?? [];
          assert.equal(got.length, records.length);
          records.forEach((record, i) => {
            const parsed = got[i]!;
            assert.equal(parsed['@_id'], readBack(record.id));
            for (const [key, value] of Object.entries(record)) {
              if (key === 'id') continue;
              const path = key.split('.');
              let node: unknown = parsed;
              for (const segment of path) node = (node as Record<string, unknown>)[segment];
              assert.equal(node, readBack(value as string), key);
            }
          });
        },
      ), { numRuns: 400 });
    });

    test('any key and any value: the encoder either fails the item with a FormatError or writes a valid document', () => {
      const anyValue = fc.oneof(anyText, fc.double(), fc.boolean(), fc.constant(null), fc.array(anyText, { maxLength: 3 }), fc.dictionary(anyText, anyText, { maxKeys: 3 }));
      fc.assert(fc.property(fc.dictionary(anyText, anyValue, { maxKeys: 5 }), fc.constantFrom<'replace' | 'block'>('replace', 'block'), (record, invalid_chars) => {
        const encoder = xml.encoder(config({ invalid_chars, nulls: 'empty' }), ctx);
        let body: Uint8Array;
        try {
          body = encoder.encode(record, ref(0));
        } catch (error) {
          assert.ok(error instanceof FormatError, String(error));
          assert.ok(['FORMAT_INVALID_NAME', 'FORMAT_INVALID_CHARACTER'].includes(error.code));
          return;
        }
        // Validated, not parsed: the parser refuses names such as "prototype" that XML allows.
        validXml(Buffer.concat([encoder.begin(), body, encoder.end(1)]));
      }), { numRuns: 400 });
    });
  });
});

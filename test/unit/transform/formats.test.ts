import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { formats, isDate, isEmail, isPhone, isUrl, parseDate } from '../../../src/transform/formats.js';
import { getPath } from '../../../src/transform/path.js';

describe('email format', () => {
  for (const good of ['ada@example.com', 'first.last+tag@sub.example.co.uk', "o'brien@example.ie", 'x@a-b.io', 'user@xn--p1ai.xn--p1ai']) {
    test(`accepts ${good}`, () => assert.equal(isEmail(good), true));
  }
  for (const bad of ['bob@', '@example.com', 'bob', 'bob@example', 'bob@@example.com', 'a@b@example.com', 'bob smith@example.com',
    'bob@exa mple.com', ' bob@example.com', '.bob@example.com', 'bob.@example.com', 'bo..b@example.com', 'bob@-example.com',
    'bob@example.c', 'bob@example.123', `${'a'.repeat(65)}@example.com`, `a@${'b'.repeat(250)}.com`, '']) {
    test(`rejects ${JSON.stringify(bad)}`, () => assert.equal(isEmail(bad), false));
  }
});

describe('phone format', () => {
  for (const good of ['5551234', '+1 (555) 123-4567', '555.123.4567', '+44 20 7946 0958', '(+1) 555 123 4567', '123456789012345']) {
    test(`accepts ${good}`, () => assert.equal(isPhone(good), true));
  }
  for (const bad of ['555123', '1234567890123456', '555-CALL-NOW', '+1 555 123 4567 ext 2', '1+5551234567', '++15551234567', '', '-------']) {
    test(`rejects ${JSON.stringify(bad)}`, () => assert.equal(isPhone(bad), false));
  }
  test('a non-negative integer is checked as its digits', () => {
    assert.equal(formats.phone(5551234567), true);
    assert.equal(formats.phone(123), false);
    assert.equal(formats.phone(true), false);
  });
});

describe('url format', () => {
  for (const good of ['https://example.com', 'http://example.com:8080/a/b?c=d#e', 'https://user:pw@例え.jp/path']) {
    test(`accepts ${good}`, () => assert.equal(isUrl(good), true));
  }
  for (const bad of ['ftp://example.com', 'mailto:bob@example.com', 'example.com', '/relative/path', 'https://exa mple.com', 'https://example.com/a b', 'http://', 'javascript:alert(1)', '']) {
    test(`rejects ${JSON.stringify(bad)}`, () => assert.equal(isUrl(bad), false));
  }
  test('a number is never a URL', () => assert.equal(formats.url(42), false));
});

describe('date format', () => {
  for (const good of ['2024-03-10', '2024-03-10T06:30:00Z', '2024-03-10T06:30:00.123+05:30', '20240310T063000Z', 'Sun, 10 Mar 2024 06:30:00 +0000', '10 Mar 2024 06:30 GMT']) {
    test(`accepts ${good}`, () => assert.equal(isDate(good), true));
  }
  for (const bad of ['10:00', 'T10:00', '2024-13-01', '2024-02-30', 'yesterday', '03/10/2024', '1710052200000', '']) {
    test(`rejects ${JSON.stringify(bad)}`, () => assert.equal(isDate(bad), false));
  }
  test('epoch milliseconds given as a number are a date', () => {
    assert.equal(formats.date(1710052200000), true);
    assert.equal(formats.date(Number.NaN), false);
    assert.equal(formats.date(false), false);
  });
  test('parseDate reads a date-only value in the given zone', () => {
    assert.equal(parseDate('2024-03-10', { zone: 'America/New_York' }).toISO(), '2024-03-10T00:00:00.000-05:00');
  });
});

describe('getPath', () => {
  const record = { id: 1, meta: { ip: '10.0.0.1', geo: { country: 'US' } }, tags: ['a', 'b'], 'dotted.key': 'flat', nil: null };

  test('reads top-level and nested fields by dot path', () => {
    assert.equal(getPath(record, 'id'), 1);
    assert.equal(getPath(record, 'meta.ip'), '10.0.0.1');
    assert.equal(getPath(record, 'meta.geo.country'), 'US');
    assert.equal(getPath(record, 'nil'), null);
  });

  test('enters arrays by numeric segment only', () => {
    assert.equal(getPath(record, 'tags.1'), 'b');
    assert.equal(getPath(record, 'tags.2'), undefined);
    assert.equal(getPath(record, 'tags.length'), undefined);
    assert.equal(getPath(record, 'tags.01'), undefined);
  });

  test('is undefined for missing steps and through non-objects', () => {
    assert.equal(getPath(record, 'meta.missing.deeper'), undefined);
    assert.equal(getPath(record, 'id.toString'), undefined);
    assert.equal(getPath(record, 'meta.ip.length'), undefined);
    assert.equal(getPath(null, 'a'), undefined);
  });

  test('never reads the prototype chain', () => {
    for (const path of ['__proto__', 'constructor', 'toString', 'meta.__proto__', 'meta.constructor.name', 'hasOwnProperty']) {
      assert.equal(getPath(record, path), undefined, path);
    }
    const inherited = Object.create({ secret: 'x' }) as Record<string, unknown>;
    assert.equal(getPath(inherited, 'secret'), undefined);
  });

  test('a key containing dots wins over the nested reading', () => {
    assert.equal(getPath(record, 'dotted.key'), 'flat');
    assert.equal(getPath({ meta: { ip: 'nested' }, 'meta.ip': 'flat' }, 'meta.ip'), 'flat');
  });

  test('property: reads back any value set at a generated nested path', () => {
    const segment = fc.string({ minLength: 1, maxLength: 6 }).filter((s) => !s.includes('.') && !/^(?:0|[1-9]\d*)$/.test(s));
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 4 }), fc.anything(), (segments, value) => {
        fc.pre(value !== undefined);
        let record: Record<string, unknown> = {};
        const root = record;
        segments.forEach((key, i) => {
          const next: Record<string, unknown> = {};
          Object.defineProperty(record, key, { value: i === segments.length - 1 ? value : next, enumerable: true, writable: true, configurable: true });
          record = next;
        });
        assert.deepEqual(getPath(root, segments.join('.')), value);
      }),
    );
  });
});

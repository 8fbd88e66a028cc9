import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DateTime, FixedOffsetZone, IANAZone } from 'luxon';
import { formats, isDate, isEmail, isPhone, isUrl, offsetsOf, parseInstant, resolveWallTime } from '../../../src/transform/formats.js';
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
  test('parseInstant reads values without an offset as wall-clock times in the zone', () => {
    const ny = IANAZone.create('America/New_York');
    assert.equal(parseInstant('2024-03-10', ny), Date.parse('2024-03-10T05:00:00Z'));
    assert.equal(parseInstant('2024-03-10T01:30:00', ny), Date.parse('2024-03-10T06:30:00Z'));
    assert.equal(parseInstant('2024-03-10T01:30:00+01:00', ny), Date.parse('2024-03-10T00:30:00Z'), 'an offset wins over the zone');
    assert.equal(parseInstant('2024-03-10T01:30:00'), Date.parse('2024-03-10T01:30:00Z'), 'default zone is UTC');
    assert.ok(Number.isNaN(parseInstant('not a date', ny)));
  });

  test('wall-clock times in a DST gap move forward; repeated times take the earlier instant', () => {
    const ny = IANAZone.create('America/New_York');
    // 2024-03-10 02:30 does not exist in New York: it reads as 03:30 EDT (07:30Z), as luxon does.
    assert.equal(parseInstant('2024-03-10T02:30', ny), Date.parse('2024-03-10T07:30:00Z'));
    assert.equal(parseInstant('2024-03-10T03:00', ny), Date.parse('2024-03-10T07:00:00Z'));
    // 2024-11-03 01:30 happens twice: EDT (05:30Z) first, then EST (06:30Z). Always the first.
    assert.equal(parseInstant('2024-11-03T01:30', ny), Date.parse('2024-11-03T05:30:00Z'));
    assert.equal(parseInstant('2024-11-03T00:59', ny), Date.parse('2024-11-03T04:59:00Z'));
    assert.equal(parseInstant('2024-11-03T02:00', ny), Date.parse('2024-11-03T07:00:00Z'));
    // Southern hemisphere, half-hour zone: Lord Howe goes from +11 to +10:30 on 2024-04-07 at 02:00.
    const lordHowe = IANAZone.create('Australia/Lord_Howe');
    assert.equal(parseInstant('2024-04-07T01:45', lordHowe), Date.parse('2024-04-06T14:45:00Z'));
    assert.equal(parseInstant('2024-04-07T02:15', lordHowe), Date.parse('2024-04-06T15:45:00Z'));
  });

  test('property: the fast ISO reading equals luxon for every generated timestamp', () => {
    const zones = ['UTC', 'America/New_York', 'Europe/London', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/St_Johns'].map((name) =>
      name === 'UTC' ? FixedOffsetZone.utcInstance : IANAZone.create(name));
    const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
    const stamp = fc.record({
      date: fc.date({ min: new Date('1000-01-01T00:00:00Z'), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
      time: fc.option(fc.tuple(two(23), two(59), fc.option(two(59)), fc.option(fc.stringMatching(/^\d{1,9}$/)))),
      offset: fc.option(fc.oneof(fc.constant('Z'), fc.tuple(fc.constantFrom('+', '-'), two(14), fc.constantFrom('', ':'), fc.option(two(59))).map(([s, h, colon, m]) => (m === null ? `${s}${h}` : `${s}${h}${colon}${m}`)))),
      zone: fc.constantFrom(...zones),
    });
    fc.assert(fc.property(stamp, ({ date, time, offset, zone }) => {
      let text = date;
      if (time !== null) {
        const [h, m, sec, frac] = time;
        text += `T${h}:${m}${sec === null ? '' : `:${sec}${frac === null ? '' : `.${frac}`}`}${offset ?? ''}`;
      }
      const luxon = DateTime.fromISO(text, { zone });
      assert.equal(luxon.isValid, true, text);
      const ambiguous = time !== null && offset === null && zone.offset(luxon.toMillis() - 3 * 3_600_000) !== zone.offset(luxon.toMillis() + 3 * 3_600_000);
      fc.pre(!ambiguous); // near a DST change luxon's reading depends on today's date; ours is fixed (tested above)
      assert.equal(parseInstant(text, zone), luxon.toMillis(), text);
    }), { numRuns: 2000 });
  });

  test('offsetsOf answers like the zone itself, across transitions', () => {
    const zone = IANAZone.create('Australia/Lord_Howe');
    const cached = offsetsOf(zone);
    fc.assert(fc.property(fc.integer({ min: Date.parse('2020-01-01'), max: Date.parse('2030-01-01') }), (ts) => {
      assert.equal(cached(ts), zone.offset(ts));
      assert.equal(cached(ts), zone.offset(ts), 'again, from the cache');
    }));
    // Lord Howe springs forward from +10:30 to +11 at 15:30Z, inside a UTC hour: the hour must not be cached whole.
    const fresh = offsetsOf(zone);
    for (let ts = Date.parse('2024-10-05T15:00:00Z'); ts <= Date.parse('2024-10-05T16:00:00Z'); ts += 5 * 60_000) {
      assert.equal(fresh(ts), zone.offset(ts), new Date(ts).toISOString());
    }
    assert.equal(fresh(Date.parse('2024-10-05T15:45:00Z')), 660);
    assert.equal(resolveWallTime(Date.UTC(2024, 0, 1), () => 0), Date.UTC(2024, 0, 1));
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

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import type { Row } from '../../../src/core/item.js';
import { LadingError, MappingError } from '../../../src/errors/lading-error.js';
import type { ItemRef } from '../../../src/formats/types.js';
import { buildMapper, mapColumns, mapConfig } from '../../../src/transform/map.js';
import { compileTransform, TransformFailure, transformStep } from '../../../src/transform/transforms.js';

const item: ItemRef = { id: 'leads.csv:7', describe: 'leads.csv line 7' };

function mapper(config: unknown) {
  return buildMapper(mapConfig.parse(config));
}

/** Maps one record with a single field `out` read from `v` through `transform`. */
function apply(transform: unknown, value: unknown): unknown {
  return mapper([{ name: 'out', source: 'v', transform }])({ v: value }, item).out;
}

/** The MappingError a mapping throws. */
function mappingError(run: () => unknown): MappingError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof MappingError, `expected a MappingError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the mapping to throw');
}

/** Issues of a config that must not parse, as [dotted path, message]. */
function configIssues(config: unknown): Array<[string, string]> {
  const result = mapConfig.safeParse(config);
  assert.equal(result.success, false, 'expected the config to be rejected');
  return result.error!.issues.map((issue) => [issue.path.join('.'), issue.message]);
}

describe('map: fields', () => {
  test('builds the output from the declared fields only, keys in map order', () => {
    const map = mapper([
      { name: 'lead_id', source: 'id' },
      { name: 'email', source: 'email', transform: ['trim', 'lowercase'] },
      { name: 'phone', source: 'phone', transform: 'digits_only' },
      { name: 'state', transform: 'uppercase' },
    ]);
    const out = map({ state: 'ny', email: '  Ada@Example.COM ', id: 17, phone: '+1 (555) 123-4567', extra: 'dropped' }, item);
    assert.deepEqual(out, { lead_id: 17, email: 'ada@example.com', phone: '15551234567', state: 'NY' });
    assert.deepEqual(Object.keys(out), ['lead_id', 'email', 'phone', 'state']);
  });

  test('source defaults to name and reads nested paths', () => {
    const map = mapper([{ name: 'ip', source: 'meta.ip' }, { name: 'first_tag', source: 'tags.0' }, { name: 'meta.geo.country' }]);
    assert.deepEqual(map({ meta: { ip: '10.0.0.1', geo: { country: 'US' } }, tags: ['vip'] }, item), { ip: '10.0.0.1', first_tag: 'vip', 'meta.geo.country': 'US' });
  });

  test('a missing or null source is written as null and skips transforms', () => {
    const map = mapper([{ name: 'a', transform: [{ type: 'date' }] }, { name: 'b', transform: 'trim' }, { name: 'c', source: 'x.y.z' }]);
    assert.deepEqual(map({ b: null }, item), { a: null, b: null, c: null });
  });

  test('default applies to a missing, null or empty value, before the transforms', () => {
    const map = mapper([
      { name: 'country', default: 'US' },
      { name: 'tier', default: 'gold', transform: 'uppercase' },
      { name: 'score', default: 0 },
      { name: 'opt_in', default: false },
    ]);
    assert.deepEqual(map({}, item), { country: 'US', tier: 'GOLD', score: 0, opt_in: false });
    assert.deepEqual(map({ country: null, tier: '', score: null, opt_in: null }, item), { country: 'US', tier: 'GOLD', score: 0, opt_in: false });
    assert.deepEqual(map({ country: 'CA', tier: 'silver', score: 7, opt_in: true }, item), { country: 'CA', tier: 'SILVER', score: 7, opt_in: true });
    assert.deepEqual(map({ country: ' ' }, item).country, ' ', 'whitespace is a value; only "" takes the default');
  });

  test('without a map, records pass through unchanged (the same object)', () => {
    const record: Row = { b: 2, a: 1, nested: { x: [1] } };
    assert.equal(buildMapper(undefined)(record, item), record);
    assert.equal(mapColumns(undefined), undefined);
  });

  test('mapColumns lists the output names in map order', () => {
    assert.deepEqual(mapColumns(mapConfig.parse([{ name: 'z' }, { name: 'a', source: 'q' }, { name: 'm' }])), ['z', 'a', 'm']);
  });

  test('the mapper does not modify its input', () => {
    const record: Row = { email: '  A@B.CO ' };
    mapper([{ name: 'email', transform: ['trim', 'lowercase'] }])(record, item);
    assert.deepEqual(record, { email: '  A@B.CO ' });
  });
});

describe('map: string transforms', () => {
  test('trim, lowercase, uppercase, digits_only', () => {
    assert.equal(apply('trim', ' \t a b \n'), 'a b');
    assert.equal(apply('lowercase', 'ÀBC Déf'), 'àbc déf');
    assert.equal(apply('uppercase', 'straße'), 'STRASSE');
    assert.equal(apply('digits_only', '+1 (555) 123-4567 ext. 9'), '155512345679');
    assert.equal(apply('digits_only', '٣٤'), '', 'only ASCII digits are kept');
  });

  test('numbers and booleans are converted with String()', () => {
    assert.equal(apply('trim', 42), '42');
    assert.equal(apply('uppercase', true), 'TRUE');
    assert.equal(apply('digits_only', -12.5), '125');
    assert.equal(apply([{ type: 'truncate', length: 2 }], 12345), '12');
  });

  test('an object or array fails with MAP_TRANSFORM_FAILED naming field and item', () => {
    const error = mappingError(() => mapper([{ name: 'email', source: 'contact', transform: ['trim'] }])({ contact: { email: 'x' } }, item));
    assert.equal(error.code, 'MAP_TRANSFORM_FAILED');
    assert.equal(error.field, 'email');
    assert.equal(error.itemId, 'leads.csv:7');
    assert.equal(error.stage, 'map');
    assert.equal(error.category, 'permanent');
    assert.equal(error.message, 'leads.csv line 7, field "email" (from "contact"): trim failed: an object is not text');
    assert.match(mappingError(() => apply('lowercase', ['a'])).message, /field "out" \(from "v"\): lowercase failed: an array is not text$/);
  });

  test('transforms run in order', () => {
    assert.equal(apply(['trim', { type: 'truncate', length: 3 }], '   abcdef'), 'abc');
    assert.equal(apply([{ type: 'truncate', length: 3 }, 'trim'], '   abcdef'), '');
  });
});

describe('map: truncate and replace', () => {
  test('truncate keeps at most length code points and never splits a surrogate pair', () => {
    assert.equal(apply([{ type: 'truncate', length: 20 }], 'short'), 'short');
    assert.equal(apply([{ type: 'truncate', length: 5 }], 'exactly five? no'), 'exact');
    assert.equal(apply([{ type: 'truncate', length: 2 }], '😀😀😀'), '😀😀');
    assert.equal(apply([{ type: 'truncate', length: 0 }], 'abc'), '');
  });

  test('replace: first match without flags, every match with g, $1 references', () => {
    assert.equal(apply([{ type: 'replace', pattern: '[^A-Z0-9]', with: '', flags: 'g' }], 'AB-12 x/Z'), 'AB12Z');
    assert.equal(apply([{ type: 'replace', pattern: '-', with: '_' }], 'a-b-c'), 'a_b-c');
    assert.equal(apply([{ type: 'replace', pattern: 'b', flags: 'gi' }], 'aBcb'), 'ac', 'with defaults to ""');
    assert.equal(apply([{ type: 'replace', pattern: '(\\w+)@(\\w+)', with: '$2 at $1' }], 'ada@example'), 'example at ada');
  });

  test('replace with g gives the same result on every record (no lastIndex carried over)', () => {
    const map = mapper([{ name: 'out', source: 'v', transform: [{ type: 'replace', pattern: 'a', with: 'b', flags: 'g' }] }]);
    for (let i = 0; i < 3; i++) assert.equal(map({ v: 'aaa' }, item).out, 'bbb');
  });
});

describe('map: date transform', () => {
  const ny = { type: 'date', format: 'yyyy-MM-dd HH:mm:ss', timezone: 'America/New_York' };

  test('writes ISO in UTC by default', () => {
    assert.equal(apply([{ type: 'date' }], '2024-03-10T06:30:00+02:00'), '2024-03-10T04:30:00Z');
    assert.equal(apply([{ type: 'date' }], '2024-03-10T06:30:00.250Z'), '2024-03-10T06:30:00.250Z');
  });

  test('converts into a non-UTC timezone across the spring-forward DST change', () => {
    // America/New_York jumps from 02:00 EST (-05:00) to 03:00 EDT (-04:00) on 2024-03-10 at 07:00 UTC.
    assert.equal(apply([ny], '2024-03-10T06:59:59Z'), '2024-03-10 01:59:59');
    assert.equal(apply([ny], '2024-03-10T07:00:00Z'), '2024-03-10 03:00:00');
    assert.equal(apply([{ type: 'date', timezone: 'America/New_York' }], '2024-03-10T06:59:59Z'), '2024-03-10T01:59:59-05:00');
    assert.equal(apply([{ type: 'date', timezone: 'America/New_York' }], '2024-03-10T07:00:00Z'), '2024-03-10T03:00:00-04:00');
  });

  test('the fall-back DST change repeats the 01:00 hour with different offsets', () => {
    const zoned = [{ type: 'date', format: 'yyyy-MM-dd HH:mm ZZ', timezone: 'America/New_York' }];
    assert.equal(apply(zoned, '2024-11-03T05:30:00Z'), '2024-11-03 01:30 -04:00');
    assert.equal(apply(zoned, '2024-11-03T06:30:00Z'), '2024-11-03 01:30 -05:00');
  });

  test('accepts RFC 2822 strings, epoch milliseconds and Date objects', () => {
    assert.equal(apply([ny], 'Sun, 10 Mar 2024 07:00:00 +0000'), '2024-03-10 03:00:00');
    assert.equal(apply([ny], Date.UTC(2024, 2, 10, 6, 59, 59)), '2024-03-10 01:59:59');
    assert.equal(apply([ny], new Date('2024-03-10T07:00:00Z')), '2024-03-10 03:00:00');
  });

  test('reads values without an offset as local times in the timezone', () => {
    assert.equal(apply([{ type: 'date', format: 'yyyy-MM-dd', timezone: 'America/New_York' }], '2024-03-10'), '2024-03-10');
    assert.equal(apply([{ type: 'date', timezone: 'Asia/Tokyo' }], '2024-03-10T09:00'), '2024-03-10T09:00:00+09:00');
  });

  test('renders month names in English whatever the machine locale', () => {
    assert.equal(apply([{ type: 'date', format: 'd MMMM yyyy' }], '2024-03-10T12:00:00Z'), '10 March 2024');
  });

  test('an unparseable value fails with MAP_TRANSFORM_FAILED naming field, source and item', () => {
    const map = mapper([{ name: 'created', source: 'created_at', transform: [ny] }]);
    for (const bad of ['yesterday', '10:00', '2024-02-30', true, { at: 1 }, Number.NaN]) {
      const error = mappingError(() => map({ created_at: bad }, item));
      assert.equal(error.code, 'MAP_TRANSFORM_FAILED');
      assert.equal(error.field, 'created');
      assert.match(error.message, /^leads\.csv line 7, field "created" \(from "created_at"\): date failed: /);
    }
    assert.equal(mappingError(() => map({ created_at: 'yesterday' }, item)).message,
      'leads.csv line 7, field "created" (from "created_at"): date failed: "yesterday" is not an ISO 8601 or RFC 2822 date, nor epoch milliseconds');
    assert.ok(mappingError(() => map({ created_at: '' }, item)) instanceof LadingError, '"" without a default is a value, and not a date');
  });
});

describe('map: date output equals luxon', () => {
  const zones = ['UTC', 'America/New_York', 'Europe/London', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/St_Johns', 'Pacific/Chatham', 'Etc/UTC'];
  const instant = fc.integer({ min: Date.parse('1000-01-01T00:00:00Z'), max: Date.parse('9999-12-30T00:00:00Z') });
  const token = fc.constantFrom(
    'yyyy', 'yy', 'y', 'MM', 'M', 'MMM', 'MMMM', 'LL', 'LLL', 'dd', 'd', 'HH', 'H', 'hh', 'h', 'mm', 'm', 'ss', 's', 'SSS', 'S', 'u',
    'a', 'Z', 'ZZ', 'ZZZ', 'EEE', 'EEEE', 'ccc', '-', ':', '/', ' ', '.', ',', "'T'", "'at' ", "''", '  ',
    // tokens only luxon renders: the transform must hand these to luxon
    'ZZZZ', 'z', 'D', 'tt', 'E', 'WW', 'ooo', 'q',
  );

  test('property: a compiled pattern renders exactly like luxon toFormat', () => {
    fc.assert(fc.property(instant, fc.constantFrom(...zones), fc.array(token, { minLength: 1, maxLength: 8 }), (ts, timezone, tokens) => {
      const format = tokens.join('');
      const ours = apply([{ type: 'date', format, timezone }], ts);
      assert.equal(ours, DateTime.fromMillis(ts, { zone: timezone, locale: 'en-US' }).toFormat(format), `${format} in ${timezone} at ${ts}`);
    }), { numRuns: 3000 });
  });

  test('property: the default output equals luxon toISO without zero milliseconds', () => {
    fc.assert(fc.property(fc.oneof(instant, instant.map((ts) => ts - (ts % 1000))), fc.constantFrom(...zones), (ts, timezone) => {
      const ours = apply([{ type: 'date', timezone }], ts);
      assert.equal(ours, DateTime.fromMillis(ts, { zone: timezone }).toISO({ suppressMilliseconds: true }));
    }), { numRuns: 3000 });
  });

  test('years outside 1000-9999 are rendered by luxon too', () => {
    assert.equal(apply([{ type: 'date' }], Date.UTC(999, 0, 1)), DateTime.fromMillis(Date.UTC(999, 0, 1), { zone: 'UTC' }).toISO({ suppressMilliseconds: true }));
    assert.equal(apply([{ type: 'date', format: 'yyyy-MM-dd' }], Date.UTC(12345, 0, 1)), '12345-01-01');
  });
});

describe('map: config errors', () => {
  test('duplicate output names point at the second entry', () => {
    assert.deepEqual(configIssues([{ name: 'email' }, { name: 'phone' }, { name: 'email', source: 'mail' }]), [
      ['2.name', 'duplicate output field "email" (first declared at map[0])'],
    ]);
  });

  test('an unknown key in a field is an error at that field', () => {
    const issues = configIssues([{ name: 'a' }, { name: 'b', sorce: 'x' }]);
    assert.deepEqual(issues.map(([path]) => path), ['1']);
    assert.match(issues[0]![1], /sorce/);
  });

  test('an unknown key in a transform object is an error at that transform', () => {
    const issues = configIssues([{ name: 'a', transform: [{ type: 'date', zone: 'UTC' }] }]);
    assert.deepEqual(issues.map(([path]) => path), ['0.transform.0']);
    assert.match(issues[0]![1], /zone/);
  });

  test('an unknown transform name is reported at the field with the position and the choices', () => {
    assert.deepEqual(configIssues([{ name: 'a', transform: 'titlecase' }]), [
      ['0.transform', 'unknown transform "titlecase"; expected one of trim, lowercase, uppercase, digits_only, or an object with type date, truncate, replace'],
    ]);
    const [[path, message]] = configIssues([{ name: 'a' }, { name: 'b', transform: ['trim', 'titlecase'] }]) as [[string, string]];
    assert.equal(path, '1.transform');
    assert.match(message, /^\[1\]: unknown transform "titlecase"/);
  });

  test('an unknown transform type, or none, is reported with the choices', () => {
    assert.match(configIssues([{ name: 'a', transform: [{ type: 'slugify' }] }])[0]![1], /^\[0\]: unknown transform type "slugify"; expected one of date, truncate, replace$/);
    assert.match(configIssues([{ name: 'a', transform: { length: 3 } }])[0]![1], /needs a type/);
  });

  test('an invalid replace regex is a config error at its pattern', () => {
    assert.deepEqual(configIssues([{ name: 'a', transform: [{ type: 'replace', pattern: '[A-Z', with: '' }] }]).map(([path]) => path), ['0.transform.0.pattern']);
    assert.deepEqual(configIssues([{ name: 'a', transform: { type: 'replace', pattern: '(' } }]).map(([path]) => path), ['0.transform.pattern']);
    // valid without flags, invalid under the v flag
    assert.deepEqual(configIssues([{ name: 'a', transform: [{ type: 'replace', pattern: '[(]', flags: 'v' }] }]).map(([path]) => path), ['0.transform.0.pattern']);
    assert.deepEqual(configIssues([{ name: 'a', transform: [{ type: 'replace', pattern: 'a', flags: 'gy' }] }]).map(([path]) => path), ['0.transform.0.flags']);
    assert.deepEqual(configIssues([{ name: 'a', transform: [{ type: 'replace', pattern: 'a', flags: 'gg' }] }]).map(([path]) => path), ['0.transform.0.flags']);
  });

  test('an invalid timezone is a config error at its key', () => {
    assert.deepEqual(configIssues([{ name: 'a', transform: [{ type: 'date', timezone: 'Mars/Olympus' }] }]).map(([path]) => path), ['0.transform.0.timezone']);
  });

  test('missing or bad truncate length is reported', () => {
    assert.match(configIssues([{ name: 'a', transform: [{ type: 'truncate' }] }])[0]![1], /^\[0\]: length: /);
    assert.deepEqual(configIssues([{ name: 'a', transform: { type: 'truncate', length: -1 } }]).map(([path]) => path), ['0.transform.length']);
  });

  test('an empty map, an empty name, __proto__ and an empty transform list are errors', () => {
    assert.match(configIssues([])[0]![1], /leave map out/);
    assert.deepEqual(configIssues([{ name: '' }]).map(([path]) => path), ['0.name']);
    assert.deepEqual(configIssues([{ name: '__proto__' }]).map(([path]) => path), ['0.name']);
    assert.deepEqual(configIssues([{ name: 'a', transform: [] }]).map(([path]) => path), ['0.transform']);
  });

  test('defaults: date timezone UTC, replace with "" and no flags', () => {
    const [field] = mapConfig.parse([{ name: 'a', transform: [{ type: 'date' }, { type: 'replace', pattern: 'x' }] }]);
    assert.deepEqual(field!.transform, [{ type: 'date', timezone: 'UTC' }, { type: 'replace', pattern: 'x', with: '', flags: '' }]);
  });

  test('every key of the schema carries a description for the generated docs', async () => {
    const { z } = await import('zod');
    const schema = z.toJSONSchema(mapConfig, { io: 'input' }) as { items: { properties: Record<string, { description?: string }> } };
    for (const [key, prop] of Object.entries(schema.items.properties)) assert.ok(prop.description, key);
  });
});

describe('transforms: properties', () => {
  const value = fc.oneof(fc.string({ unit: 'binary' }), fc.string(), fc.integer(), fc.double(), fc.boolean());

  test('digits_only output always matches /^\\d*$/', () => {
    const digitsOnly = compileTransform(transformStep.parse('digits_only'));
    fc.assert(fc.property(value, (input) => {
      const out = digitsOnly(input);
      assert.equal(typeof out, 'string');
      assert.match(out as string, /^\d*$/);
    }));
  });

  test('trim is idempotent and leaves no surrounding whitespace', () => {
    const trim = compileTransform(transformStep.parse('trim'));
    const padded = fc.tuple(fc.stringMatching(/^\s*$/), fc.string({ unit: 'binary' }), fc.stringMatching(/^\s*$/)).map(([a, b, c]) => a + b + c);
    fc.assert(fc.property(fc.oneof(padded, value), (input) => {
      const once = trim(input);
      assert.ok(!(once instanceof TransformFailure));
      assert.equal(trim(once), once);
      assert.doesNotMatch(once as string, /^\s|\s$/);
    }));
  });

  test('truncate never yields more code points than its length, and keeps the prefix', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), fc.nat(20), (input, length) => {
      const out = compileTransform({ type: 'truncate', length })(input) as string;
      assert.ok(Array.from(out).length <= length);
      assert.ok(input.startsWith(out));
      if (Array.from(input).length <= length) assert.equal(out, input);
    }));
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Row } from '../../../src/core/item.js';
import { LadingError, ValidationError } from '../../../src/errors/lading-error.js';
import type { ItemRef } from '../../../src/formats/types.js';
import { buildValidator, validateConfig } from '../../../src/transform/validate.js';

const item: ItemRef = { id: 'leads.csv:4012', describe: 'leads.csv line 4,012' };

function validate(config: unknown, record: Row) {
  return buildValidator(validateConfig.parse(config))(record, item);
}

/** Codes of blocking failures, in order. */
function failed(config: unknown, record: Row): string[] {
  return validate(config, record).failures.map((error) => error.code);
}

/** Issues of a config that must not parse, as [dotted path, message]. */
function configIssues(config: unknown): Array<[string, string]> {
  const result = validateConfig.safeParse(config);
  assert.equal(result.success, false, 'expected the config to be rejected');
  return result.error!.issues.map((issue) => [issue.path.join('.'), issue.message]);
}

describe('validate: required', () => {
  const config = { required: ['email', 'phone', 'meta.ip'] };

  test('passes a record with every required field present', () => {
    assert.deepEqual(validate(config, { email: 'a@b.co', phone: 0, meta: { ip: '10.0.0.1' } }), { failures: [], warnings: [] });
  });

  test('fails missing, null, empty and whitespace-only values, naming item and field', () => {
    const { failures } = validate({ required: ['a', 'b', 'c', 'd'] }, { b: null, c: '', d: ' \t ' });
    assert.deepEqual(failures.map((e) => [e.code, e.field]), [['VALIDATE_REQUIRED', 'a'], ['VALIDATE_REQUIRED', 'b'], ['VALIDATE_REQUIRED', 'c'], ['VALIDATE_REQUIRED', 'd']]);
    assert.deepEqual(failures.map((e) => e.message), [
      'leads.csv line 4,012, field "a": required value is missing',
      'leads.csv line 4,012, field "b": required value is null',
      'leads.csv line 4,012, field "c": required value is empty',
      'leads.csv line 4,012, field "d": required value is blank (only whitespace)',
    ]);
  });

  test('false, 0 and non-blank text count as present', () => {
    assert.deepEqual(failed({ required: ['a', 'b', 'c'] }, { a: false, b: 0, c: ' x ' }), []);
  });

  test('reads nested paths', () => {
    assert.deepEqual(failed(config, { email: 'x', phone: 'y', meta: { ip: '' } }), ['VALIDATE_REQUIRED']);
    assert.deepEqual(failed(config, { email: 'x', phone: 'y', meta: 'not an object' }), ['VALIDATE_REQUIRED']);
  });

  test('blocks even when every rule is a warning', () => {
    const result = validate({ required: ['email'], rules: { email: { format: 'email', severity: 'warn' } } }, {});
    assert.deepEqual(result.failures.map((e) => e.code), ['VALIDATE_REQUIRED']);
    assert.deepEqual(result.warnings, []);
  });

  test('errors are ValidationErrors carrying item id, field, code and a permanent category', () => {
    const [error] = validate({ required: ['email'] }, {}).failures;
    assert.ok(error instanceof ValidationError);
    assert.ok(error instanceof LadingError);
    assert.equal(error.code, 'VALIDATE_REQUIRED');
    assert.equal(error.itemId, 'leads.csv:4012');
    assert.equal(error.field, 'email');
    assert.equal(error.category, 'permanent');
    assert.equal(error.stage, 'validate');
  });
});

describe('validate: rules', () => {
  test('format: email names the value found', () => {
    const { failures } = validate({ rules: { email: { format: 'email' } } }, { email: 'bob@' });
    assert.equal(failures.length, 1);
    assert.equal(failures[0]!.code, 'VALIDATE_FORMAT');
    assert.equal(failures[0]!.message, 'leads.csv line 4,012, field "email": "bob@" is not a valid email');
    assert.deepEqual(failed({ rules: { email: { format: 'email' } } }, { email: 'bob@example.com' }), []);
  });

  test('format: phone, url and date', () => {
    const rules = { phone: { format: 'phone' }, site: { format: 'url' }, born: { format: 'date' } };
    assert.deepEqual(failed({ rules }, { phone: '+1 (555) 123-4567', site: 'https://example.com', born: '1990-05-01' }), []);
    assert.deepEqual(failed({ rules }, { phone: 5551234567, site: 'https://example.com', born: 641520000000 }), []);
    const { failures } = validate({ rules }, { phone: '555-CALL', site: 'ftp://example.com', born: '1990-13-01' });
    assert.deepEqual(failures.map((e) => [e.code, e.field]), [['VALIDATE_FORMAT', 'phone'], ['VALIDATE_FORMAT', 'site'], ['VALIDATE_FORMAT', 'born']]);
    assert.match(failures[2]!.message, /field "born": "1990-13-01" is not a valid ISO 8601 or RFC 2822 date$/);
  });

  test('pattern: unanchored JavaScript regex, numbers checked as text', () => {
    assert.deepEqual(failed({ rules: { state: { pattern: '^[A-Za-z]{2}$' } } }, { state: 'NY' }), []);
    assert.deepEqual(failed({ rules: { state: { pattern: '^[A-Za-z]{2}$' } } }, { state: 'Texas' }), ['VALIDATE_PATTERN']);
    assert.deepEqual(failed({ rules: { code: { pattern: '\\d{3}' } } }, { code: 'ab123cd' }), []);
    assert.deepEqual(failed({ rules: { zip: { pattern: '^\\d{5}$' } } }, { zip: 12345 }), []);
    const [error] = validate({ rules: { state: { pattern: '^[A-Za-z]{2}$' } } }, { state: 'Texas' }).failures;
    assert.equal(error!.message, 'leads.csv line 4,012, field "state": "Texas" does not match /^[A-Za-z]{2}$/');
  });

  test('pattern: the compiled regex keeps no state between records', () => {
    const check = buildValidator(validateConfig.parse({ rules: { s: { pattern: 'a' } } }));
    for (let i = 0; i < 3; i++) assert.deepEqual(check({ s: 'a' }, item).failures, []);
  });

  test('type: strict JSON types', () => {
    const cases: Array<[string, unknown, boolean]> = [
      ['string', 'x', true], ['string', 1, false],
      ['number', 12, true], ['number', 1.5, true], ['number', '12', false], ['number', Number.NaN, false], ['number', Infinity, false],
      ['integer', 12, true], ['integer', 1.5, false], ['integer', '12', false],
      ['boolean', false, true], ['boolean', 'true', false],
      ['object', { a: 1 }, true], ['object', [1], false],
      ['array', [], true], ['array', { length: 0 }, false],
    ];
    for (const [type, value, ok] of cases) {
      assert.deepEqual(failed({ rules: { f: { type } } }, { f: value }), ok ? [] : ['VALIDATE_TYPE'], `${type} ${String(value)}`);
    }
    const [error] = validate({ rules: { age: { type: 'integer' } } }, { age: '12' }).failures;
    assert.equal(error!.message, 'leads.csv line 4,012, field "age": expected an integer, found text "12"');
  });

  test('min/max: inclusive range on numbers', () => {
    const config = { rules: { age: { type: 'integer', min: 0, max: 150 } } };
    assert.deepEqual(failed(config, { age: 0 }), []);
    assert.deepEqual(failed(config, { age: 150 }), []);
    assert.deepEqual(failed(config, { age: -1 }), ['VALIDATE_RANGE']);
    assert.deepEqual(failed(config, { age: 151 }), ['VALIDATE_RANGE']);
    assert.match(validate(config, { age: 200 }).failures[0]!.message, /field "age": 200 is greater than max 150$/);
    assert.match(validate(config, { age: -3 }).failures[0]!.message, /field "age": -3 is less than min 0$/);
  });

  test('min/max: a failed type stops the rule, so there is no second range failure', () => {
    assert.deepEqual(failed({ rules: { age: { type: 'integer', min: 0, max: 150 } } }, { age: '200' }), ['VALIDATE_TYPE']);
  });

  test('min/max without a type: a non-number (even a numeric string) fails with VALIDATE_TYPE', () => {
    const { failures } = validate({ rules: { n: { min: 1 } } }, { n: '12' });
    assert.deepEqual(failures.map((e) => e.code), ['VALIDATE_TYPE']);
    assert.match(failures[0]!.message, /min\/max apply to numbers only/);
  });

  test('enum: compares text forms', () => {
    const config = { rules: { status: { enum: ['new', 'open'] }, level: { enum: [1, 2] } } };
    assert.deepEqual(failed(config, { status: 'open', level: 2 }), []);
    assert.deepEqual(failed(config, { status: 'new', level: '1' }), []);
    const { failures } = validate(config, { status: 'closed', level: 3 });
    assert.deepEqual(failures.map((e) => e.code), ['VALIDATE_ENUM', 'VALIDATE_ENUM']);
    assert.equal(failures[0]!.message, 'leads.csv line 4,012, field "status": "closed" is not one of "new", "open"');
  });

  test('min_length/max_length: counts code points, not UTF-16 units', () => {
    const config = { rules: { name: { min_length: 2, max_length: 3 } } };
    assert.deepEqual(failed(config, { name: 'ab' }), []);
    assert.deepEqual(failed(config, { name: 'abc' }), []);
    assert.deepEqual(failed(config, { name: '😀😀😀' }), [], 'three emoji are three characters (six UTF-16 units)');
    assert.deepEqual(failed(config, { name: '😀' }), ['VALIDATE_LENGTH'], 'one emoji is one character (two units)');
    assert.deepEqual(failed(config, { name: 'abcd' }), ['VALIDATE_LENGTH']);
    assert.match(validate(config, { name: 'abcd' }).failures[0]!.message, /"abcd" is 4 characters long, longer than max_length 3$/);
    assert.match(validate(config, { name: 'a' }).failures[0]!.message, /"a" is 1 characters long, shorter than min_length 2$/);
  });

  test('text checks on an object or array fail once with VALIDATE_TYPE', () => {
    const { failures } = validate({ rules: { email: { format: 'email', max_length: 5 } } }, { email: { address: 'x' } });
    assert.deepEqual(failures.map((e) => e.code), ['VALIDATE_TYPE']);
    assert.match(failures[0]!.message, /field "email": expected text, a number or a boolean, found an object$/);
  });

  test('a rule on an absent, null or blank field is skipped', () => {
    const config = { rules: { email: { format: 'email' }, age: { type: 'integer' } } };
    assert.deepEqual(failed(config, {}), []);
    assert.deepEqual(failed(config, { email: null, age: null }), []);
    assert.deepEqual(failed(config, { email: '', age: '  ' }), []);
  });

  test('rules read nested paths (meta.ip)', () => {
    const config = { rules: { 'meta.ip': { pattern: '^\\d+\\.\\d+\\.\\d+\\.\\d+$' }, 'tags.0': { enum: ['vip'] } } };
    assert.deepEqual(failed(config, { meta: { ip: '10.0.0.1' }, tags: ['vip'] }), []);
    const { failures } = validate(config, { meta: { ip: 'localhost' }, tags: ['basic'] });
    assert.deepEqual(failures.map((e) => [e.code, e.field]), [['VALIDATE_PATTERN', 'meta.ip'], ['VALIDATE_ENUM', 'tags.0']]);
    assert.match(failures[0]!.message, /^leads\.csv line 4,012, field "meta\.ip": "localhost" does not match/);
  });

  test('a found value is quoted and cut to 40 characters', () => {
    const long = 'x'.repeat(100);
    const [error] = validate({ rules: { email: { format: 'email' } } }, { email: long }).failures;
    assert.equal(error!.message, `leads.csv line 4,012, field "email": "${'x'.repeat(40)}…" is not a valid email`);
    const [quoted] = validate({ rules: { s: { enum: ['a'] } } }, { s: 'say "hi"\n' }).failures;
    assert.match(quoted!.message, /"say \\"hi\\"\\n" is not one of "a"$/);
  });

  test('a custom message replaces the generated text but keeps item, field and value', () => {
    const [error] = validate({ rules: { email: { format: 'email', message: 'Invalid email format' } } }, { email: 'bob@' }).failures;
    assert.equal(error!.message, 'leads.csv line 4,012, field "email": Invalid email format (found text "bob@")');
    assert.equal(error!.code, 'VALIDATE_FORMAT');
  });
});

describe('validate: severity and collection', () => {
  const config = {
    required: ['email', 'phone'],
    rules: {
      email: { format: 'email' },
      state: { pattern: '^[A-Za-z]{2}$', severity: 'warn' },
      age: { type: 'integer', min: 0, max: 150 },
      status: { enum: ['new', 'open'] },
      name: { min_length: 1, max_length: 5 },
    },
  };

  test('collects every failure of an item, in declaration order', () => {
    const result = validate(config, { email: 'bob@', state: 'Texas', age: 151, status: 'closed', name: 'Alexander' });
    assert.deepEqual(result.failures.map((e) => [e.code, e.field]), [
      ['VALIDATE_REQUIRED', 'phone'],
      ['VALIDATE_FORMAT', 'email'],
      ['VALIDATE_RANGE', 'age'],
      ['VALIDATE_ENUM', 'status'],
      ['VALIDATE_LENGTH', 'name'],
    ]);
    assert.deepEqual(result.warnings.map((e) => [e.code, e.field]), [['VALIDATE_PATTERN', 'state']]);
  });

  test('collects several failures of one rule', () => {
    const { failures } = validate({ rules: { code: { pattern: '^[A-Z]+$', max_length: 3, enum: ['AB'] } } }, { code: 'abcd' });
    assert.deepEqual(failures.map((e) => e.code), ['VALIDATE_PATTERN', 'VALIDATE_ENUM', 'VALIDATE_LENGTH']);
  });

  test('severity warn: the item passes and the warning is reported', () => {
    const result = validate(config, { email: 'a@example.com', phone: '5551234567', state: 'Texas' });
    assert.deepEqual(result.failures, []);
    assert.equal(result.warnings.length, 1);
    assert.ok(result.warnings[0] instanceof ValidationError);
    assert.equal(result.warnings[0]!.message, 'leads.csv line 4,012, field "state": "Texas" does not match /^[A-Za-z]{2}$/');
  });

  test('severity defaults to block', () => {
    assert.equal(validateConfig.parse({ rules: { a: { type: 'string' } } }).rules.a!.severity, 'block');
  });

  test('no validate config accepts every record', () => {
    assert.deepEqual(buildValidator(undefined)({ anything: null }, item), { failures: [], warnings: [] });
  });

  test('results are fresh per record, so a caller may keep them', () => {
    const check = buildValidator(validateConfig.parse(config));
    const first = check({ email: 'a@example.com', phone: '5551234567' }, item);
    const second = check({ email: 'a@example.com', phone: '5551234567' }, item);
    assert.notEqual(first.failures, second.failures);
  });
});

describe('validate: config errors', () => {
  test('defaults: an empty block parses to no checks', () => {
    assert.deepEqual(validateConfig.parse({}), { required: [], rules: {} });
  });

  test('an invalid pattern is reported at its path when the config is parsed', () => {
    const issues = configIssues({ rules: { state: { pattern: '^[A-Z' } } });
    assert.equal(issues.length, 1);
    assert.equal(issues[0]![0], 'rules.state.pattern');
    assert.match(issues[0]![1], /Invalid regular expression/);
  });

  test('unknown keys are errors, in the block and in a rule', () => {
    assert.deepEqual(configIssues({ required: ['a'], rule: {} }).map(([path, message]) => [path, message]), [['', 'Unrecognized key: "rule"']]);
    const issues = configIssues({ rules: { email: { format: 'email', formt: 'x' } } });
    assert.deepEqual(issues.map(([path]) => path), ['rules.email']);
    assert.match(issues[0]![1], /formt/);
  });

  test('unknown format, type and severity values are errors at their key', () => {
    assert.deepEqual(configIssues({ rules: { a: { format: 'ssn' } } }).map(([path]) => path), ['rules.a.format']);
    assert.deepEqual(configIssues({ rules: { a: { type: 'float' } } }).map(([path]) => path), ['rules.a.type']);
    assert.deepEqual(configIssues({ rules: { a: { pattern: 'x', severity: 'error' } } }).map(([path]) => path), ['rules.a.severity']);
  });

  test('a rule without checks, inverted bounds and impossible combinations are errors', () => {
    assert.match(configIssues({ rules: { a: { severity: 'warn' } } })[0]![1], /at least one check/);
    assert.deepEqual(configIssues({ rules: { a: { min: 5, max: 1 } } }).map(([path]) => path), ['rules.a.max']);
    assert.deepEqual(configIssues({ rules: { a: { min_length: 5, max_length: 1 } } }).map(([path]) => path), ['rules.a.max_length']);
    assert.deepEqual(configIssues({ rules: { a: { type: 'string', min: 1 } } }).map(([path]) => path), ['rules.a.type']);
    assert.deepEqual(configIssues({ rules: { a: { type: 'array', pattern: 'x' } } }).map(([path]) => path), ['rules.a.type']);
    assert.deepEqual(configIssues({ rules: { a: { max_length: -1 } } }).map(([path]) => path), ['rules.a.max_length']);
    assert.deepEqual(configIssues({ required: [''] }).map(([path]) => path), ['required.0']);
  });

  test('every key of the schema carries a description for the generated docs', async () => {
    const { z } = await import('zod');
    const schema = z.toJSONSchema(validateConfig, { io: 'input' }) as { properties: Record<string, { description?: string; additionalProperties?: { properties: Record<string, { description?: string }> } }> };
    for (const [key, prop] of Object.entries(schema.properties)) assert.ok(prop.description, key);
    const rule = schema.properties.rules!.additionalProperties!;
    for (const [key, prop] of Object.entries(rule.properties)) assert.ok(prop.description, `rules.*.${key}`);
  });
});

test('formats ignore surrounding whitespace, which map trims later', async () => {
  const { buildValidator: build, validateConfig: schema } = await import('../../../src/transform/validate.js');
  const check = build(schema.parse({ rules: { email: { format: 'email' }, phone: { format: 'phone' } } }));
  const ref = { id: 'x', describe: 'x' };
  assert.deepEqual(check({ email: '  a@example.com ', phone: ' 555-123-4567\t' }, ref).failures, []);
  assert.equal(check({ email: 'a @example.com' }, ref).failures[0]?.code, 'VALIDATE_FORMAT');
});

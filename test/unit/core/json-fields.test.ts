import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { JsonFieldReader } from '../../../src/core/json-fields.js';

const names = ['email', 'phone', 'a', '', 'é', '__proto__', 'meta'];
const reader = new JsonFieldReader(names);

/** What JSON.parse makes of the text, or the error it throws. */
function parsed(text: string): { value: unknown } | { error: unknown } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (error) {
    return { error };
  }
}

/**
 * The reader's promise: whatever it answers for, JSON.parse accepts as an object with the same
 * wanted fields. `padded` puts other bytes around the text, which the reader must not look at.
 */
function check(text: string): Record<string, unknown> | undefined {
  const bytes = Buffer.from(`\n${text}x`);
  const fields = reader.read(bytes, 1, bytes.length - 1);
  if (fields === undefined) return undefined;
  const parse = parsed(text);
  assert.ok('value' in parse, `the reader answered for text JSON.parse refuses: ${JSON.stringify(text)}`);
  const object = parse.value as Record<string, unknown>;
  assert.ok(typeof object === 'object' && object !== null && !Array.isArray(object), `not an object: ${JSON.stringify(text)}`);
  for (const name of names) {
    assert.equal(Object.hasOwn(fields, name), Object.hasOwn(object, name), `field ${JSON.stringify(name)} of ${JSON.stringify(text)}`);
    if (Object.hasOwn(object, name)) assert.deepEqual(fields[name], object[name], `field ${JSON.stringify(name)} of ${JSON.stringify(text)}`);
  }
  return fields;
}

test('JsonFieldReader reads the wanted fields of an object as JSON.parse does, and only those', () => {
  const text = ' {"email":" A@B.co ","x":[1,{"email":"nested"}],"phone":5550100,"é":"ü\\u00e9\\n","a":{"b":[true,false,null]},"email":"last wins"}\t\r';
  const fields = check(text);
  assert.deepEqual(fields, { email: 'last wins', phone: 5550100, a: { b: [true, false, null] }, é: 'üé\n' });
  assert.deepEqual(check('{}'), {});
  const proto = check('{"__proto__":{"polluted":1}}')!;
  assert.ok(Object.hasOwn(proto, '__proto__'), '"__proto__" is an own field, as JSON.parse makes it');
  assert.equal(Object.getPrototypeOf(proto), Object.prototype);
});

test('JsonFieldReader leaves to JSON.parse what is not JSON, not an object, or has an escaped key', () => {
  const refused = [
    '', ' ', '{', '}', '{"a":1', '{"a":1}}', '{"a":1,}', '{,}', '{"a"}', '{"a":}', '{a:1}', "{'a':1}", '{"a":1 "b":2}',
    '{"a":-}', '{"a":01}', '{"a":1.}', '{"a":.5}', '{"a":1e}', '{"a":1e+}', '{"a":+1}', '{"a":0x10}', '{"a":NaN}', '{"a":Infinity}',
    '{"a":tru}', '{"a":nul}', '{"a":falsey}', '{"a":True}', '{"a":"\\x"}', '{"a":"\\u12G4"}', '{"a":"\\u12"}', '{"a":"tab\there"}',
    '{"a":"\u0001"}', '{"a":"unterminated}', '{"a":[1,2}', '{"a":[1,]}', '{"a":{"b":1]}', '{"a":1}x', '{"a":1} {}', '\u00a0{"a":1}',
    '[1]', '"text"', '12', 'null', 'true',
    '{"em\\u0061il":"x@y.z"}', // JSON.parse reads "email": the reader does not unescape keys
    `{"a":${'['.repeat(300)}${']'.repeat(300)}}`, // deeper than the reader tracks
  ];
  for (const text of refused) assert.equal(reader.read(Buffer.from(text), 0, Buffer.byteLength(text)), undefined, JSON.stringify(text));
  // The ones JSON.parse does take are still read right by it: the caller's fallback.
  assert.deepEqual(JSON.parse('{"em\\u0061il":"x@y.z"}'), { email: 'x@y.z' });
});

test('JsonFieldReader answers for every JSON object whose keys need no escape', () => {
  const key = fc.oneof(fc.constantFrom(...names), fc.string()).filter((k) => !/["\\\u0000-\u001f\ud800-\udfff]/.test(k));
  const object = fc.dictionary(key, fc.jsonValue(), { maxKeys: 8 });
  fc.assert(fc.property(object, fc.constantFrom(undefined, 1, '\t'), (value, indent) => {
    const text = JSON.stringify(value, null, indent);
    assert.notEqual(check(text), undefined, text);
  }), { numRuns: 3000 });
});

test('JsonFieldReader never answers for text JSON.parse refuses (random edits of valid records)', () => {
  const alphabet = ['{', '}', '[', ']', '"', ':', ',', '\\', ' ', '\t', '\r', '0', '1', '-', '+', '.', 'e', 'E', 'u', 't', 'r', 'f', 'n', 'l', 'a', 'x', 'é', '\u0001', '\u001f'];
  const base = fc.dictionary(fc.constantFrom(...names, 'other'), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }).map((v) => JSON.stringify(v));
  const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('insert', 'delete', 'replace'), char: fc.constantFrom(...alphabet) });
  let answered = 0;
  fc.assert(fc.property(base, fc.array(edit, { minLength: 1, maxLength: 3 }), (text, edits) => {
    let t = text;
    for (const { at, kind, char } of edits) {
      const i = at % (t.length + 1);
      t = kind === 'insert' ? t.slice(0, i) + char + t.slice(i) : kind === 'delete' ? t.slice(0, i) + t.slice(i + 1) : t.slice(0, i) + char + t.slice(i + 1);
    }
    if (check(t) !== undefined) answered++;
  }), { numRuns: 20000 });
  // Some edits leave valid JSON (a space, a digit): those the reader must still read right.
  assert.ok(answered > 100, `only ${answered} edited texts were still objects`);
});

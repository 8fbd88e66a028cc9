import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePath, rootKeys } from '../../../src/transform/path.js';

test('a record holding only rootKeys(path) reads the same as the whole record, dot keys and nesting alike', () => {
  const records: Record<string, unknown>[] = [
    { meta: { ip: '10.0.0.1', port: 80 }, other: 1 },
    { 'meta.ip': '10.0.0.2', meta: { ip: 'nested loses' } },
    { 'meta.ip': '10.0.0.3' },
    { tags: ['a', 'b'], 'tags.1': 'literal' },
    { tags: ['a', 'b'] },
    { a: { b: { c: 3 } }, 'a.b': { c: 'not this' } },
    { email: 'x@y.z' },
    {},
  ];
  for (const path of ['meta.ip', 'meta', 'tags.1', 'a.b.c', 'email', 'missing.deep']) {
    const get = compilePath(path);
    for (const record of records) {
      const kept = Object.fromEntries(rootKeys(path).filter((key) => Object.hasOwn(record, key)).map((key) => [key, record[key]]));
      assert.deepEqual(get(kept), get(record), `${path} of ${JSON.stringify(record)}`);
    }
  }
  assert.deepEqual(rootKeys('meta.ip'), ['meta.ip', 'meta']);
  assert.deepEqual(rootKeys('email'), ['email']);
});

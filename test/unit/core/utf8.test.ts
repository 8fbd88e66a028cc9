import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isJsonSpaceByte, isUtf8BomPrefix, utf8BomLength } from '../../../src/core/utf8.js';

test('a UTF-8 byte order mark is found only whole and only at the start; its first bytes alone may still become one', () => {
  const bom = [0xef, 0xbb, 0xbf];
  assert.equal(utf8BomLength(Buffer.from([...bom, 0x7b])), 3);
  assert.equal(utf8BomLength(Buffer.from(bom)), 3);
  assert.equal(utf8BomLength(Buffer.from([0xef, 0xbb])), 0);
  assert.equal(utf8BomLength(Buffer.from([0x7b, ...bom])), 0);
  assert.equal(utf8BomLength(Buffer.alloc(0)), 0);
  assert.deepEqual([[], [0xef], [0xef, 0xbb]].map((b) => isUtf8BomPrefix(Buffer.from(b))), [true, true, true]);
  assert.deepEqual([[0x7b], [0xef, 0x7b]].map((b) => isUtf8BomPrefix(Buffer.from(b))), [false, false]);
});

test('JSON white space is space, tab, line feed and carriage return, nothing else', () => {
  assert.deepEqual([0x20, 0x09, 0x0a, 0x0d].map(isJsonSpaceByte), [true, true, true, true]);
  assert.deepEqual([0x0b, 0x0c, 0xa0, 0x00, 0x7b].map(isJsonSpaceByte), [false, false, false, false, false]);
});

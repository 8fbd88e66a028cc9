import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GrowingBytes } from '../../../src/core/growing-bytes.js';

test('GrowingBytes keeps every byte written, text and bytes in turn, across its growth', () => {
  const out = new GrowingBytes(0); // the smallest buffer: the writes below outgrow it many times
  const expected: Buffer[] = [];
  for (let i = 0; i < 400; i++) {
    const text = `{"n":${i},"s":"${'é✓😀'.repeat(i % 7)}${'x'.repeat(i * 3)}"}`;
    if (i % 3 === 0) out.append(Buffer.from(text));
    else out.write(text);
    expected.push(Buffer.from(text));
  }
  assert.ok(out.bytes.length > 1024, 'it grew');
  assert.deepEqual(out.bytes.subarray(0, out.size), Buffer.concat(expected));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { numberedId } from '../../../src/core/item.js';

test('numberedId writes every number as the template literal does', () => {
  const edges = [0, 1, 9, 10, 99, 100, 999, 1_000, 9_999, 10_000, 10_001, 10_010, 10_100, 20_000, 99_999, 100_000, 100_001,
    1_000_000, 1_000_007, 12_345_678, 99_999_999, 100_000_000, 123_456_789, 2 ** 31, Number.MAX_SAFE_INTEGER, -1, -10_000, 1.5, 0.1, NaN, Infinity];
  for (const n of edges) assert.equal(numberedId('leads.ndjson:', n), `leads.ndjson:${n}`, String(n));
  // Every padding case: each count of leading zeros in the lower four digits, under many upper parts.
  for (let n = 0; n < 3_000_000; n += 997) assert.equal(numberedId('inbox:', n), `inbox:${n}`);
  for (let n = 10_000; n < 10_000 + 20_000; n++) assert.equal(numberedId('', n), String(n));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { grouped } from '../../../src/core/numbers.js';

test('grouped writes what toLocaleString(\'en-US\') writes: commas between thousands, at most three decimals', () => {
  const values = [0, 7, 999, 1000, 1001, 12_345, 999_999, 1_000_000, 1_234_567_890, 9_007_199_254_740_991, -1, -1234, -1_000_000,
    0.5, 1.25, 1234.5, 1234.5678, 0.0004, 99_999.9999, -0.0004, -0, -2.75, 12.1, Infinity, -Infinity, NaN, 1e21];
  for (const n of values) assert.equal(grouped(n), n.toLocaleString('en-US'), String(n));
});

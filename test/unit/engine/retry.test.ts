import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { retryConfig, retryDelay } from '../../../src/core/retry.js';

test('exponential, linear and fixed schedules without jitter', () => {
  const policy = (backoff: string) => retryConfig.parse({ backoff, base_delay: '1s', max_delay: '10s', jitter: false });
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelay(policy('exponential'), n)), [1000, 2000, 4000, 8000, 10000]);
  assert.deepEqual([1, 2, 3].map((n) => retryDelay(policy('linear'), n)), [1000, 2000, 3000]);
  assert.deepEqual([1, 2, 3].map((n) => retryDelay(policy('fixed'), n)), [1000, 1000, 1000]);
});

test('delays are non-decreasing before jitter, within the cap, and never below Retry-After', () => {
  fc.assert(fc.property(
    fc.constantFrom('exponential', 'linear', 'fixed'), fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 60000 }),
    fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 120000 }), fc.double({ min: 0, max: 0.999999, noNaN: true }),
    (backoff, base, max, failed, retryAfter, r) => {
      const jittered = retryConfig.parse({ backoff, base_delay: base, max_delay: max, jitter: true });
      const plain = { ...jittered, jitter: false };
      const d = retryDelay(jittered, failed, retryAfter, () => r);
      assert.ok(d >= retryAfter);
      assert.ok(d <= Math.max(max, retryAfter));
      assert.ok(retryDelay(plain, failed + 1) >= retryDelay(plain, failed));
    },
  ));
});

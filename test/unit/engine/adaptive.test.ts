import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { adaptiveConfig, nextChunkSize } from '../../../src/engine/adaptive.js';

const config = adaptiveConfig.parse({ target: '2s', min: 10, max: 5000 });

test('chunks grow when fast and shrink when slow, at most doubling or halving a step', () => {
  assert.equal(nextChunkSize(1000, 500, config), 2000);
  assert.equal(nextChunkSize(1000, 1600, config), 1250);
  assert.equal(nextChunkSize(1000, 8000, config), 500);
  assert.equal(nextChunkSize(1000, 2100, config), 1000, 'within 10% of the target: unchanged');
  assert.equal(nextChunkSize(4000, 100, config), 5000, 'capped at max');
  assert.equal(nextChunkSize(12, 60000, config), 10, 'floored at min');
});

test('the next size always stays within min and max and within a factor of two', () => {
  fc.assert(fc.property(fc.integer({ min: 10, max: 5000 }), fc.integer({ min: 0, max: 600000 }), (current, ms) => {
    const next = nextChunkSize(current, ms, config);
    assert.ok(next >= config.min && next <= config.max);
    assert.ok(next <= Math.max(config.min, current * 2) && next >= Math.min(config.max, Math.floor(current / 2)));
  }));
});
